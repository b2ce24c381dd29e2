// The emitter: turn the optimizer's decision into a plan directory. Split the real pruned model at the
// chosen cut, reprice the decision from the emitted halves, verify them on calibration inputs, and write
// device.onnx, server.onnx and a validated plan.json.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeModel, type ModelProto } from '../onnx/model.ts';
import { analyzeModel, type ModelAnalysis } from '../onnx/analyze.ts';
import { splitModel } from '../onnx/split.ts';
import { createSession, maxAbsDiff, type Feeds, type PlannerSession } from '../onnx/session.ts';
import type { TensorInfo } from '../onnx/shapes.ts';
import { costBreakdown, type CostBreakdown, type Decision } from '../optimize/cost.ts';
import type { Cut, PlanningProblem } from '../optimize/problem.ts';
import { cutAt } from '../optimize/problem.ts';
import { EdgesplitError } from '../../shared/errors.ts';
import { type PlanManifest, type TensorSpec, PLAN_SCHEMA_VERSION, FRAME_HEADROOM_BYTES, DYNAMIC_FRAME_LIMIT_BYTES, tensorSpecsBytes, validatePlan } from '../../shared/plan.ts';
import type { ModelProblem, PruneLevel } from './problem.ts';
import { sha256Hex } from './source.ts';

/** File names inside a plan directory. */
export const DEVICE_FILE = 'device.onnx';
export const SERVER_FILE = 'server.onnx';
export const PLAN_FILE = 'plan.json';

/** Largest |head+tail - pruned full model| allowed, relative to the output's scale. */
export const COMPOSE_TOLERANCE = 1e-5;

/** Costs of the emitted halves, from analysing device.onnx and server.onnx themselves. */
export interface EmittedCosts {
  headFlops: number;
  tailFlops: number;
  headParamBytes: number;
  tailParamBytes: number;
  headPeakActivationBytes: number;
  crossingBytes: number;
}

/** What running head then tail on calibration inputs showed. */
export interface Verification {
  inputs: number;
  /**
   * max |tail(head(x)) - pruned(x)| over every output with graph optimisation off, and the outputs'
   * scale (max |y|): the split is exact when diff <= 1e-5 x scale.
   */
  composeMaxAbsDiff: number;
  composeScale: number;
  /** The same difference with ONNX Runtime's graph optimisations on, as the runtimes run the halves. */
  composeMaxAbsDiffOptimized: number;
  /** sum ||y0 - y||^2 / sum ||y0||^2 of head+tail (y) against the unpruned full model (y0), on the model's first output. */
  outputDistortion: number;
  /** Share of rows (last axis) whose argmax agrees with the unpruned model's. */
  top1Agreement: number;
  /** Task metric of head+tail and of the unpruned model on labelled held-out inputs, where labels exist. */
  accuracy?: { metric: string; inputs: number; plan: number; unpruned: number };
}

/**
 * The plan.json edgesplit writes: the schema's fields plus figures for people and reports (the
 * schema lets a planner add fields; the runtimes read only the schema's).
 */
export interface WrittenPlan extends PlanManifest {
  model: NonNullable<PlanManifest['model']>;
  pruning: NonNullable<PlanManifest['pruning']> & { achievedRatio: number; levels: number[]; roundTo: number; refit?: { inputs: number; layers: number; leftAsPruned: number }; skipped?: Array<{ ratio: number; code: string }>;
    /** With --min-accuracy: the floor, every measured level's task score, and the levels dropped below it. */
    minAccuracy?: { minTaskScore: number; metric: string; inputs: number; scores: Array<{ ratio: number; taskScore: number }> };
    dropped?: Array<{ ratio: number; taskScore: number; reason: string }>;
  };
  operatingPoint: NonNullable<PlanManifest['operatingPoint']> & { serverProfile: string };
  predicted: NonNullable<PlanManifest['predicted']> & {
    memory: { paramBytes: number; activationBytes: number; limitBytes: number };
    rateBitPerS: number;
    deviceLatencyFrom: 'measured profile' | 'FLOPs x cycles per FLOP';
    pricedOn: string;
    emitted: EmittedCosts;
    optimizer: { latencyMs: number; energyJ: number; memoryBytes: number };
  };
  distortion: NonNullable<PlanManifest['distortion']> & {
    parameter: number; measuredOutput: number; top1Agreement: number;
    gamma: number; gammaSource: string; calibrationInputs: number; composeMaxAbsDiff: number; composeMaxAbsDiffOptimized: number;
    accuracy?: NonNullable<Verification['accuracy']>;
  };
  budgets: NonNullable<PlanManifest['budgets']>;
  limits: NonNullable<PlanManifest['limits']>;
}

/** What `emitPlan` returns. */
export interface EmitResult {
  dir: string;
  files: { plan: string; device: string; server: string };
  plan: WrittenPlan;
  /** The decision priced on the emitted halves' real FLOPs, bytes and memory. */
  breakdown: CostBreakdown;
  /** The same decision as the optimizer priced it on the problem's figures. */
  optimizerBreakdown: CostBreakdown;
  emitted: EmittedCosts;
  verification: Verification;
  timingsMs: { emit: number; verify: number };
}

/** Options of `emitPlan`. */
export interface EmitOptions {
  /** Calibration inputs for verification (and labelled inputs for accuracy), default 32. */
  calibrationInputs?: number;
  /** Names the profiles in plan.json. */
  profileNames: { device: string; channel: string; server: string };
  /** Where the distortion factor came from, for plan.json. */
  gammaSource: string;
  onProgress?: (message: string) => void;
}

function spec(t: Pick<TensorInfo, 'name' | 'dtype' | 'symbolicDims'>): TensorSpec {
  return { name: t.name, dtype: t.dtype, dims: t.symbolicDims.map((d) => (typeof d === 'number' ? d : -1)) };
}

function round(x: number, digits = 6): number {
  return Number(x.toPrecision(digits));
}

function ms(seconds: number): number {
  return round(seconds * 1e3);
}

/**
 * The decision priced through the optimizer's cost model on the emitted halves: a one-cut problem
 * whose FLOPs, weight bytes, peak activations and crossing bytes are those analysed from
 * device.onnx and server.onnx, and whose measured latencies (if any) are the problem's at this level.
 * A cut the problem prices as sending nothing (the whole model on the device: the result stays
 * there) sends nothing here either, whatever the Identity server half would pass on.
 */
export function repriceEmitted(problem: PlanningProblem, decision: Decision, emitted: EmittedCosts): CostBreakdown {
  const original = problem.cuts[decision.cutIndex]!;
  const q = cutAt(original, decision.ratio);
  const cut: Cut = {
    id: original.id,
    crossingBytes: original.crossingBytes > 0 ? emitted.crossingBytes : 0,
    prunableShare: 0,
    points: [{ ratio: 0, headFlops: emitted.headFlops, tailFlops: emitted.tailFlops, headParamBytes: emitted.headParamBytes, headPeakActivationBytes: emitted.headPeakActivationBytes }],
    ...(q.measuredHeadS !== undefined ? { measuredHead: [{ ratio: 0, latencyS: q.measuredHeadS }] } : {}),
    ...(q.measuredTailS !== undefined ? { measuredTail: [{ ratio: 0, latencyS: q.measuredTailS }] } : {}),
  };
  // NOTE: with prunableShare 0 and a single point the cost model reads the point as it is at any
  // ratio, so the decision keeps its real ratio (for the distortion) while the costs are the emitted ones.
  return { ...costBreakdown({ ...problem, cuts: [cut] }, { ...decision, cutIndex: 0 }), cutIndex: decision.cutIndex };
}

function firstOutput(outputs: Feeds, name: string): Float32Array {
  const t = outputs[name];
  if (!t || !(t.data instanceof Float32Array)) throw new EdgesplitError('ERR_INTERNAL', `output '${name}' is missing or not float32`);
  return t.data;
}

function rowsArgmax(data: Float32Array, rowLength: number): number[] {
  const out: number[] = [];
  for (let r = 0; r + rowLength <= data.length; r += rowLength) {
    let best = r;
    for (let i = r + 1; i < r + rowLength; i++) if (data[i]! > data[best]!) best = i;
    out.push(best - r);
  }
  return out;
}

async function compose(head: PlannerSession, tail: PlannerSession, x: Feeds): Promise<Feeds> {
  const h = await head.run(Object.fromEntries(head.inputNames.map((n) => [n, x[n]!])));
  return tail.run(h);
}

/** Largest |a - b| over every output of `reference`, and the outputs' scale. */
function outputsDiff(got: Feeds, reference: Feeds): { maxDiff: number; scale: number } {
  let maxDiff = 0;
  let scale = 0;
  for (const [name, ref] of Object.entries(reference)) {
    const d = maxAbsDiff(Array.from(got[name]?.data ?? [], Number), Array.from(ref.data, Number));
    maxDiff = Math.max(maxDiff, d.maxDiff);
    scale = Math.max(scale, d.scale);
  }
  return { maxDiff, scale };
}

/** Open sessions, run `body`, release them all. */
async function withSessions<T>(models: ModelProto[], optimization: 'disabled' | 'all', body: (s: PlannerSession[]) => Promise<T>): Promise<T> {
  const sessions: PlannerSession[] = [];
  try {
    for (const m of models) sessions.push(await createSession(m, { optimization }));
    return await body(sessions);
  } finally {
    await Promise.all(sessions.map((s) => s.release()));
  }
}

/** Inputs of the exactness check (with graph optimisation off); a split is exact or not on any input. */
const EXACTNESS_INPUTS = 8;

/**
 * Run head then tail against the pruned and the unpruned full model. NOTE: exactness is checked with
 * ONNX Runtime's graph optimisations off, where head then tail reproduces the pruned model to the
 * bit; with them on (as the runtimes run), fusions that differ on either side of the cut change the
 * float rounding (1.2e-5 on the PP-OCR recogniser pruned at 0.5, at output scale 1), which is
 * reported as `composeMaxAbsDiffOptimized`, not treated as a failure.
 */
async function verify(mp: ModelProblem, level: PruneLevel, head: ModelProto, tail: ModelProto, n: number): Promise<Verification> {
  const inputs = await mp.source.sampleInputs(n, 1);
  const exact = await withSessions([head, tail, level.model], 'disabled', async ([hs, ts, pruned]) => {
    let worst = { maxDiff: 0, scale: 0 };
    for (const x of inputs.slice(0, EXACTNESS_INPUTS)) {
      const d = outputsDiff(await compose(hs!, ts!, x), await pruned!.run(x));
      worst = { maxDiff: Math.max(worst.maxDiff, d.maxDiff), scale: Math.max(worst.scale, d.scale) };
    }
    return worst;
  });
  if (exact.maxDiff > COMPOSE_TOLERANCE * Math.max(exact.scale, 1e-30)) {
    throw new EdgesplitError('ERR_INTERNAL', `the emitted halves do not compose to the pruned model: max |head+tail - pruned| = ${exact.maxDiff} at output scale ${exact.scale} (allowed ${COMPOSE_TOLERANCE} x scale, graph optimisation off). Nothing was written; please report this with the model and the decision.`, { details: { ...exact } });
  }
  return withSessions([head, tail, level.model, mp.source.model], 'all', async ([hs, ts, pruned, full]) => {
    const outName = full!.outputNames[0]!;
    const rowLength = mp.levels[0]!.analysis.outputs[0]!.dims.at(-1) ?? 1;
    let optimizedDiff = 0;
    let err2 = 0;
    let norm2 = 0;
    let agree = 0;
    let rows = 0;
    for (const x of inputs) {
      const composed = await compose(hs!, ts!, x);
      optimizedDiff = Math.max(optimizedDiff, outputsDiff(composed, await pruned!.run(x)).maxDiff);
      const y = firstOutput(composed, outName);
      const y0 = firstOutput(await full!.run(x), outName);
      for (let i = 0; i < y0.length; i++) {
        err2 += (y0[i]! - y[i]!) ** 2;
        norm2 += y0[i]! ** 2;
      }
      const a = rowsArgmax(y, rowLength);
      const b = rowsArgmax(y0, rowLength);
      a.forEach((v, i) => (agree += v === b[i] ? 1 : 0));
      rows += a.length;
    }
    const v: Verification = {
      inputs: inputs.length, composeMaxAbsDiff: exact.maxDiff, composeScale: exact.scale, composeMaxAbsDiffOptimized: optimizedDiff,
      outputDistortion: norm2 > 0 ? err2 / norm2 : 0, top1Agreement: rows > 0 ? agree / rows : 1,
    };
    const metric = mp.source.taskMetric;
    if (mp.source.labelled && metric) {
      const set = await mp.source.labelled(n, 2);
      let planScore = 0;
      let unprunedScore = 0;
      for (let i = 0; i < set.inputs.length; i++) {
        planScore += metric.score(await compose(hs!, ts!, set.inputs[i]!), set.labels[i]!);
        unprunedScore += metric.score(await full!.run(set.inputs[i]!), set.labels[i]!);
      }
      const m = set.inputs.length;
      v.accuracy = { metric: metric.name, inputs: m, plan: m > 0 ? planScore / m : 0, unpruned: m > 0 ? unprunedScore / m : 0 };
    }
    return v;
  });
}

function emittedCosts(headAnalysis: ModelAnalysis, tailAnalysis: ModelAnalysis, crossingBytes: number): EmittedCosts {
  const headEnd = headAnalysis.cuts[headAnalysis.cuts.length - 1]!;
  return {
    headFlops: headAnalysis.totals.flops,
    tailFlops: tailAnalysis.totals.flops,
    headParamBytes: headAnalysis.totals.paramBytes,
    tailParamBytes: tailAnalysis.totals.paramBytes,
    headPeakActivationBytes: headEnd.headPeakActivationBytes,
    crossingBytes,
  };
}

/**
 * Emit the plan for `decision`: take the real structured-pruned model of the decision's level, split
 * it at the decision's cut, analyse both halves and reprice the decision on their real figures,
 * check on calibration inputs that head then tail equals the pruned model (within 1e-5 of the
 * output's scale) and measure its distortion against the unpruned model, then write
 * DIR/device.onnx, DIR/server.onnx and DIR/plan.json (validated with `validatePlan` first).
 * Nothing is written when a check fails.
 */
export async function emitPlan(mp: ModelProblem, decision: Decision, dir: string, options: EmitOptions): Promise<EmitResult> {
  const progress = options.onProgress ?? (() => undefined);
  const n = options.calibrationInputs ?? 32;
  const level = mp.levels.find((l) => l.ratio === decision.ratio);
  if (!level) throw new EdgesplitError('ERR_INTERNAL', `no pruned model at ratio ${decision.ratio}; the levels are ${mp.levels.map((l) => l.ratio).join(', ')}`);
  const problemCut = mp.problem.cuts[decision.cutIndex];
  const cut = level.analysis.cuts.find((c) => c.id === problemCut?.id);
  if (!problemCut || !cut) throw new EdgesplitError('ERR_INTERNAL', `cut ${decision.cutIndex} (${problemCut?.id ?? 'none'}) is not a cut of the model pruned at ${decision.ratio}`);

  let t0 = performance.now();
  progress(`emitting: splitting the model pruned at ${decision.ratio} at cut ${cut.id}`);
  const { head, tail, crossing } = splitModel(level.model, cut, level.analysis);
  const headBytes = encodeModel(head);
  const tailBytes = encodeModel(tail);
  const shapes = mp.source.inputShapes;
  const headAnalysis = await analyzeModel(head, { inputShapes: Object.fromEntries(Object.entries(shapes).filter(([k]) => (head.graph?.input ?? []).some((i) => i.name === k))), source: DEVICE_FILE });
  // NOTE: the tail is analysed on what the head really sends for a calibration input, not on sample
  // data: a shape vector that crosses (an integer width the tail reshapes to) must hold its real value,
  // and sample data would feed zeros, which the tail's Reshape refuses.
  const [probe] = await mp.source.sampleInputs(1, 1);
  const sent = await withSessions([head], 'disabled', ([hs]) => hs!.run(Object.fromEntries(hs!.inputNames.map((name) => [name, probe![name]!]))));
  const tailAnalysis = await analyzeModel(tail, { inputShapes: Object.fromEntries(crossing.map((c) => [c.name, c.dims])), inputValues: sent, source: SERVER_FILE });
  const emitted = emittedCosts(headAnalysis, tailAnalysis, crossing.reduce((a, c) => a + c.bytes, 0));
  const breakdown = repriceEmitted(mp.problem, decision, emitted);
  const onDevice = decision.cutIndex === mp.problem.cuts.length - 1 && breakdown.crossingBytes === 0;
  const optimizerBreakdown = costBreakdown(mp.problem, decision);
  if (breakdown.violated.length > 0) {
    throw new EdgesplitError('ERR_INFEASIBLE', `the emitted halves break the ${breakdown.violated.join(' and ')} budget${breakdown.violated.length > 1 ? 's' : ''} that the optimizer's figures met (latency ${ms(breakdown.latency.totalS)} ms, energy ${round(breakdown.energy.totalJ)} J, memory ${Math.round(breakdown.memory.totalBytes)} bytes). Nothing was written; loosen the budgets a little or plan with other pruning levels.`, { details: { violated: breakdown.violated } });
  }
  const emitMs = performance.now() - t0;

  t0 = performance.now();
  progress(`verifying head + tail on ${n} calibration inputs`);
  const verification = await verify(mp, level, head, tail, n);
  const verifyMs = performance.now() - t0;

  const crossingSpecs = crossing.map(spec);
  const outputs = mp.levels[0]!.analysis.outputs.map(spec);
  const inputs = headAnalysis.inputs.map(spec);
  const frameData = Math.max(tensorSpecsBytes(crossingSpecs) ?? Infinity, tensorSpecsBytes(outputs) ?? Infinity);
  const deviceSha = sha256Hex(headBytes);
  const serverSha = sha256Hex(tailBytes);
  const b = breakdown;
  const floor = mp.accuracyFloor;
  const plan: WrittenPlan = {
    schemaVersion: PLAN_SCHEMA_VERSION,
    planId: `${mp.source.id.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 80)}-${cut.id}-r${decision.ratio}-${serverSha.slice(0, 8)}`,
    createdAt: new Date().toISOString(),
    model: { id: mp.source.id, name: mp.source.name, sha256: mp.source.sha256 },
    split: { cutIndex: decision.cutIndex, cutId: cut.id, crossing: crossingSpecs, ...(onDevice ? { fullyOnDevice: true } : {}) },
    device: { file: DEVICE_FILE, sha256: deviceSha, inputs },
    server: { file: SERVER_FILE, sha256: serverSha, outputs },
    pruning: { ratio: decision.ratio, method: decision.ratio > 0 ? 'structured' : 'none', achievedRatio: round(level.achievedRatio), levels: mp.levels.map((l) => l.ratio), roundTo: mp.roundTo, ...(level.refit && mp.refitInputs ? { refit: { inputs: mp.refitInputs, layers: level.refit.layers, leftAsPruned: level.refit.skipped } } : {}), ...(mp.skippedLevels.length > 0 ? { skipped: mp.skippedLevels.map((l) => ({ ratio: l.ratio, code: l.code })) } : {}),
      ...(floor ? { minAccuracy: { minTaskScore: floor.minTaskScore, metric: floor.metric, inputs: floor.inputs, scores: floor.scores.map((x) => ({ ratio: x.ratio, taskScore: round(x.taskScore) })) } } : {}),
      ...(floor && floor.dropped.length > 0 ? { dropped: floor.dropped.map((l) => ({ ratio: l.ratio, taskScore: round(l.taskScore), reason: l.reason })) } : {}),
    },
    operatingPoint: { powerW: round(decision.powerW), freqHz: round(decision.freqHz), deviceProfile: options.profileNames.device, channelProfile: options.profileNames.channel, serverProfile: options.profileNames.server },
    predicted: {
      latencyMs: { device: ms(b.latency.deviceS), transmit: ms(b.latency.transmitS), server: ms(b.latency.serverS), roundTrip: ms(b.latency.roundTripS), total: ms(b.latency.totalS) },
      energyJ: { device: round(b.energy.deviceJ), transmit: round(b.energy.transmitJ), total: round(b.energy.totalJ) },
      memoryBytes: Math.round(b.memory.totalBytes),
      memory: { paramBytes: Math.round(b.memory.paramBytes), activationBytes: Math.round(b.memory.activationBytes), limitBytes: b.memory.limitBytes },
      rateBitPerS: round(b.rateBitPerS),
      deviceLatencyFrom: breakdown.deviceCycles > 0 && mp.problem.cuts[decision.cutIndex]!.measuredHead ? 'measured profile' : 'FLOPs x cycles per FLOP',
      pricedOn: 'the emitted device.onnx and server.onnx (their FLOPs, weight bytes, peak activations and crossing bytes)',
      emitted,
      optimizer: { latencyMs: ms(optimizerBreakdown.latency.totalS), energyJ: round(optimizerBreakdown.energy.totalJ), memoryBytes: Math.round(optimizerBreakdown.memory.totalBytes) },
    },
    distortion: {
      bound: round(b.distortion),
      parameter: round(mp.problem.distortion.model === 'table' ? (mp.problem.distortion.points.find((p) => p.ratio === decision.ratio)?.distortion ?? level.parameterDistortion) : level.parameterDistortion),
      measuredOutput: round(verification.outputDistortion),
      top1Agreement: round(verification.top1Agreement),
      gamma: round(mp.gamma),
      gammaSource: options.gammaSource,
      calibrationInputs: verification.inputs,
      composeMaxAbsDiff: verification.composeMaxAbsDiff,
      composeMaxAbsDiffOptimized: verification.composeMaxAbsDiffOptimized,
      ...(verification.accuracy ? { accuracy: verification.accuracy } : {}),
    },
    budgets: {
      latencyMs: round(mp.problem.budgets.latencyS * 1e3),
      energyJ: round(mp.problem.budgets.energyJ),
      ...(mp.problem.budgets.memoryBytes !== undefined ? { memoryBytes: mp.problem.budgets.memoryBytes } : {}),
    },
    limits: { maxFrameBytes: Number.isFinite(frameData) ? frameData + FRAME_HEADROOM_BYTES : DYNAMIC_FRAME_LIMIT_BYTES },
  };
  validatePlan(JSON.parse(JSON.stringify(plan)));

  const files = { plan: join(dir, PLAN_FILE), device: join(dir, DEVICE_FILE), server: join(dir, SERVER_FILE) };
  try {
    await mkdir(dir, { recursive: true });
    await writeFile(files.device, headBytes);
    await writeFile(files.server, tailBytes);
    await writeFile(files.plan, JSON.stringify(plan, null, 2) + '\n');
  } catch (cause) {
    throw new EdgesplitError('ERR_FILE_WRITE', `cannot write the plan into ${dir}: ${(cause as Error).message}. Check that the directory is writable.`, { cause, details: { dir } });
  }
  return { dir, files, plan, breakdown, optimizerBreakdown, emitted, verification, timingsMs: { emit: emitMs, verify: verifyMs } };
}
