// The planning problem of MODEL.md as data: the cuts of a model (FLOPs, bytes and memory of each
// half as functions of the pruning ratio), the device, channel and server, the budgets, the
// distortion model and the allowed ratios. Its JSON form and the validation that reads it.
import { readFileSync } from 'node:fs';
import { EdgesplitError } from '../../shared/errors.ts';
import { type Budgets, readBudgets } from '../profiles/budgets.ts';
import {
  type ChannelProfile, type DeviceProfile, FieldReader, type MeasuredLatencyTable, type ServerProfile,
  builtinProfile, builtinProfileNames, isRecord, readChannelProfile, readDeviceProfile, readServerProfile,
} from '../profiles/profiles.ts';
import { throwIssues } from '../profiles/units.ts';

/** What one cut costs at one pruning ratio (a point of a real pruned model, or the unpruned one at ratio 0). */
export interface CutPoint {
  ratio: number;
  /** FLOPs of the device half (blocks 1..s). */
  headFlops: number;
  /** FLOPs of the server half (blocks s+1..L). */
  tailFlops: number;
  /** Bytes of the device half's weights. */
  headParamBytes: number;
  /** Bytes of the device half's largest set of live activations during one inference. */
  headPeakActivationBytes: number;
}

/** A measured latency at one pruning ratio; see `applyMeasuredLatency`. */
export interface LatencyPoint {
  ratio: number;
  latencyS: number;
}

/**
 * One split point s. `points` are ascending in ratio and start at ratio 0: with one point, every
 * quantity shrinks to first order as (1 - ratio * prunableShare); with more, it is interpolated
 * linearly between points and extrapolated from the last two.
 */
export interface Cut {
  /** A name people recognise: "input", "after block 3", or the crossing tensors' names. */
  id: string;
  /** Bytes that cross the cut: every tensor alive across it (the model input at s = 0). */
  crossingBytes: number;
  /** Share of the FLOPs, weights and activations that pruning removes in proportion to the ratio. */
  prunableShare: number;
  points: readonly CutPoint[];
  /** Device-half latency measured by `edgesplit profile`, in seconds at the device's freqMax. */
  measuredHead?: readonly LatencyPoint[];
  /** Server-half latency measured on the server, in seconds (the server's overhead included). */
  measuredTail?: readonly LatencyPoint[];
}

/**
 * The distortion bound Gamma * D(rho). `laplace`: D is the normalised magnitude-pruning distortion
 * of Laplace weights, rho - (1 - rho)(u + u^2 / 2) with u = -ln(1 - rho) (MODEL.md). `table`: D is
 * interpolated linearly between measured points (ascending ratio, starting at 0, non-decreasing).
 */
export type DistortionModel =
  | { model: 'laplace'; gamma: number }
  | { model: 'table'; gamma: number; points: ReadonlyArray<{ ratio: number; distortion: number }> };

/** The pruning ratios allowed: any in [0, maxRatio], or only the levels that have real pruned models. */
export type RatioSpace = { kind: 'continuous'; maxRatio: number } | { kind: 'discrete'; levels: readonly number[] };

/**
 * The whole problem. NOTE: one ratio rho prunes the whole model (both halves), the paper's case;
 * MODEL.md mentions separate ratios per half as a richer plan, which this problem does not model.
 * cuts[0] is s = 0 (everything on the server, headFlops 0) and the last cut is s = L
 * (everything on the device, tailFlops 0; its crossingBytes is what is sent when the device is
 * done, usually 0, or the output's size if the server needs the result).
 */
export interface PlanningProblem {
  name: string;
  device: DeviceProfile;
  channel: ChannelProfile;
  server: ServerProfile;
  budgets: Budgets;
  /** The channel's fading power gain |h|^2 the plan is made for: 1 is the mean of Rayleigh fading. */
  fadingGain: number;
  cuts: readonly Cut[];
  distortion: DistortionModel;
  ratios: RatioSpace;
}

/** The largest ratio the problem allows. */
export function maxRatio(problem: PlanningProblem): number {
  return problem.ratios.kind === 'continuous' ? problem.ratios.maxRatio : problem.ratios.levels[problem.ratios.levels.length - 1]!;
}

/** Interpolate a series at `ratio`: first-order scaling for one point, linear otherwise, never below 0. */
export function interpolate(ratios: readonly number[], values: readonly number[], ratio: number, prunableShare: number): number {
  const n = ratios.length;
  if (n === 1) return values[0]! * (1 - ratio * prunableShare);
  let i = 1;
  while (i < n - 1 && ratios[i]! < ratio) i++;
  const r0 = ratios[i - 1]!;
  const r1 = ratios[i]!;
  const v0 = values[i - 1]!;
  const v1 = values[i]!;
  return Math.max(0, v0 + ((v1 - v0) * (ratio - r0)) / (r1 - r0));
}

/** The quantities of one cut at one ratio. */
export interface CutQuantities {
  headFlops: number;
  tailFlops: number;
  headParamBytes: number;
  headPeakActivationBytes: number;
  crossingBytes: number;
  /** Measured device-half seconds at freqMax, when the cut has a measurement. */
  measuredHeadS?: number;
  /** Measured server-half seconds, when the cut has a measurement. */
  measuredTailS?: number;
}

/** Evaluate a cut at a pruning ratio (see `Cut` for the interpolation). */
export function cutAt(cut: Cut, ratio: number): CutQuantities {
  const pts = cut.points;
  const share = cut.prunableShare;
  const rs = pts.map((p) => p.ratio);
  const q: CutQuantities = {
    headFlops: interpolate(rs, pts.map((p) => p.headFlops), ratio, share),
    tailFlops: interpolate(rs, pts.map((p) => p.tailFlops), ratio, share),
    headParamBytes: interpolate(rs, pts.map((p) => p.headParamBytes), ratio, share),
    headPeakActivationBytes: interpolate(rs, pts.map((p) => p.headPeakActivationBytes), ratio, share),
    crossingBytes: cut.crossingBytes,
  };
  if (cut.measuredHead) q.measuredHeadS = interpolate(cut.measuredHead.map((p) => p.ratio), cut.measuredHead.map((p) => p.latencyS), ratio, share);
  if (cut.measuredTail) q.measuredTailS = interpolate(cut.measuredTail.map((p) => p.ratio), cut.measuredTail.map((p) => p.latencyS), ratio, share);
  return q;
}

/** MODEL.md's normalised magnitude-pruning distortion of Laplace weights: rho - (1 - rho)(u + u^2 / 2), u = -ln(1 - rho). */
export function laplaceDistortion(ratio: number): number {
  if (ratio <= 0) return 0;
  const u = -Math.log1p(-ratio);
  return ratio - (1 - ratio) * (u + (u * u) / 2);
}

/** The distortion bound Gamma * D(rho) of the problem at a ratio. */
export function distortionAt(model: DistortionModel, ratio: number): number {
  if (model.model === 'laplace') return model.gamma * laplaceDistortion(ratio);
  return model.gamma * interpolate(model.points.map((p) => p.ratio), model.points.map((p) => p.distortion), ratio, 1);
}

/**
 * Fill cuts' measured latencies from `edgesplit profile` tables, matched by cut id. The device
 * table's head seconds, measured at table.freqHz, are rescaled to the device's freqMax
 * (time scales as 1 / f); the server table's tail seconds are used as they are.
 */
export function applyMeasuredLatency(problem: PlanningProblem, tables: { device?: MeasuredLatencyTable; server?: MeasuredLatencyTable }): PlanningProblem {
  const series = (table: MeasuredLatencyTable | undefined, id: string, pick: (p: { headS: number; tailS: number }) => number, scale: number): LatencyPoint[] | undefined => {
    const pts = table?.points.filter((p) => p.cut === id).map((p) => ({ ratio: p.ratio, latencyS: pick(p) * scale })).sort((a, b) => a.ratio - b.ratio);
    return pts && pts.length > 0 && pts[0]!.ratio === 0 ? pts : undefined;
  };
  const headScale = tables.device ? tables.device.freqHz / problem.device.freqMaxHz : 1;
  return {
    ...problem,
    cuts: problem.cuts.map((cut) => {
      const head = series(tables.device, cut.id, (p) => p.headS, headScale);
      const tail = series(tables.server, cut.id, (p) => p.tailS, 1);
      return { ...cut, ...(head ? { measuredHead: head } : {}), ...(tail ? { measuredTail: tail } : {}) };
    }),
  };
}

function unknownBuiltin(r: FieldReader, field: string, kind: 'device' | 'channel' | 'server', name: string): undefined {
  r.problem(field, `unknown built-in ${kind} profile "${name}"; expected one of ${builtinProfileNames(kind).join(', ')}, or an inline profile object`);
  return undefined;
}

function readLatencySeries(r: FieldReader, value: unknown, field: string): LatencyPoint[] | undefined {
  if (value === undefined) return undefined;
  const arr = r.array(value, field);
  if (!arr) return undefined;
  const out: LatencyPoint[] = [];
  arr.forEach((p, i) => {
    const o = r.object(p, `${field}[${i}]`);
    if (!o) return;
    r.unknownKeys(o, ['ratio', 'latency'], `${field}[${i}]`);
    const ratio = r.number(o.ratio, `${field}[${i}].ratio`, { min: 0, max: 0.999 });
    const latencyS = r.quantity(o.latency, `${field}[${i}].latency`, 'time', { min: 0 });
    if (ratio !== undefined && latencyS !== undefined) out.push({ ratio, latencyS });
  });
  if (out.length === arr.length) {
    checkAscending(r, out.map((p) => p.ratio), field);
    for (let i = 1; i < out.length; i++) {
      if (out[i]!.latencyS > out[i - 1]!.latencyS) r.problem(`${field}[${i}].latency`, `expected no more than at the smaller ratio (${out[i - 1]!.latencyS} s): pruning must not slow a half down, got ${out[i]!.latencyS} s`);
    }
  }
  return out;
}

function checkAscending(r: FieldReader, ratios: number[], field: string): void {
  if (ratios.length === 0) {
    r.problem(field, 'expected at least one point, got none');
    return;
  }
  if (ratios[0] !== 0) r.problem(`${field}[0].ratio`, `expected the first point at ratio 0, got ${ratios[0]}`);
  for (let i = 1; i < ratios.length; i++) {
    if (!(ratios[i]! > ratios[i - 1]!)) r.problem(`${field}[${i}].ratio`, `expected ratios in ascending order, got ${ratios[i]} after ${ratios[i - 1]}`);
  }
}

function readCut(r: FieldReader, value: unknown, field: string): Cut | undefined {
  const o = r.object(value, field);
  if (!o) return undefined;
  r.unknownKeys(o, ['id', 'crossingBytes', 'prunableShare', 'points', 'measuredHead', 'measuredTail'], field);
  const before = r.issues.length;
  const id = r.string(o.id, `${field}.id`);
  const crossingBytes = r.quantity(o.crossingBytes, `${field}.crossingBytes`, 'bytes', { min: 0 });
  const prunableShare = o.prunableShare === undefined ? 1 : r.number(o.prunableShare, `${field}.prunableShare`, { min: 0, max: 1, example: '0.9' });
  const arr = r.array(o.points, `${field}.points`);
  const points: CutPoint[] = [];
  arr?.forEach((p, i) => {
    const f = `${field}.points[${i}]`;
    const po = r.object(p, f);
    if (!po) return;
    r.unknownKeys(po, ['ratio', 'headFlops', 'tailFlops', 'headParamBytes', 'headPeakActivationBytes'], f);
    const ratio = r.number(po.ratio, `${f}.ratio`, { min: 0, max: 0.999, example: '0.3' });
    const headFlops = r.number(po.headFlops, `${f}.headFlops`, { min: 0, example: '1.2e9' });
    const tailFlops = r.number(po.tailFlops, `${f}.tailFlops`, { min: 0, example: '3.4e9' });
    const headParamBytes = r.quantity(po.headParamBytes, `${f}.headParamBytes`, 'bytes', { min: 0 });
    const headPeakActivationBytes = r.quantity(po.headPeakActivationBytes, `${f}.headPeakActivationBytes`, 'bytes', { min: 0 });
    if (ratio !== undefined && headFlops !== undefined && tailFlops !== undefined && headParamBytes !== undefined && headPeakActivationBytes !== undefined) {
      points.push({ ratio, headFlops, tailFlops, headParamBytes, headPeakActivationBytes });
    }
  });
  if (arr && points.length === arr.length) {
    checkAscending(r, points.map((p) => p.ratio), `${field}.points`);
    for (let i = 1; i < points.length; i++) {
      for (const k of ['headFlops', 'tailFlops', 'headParamBytes', 'headPeakActivationBytes'] as const) {
        if (points[i]![k] > points[i - 1]![k]) r.problem(`${field}.points[${i}].${k}`, `expected no more than at the smaller ratio (${points[i - 1]![k]}): pruning must not add work, got ${points[i]![k]}`);
      }
    }
  }
  const measuredHead = readLatencySeries(r, o.measuredHead, `${field}.measuredHead`);
  const measuredTail = readLatencySeries(r, o.measuredTail, `${field}.measuredTail`);
  if (r.issues.length > before || id === undefined || crossingBytes === undefined || prunableShare === undefined) return undefined;
  return { id, crossingBytes, prunableShare, points, ...(measuredHead ? { measuredHead } : {}), ...(measuredTail ? { measuredTail } : {}) };
}

const PROBLEM_KEYS = ['name', 'description', 'device', 'channel', 'server', 'budgets', 'fadingGain', 'distortion', 'ratios', 'cuts'] as const;

/**
 * Validate a planning problem given as JSON (docs/problem.example.json; docs/planner.md has the
 * schema). device, channel and server are built-in profile names or inline profiles. Throws
 * ERR_PROBLEM_INVALID (or ERR_UNIT when only units are wrong) listing every problem found.
 */
export function parseProblem(json: unknown, source = 'problem'): PlanningProblem {
  const r = new FieldReader('ERR_PROBLEM_INVALID');
  const problem = readProblem(r, json);
  throwIssues(r.issues, 'ERR_PROBLEM_INVALID', source);
  if (!problem) throw new EdgesplitError('ERR_INTERNAL', `${source}: passed validation but could not be read`);
  return problem;
}

function readProblem(r: FieldReader, json: unknown): PlanningProblem | undefined {
  if (!isRecord(json)) {
    r.problem('(top level)', 'expected a JSON object with device, channel, server, budgets, distortion, ratios and cuts');
    return undefined;
  }
  r.unknownKeys(json, PROBLEM_KEYS, '');
  const name = json.name === undefined ? 'problem' : r.string(json.name, 'name');
  const device = typeof json.device === 'string'
    ? builtinProfile('device', json.device) ?? unknownBuiltin(r, 'device', 'device', json.device)
    : readDeviceProfile(r, json.device, 'device');
  const channel = typeof json.channel === 'string'
    ? builtinProfile('channel', json.channel) ?? unknownBuiltin(r, 'channel', 'channel', json.channel)
    : readChannelProfile(r, json.channel, 'channel');
  const server = typeof json.server === 'string'
    ? builtinProfile('server', json.server) ?? unknownBuiltin(r, 'server', 'server', json.server)
    : readServerProfile(r, json.server, 'server');
  const bo = r.object(json.budgets, 'budgets');
  let budgets: Budgets | undefined;
  if (bo) {
    r.unknownKeys(bo, ['latency', 'energy', 'memory'], 'budgets');
    budgets = readBudgets(r, bo, 'budgets');
  }
  const fadingGain = json.fadingGain === undefined ? 1 : r.number(json.fadingGain, 'fadingGain', { min: 0, exclusiveMin: true, example: '1 (the mean Rayleigh power gain)' });

  let distortion: DistortionModel | undefined;
  const d = r.object(json.distortion, 'distortion');
  if (d) {
    const gamma = r.number(d.gamma, 'distortion.gamma', { min: 0, exclusiveMin: true, example: '1' });
    if (d.model === 'laplace') {
      r.unknownKeys(d, ['model', 'gamma'], 'distortion');
      if (gamma !== undefined) distortion = { model: 'laplace', gamma };
    } else if (d.model === 'table') {
      r.unknownKeys(d, ['model', 'gamma', 'points'], 'distortion');
      const pts: Array<{ ratio: number; distortion: number }> = [];
      const arr = r.array(d.points, 'distortion.points');
      arr?.forEach((p, i) => {
        const o = r.object(p, `distortion.points[${i}]`);
        if (!o) return;
        const ratio = r.number(o.ratio, `distortion.points[${i}].ratio`, { min: 0, max: 0.999 });
        const dist = r.number(o.distortion, `distortion.points[${i}].distortion`, { min: 0 });
        if (ratio !== undefined && dist !== undefined) pts.push({ ratio, distortion: dist });
      });
      if (arr && pts.length === arr.length) {
        checkAscending(r, pts.map((p) => p.ratio), 'distortion.points');
        if (pts.length === 1) r.problem('distortion.points', 'expected at least two points (ratio 0 and a larger one)');
        for (let i = 1; i < pts.length; i++) {
          if (pts[i]!.distortion < pts[i - 1]!.distortion) r.problem(`distortion.points[${i}].distortion`, `expected distortion not to fall as the ratio grows, got ${pts[i]!.distortion} after ${pts[i - 1]!.distortion}`);
        }
      }
      if (gamma !== undefined && arr && pts.length === arr.length) distortion = { model: 'table', gamma, points: pts };
    } else {
      r.problem('distortion.model', `expected "laplace" or "table", got ${JSON.stringify(d.model) ?? 'nothing'}`);
    }
  }

  let ratios: RatioSpace | undefined;
  const ro = r.object(json.ratios, 'ratios');
  if (ro) {
    r.unknownKeys(ro, ['max', 'levels'], 'ratios');
    if ((ro.max === undefined) === (ro.levels === undefined)) {
      r.problem('ratios', 'expected exactly one of "max" (any ratio in [0, max]) or "levels" (only these ratios)');
    } else if (ro.max !== undefined) {
      const m = r.number(ro.max, 'ratios.max', { min: 0, max: 0.999, example: '0.9' });
      if (m !== undefined) ratios = { kind: 'continuous', maxRatio: m };
    } else {
      const arr = r.array(ro.levels, 'ratios.levels');
      const levels = arr?.flatMap((v, i) => {
        const n = r.number(v, `ratios.levels[${i}]`, { min: 0, max: 0.999, example: '0.25' });
        return n === undefined ? [] : [n];
      });
      if (arr && levels && levels.length === arr.length) {
        if (levels.length === 0) r.problem('ratios.levels', 'expected at least one level, got none');
        else ratios = { kind: 'discrete', levels: [...new Set(levels)].sort((a, b) => a - b) };
      }
    }
  }

  const cutsRaw = r.array(json.cuts, 'cuts');
  const parsed = (cutsRaw ?? []).map((c, i) => readCut(r, c, `cuts[${i}]`));
  const cuts = parsed.filter((c): c is Cut => c !== undefined);
  if (cutsRaw) {
    const last = parsed.length - 1;
    if (parsed.length < 2) r.problem('cuts', `expected at least 2 cuts (s = 0, everything on the server, and s = L, everything on the device), got ${parsed.length}`);
    else {
      if (parsed[0]?.points.some((p) => p.headFlops !== 0)) r.problem('cuts[0].points', 'expected headFlops 0 in every point: cuts[0] is s = 0, everything on the server (its crossingBytes is the input\'s size)');
      if (parsed[last]?.points.some((p) => p.tailFlops !== 0)) r.problem(`cuts[${last}].points`, 'expected tailFlops 0 in every point: the last cut is s = L, everything on the device');
    }
    const seen = new Set<string>();
    parsed.forEach((c, i) => {
      if (!c) return;
      if (seen.has(c.id)) r.problem(`cuts[${i}].id`, `expected unique cut ids, got "${c.id}" twice`);
      seen.add(c.id);
    });
    const rhoMax = ratios ? (ratios.kind === 'continuous' ? ratios.maxRatio : ratios.levels[ratios.levels.length - 1]) : undefined;
    if (rhoMax !== undefined) {
      parsed.forEach((c, i) => {
        if (c && c.points.length === 1 && c.prunableShare * rhoMax >= 1) r.problem(`cuts[${i}].prunableShare`, `expected prunableShare * max ratio < 1 (nothing would be left), got ${c.prunableShare} * ${rhoMax}`);
      });
      if (distortion?.model === 'table') {
        const lastPt = distortion.points[distortion.points.length - 1]!;
        if (lastPt.ratio < rhoMax) r.problem('distortion.points', `expected points up to the largest allowed ratio ${rhoMax}, got up to ${lastPt.ratio}`);
      }
    }
  }
  if (!name || !device || !channel || !server || !budgets || fadingGain === undefined || !distortion || !ratios || !cutsRaw || cuts.length !== cutsRaw.length) return undefined;
  return { name, device, channel, server, budgets, fadingGain, cuts, distortion, ratios };
}

/** Read and validate a problem file. Throws ERR_FILE_NOT_FOUND, ERR_PROBLEM_INVALID or ERR_UNIT. */
export function loadProblem(path: string): PlanningProblem {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new EdgesplitError('ERR_FILE_NOT_FOUND', `problem file '${path}' could not be read (${(cause as NodeJS.ErrnoException).code ?? 'error'}). See docs/problem.example.json for the format.`, { cause });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new EdgesplitError('ERR_PROBLEM_INVALID', `problem file '${path}' is not valid JSON: ${(cause as Error).message}`, { cause });
  }
  return parseProblem(json, `problem file '${path}'`);
}
