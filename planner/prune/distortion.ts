// Distortion of a pruned model against the original: parameter distortion per layer and in total,
// output distortion on calibration inputs, top-1 agreement, and the task score where labels exist.
import type { ModelProto } from '../onnx/model.ts';
import { constantTensors, tensorDims, tensorToFloat32 } from '../onnx/model.ts';
import { createSession, type Feeds } from '../onnx/session.ts';
import { modelGraph } from '../onnx/graph.ts';
import { EdgesplitError } from '../../shared/errors.ts';
import type { LabelledSet, TaskMetric } from '../zoo/index.ts';
import { weightLayers } from './layers.ts';
import { scatterAxis } from './slices.ts';
import { keptAlong, removedPositions, type PruningPlan } from './structured.ts';

/** Parameter distortion of one weight layer (its weight and bias together). */
export interface LayerDistortion {
  node: string;
  /** Entries of the layer's weight and bias. */
  params: number;
  /** ||W - W'||^2 and ||W||^2 over the weight and bias. */
  squaredError: number;
  squaredNorm: number;
  /** squaredError / squaredNorm. */
  distortion: number;
}

/** Parameter distortion of a model: per layer and in total, D = sum ||W - W'||^2 / sum ||W||^2. */
export interface ParameterDistortion {
  /** Over every weight layer of the model. */
  total: number;
  /** Over the layers that changed (the pruned ones): the figure to set beside D(rho). */
  changed: number;
  layers: LayerDistortion[];
}

/**
 * The pruned values of a tensor in the original's shape: sliced members are scattered back with
 * zeros where channels were removed, so a structured-pruned (or re-fitted) weight compares entry by
 * entry with the original.
 */
function inOriginalShape(pruned: ModelProto, name: string, plan: PruningPlan | undefined, fullDims: readonly number[]): Float32Array {
  const t = constantTensors(modelGraph(pruned)).get(name);
  if (!t) throw new EdgesplitError('ERR_MODEL_INVALID', `the pruned model has no tensor '${name}', which the original has. Compare a model with the model it was pruned from.`, { details: { tensor: name } });
  let data = tensorToFloat32(t);
  let dims = tensorDims(t);
  if (plan) {
    for (const [axis, removed] of removedPositions(plan, name, fullDims, 'original model')) {
      const e = scatterAxis(data, dims, axis, keptAlong(fullDims[axis]!, removed), fullDims[axis]!);
      data = e.data;
      dims = e.dims;
    }
  }
  if (dims.join(',') !== fullDims.join(',')) {
    throw new EdgesplitError('ERR_MODEL_INVALID', `tensor '${name}' has dims [${dims.join(',')}] in the pruned model and [${fullDims.join(',')}] in the original. Pass the pruning plan of a structured-pruned model.`, { details: { tensor: name } });
  }
  return data;
}

/**
 * D = ||W - W'||^2 / ||W||^2 per weight layer (weight and bias) and in total. For a structured-pruned
 * model pass its plan: W' is then the zero-masked equivalent (with any re-fitted values in place).
 */
export function parameterDistortion(original: ModelProto, pruned: ModelProto, plan?: PruningPlan): ParameterDistortion {
  const weights = constantTensors(modelGraph(original));
  const layers: LayerDistortion[] = [];
  for (const layer of weightLayers(original)) {
    let squaredError = 0;
    let squaredNorm = 0;
    let params = 0;
    for (const name of [layer.weight, layer.bias]) {
      if (!name) continue;
      const t = weights.get(name)!;
      const w = tensorToFloat32(t);
      const p = inOriginalShape(pruned, name, plan, tensorDims(t));
      params += w.length;
      for (let i = 0; i < w.length; i++) {
        const d = w[i]! - p[i]!;
        squaredError += d * d;
        squaredNorm += w[i]! * w[i]!;
      }
    }
    layers.push({ node: layer.node, params, squaredError, squaredNorm, distortion: squaredNorm > 0 ? squaredError / squaredNorm : 0 });
  }
  const sum = (ls: LayerDistortion[], k: 'squaredError' | 'squaredNorm'): number => ls.reduce((a, l) => a + l[k], 0);
  const changed = layers.filter((l) => l.squaredError > 0);
  return {
    total: sum(layers, 'squaredNorm') > 0 ? sum(layers, 'squaredError') / sum(layers, 'squaredNorm') : 0,
    changed: changed.length > 0 ? sum(changed, 'squaredError') / sum(changed, 'squaredNorm') : 0,
    layers,
  };
}

/** How a pruned model's outputs compare with the original's on the same inputs. */
export interface OutputComparison {
  /** sum ||y - y'||^2 / sum ||y||^2 over the inputs (first output of the model). */
  outputDistortion: number;
  /** Share of rows (last axis = classes) whose argmax agrees with the original's. */
  top1Agreement: number;
  /** Largest |y - y'| and largest |y| (the output's scale). */
  maxAbsDiff: number;
  outputScale: number;
  inputs: number;
}

function argmaxRows(data: ArrayLike<number>, width: number): number[] {
  const rows: number[] = [];
  for (let r = 0; r * width < data.length; r++) {
    let best = 0;
    for (let j = 1; j < width; j++) if (data[r * width + j]! > data[r * width + best]!) best = j;
    rows.push(best);
  }
  return rows;
}

/** Run both models on `inputs` (real ONNX Runtime sessions) and compare their first outputs. */
export async function compareOutputs(original: ModelProto, pruned: ModelProto, inputs: readonly Feeds[]): Promise<OutputComparison> {
  const a = await createSession(original);
  const b = await createSession(pruned);
  let err = 0;
  let norm = 0;
  let agree = 0;
  let rows = 0;
  let maxAbsDiff = 0;
  let outputScale = 0;
  try {
    const name = a.outputNames[0]!;
    for (const feeds of inputs) {
      const ya = (await a.run(feeds, [name]))[name]!;
      const yb = (await b.run(feeds, [name]))[name]!;
      const da = ya.data as ArrayLike<number>;
      const db = yb.data as ArrayLike<number>;
      if (da.length !== db.length) throw new EdgesplitError('ERR_MODEL_INVALID', `output '${name}' has ${da.length} values in the original and ${db.length} in the pruned model; pruning must keep the outputs.`);
      for (let i = 0; i < da.length; i++) {
        const d = da[i]! - db[i]!;
        err += d * d;
        norm += da[i]! * da[i]!;
        maxAbsDiff = Math.max(maxAbsDiff, Math.abs(d));
        outputScale = Math.max(outputScale, Math.abs(da[i]!));
      }
      const width = ya.dims[ya.dims.length - 1] ?? 1;
      const ra = argmaxRows(da, width);
      const rb = argmaxRows(db, width);
      ra.forEach((c, i) => { if (c === rb[i]) agree++; });
      rows += ra.length;
    }
  } finally {
    await a.release();
    await b.release();
  }
  return { outputDistortion: norm > 0 ? err / norm : 0, top1Agreement: rows > 0 ? agree / rows : 1, maxAbsDiff, outputScale, inputs: inputs.length };
}

/** Mean task score (accuracy, characters correct) of a model on labelled inputs. */
export async function taskScore(model: ModelProto, set: LabelledSet, metric: TaskMetric): Promise<number> {
  const s = await createSession(model);
  let total = 0;
  try {
    for (let i = 0; i < set.inputs.length; i++) total += metric.score(await s.run(set.inputs[i]!, [metric.output]), set.labels[i]!);
  } finally {
    await s.release();
  }
  return set.inputs.length > 0 ? total / set.inputs.length : 0;
}
