// The whole pruning job behind `edgesplit prune`: prune (structured or unstructured), optionally
// re-fit, and measure what changed (params, FLOPs, distortion, agreement, task score, latency).
import type { ModelProto } from '../onnx/model.ts';
import { createSession, type Feeds, type SessionOptions } from '../onnx/session.ts';
import type { LabelledSet, TaskMetric } from '../zoo/index.ts';
import { compareOutputs, parameterDistortion, taskScore, type OutputComparison, type ParameterDistortion } from './distortion.ts';
import type { SkippedPart } from './groups.ts';
import { refitPruned, type RefitLayer } from './refit.ts';
import { applyPruning, planPruning, type PruneNorm, type PruneScope, type PruningPlan } from './structured.ts';
import { modelCost, shapesOf, type ModelCost } from './study.ts';
import { pruneUnstructured } from './unstructured.ts';

/** What to prune and how to measure it. */
export interface PruneJob {
  ratio: number;
  mode: 'structured' | 'unstructured';
  norm?: PruneNorm;
  /** `global` ranks across groups (structured) or uses one threshold over all layers (unstructured). */
  scope?: PruneScope;
  /** Keep a multiple of this many channels per channel group (structured only; default 1). */
  roundTo?: number;
  /** Re-fit the layers after removed channels on `calibration` (structured only). */
  refit?: boolean;
  calibration: readonly Feeds[];
  /** Inputs for distortion, agreement and latency, apart from the calibration inputs. */
  evalInputs: readonly Feeds[];
  labelled?: LabelledSet;
  metric?: TaskMetric;
  /** Timed runs of each model for the latency median (0 skips latency). */
  latencyRuns?: number;
  source?: string;
  /** Progress of the long steps, one line each (the command writes them to stderr). */
  progress?: (line: string) => void;
}

/** Before and after, side by side. */
export interface BeforeAfter {
  before: number;
  after: number;
}

/** The result of a pruning job. */
export interface PruneResult {
  model: ModelProto;
  mode: 'structured' | 'unstructured';
  ratio: number;
  achievedRatio: number;
  plan: PruningPlan | undefined;
  /** Groups pruned (structured) and parts left whole with the reason. */
  groupsPruned: number;
  skipped: SkippedPart[];
  refit: RefitLayer[] | undefined;
  /** Layers the re-fit left as pruned, with the reason. */
  refitSkipped: Array<{ node: string; reason: string }>;
  params: BeforeAfter;
  flops: BeforeAfter;
  parameterDistortion: ParameterDistortion;
  output: OutputComparison;
  taskScore: BeforeAfter | undefined;
  taskMetric: string | undefined;
  /** Median ONNX Runtime latency in ms on the first eval input, one thread, runs interleaved. */
  latencyMs: PairedLatency | undefined;
}

/** Latency of two models measured interleaved: medians, and the median ratio of adjacent runs. */
export interface PairedLatency extends BeforeAfter {
  /**
   * Median over runs of before / after, each pair run back to back.
   * NOTE: on a shared machine the load shifts between runs; a pair sees nearly the same load, so
   * this ratio is steadier than the ratio of the two medians.
   */
  speedup: number;
}

/** Median latency of two models measured interleaved (one run of each in turn), after warm-up. */
export async function interleavedLatencyMs(a: ModelProto, b: ModelProto, feeds: Feeds, runs: number, warmup = 5, options: SessionOptions = {}): Promise<PairedLatency> {
  const sa = await createSession(a, options);
  const sb = await createSession(b, options);
  const ta: number[] = [];
  const tb: number[] = [];
  try {
    for (let i = 0; i < warmup; i++) {
      await sa.run(feeds);
      await sb.run(feeds);
    }
    for (let i = 0; i < runs; i++) {
      let t0 = performance.now();
      await sa.run(feeds);
      ta.push(performance.now() - t0);
      t0 = performance.now();
      await sb.run(feeds);
      tb.push(performance.now() - t0);
    }
  } finally {
    await sa.release();
    await sb.release();
  }
  const med = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  return { before: med(ta), after: med(tb), speedup: med(ta.map((t, i) => t / tb[i]!)) };
}

/** Prune a model as the job says and measure the result against the original. */
export async function runPruneJob(model: ModelProto, job: PruneJob): Promise<PruneResult> {
  const source = job.source ?? 'model';
  let pruned: ModelProto;
  let plan: PruningPlan | undefined;
  let achievedRatio: number;
  let refit: RefitLayer[] | undefined;
  let refitSkipped: Array<{ node: string; reason: string }> = [];
  if (job.mode === 'structured') {
    plan = planPruning(model, { ratio: job.ratio, norm: job.norm ?? 'l2', scope: job.scope ?? 'uniform', roundTo: job.roundTo ?? 1 }, source);
    pruned = applyPruning(model, plan, source);
    if (job.refit) {
      const r = await refitPruned(model, pruned, plan, job.calibration, { onLayer: (done, total, node) => job.progress?.(`re-fit ${done}/${total}: ${node}`) });
      pruned = r.model;
      refit = r.layers;
      refitSkipped = r.skipped;
    }
    achievedRatio = plan.achievedRatio;
  } else {
    const u = pruneUnstructured(model, { ratio: job.ratio, scope: job.scope === 'global' ? 'global' : 'layer' }, source);
    pruned = u.model;
    achievedRatio = u.report.achievedRatio;
  }
  const shapes = shapesOf(job.evalInputs[0]);
  const [c0, c1]: ModelCost[] = [await modelCost(model, source, shapes), await modelCost(pruned, source, shapes)];
  const score = job.labelled && job.metric ? { before: await taskScore(model, job.labelled, job.metric), after: await taskScore(pruned, job.labelled, job.metric) } : undefined;
  const runs = job.latencyRuns ?? 0;
  return {
    model: pruned, mode: job.mode, ratio: job.ratio, achievedRatio, plan,
    groupsPruned: plan ? plan.groups.filter((g) => g.kept.length < g.channels).length : 0,
    skipped: plan?.skipped ?? [], refit, refitSkipped,
    params: { before: c0!.params, after: c1!.params },
    flops: { before: c0!.flops, after: c1!.flops },
    parameterDistortion: parameterDistortion(model, pruned, plan),
    output: await compareOutputs(model, pruned, job.evalInputs),
    taskScore: score, taskMetric: score ? job.metric!.name : undefined,
    latencyMs: runs > 0 && job.evalInputs.length > 0 ? await interleavedLatencyMs(model, pruned, job.evalInputs[0]!, runs) : undefined,
  };
}
