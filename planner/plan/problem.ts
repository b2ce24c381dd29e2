// The bridge from a real model to the optimizer: analyse it, prune it at every discrete level, and
// turn the cut points, FLOPs, bytes and measured distortion of the real pruned models into a PlanningProblem.
import type { ModelProto } from '../onnx/model.ts';
import { analyzeModel, type CutPoint as AnalysisCut, type ModelAnalysis } from '../onnx/analyze.ts';
import { pruneStructured, type PruningPlan } from '../prune/structured.ts';
import { parameterDistortion, taskScore } from '../prune/distortion.ts';
import { refitPruned } from '../prune/refit.ts';
import type { LabelledSet, TaskMetric } from '../zoo/index.ts';
import type { Feeds } from '../onnx/session.ts';
import type { Budgets } from '../profiles/budgets.ts';
import type { ChannelProfile, DeviceProfile, MeasuredLatencyTable, ServerProfile } from '../profiles/profiles.ts';
import { applyMeasuredLatency, type Cut, type LatencyPoint, type PlanningProblem } from '../optimize/problem.ts';
import { EdgesplitError, isEdgesplitError } from '../../shared/errors.ts';
import type { PlanSource } from './source.ts';

/** The pruning levels planned by default: each has a real structured-pruned model. */
export const DEFAULT_LEVELS: readonly number[] = [0, 0.25, 0.5, 0.75];

/** One discrete pruning level: the real pruned whole model and its analysis. */
export interface PruneLevel {
  /** The level (the requested share of prunable weights removed); 0 is the unpruned model. */
  ratio: number;
  /** The share the pruner really removed (channels are discrete). */
  achievedRatio: number;
  model: ModelProto;
  /** The pruner's plan (absent at ratio 0). */
  plan?: PruningPlan;
  analysis: ModelAnalysis;
  /** ||W - W'||^2 / ||W||^2 over every weight layer: the distortion table's value at this level. */
  parameterDistortion: number;
  /** With re-fit: the layers re-fitted and those left as pruned. */
  refit?: { layers: number; skipped: number };
}

/** A requested level with no pruned model, and why (the pruner's error). */
export interface SkippedLevel {
  ratio: number;
  code: 'ERR_PRUNE_NOTHING' | 'ERR_PRUNE_EMPTIES_LAYER';
  reason: string;
}

/** A level built but not planned: its task score on held-out labelled data is below the floor. */
export interface DroppedLevel {
  ratio: number;
  /** The level's task score (after re-fit, when re-fitting) on the held-out labelled inputs. */
  taskScore: number;
  reason: string;
}

/** The accuracy floor's inputs: the least task score a level must keep, and the labelled data to measure it on. */
export interface AccuracyFloor {
  /** The least task score (0..1) a pruning level must keep. */
  minTaskScore: number;
  /** Held-out labelled inputs the scores are measured on. */
  set: LabelledSet;
  metric: TaskMetric;
}

/** A planning problem together with what it was built from, for the emitter and the reports. */
export interface ModelProblem {
  problem: PlanningProblem;
  source: PlanSource;
  /** The levels, ascending; levels[0] is the unpruned model. */
  levels: PruneLevel[];
  /** Requested levels the pruner could not reach (a model with nothing prunable skips every one above 0). */
  skippedLevels: SkippedLevel[];
  /** With an accuracy floor: the floor, the task score of every level measured, and the levels dropped for scoring below it. */
  accuracyFloor?: { minTaskScore: number; metric: TaskMetric['name']; inputs: number; scores: Array<{ ratio: number; taskScore: number }>; dropped: DroppedLevel[] };
  /** Lipschitz factor Gamma of the distortion bound. */
  gamma: number;
  /** The pruner's channel multiple, and the re-fit inputs per level (absent without re-fit). */
  roundTo: number;
  refitInputs?: number;
  /** Cuts whose device latency came from the measured table directly, and those interpolated between them. */
  measured?: { device?: { measuredCuts: number; interpolatedCuts: number }; server?: { measuredCuts: number; interpolatedCuts: number } };
  /** Wall time of each phase. */
  timingsMs: { analyse: number; prune: number; score: number };
}

/** What `buildProblem` needs besides the model. */
export interface ProblemOptions {
  device: DeviceProfile;
  channel: ChannelProfile;
  server: ServerProfile;
  budgets: Budgets;
  /** Pruning levels (default 0, 0.25, 0.5, 0.75); 0 is always included. */
  ratios?: readonly number[];
  /** Keep a multiple of this many channels per group (the pruner's `roundTo`; 8 suits ONNX Runtime's CPU kernels). Default 1. */
  roundTo?: number;
  /** Re-fit each pruned level's consuming layers by least squares on these inputs (the pruner's `refitPruned`). */
  refitInputs?: readonly Feeds[];
  /** The Lipschitz factor Gamma of the bound Gamma * D(rho). */
  gamma: number;
  /** Measured latency tables from `edgesplit profile`: the device's (head) and the server's (tail). */
  measured?: { device?: MeasuredLatencyTable; server?: MeasuredLatencyTable };
  /** Channel fading power gain the plan is made for (default 1, the Rayleigh mean). */
  fadingGain?: number;
  /** Plan only the levels whose task score on held-out labelled data is at least the floor. */
  accuracyFloor?: AccuracyFloor;
  onProgress?: (message: string) => void;
}

/**
 * The problem's cut from one analysis cut and its counterparts at each level. The last cut (the
 * whole model on the device) sends nothing: the result stays on the device, so it is priced with
 * no transmission, no server time and no round trip.
 */
function toCut(base: AnalysisCut, levels: readonly PruneLevel[], prunableShare: number, last: boolean): Cut {
  return {
    id: base.id,
    // NOTE: the optimizer takes one crossing size per cut; the unpruned size is used, an upper
    // bound (pruning only narrows tensors). The emitter reprices with the real crossing bytes.
    crossingBytes: last ? 0 : base.crossingBytes,
    prunableShare,
    points: levels.map((level) => {
      const c = level.analysis.cuts.find((x) => x.id === base.id);
      if (!c) throw new EdgesplitError('ERR_INTERNAL', `cut ${base.id} has no counterpart in the model pruned at ratio ${level.ratio}`, { details: { cut: base.id, ratio: level.ratio } });
      return { ratio: level.ratio, headFlops: c.headFlops, tailFlops: c.tailFlops, headParamBytes: c.headParamBytes, headPeakActivationBytes: c.headPeakActivationBytes };
    }),
  };
}

/**
 * Give every cut a measured series: cuts in the table keep theirs; a cut between measured cuts gets
 * its FLOPs times the seconds per FLOP interpolated (by cut index) from its nearest measured
 * neighbours at each ratio, so that measured and unmeasured cuts are priced on the same footing.
 */
function fillMeasured(cuts: Cut[], key: 'measuredHead' | 'measuredTail'): { measuredCuts: number; interpolatedCuts: number } {
  const flopsOf = (c: Cut, ratio: number): number => {
    const p = c.points.find((x) => x.ratio === ratio) ?? c.points[0]!;
    return key === 'measuredHead' ? p.headFlops : p.tailFlops;
  };
  const measured = cuts.map((c, i) => ({ i, series: c[key] })).filter((m): m is { i: number; series: readonly LatencyPoint[] } => m.series !== undefined);
  if (measured.length === 0) return { measuredCuts: 0, interpolatedCuts: 0 };
  const ratios = [...new Set(measured.flatMap((m) => m.series.map((p) => p.ratio)))].sort((a, b) => a - b);
  let interpolated = 0;
  cuts.forEach((cut, i) => {
    if (cut[key]) return;
    const series: LatencyPoint[] = [];
    for (const ratio of ratios) {
      const flops = flopsOf(cut, ratio);
      if (flops === 0) {
        series.push({ ratio, latencyS: 0 });
        continue;
      }
      // Seconds per FLOP of measured cuts with work on this side at this ratio.
      const rates = measured.flatMap((m) => {
        const pt = m.series.find((p) => p.ratio === ratio);
        const f = flopsOf(cuts[m.i]!, ratio);
        return pt && f > 0 ? [{ i: m.i, rate: pt.latencyS / f }] : [];
      });
      if (rates.length === 0) return;
      const below = rates.filter((r) => r.i < i).at(-1);
      const above = rates.find((r) => r.i > i);
      const rate = below && above ? below.rate + ((above.rate - below.rate) * (i - below.i)) / (above.i - below.i) : (below ?? above)!.rate;
      series.push({ ratio, latencyS: rate * flops });
    }
    if (series.length === ratios.length && series[0]?.ratio === 0) {
      cut[key] = series;
      interpolated++;
    }
  });
  return { measuredCuts: measured.length, interpolatedCuts: interpolated };
}

/**
 * A measured series made non-increasing in the ratio. NOTE: timing noise can measure a pruned level
 * a little slower than the level below it, and the optimizer's bisection needs times that do not grow
 * with the ratio; each time is raised to the largest measured at any larger ratio, so the
 * prediction errs on the slow side rather than promising a time that was not measured.
 */
function nonIncreasing(series: readonly LatencyPoint[]): LatencyPoint[] {
  const out = series.map((p) => ({ ...p }));
  for (let i = out.length - 2; i >= 0; i--) out[i]!.latencyS = Math.max(out[i]!.latencyS, out[i + 1]!.latencyS);
  return out;
}

/**
 * Build the planning problem of a real model. The model is analysed at its input shapes (cut points
 * with their crossing tensors, FLOPs, weights and peak activations), pruned with the structured
 * pruner at each level and re-analysed, so that every cut's costs at every level come from a real
 * pruned graph; ratios are discrete (only these levels exist). The distortion model is the table of
 * measured parameter distortion of those pruned models, scaled by Gamma (see docs/plan.md for why
 * the table and not the Laplace closed form). Measured latency tables, when given, replace FLOPs x
 * cycles per FLOP on the device (and FLOPs / throughput on the server).
 *
 * With an accuracy floor, every level's task score is measured on the floor's labelled inputs (after
 * its re-fit, when re-fitting) and the levels below the floor are dropped and reported; the unpruned
 * model is scored first, and ERR_USAGE is thrown when even it is below the floor.
 */
export async function buildProblem(source: PlanSource, options: ProblemOptions): Promise<ModelProblem> {
  const progress = options.onProgress ?? (() => undefined);
  const ratios = [...new Set([0, ...(options.ratios ?? DEFAULT_LEVELS)])].sort((a, b) => a - b);
  if (!(options.gamma > 0) || !Number.isFinite(options.gamma)) {
    throw new EdgesplitError('ERR_INTERNAL', `Gamma must be a positive number, got ${options.gamma}`);
  }
  let t0 = performance.now();
  progress(`analysing ${source.name}`);
  const base = await analyzeModel(source.model, { inputShapes: source.inputShapes, source: source.name });
  const analyseMs = performance.now() - t0;

  const floor = options.accuracyFloor;
  let scoreMs = 0;
  const scoreOf = async (model: ModelProto, ratio: number): Promise<number> => {
    const t = performance.now();
    progress(`scoring ${ratio === 0 ? 'the unpruned model' : `the level at ratio ${ratio}`} on ${floor!.set.inputs.length} held-out labelled inputs (${floor!.metric.name})`);
    const score = await taskScore(model, floor!.set, floor!.metric);
    scoreMs += performance.now() - t;
    return score;
  };
  const scores: Array<{ ratio: number; taskScore: number }> = [];
  const dropped: DroppedLevel[] = [];
  const floorText = floor ? `--min-accuracy ${floor.minTaskScore}` : '';
  if (floor) {
    const unpruned = await scoreOf(source.model, 0);
    scores.push({ ratio: 0, taskScore: unpruned });
    if (unpruned < floor.minTaskScore) {
      throw new EdgesplitError('ERR_USAGE', `the unpruned model '${source.id}' itself scores ${unpruned.toFixed(4)} (${floor.metric.name}) on ${floor.set.inputs.length} held-out labelled inputs, below the floor ${floor.minTaskScore}: no pruning level can meet it. Give a floor of at most ${unpruned.toFixed(4)} (--min-accuracy), or leave it out.`, { details: { model: source.id, taskScore: unpruned, minTaskScore: floor.minTaskScore, inputs: floor.set.inputs.length, metric: floor.metric.name } });
    }
  }

  t0 = performance.now();
  const scoreMsBefore = scoreMs;
  const levels: PruneLevel[] = [{ ratio: 0, achievedRatio: 0, model: source.model, analysis: base, parameterDistortion: 0 }];
  const skippedLevels: SkippedLevel[] = [];
  for (const ratio of ratios.slice(1)) {
    progress(`pruning at ratio ${ratio} and re-analysing`);
    let pruned: ReturnType<typeof pruneStructured>;
    try {
      pruned = pruneStructured(source.model, { ratio, ...(options.roundTo !== undefined ? { roundTo: options.roundTo } : {}) }, source.name);
    } catch (e) {
      // NOTE: a model the pruner cannot prune (or not this far) is still planned, over the levels
      // that exist; the skipped ones and why are reported, never silently dropped.
      const code = isEdgesplitError(e, 'ERR_PRUNE_NOTHING') ? 'ERR_PRUNE_NOTHING' : isEdgesplitError(e, 'ERR_PRUNE_EMPTIES_LAYER') ? 'ERR_PRUNE_EMPTIES_LAYER' : undefined;
      if (!code || !isEdgesplitError(e)) throw e;
      for (const r of ratios.filter((x) => x >= ratio)) skippedLevels.push({ ratio: r, code, reason: e.message });
      progress(`no pruned model at ratio ${ratio}${ratio < ratios[ratios.length - 1]! ? ' or above' : ''} (${code}): planning over ratios ${levels.map((l) => l.ratio).join(', ')}`);
      break;
    }
    const { plan } = pruned;
    let model = pruned.model;
    let refit: PruneLevel['refit'];
    if (options.refitInputs && options.refitInputs.length > 0) {
      progress(`re-fitting the layers after the pruned channels at ratio ${ratio} on ${options.refitInputs.length} inputs`);
      const r = await refitPruned(source.model, model, plan, options.refitInputs);
      model = r.model;
      refit = { layers: r.layers.length, skipped: r.skipped.length };
    }
    if (floor) {
      // NOTE: scored after the re-fit, so that the floor judges the model that would be emitted.
      const score = await scoreOf(model, ratio);
      scores.push({ ratio, taskScore: score });
      if (score < floor.minTaskScore) {
        dropped.push({ ratio, taskScore: score, reason: `below ${floorText}` });
        progress(`dropping the level at ratio ${ratio}: ${floor.metric.name} ${score.toFixed(4)} is below ${floorText}`);
        continue;
      }
    }
    const analysis = await analyzeModel(model, { inputShapes: source.inputShapes, source: `${source.name} pruned at ${ratio}` });
    levels.push({ ratio, achievedRatio: plan.achievedRatio, model, plan, analysis, parameterDistortion: parameterDistortion(source.model, model, plan).total, ...(refit ? { refit } : {}) });
  }
  const pruneMs = performance.now() - t0 - (scoreMs - scoreMsBefore);
  const planned = levels.map((l) => l.ratio);

  const top = levels[levels.length - 1]!;
  // NOTE: the share of FLOPs that pruning removes per unit ratio, from the largest level; the
  // optimizer only uses it to scale a single-point series, which these cuts never have.
  const prunableShare = top.ratio > 0 ? Math.min(1, Math.max(0, (1 - top.analysis.totals.flops / base.totals.flops) / top.ratio)) : 0;
  const cuts = base.cuts.map((c, i) => toCut(c, levels, prunableShare, i === base.cuts.length - 1));
  // NOTE: distortion must not fall as the ratio grows (the optimizer's bisection relies on it);
  // the running maximum keeps the table monotone should a level ever measure below the one before.
  let running = 0;
  const points = levels.map((l) => ({ ratio: l.ratio, distortion: (running = Math.max(running, l.parameterDistortion)) }));

  let problem: PlanningProblem = {
    name: source.id,
    device: options.device,
    channel: options.channel,
    server: options.server,
    budgets: options.budgets,
    fadingGain: options.fadingGain ?? 1,
    cuts,
    distortion: { model: 'table', gamma: options.gamma, points },
    ratios: { kind: 'discrete', levels: planned },
  };
  const measured: NonNullable<ModelProblem['measured']> = {};
  if (options.measured?.device || options.measured?.server) {
    problem = applyMeasuredLatency(problem, options.measured);
    const filled = problem.cuts.map((c) => ({ ...c }));
    if (options.measured.device) measured.device = fillMeasured(filled, 'measuredHead');
    if (options.measured.server) measured.server = fillMeasured(filled, 'measuredTail');
    problem = { ...problem, cuts: filled.map((c) => ({ ...c, ...(c.measuredHead ? { measuredHead: nonIncreasing(c.measuredHead) } : {}), ...(c.measuredTail ? { measuredTail: nonIncreasing(c.measuredTail) } : {}) })) };
  }
  return {
    problem, source, levels, skippedLevels, gamma: options.gamma, roundTo: options.roundTo ?? 1, ...(options.refitInputs?.length ? { refitInputs: options.refitInputs.length } : {}), ...(Object.keys(measured).length > 0 ? { measured } : {}),
    ...(floor ? { accuracyFloor: { minTaskScore: floor.minTaskScore, metric: floor.metric.name, inputs: floor.set.inputs.length, scores, dropped } } : {}),
    timingsMs: { analyse: analyseMs, prune: pruneMs, score: scoreMs },
  };
}
