// Several devices sharing one server and one band: choose each device's cut and pruning level
// from discrete candidates to minimise the total distortion bound under the server's compute
// time per period and the total bandwidth, as a binary integer program (javascript-lp-solver).
// Beside it, each device planned alone, and the same with an equal share of band and server.
import * as lp from 'javascript-lp-solver';
import type { Model as LpModel } from 'javascript-lp-solver';
import { EdgesplitError } from '../../shared/errors.ts';
import { type CostBreakdown, CostModel, type CutCosts, type Decision } from './cost.ts';
import { solveInner } from './optimizer.ts';
import { type PlanningProblem, distortionAt, maxRatio } from './problem.ts';

/**
 * The shared setting. Each device's own problem gives its model's cuts, its CPU, its channel gain,
 * noise and p_max, its budgets and its distortion model; its channel bandwidth is replaced by the
 * share the plan gives it. Every device runs one inference per period; the server's busy time
 * (the sum of the tails' server times) must fit in the period.
 */
export interface MultiDeviceProblem {
  devices: readonly PlanningProblem[];
  /** The band all devices share (FDMA: each device gets a slice of it). */
  bandwidthHz: number;
  /** Server compute time available per period, in seconds (one inference per device per period). */
  serverPeriodS: number;
  /** Pruning levels to choose from when a device's ratios are continuous (default 0 to rho_max in 10 steps). */
  levels?: readonly number[];
}

/** One (cut, level) choice for one device, with the resources it needs. */
export interface Candidate {
  deviceIndex: number;
  cutIndex: number;
  ratio: number;
  distortion: number;
  /** The least bandwidth with which this cut and level meet the device's budgets. */
  bandwidthHz: number;
  /** Server compute seconds per inference. */
  serverS: number;
}

/** The plan of one device in a multi-device result. */
export interface DeviceAssignment {
  deviceIndex: number;
  candidate: Candidate;
  /** The decision and its breakdown with the device's bandwidth share. */
  decision: Decision;
  breakdown: CostBreakdown;
}

/** A multi-device plan: one assignment per device, the resources used and whether they fit. */
export interface MultiResult {
  scheme: 'ilp' | 'independent' | 'equal-share';
  feasible: boolean;
  /** Why not, when infeasible. */
  reason?: string;
  totalDistortion: number;
  bandwidthUsedHz: number;
  serverUsedS: number;
  /** True when the plan needs more band or server time than there is (independent planning can). */
  violatesSharedCapacity: boolean;
  assignments: DeviceAssignment[];
}

function levelsFor(problem: PlanningProblem, levels: readonly number[] | undefined): number[] {
  if (problem.ratios.kind === 'discrete') return [...problem.ratios.levels];
  const rhoMax = maxRatio(problem);
  const ls = levels ?? Array.from({ length: 11 }, (_, i) => (rhoMax * i) / 10);
  return [...new Set(ls.filter((l) => l <= rhoMax))].sort((a, b) => a - b);
}

function withBandwidth(problem: PlanningProblem, bandwidthHz: number): PlanningProblem {
  return { ...problem, channel: { ...problem.channel, bandwidthHz } };
}

/**
 * Whether cut `cutIndex` at `ratio` (its costs `q`) meets the device's budgets with `bandwidthHz` of
 * band, and the least-energy decision that does. `model` is the device's cost model, built once.
 */
function feasibleWith(model: CostModel, q: CutCosts, cutIndex: number, ratio: number, bandwidthHz: number): { ok: boolean; decision: Decision | null } {
  if (q.memoryBytes > model.memoryLimitBytes) return { ok: false, decision: null };
  const inner = solveInner(model, q, bandwidthHz);
  const ok = inner.feasible && inner.energyJ <= model.problem.budgets.energyJ;
  return { ok, decision: ok ? { cutIndex, ratio, powerW: inner.powerW, freqHz: inner.freqHz } : null };
}

/**
 * The candidates of one device within `maxBandwidthHz`: every cut and level that can meet the
 * device's budgets, with the least bandwidth that does (bisection: the rate grows with bandwidth).
 * NOTE: the device's cost model is built once and each (cut, level) priced once; only the inner
 * problem is solved again at each bisection step, with the bandwidth under test.
 */
export function deviceCandidates(problem: PlanningProblem, deviceIndex: number, maxBandwidthHz: number, levels?: readonly number[]): Candidate[] {
  const out: Candidate[] = [];
  const model = new CostModel(problem);
  const ratios = levelsFor(problem, levels);
  for (let s = 0; s < problem.cuts.length; s++) {
    for (const ratio of ratios) {
      const q = model.at(s, ratio);
      if (!feasibleWith(model, q, s, ratio, maxBandwidthHz).ok) continue;
      let need = 0;
      if (q.bits > 0) {
        let lo = 0;
        let hi = maxBandwidthHz;
        while (hi - lo > 1e-7 * maxBandwidthHz) {
          const m = 0.5 * (lo + hi);
          if (feasibleWith(model, q, s, ratio, m).ok) hi = m;
          else lo = m;
        }
        need = hi;
      }
      out.push({ deviceIndex, cutIndex: s, ratio, distortion: distortionAt(problem.distortion, ratio), bandwidthHz: need, serverS: q.serverS });
    }
  }
  return out;
}

function assignment(mp: MultiDeviceProblem, c: Candidate, bandwidthHz: number): DeviceAssignment {
  const problem = mp.devices[c.deviceIndex]!;
  const share = withBandwidth(problem, Math.max(bandwidthHz, c.bandwidthHz, Number.MIN_VALUE));
  const model = new CostModel(share);
  const q = model.at(c.cutIndex, c.ratio);
  const f = feasibleWith(model, q, c.cutIndex, c.ratio, share.channel.bandwidthHz);
  const decision = f.decision ?? { cutIndex: c.cutIndex, ratio: c.ratio, powerW: q.bits > 0 ? problem.channel.powerMaxW : 0, freqHz: problem.device.freqMaxHz };
  return { deviceIndex: c.deviceIndex, candidate: c, decision, breakdown: model.breakdown(decision) };
}

function result(mp: MultiDeviceProblem, scheme: MultiResult['scheme'], chosen: Candidate[], shares?: number[]): MultiResult {
  const bandwidthUsedHz = chosen.reduce((a, c) => a + c.bandwidthHz, 0);
  const serverUsedS = chosen.reduce((a, c) => a + c.serverS, 0);
  return {
    scheme, feasible: true,
    totalDistortion: chosen.reduce((a, c) => a + c.distortion, 0),
    bandwidthUsedHz, serverUsedS,
    violatesSharedCapacity: bandwidthUsedHz > mp.bandwidthHz * (1 + 1e-9) || serverUsedS > mp.serverPeriodS * (1 + 1e-9),
    assignments: chosen.map((c, i) => assignment(mp, c, shares?.[i] ?? c.bandwidthHz)),
  };
}

function infeasible(scheme: MultiResult['scheme'], reason: string): MultiResult {
  return { scheme, feasible: false, reason, totalDistortion: NaN, bandwidthUsedHz: NaN, serverUsedS: NaN, violatesSharedCapacity: false, assignments: [] };
}

interface LpSolver {
  Solve(model: LpModel): unknown;
}

function hasSolve(x: unknown): x is LpSolver {
  return typeof x === 'object' && x !== null && 'Solve' in x && typeof x.Solve === 'function';
}

// NOTE: javascript-lp-solver types its CommonJS build, while Node loads its ES build: the solver
// is the module's default export at run time but one `default` deeper in the types. Walk the
// `default` chain instead of casting.
function findSolver(m: unknown): LpSolver {
  let x: unknown = m;
  for (let i = 0; i < 3 && typeof x === 'object' && x !== null; i++) {
    if (hasSolve(x)) return x;
    x = 'default' in x ? x.default : undefined;
  }
  throw new EdgesplitError('ERR_INTERNAL', 'javascript-lp-solver did not export a solver with Solve()');
}

const lpSolver = findSolver(lp);

function isSolveResult(x: unknown): x is { feasible: boolean; result: number; [k: string]: unknown } {
  return typeof x === 'object' && x !== null && 'feasible' in x && typeof x.feasible === 'boolean';
}

function validate(mp: MultiDeviceProblem): void {
  const problems: string[] = [];
  if (mp.devices.length === 0) problems.push('devices: expected at least one device, got none');
  if (!(mp.bandwidthHz > 0)) problems.push(`bandwidthHz: expected a positive frequency, got ${mp.bandwidthHz}`);
  if (!(mp.serverPeriodS > 0)) problems.push(`serverPeriodS: expected a positive time, got ${mp.serverPeriodS}`);
  if (problems.length) throw new EdgesplitError('ERR_PROBLEM_INVALID', `multi-device problem: ${problems.join('; ')}`);
}

/**
 * The candidates that no other candidate of the same device matches or beats in distortion,
 * bandwidth and server time all at once. NOTE: the integer program only needs these: in any
 * solution a dominated candidate can be swapped for the one dominating it without breaking a
 * constraint or raising the distortion, so the optimum is the same, with far fewer variables
 * (on a 307-cut model, a few dozen per device instead of hundreds).
 */
export function paretoCandidates(cands: readonly Candidate[]): Candidate[] {
  const sorted = [...cands].sort((a, b) => a.distortion - b.distortion || a.bandwidthHz - b.bandwidthHz || a.serverS - b.serverS);
  const kept: Candidate[] = [];
  for (const c of sorted) {
    if (!kept.some((k) => k.distortion <= c.distortion && k.bandwidthHz <= c.bandwidthHz && k.serverS <= c.serverS)) kept.push(c);
  }
  return kept;
}

/**
 * The joint multi-device plan: a binary program with one variable per (device, cut, level) that
 * no other of the device's candidates dominates (`paretoCandidates`), minimising the total
 * distortion bound, one candidate per device, within the band and the server period. Infeasible
 * when some device has no candidate or no combination fits.
 */
export function planMultiIlp(mp: MultiDeviceProblem): MultiResult {
  validate(mp);
  const cands = mp.devices.map((p, i) => paretoCandidates(deviceCandidates(p, i, mp.bandwidthHz, mp.levels)));
  const empty = cands.findIndex((c) => c.length === 0);
  if (empty >= 0) return infeasible('ilp', `device ${empty} cannot meet its budgets at any cut and level even with the whole band`);
  const constraints: Record<string, { max?: number; equal?: number }> = { band: { max: 1 }, server: { max: 1 } };
  const variables: Record<string, Record<string, number>> = {};
  const binaries: Record<string, 1> = {};
  const byName = new Map<string, Candidate>();
  cands.forEach((list, i) => {
    constraints[`d${i}`] = { equal: 1 };
    list.forEach((c, k) => {
      const name = `x${i}_${k}`;
      // NOTE: bandwidth and server time enter as shares of the capacity so that every
      // coefficient is of order one; the solver's tolerances are absolute.
      variables[name] = { distortion: c.distortion, band: c.bandwidthHz / mp.bandwidthHz, server: c.serverS / mp.serverPeriodS, [`d${i}`]: 1 };
      binaries[name] = 1;
      byName.set(name, c);
    });
  });
  const solution = lpSolver.Solve({ optimize: 'distortion', opType: 'min', constraints, variables, binaries, options: { tolerance: 0 } });
  if (!isSolveResult(solution) || !solution.feasible) {
    return infeasible('ilp', 'no choice of cuts and levels fits the devices into the shared band and the server period');
  }
  const chosen: Candidate[] = [];
  for (const [name, c] of byName) {
    const v = solution[name];
    if (typeof v === 'number' && v > 0.5) chosen.push(c);
  }
  chosen.sort((a, b) => a.deviceIndex - b.deviceIndex);
  if (chosen.length !== mp.devices.length) throw new EdgesplitError('ERR_INTERNAL', `the integer program chose ${chosen.length} candidates for ${mp.devices.length} devices`);
  return result(mp, 'ilp', chosen);
}

function bestAlone(cands: Candidate[]): Candidate | undefined {
  return cands.reduce<Candidate | undefined>((b, c) => (!b || c.distortion < b.distortion || (c.distortion === b.distortion && c.bandwidthHz + c.serverS < b.bandwidthHz + b.serverS) ? c : b), undefined);
}

/**
 * Each device planned alone, as if it had the whole band and server: its least-distortion
 * candidate. The sum may exceed the shared band or server period (`violatesSharedCapacity`).
 */
export function planMultiIndependent(mp: MultiDeviceProblem): MultiResult {
  validate(mp);
  const chosen: Candidate[] = [];
  for (let i = 0; i < mp.devices.length; i++) {
    const c = bestAlone(deviceCandidates(mp.devices[i]!, i, mp.bandwidthHz, mp.levels));
    if (!c) return infeasible('independent', `device ${i} cannot meet its budgets at any cut and level even with the whole band`);
    chosen.push(c);
  }
  return result(mp, 'independent', chosen);
}

/**
 * The independent plan made to fit: each of N devices gets B / N of the band and 1 / N of the
 * server period and picks its least-distortion candidate within that share.
 */
export function planMultiEqualShare(mp: MultiDeviceProblem): MultiResult {
  validate(mp);
  const n = mp.devices.length;
  const chosen: Candidate[] = [];
  for (let i = 0; i < n; i++) {
    const c = bestAlone(deviceCandidates(mp.devices[i]!, i, mp.bandwidthHz / n, mp.levels).filter((x) => x.serverS <= mp.serverPeriodS / n));
    if (!c) return infeasible('equal-share', `device ${i} cannot meet its budgets with an equal share (1/${n}) of the band and the server`);
    chosen.push(c);
  }
  return result(mp, 'equal-share', chosen, chosen.map(() => mp.bandwidthHz / n));
}
