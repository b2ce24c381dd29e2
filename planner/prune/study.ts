// Pruning studies for the planner and the simulations: the real pruned models at a list of ratios with
// their costs and distortion figures, the Laplace curve beside measured magnitude pruning, and the
// bound Gamma * D(rho) the planner minimises.
import type { ModelProto } from '../onnx/model.ts';
import { constantTensors, valueInfoDtype, tensorToFloat32 } from '../onnx/model.ts';
import { indexGraph, modelGraph } from '../onnx/graph.ts';
import { resolveInputShapes, sampleFeeds, type InputShapes } from '../onnx/shapes.ts';
import { analyzeModel } from '../onnx/analyze.ts';
import type { Feeds } from '../onnx/session.ts';
import { EdgesplitError } from '../../shared/errors.ts';
import type { LabelledSet, TaskMetric } from '../zoo/index.ts';
import { compareOutputs, parameterDistortion, taskScore } from './distortion.ts';
import { laplaceDistortion, laplaceScale } from './laplace.ts';
import { weightLayers } from './layers.ts';
import { chainLayers, lipschitzGamma } from './lipschitz.ts';
import { refitPruned } from './refit.ts';
import { applyPruning, planPruning, type PruneNorm, type PruneScope, type PruningPlan } from './structured.ts';
import { pruneUnstructured } from './unstructured.ts';

/** Parameters (float weights) and FLOPs of a model at its declared input shape (from the analysis module). */
export interface ModelCost {
  params: number;
  flops: number;
}

/**
 * Parameters and FLOPs of a model at `inputShapes` (needed where the model has dynamic dims other
 * than the batch); ops the FLOP table does not know count 0.
 */
export async function modelCost(model: ModelProto, source = 'model', inputShapes?: InputShapes): Promise<ModelCost> {
  const a = await analyzeModel(model, { unknownOps: 'zero', source, ...(inputShapes ? { inputShapes } : {}) });
  return { params: a.totals.params, flops: a.totals.flops };
}

/** The input shapes of one run's feeds. */
export function shapesOf(feeds: Feeds | undefined): InputShapes | undefined {
  return feeds ? Object.fromEntries(Object.entries(feeds).map(([name, t]) => [name, [...t.dims]])) : undefined;
}

/**
 * `n` deterministic calibration inputs for any model: uniform [0, 1) floats at its declared input
 * shapes or the given ones (a dynamic batch becomes 1; other dynamic dims must be given, else
 * ERR_INPUT_SHAPE). Zoo models have realistic ones (`sampleInputs`); use those there.
 */
export function calibrationInputs(model: ModelProto, n: number, seed = 0, source = 'model', inputShapes: InputShapes = {}): Feeds[] {
  const index = indexGraph(modelGraph(model, source), source);
  const shapes = resolveInputShapes(index, inputShapes, source);
  const inputs = index.inputs.map((name) => {
    const vi = index.parts.inputs.find((i) => i.name === name)!;
    const dtype = valueInfoDtype(vi);
    if (!dtype) throw new EdgesplitError('ERR_MODEL_INVALID', `${source}: input '${name}' has no numeric element type; edgesplit cannot make calibration inputs for it.`, { details: { source, input: name } });
    return { name, dtype, dims: shapes[name]! };
  });
  return Array.from({ length: n }, (_, i) => sampleFeeds(inputs, seed * 100003 + i + 1));
}

/** The planner's objective for a ratio: Gamma times the normalised Laplace distortion D(rho). */
export function distortionBound(rho: number, gamma: number): number {
  return gamma * laplaceDistortion(rho);
}

/** One real pruned model of a study and its figures. */
export interface DistortionPoint {
  ratio: number;
  /** Share of prunable weights the pruned model really removes. */
  achievedRatio: number;
  /** D over the layers that changed (weights and biases), and over every weight layer. */
  parameterDistortion: number;
  parameterDistortionTotal: number;
  /** The closed form D(rho) at the achieved ratio (normalised). */
  laplaceDistortion: number;
  /** Gamma * D for chain models (the Lipschitz bound on the output distortion), else undefined. */
  bound: number | undefined;
  outputDistortion: number;
  top1Agreement: number;
  /** Task score (accuracy, characters correct) on labelled inputs, when given. */
  taskScore: number | undefined;
  params: number;
  flops: number;
  /** The pruned model and, for structured pruning, its plan. */
  model: ModelProto;
  plan: PruningPlan | undefined;
}

/** Options of `distortionTable`. */
export interface DistortionTableOptions {
  ratios: readonly number[];
  /** `structured` (default) shrinks layers; `unstructured` zeroes weights in place. */
  mode?: 'structured' | 'unstructured';
  norm?: PruneNorm;
  scope?: PruneScope;
  /** Keep a multiple of this many channels per channel group (structured only; default 1). */
  roundTo?: number;
  /** Inputs to re-fit on (structured only; no re-fit without them). */
  refitInputs?: readonly Feeds[];
  /** Inputs to measure output distortion and agreement on (keep them apart from `refitInputs`). */
  evalInputs: readonly Feeds[];
  labelled?: LabelledSet;
  metric?: TaskMetric;
  source?: string;
}

/** A study of one model over ratios, plus the unpruned baseline. */
export interface DistortionTable {
  base: ModelCost & { taskScore: number | undefined };
  /** Gamma of the Lipschitz bound for chain models, else undefined. */
  gamma: number | undefined;
  points: DistortionPoint[];
}

/**
 * Prune a model at each ratio for real and measure it: achieved ratio, parameter distortion beside
 * the closed form D(rho), output distortion, agreement, task score, params and FLOPs, and for chain
 * models Gamma * D. The planner takes its discrete pruning levels from `points`.
 */
export async function distortionTable(model: ModelProto, options: DistortionTableOptions): Promise<DistortionTable> {
  const source = options.source ?? 'model';
  const mode = options.mode ?? 'structured';
  let gamma: number | undefined;
  try {
    chainLayers(model, source);
    gamma = (await lipschitzGamma(model, options.evalInputs)).gamma;
  } catch (e) {
    if (!(e instanceof EdgesplitError && e.code === 'ERR_MODEL_INVALID')) throw e;
  }
  const score = async (m: ModelProto): Promise<number | undefined> => (options.labelled && options.metric ? taskScore(m, options.labelled, options.metric) : undefined);
  const shapes = shapesOf(options.evalInputs[0]);
  const baseCost = await modelCost(model, source, shapes);
  const points: DistortionPoint[] = [];
  for (const ratio of options.ratios) {
    let pruned: ModelProto;
    let plan: PruningPlan | undefined;
    let achievedRatio: number;
    if (mode === 'structured') {
      plan = planPruning(model, { ratio, norm: options.norm ?? 'l2', scope: options.scope ?? 'uniform', roundTo: options.roundTo ?? 1 }, source);
      pruned = applyPruning(model, plan, source);
      if (options.refitInputs && options.refitInputs.length > 0 && ratio > 0) pruned = (await refitPruned(model, pruned, plan, options.refitInputs)).model;
      achievedRatio = plan.achievedRatio;
    } else {
      const u = pruneUnstructured(model, { ratio, scope: options.scope === 'global' ? 'global' : 'layer' }, source);
      pruned = u.model;
      achievedRatio = u.report.achievedRatio;
    }
    const pd = parameterDistortion(model, pruned, plan);
    const cmp = await compareOutputs(model, pruned, options.evalInputs);
    const cost = await modelCost(pruned, source, shapes);
    points.push({
      ratio, achievedRatio,
      parameterDistortion: pd.changed, parameterDistortionTotal: pd.total,
      laplaceDistortion: laplaceDistortion(Math.min(achievedRatio, 1 - 1e-12)),
      bound: gamma === undefined ? undefined : gamma * pd.total,
      outputDistortion: cmp.outputDistortion, top1Agreement: cmp.top1Agreement,
      taskScore: await score(pruned), params: cost.params, flops: cost.flops, model: pruned, plan,
    });
  }
  return { base: { ...baseCost, taskScore: await score(model) }, gamma, points };
}

/** Measured magnitude-pruning distortion beside the Laplace closed form, at one ratio. */
export interface MagnitudePoint {
  ratio: number;
  /** sum ||W - W'||^2 / sum ||W||^2 over the layers' weights, each layer pruned by magnitude at `ratio`. */
  measured: number;
  /** The closed form D(rho) (weights exactly Laplace). */
  laplace: number;
  /** The closed form with each layer's fitted b: sum_l n_l 2 b_l^2 D(rho) / sum_l ||W_l||^2. */
  laplaceFitted: number;
}

/** Each weight layer's fitted Laplace scale and the magnitude-pruning curve of the whole model. */
export interface MagnitudeCurve {
  layers: Array<{ node: string; weights: number; b: number; meanSquare: number }>;
  points: MagnitudePoint[];
}

/**
 * Magnitude-prune every layer's weights at each ratio (in JS, no model is written) and set the
 * measured parameter distortion beside the Laplace closed form, plain and with fitted b per layer.
 */
export function magnitudeCurve(model: ModelProto, ratios: readonly number[], source = 'model'): MagnitudeCurve {
  const weights = constantTensors(modelGraph(model, source));
  const seen = new Set<string>();
  const layers = weightLayers(model, source).filter((l) => !seen.has(l.weight) && seen.add(l.weight));
  if (layers.length === 0) throw new EdgesplitError('ERR_PRUNE_NOTHING', `${source}: the model has no Conv, Gemm or MatMul layer with a constant weight.`, { details: { source } });
  const data = layers.map((l) => tensorToFloat32(weights.get(l.weight)!));
  const sorted = data.map((d) => Float64Array.from(d, (v) => v * v).sort());
  const norms = sorted.map((s) => s.reduce((a, v) => a + v, 0));
  const totalNorm = norms.reduce((a, b) => a + b, 0);
  const bs = data.map((d) => laplaceScale(d));
  const points = ratios.map((ratio) => {
    let err = 0;
    sorted.forEach((s) => {
      const k = Math.round(ratio * s.length);
      for (let i = 0; i < k; i++) err += s[i]!;
    });
    const dn = laplaceDistortion(ratio);
    const fitted = data.reduce((a, d, i) => a + d.length * 2 * bs[i]! * bs[i]! * dn, 0) / totalNorm;
    return { ratio, measured: err / totalNorm, laplace: dn, laplaceFitted: fitted };
  });
  return {
    layers: layers.map((l, i) => ({ node: l.node, weights: data[i]!.length, b: bs[i]!, meanSquare: norms[i]! / data[i]!.length })),
    points,
  };
}
