// `plan(config)`: the whole planning job as one pure call, for the CLI, the demo and tests. Load the model
// and profiles, build the problem from the real pruned models, optimise, emit and verify the plan directory.
import type { InputShapes } from '../onnx/shapes.ts';
import { lipschitzGamma } from '../prune/lipschitz.ts';
import { checkRatio } from '../prune/ratio.ts';
import { type Budgets, parseBudgets } from '../profiles/budgets.ts';
import { type ChannelProfile, type DeviceProfile, type ServerProfile, loadProfile } from '../profiles/profiles.ts';
import { type FeasiblePlan, type PlanResult as OptimizerResult, onDevice, onServer, optimizeOrThrow, splitOnly } from '../optimize/optimizer.ts';
import type { CostBreakdown, Decision } from '../optimize/cost.ts';
import { EdgesplitError, isEdgesplitError } from '../../shared/errors.ts';
import { type PlanSource, loadPlanSource } from './source.ts';
import { listZoo } from '../zoo/index.ts';
import { type AccuracyFloor, type ModelProblem, buildProblem, DEFAULT_LEVELS } from './problem.ts';
import { loadMeasuredProfile } from './calibrate.ts';
import { type EmitResult, type Verification, type WrittenPlan, emitPlan } from './emit.ts';

export { DEFAULT_LEVELS } from './problem.ts';
export type { WrittenPlan, Verification } from './emit.ts';

/** Budgets as quantities with units ("300 ms", "2 J", "256 MB"; plain numbers are s, J and bytes). */
export interface BudgetsInput {
  latency: string | number;
  energy: string | number;
  memory?: string | number;
}

/** Everything `plan` needs. Profiles are built-in names, JSON file paths or parsed profiles. */
export interface PlanConfig {
  /** An .onnx path or a zoo id, or a model already loaded with `loadPlanSource`. */
  model: string | PlanSource;
  /** Input shapes for models with dynamic dimensions (as --input-shape gives them). */
  inputShapes?: InputShapes;
  device: string | DeviceProfile;
  channel: string | ChannelProfile;
  /** Default 'desktop'. */
  server?: string | ServerProfile;
  budgets: BudgetsInput | Budgets;
  /** A measured latency file written by `edgesplit profile` on the device: replaces FLOPs x cycles per FLOP. */
  profile?: string;
  /** A measured latency file written by `edgesplit profile` on the server: replaces FLOPs / throughput for the tail. */
  serverProfile?: string;
  /** Pruning levels to build real pruned models for (default 0, 0.25, 0.5, 0.75). */
  ratios?: readonly number[];
  /** Keep a multiple of this many channels per pruned group (8 turns FLOPs saved into time saved in ONNX Runtime). Default 1. */
  roundTo?: number;
  /**
   * Re-fit every pruned level by least squares on this many calibration inputs (0 or absent: no
   * re-fit). Slower to plan, often far more accurate (docs/pruning.md).
   */
  refit?: number;
  /** Calibration inputs for Gamma and for verification (default 32). */
  calibrationInputs?: number;
  /** Channel fading power gain planned for (default 1: the Rayleigh mean). */
  fadingGain?: number;
  /**
   * The least task score (0..1: top-1 accuracy or characters correct) a pruning level must keep on
   * `calibrationInputs` held-out labelled inputs; levels below it are not planned. Only for models
   * with labelled data (the zoo's MNIST models and the PP-OCR recogniser).
   */
  minTaskScore?: number;
  /** The plan directory to write. */
  out: string;
  /** Progress lines for long steps. */
  onProgress?: (message: string) => void;
}

/** The result of `plan`: the plan as written, the decision and its prices, verification and timings. */
export interface PlanResult {
  plan: WrittenPlan;
  dir: string;
  files: EmitResult['files'];
  decision: Decision;
  /** Priced on the emitted sub-models (what plan.json's `predicted` holds). */
  breakdown: CostBreakdown;
  /** The optimizer's own pricing of the decision on the problem's figures. */
  optimizerBreakdown: CostBreakdown;
  optimizer: FeasiblePlan;
  verification: Verification;
  /** The baselines on the same problem (fully on-device, fully on-server, split only), for comparison. */
  baselines: { onDevice: OptimizerResult; onServer: OptimizerResult; splitOnly: OptimizerResult };
  problem: ModelProblem;
  /** Wall time of each phase, and of the whole call. */
  timingsMs: { load: number; analyse: number; prune: number; score: number; optimise: number; emit: number; verify: number; total: number };
}

function isBudgets(b: BudgetsInput | Budgets): b is Budgets {
  return 'latencyS' in b;
}

function profileName(p: string | { name: string }): string {
  return typeof p === 'string' ? p : p.name;
}

/** Gamma of the bound: the Lipschitz factor for chain models, 1 (the bound is then D itself) otherwise. */
async function gammaFor(source: PlanSource, n: number): Promise<{ gamma: number; gammaSource: string }> {
  try {
    const g = await lipschitzGamma(source.model, await source.sampleInputs(n, 0));
    if (Number.isFinite(g.gamma) && g.gamma > 0) return { gamma: g.gamma, gammaSource: `Lipschitz bound over ${g.layers.length} dense layers on ${n} calibration inputs` };
    return { gamma: 1, gammaSource: `1: the Lipschitz factor came out ${g.gamma}` };
  } catch (e) {
    if (!isEdgesplitError(e, 'ERR_MODEL_INVALID')) throw e;
    // NOTE: Gamma scales the objective by a constant, so the decision is the same; the bound is
    // then the parameter distortion alone, and plan.json says so.
    return { gamma: 1, gammaSource: `1: not a chain model, no Lipschitz factor (${e.message.replace(/^.*?\(/, '').replace(/\)\..*$/, '')})` };
  }
}

/**
 * Run the optimizer; when it finds no feasible plan and the accuracy floor dropped levels, say so in
 * the ERR_INFEASIBLE message (the optimizer's advice to allow a larger ratio cannot help then) and
 * list the dropped levels in its details.
 */
function withDroppedLevels<T>(mp: ModelProblem, optimise: () => T): T {
  try {
    return optimise();
  } catch (e) {
    const dropped = mp.accuracyFloor?.dropped ?? [];
    if (!isEdgesplitError(e, 'ERR_INFEASIBLE') || dropped.length === 0) throw e;
    const floor = mp.accuracyFloor!;
    const list = dropped.map((l) => `${l.ratio} (${(l.taskScore * 100).toFixed(1)}%)`).join(', ');
    throw new EdgesplitError('ERR_INFEASIBLE', `${e.message} The pruning levels at ratio ${list} were not planned: their ${floor.metric} on ${floor.inputs} held-out labelled inputs is below --min-accuracy ${floor.minTaskScore}; lower the floor, ${mp.refitInputs ? '' : 're-fit the pruned levels (--refit 64), '}or loosen the budgets.`, { details: { ...e.details, minTaskScore: floor.minTaskScore, dropped: dropped.map((l) => ({ ratio: l.ratio, taskScore: l.taskScore })) }, cause: e });
  }
}

/**
 * Plan a model: load it and the profiles, build the problem from real pruned models (one per level),
 * choose the split, ratio, power and frequency with the optimizer, and emit DIR/device.onnx,
 * DIR/server.onnx and DIR/plan.json, repriced on the emitted halves and verified on calibration inputs.
 *
 * Errors: ERR_INFEASIBLE (names the budget that cannot be met and the least latency and energy to
 * be had), ERR_BUDGET_INVALID, ERR_PROFILE_INVALID, ERR_UNIT, ERR_FILE_NOT_FOUND, ERR_UNKNOWN_MODEL,
 * ERR_INPUT_SHAPE, ERR_PRUNE_RATIO (a level outside [0, 1)), ERR_USAGE (calibrationInputs not an
 * integer >= 1; minTaskScore outside [0, 1], given for a model without labelled data, or above the
 * unpruned model's own score). Levels the pruner cannot reach are skipped and reported, not errors;
 * so are levels below minTaskScore.
 */
export async function plan(config: PlanConfig): Promise<PlanResult> {
  const started = performance.now();
  const progress = config.onProgress ?? (() => undefined);
  const n = config.calibrationInputs ?? 32;
  if (!Number.isInteger(n) || n < 1) {
    throw new EdgesplitError('ERR_USAGE', `'calibrationInputs' must be an integer >= 1, got ${n}.`, { details: { calibrationInputs: n } });
  }
  for (const r of config.ratios ?? []) checkRatio(r, 'ratios');
  for (const [name, v, min] of [['roundTo', config.roundTo ?? 1, 1], ['refit', config.refit ?? 0, 0]] as const) {
    if (!Number.isInteger(v) || v < min) throw new EdgesplitError('ERR_USAGE', `'${name}' must be an integer >= ${min}, got ${v}.`, { details: { [name]: v } });
  }
  const floor = config.minTaskScore;
  if (floor !== undefined && !(Number.isFinite(floor) && floor >= 0 && floor <= 1)) {
    throw new EdgesplitError('ERR_USAGE', `'minTaskScore' (--min-accuracy) must be a fraction in [0, 1], e.g. 0.9 for 90%, got ${floor}.`, { details: { minTaskScore: floor } });
  }
  const budgets = isBudgets(config.budgets) ? config.budgets : parseBudgets(config.budgets);
  let device = typeof config.device === 'string' ? loadProfile('device', config.device) : config.device;
  const channel = typeof config.channel === 'string' ? loadProfile('channel', config.channel) : config.channel;
  const serverSpec = config.server ?? 'desktop';
  const server = typeof serverSpec === 'string' ? loadProfile('server', serverSpec) : serverSpec;

  progress(typeof config.model === 'string' ? `loading ${config.model}` : `loading ${config.model.name}`);
  const source = typeof config.model === 'string' ? await loadPlanSource(config.model, config.inputShapes) : config.model;
  const measured: { device?: NonNullable<DeviceProfile['measuredLatency']>; server?: NonNullable<ServerProfile['measuredLatency']> } = {};
  if (config.profile) {
    device = await loadMeasuredProfile(config.profile, device, { modelSha256: source.sha256, roundTo: config.roundTo ?? 1 });
    measured.device = device.measuredLatency!;
  } else if (device.measuredLatency) {
    measured.device = device.measuredLatency;
  }
  if (config.serverProfile) measured.server = (await loadMeasuredProfile(config.serverProfile, device, { modelSha256: source.sha256, roundTo: config.roundTo ?? 1 })).measuredLatency!;
  else if (server.measuredLatency) measured.server = server.measuredLatency;
  let accuracyFloor: AccuracyFloor | undefined;
  if (floor !== undefined) {
    if (!source.labelled || !source.taskMetric) {
      const labelledIds = listZoo().filter((m) => m.metric).map((m) => m.id);
      throw new EdgesplitError('ERR_USAGE', `--min-accuracy needs held-out labelled data to score the pruning levels on, and the model '${source.id}' has none. Zoo models with labels: ${labelledIds.join(', ')}; plan this model without --min-accuracy.`, { details: { model: source.id, minTaskScore: floor, labelled: labelledIds } });
    }
    // NOTE: the same held-out inputs (seed 2, n of them) as the emitter's accuracy check, so the
    // score plan.json reports for the chosen level is the one the floor was checked against.
    accuracyFloor = { minTaskScore: floor, set: await source.labelled(n, 2), metric: source.taskMetric };
  }
  const { gamma, gammaSource } = await gammaFor(source, n);
  const loadMs = performance.now() - started;

  const mp = await buildProblem(source, {
    device, channel, server, budgets, gamma, ratios: config.ratios ?? DEFAULT_LEVELS,
    ...(config.roundTo !== undefined ? { roundTo: config.roundTo } : {}),
    ...(config.refit ? { refitInputs: await source.sampleInputs(config.refit, 3) } : {}),
    ...(measured.device || measured.server ? { measured } : {}),
    ...(config.fadingGain !== undefined ? { fadingGain: config.fadingGain } : {}),
    ...(accuracyFloor ? { accuracyFloor } : {}),
    onProgress: progress,
  });

  let t0 = performance.now();
  progress(`optimising over ${mp.problem.cuts.length} cut points and ${mp.levels.length} pruning levels`);
  const optimizer = withDroppedLevels(mp, () => optimizeOrThrow(mp.problem));
  const optimiseMs = performance.now() - t0;
  const baselines = { onDevice: onDevice(mp.problem), onServer: onServer(mp.problem), splitOnly: splitOnly(mp.problem) };

  t0 = performance.now();
  const emitted = await emitPlan(mp, optimizer.decision, config.out, {
    calibrationInputs: n, gammaSource, onProgress: progress,
    profileNames: { device: profileName(config.device), channel: profileName(config.channel), server: profileName(serverSpec) },
  });
  return {
    plan: emitted.plan, dir: emitted.dir, files: emitted.files, decision: optimizer.decision,
    breakdown: emitted.breakdown, optimizerBreakdown: emitted.optimizerBreakdown, optimizer, verification: emitted.verification,
    baselines, problem: mp,
    timingsMs: {
      load: loadMs, analyse: mp.timingsMs.analyse, prune: mp.timingsMs.prune, score: mp.timingsMs.score, optimise: optimiseMs,
      emit: emitted.timingsMs.emit, verify: emitted.timingsMs.verify, total: performance.now() - started,
    },
  };
}
