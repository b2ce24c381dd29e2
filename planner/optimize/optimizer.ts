// The optimizer of MODEL.md and the schemes it is compared with. For each cut, the least device
// energy that meets the latency budget is a one-dimensional convex search (compute time against
// transmit time, with closed forms for f and p inside); feasibility is monotone in the pruning
// ratio, so bisection finds each cut's smallest feasible ratio; the best cut has the least
// distortion. Beside it: exhaustive grid search, fully on-device, fully on-server, split-only
// (no pruning, full power and frequency) and a fixed split. Pure functions, no I/O.
import { EdgesplitError } from '../../shared/errors.ts';
import { formatSi } from '../profiles/units.ts';
import { type BudgetName, type CostBreakdown, CostModel, type CutCosts, type Decision, powerForRateW, rateBitPerS, transmitEnergyJ } from './cost.ts';
import { type PlanningProblem, distortionAt, maxRatio } from './problem.ts';

/** The joint design, the grid reference and the baselines. */
export type SchemeName = 'joint' | 'grid' | 'on-device' | 'on-server' | 'split-only' | 'fixed';

/** The best a scheme found at one cut: the smallest feasible ratio there, or infeasible. */
export interface CutResult {
  cutIndex: number;
  cutId: string;
  feasible: boolean;
  /** Smallest feasible ratio at this cut (null when none is feasible). */
  ratio: number | null;
  distortion: number | null;
  energyJ: number | null;
  latencyS: number | null;
}

/** Why no decision meets the budgets, and the best that can be had. */
export interface Infeasibility {
  /** The budgets that cannot be met: one that fails even alone, or the two or three that cannot be met together. */
  violated: BudgetName[];
  message: string;
  /** Least latency among cuts that fit in memory (all cuts if none fits), at the largest ratio, f_max and p_max. */
  minLatencyS: number | null;
  minLatencyDecision: Decision | null;
  /** Least device energy that meets the latency budget (null when the latency budget cannot be met). */
  minEnergyUnderLatencyJ: number | null;
  minEnergyDecision: Decision | null;
}

/** A scheme's plan that meets every budget. */
export interface FeasiblePlan {
  scheme: SchemeName;
  feasible: true;
  decision: Decision;
  breakdown: CostBreakdown;
  /** Gamma * D(ratio): the distortion bound of the decision. */
  distortion: number;
  /** With discrete levels: the continuous optimum the level was rounded up from. */
  continuousRatio?: number;
  perCut: CutResult[];
}

/** A scheme's answer when no decision meets the budgets. */
export interface InfeasiblePlan {
  scheme: SchemeName;
  feasible: false;
  infeasibility: Infeasibility;
  perCut: CutResult[];
}

/** What every scheme returns; `feasible` tells the two apart. */
export type PlanResult = FeasiblePlan | InfeasiblePlan;

/** Options of the optimizer. */
export interface OptimizeOptions {
  /** Bisection stops when the ratio interval is this narrow (default 1e-9). */
  ratioTolerance?: number;
  /**
   * Solve every cut to give `perCut` (the best distortion at each split, for plots). Default true.
   * With false, cuts that cannot beat the best so far are skipped after one check (about twice as
   * fast on 200 cuts, same answer), and `perCut` comes back empty.
   */
  perCut?: boolean;
}

/** Grid resolution of the exhaustive search: points per axis. */
export interface GridResolution {
  ratioSteps: number;
  powerSteps: number;
  freqSteps: number;
}

/** The grid resolution of `edgesplit solve`'s comparison: 41 points per axis. */
export const DEFAULT_GRID: GridResolution = Object.freeze({ ratioSteps: 41, powerSteps: 41, freqSteps: 41 });

/** The least device energy that meets the latency budget at one cut and ratio, with its f and p. */
export interface InnerSolution {
  /** False when even f_max and p_max miss the latency budget. */
  feasible: boolean;
  energyJ: number;
  freqHz: number;
  powerW: number;
  computeS: number;
  transmitS: number;
}

const INFEASIBLE_INNER: InnerSolution = Object.freeze({ feasible: false, energyJ: Infinity, freqHz: NaN, powerW: NaN, computeS: NaN, transmitS: NaN });

/**
 * MODEL.md's inner problem at one cut and ratio: minimise kappa a f^2 + p t2 subject to
 * a / f + t2 + T_srv + T_rtt <= T_max, f in [f_min, f_max] (or the listed steps), p in [0, p_max].
 * Splitting the time left into compute t1 and transmit t2 = T - t1, the compute energy
 * kappa a^3 / t1^2 (f = a / t1, clipped at f_min) and the transmit energy
 * t2 (N0 B / g)(2^(bits / (B t2)) - 1) are convex and decreasing, so the sum's derivative is
 * increasing in t1 and bisection on its sign finds the optimum. t1 lies in
 * [a / f_max, min(a / f_min, T - bits / r(p_max))]: f_max bounds t1 from below, and beyond
 * a / f_min the CPU cannot slow down further, so more time only helps the radio.
 * `bandwidthHz` is the uplink's bandwidth, the problem's channel's unless given: the multi-device
 * plan prices one device's cut at many shares of a band through the one cost model of its problem.
 */
export function solveInner(model: CostModel, q: CutCosts, bandwidthHz = model.problem.channel.bandwidthHz): InnerSolution {
  const { device, channel, budgets } = model.problem;
  const T = budgets.latencyS - q.serverS - q.roundTripS;
  const a = q.cycles;
  const bits = q.bits;
  const B = bandwidthHz;
  const N0 = channel.noiseDensityWPerHz;
  const g = model.gain;
  const kappa = device.kappa;
  const steps = device.freqStepsHz;
  const fMin = steps ? steps[0]! : device.freqMinHz;
  const fMax = steps ? steps[steps.length - 1]! : device.freqMaxHz;
  if (a === 0 && bits === 0) return T >= 0 ? { feasible: true, energyJ: 0, freqHz: fMin, powerW: 0, computeS: 0, transmitS: 0 } : INFEASIBLE_INNER;
  if (!(T > 0)) return INFEASIBLE_INNER;
  const t2Min = bits > 0 ? bits / rateBitPerS(channel.powerMaxW, B, g, N0) : 0;
  const powerAt = (t2: number): number => (bits > 0 ? Math.min(channel.powerMaxW, powerForRateW(bits / t2, B, g, N0)) : 0);
  const txEnergy = (t2: number): number => transmitEnergyJ(bits, t2, B, g, N0);
  if (a === 0) {
    if (t2Min > T) return INFEASIBLE_INNER;
    return { feasible: true, energyJ: txEnergy(T), freqHz: fMin, powerW: powerAt(T), computeS: 0, transmitS: T };
  }
  if (steps) {
    let best = INFEASIBLE_INNER;
    for (const f of steps) {
      const t1 = a / f;
      const t2 = T - t1;
      if (t2 < t2Min) continue;
      const e = kappa * a * f * f + (bits > 0 ? txEnergy(t2) : 0);
      if (e < best.energyJ) best = { feasible: true, energyJ: e, freqHz: f, powerW: powerAt(t2), computeS: t1, transmitS: bits > 0 ? t2 : 0 };
    }
    return best;
  }
  const lo = a / fMax;
  if (bits === 0) {
    if (lo > T) return INFEASIBLE_INNER;
    const f = Math.max(fMin, a / T);
    return { feasible: true, energyJ: kappa * a * f * f, freqHz: f, powerW: 0, computeS: a / f, transmitS: 0 };
  }
  if (lo > T - t2Min) return INFEASIBLE_INNER;
  const hi = Math.min(a / fMin, T - t2Min);
  const K = (N0 * B) / g;
  const c3 = 2 * kappa * a ** 3;
  // d/dt1 [compute energy(t1) + transmit energy(T - t1)], increasing in t1, and its derivative.
  const slope = (t1: number): number => {
    const x = bits / (B * (T - t1));
    return -c3 / t1 ** 3 - K * (Math.expm1(x * Math.LN2) - x * Math.LN2 * 2 ** x);
  };
  const curvature = (t1: number): number => {
    const t2 = T - t1;
    const x = bits / (B * t2);
    return (3 * c3) / t1 ** 4 + (K * Math.LN2 * Math.LN2 * x * x * 2 ** x) / t2;
  };
  let t1: number;
  if (hi <= lo) t1 = lo;
  else if (slope(hi) <= 0) t1 = hi;
  else if (slope(lo) >= 0) t1 = lo;
  else {
    // Newton's method kept inside a shrinking bracket [l, h] of the root (bisection when a step leaves it).
    let l = lo;
    let h = hi;
    t1 = 0.5 * (l + h);
    for (let i = 0; i < 100; i++) {
      const s = slope(t1);
      if (s > 0) h = t1;
      else l = t1;
      let next = t1 - s / curvature(t1);
      if (!(next > l && next < h)) next = 0.5 * (l + h);
      if (Math.abs(next - t1) <= 1e-14 * t1 || h - l <= 1e-15 * h) {
        t1 = next;
        break;
      }
      t1 = next;
    }
  }
  const f = Math.min(fMax, Math.max(fMin, a / t1));
  const computeS = a / f;
  const t2 = T - computeS;
  return { feasible: true, energyJ: kappa * a * f * f + txEnergy(t2), freqHz: f, powerW: powerAt(t2), computeS, transmitS: t2 };
}

/** Whether cut `cutIndex` at `ratio` meets every budget, with the least-energy f and p that do. */
function evaluate(model: CostModel, cutIndex: number, ratio: number): { feasible: boolean; inner: InnerSolution; q: CutCosts } {
  const q = model.at(cutIndex, ratio);
  if (q.memoryBytes > model.memoryLimitBytes) return { feasible: false, inner: INFEASIBLE_INNER, q };
  const inner = solveInner(model, q);
  return { feasible: inner.feasible && inner.energyJ <= model.problem.budgets.energyJ, inner, q };
}

interface CutOptimum {
  cutIndex: number;
  feasible: boolean;
  ratio: number;
  continuousRatio: number;
  decision: Decision | null;
  breakdown: CostBreakdown | null;
}

/** The smallest feasible ratio at one cut (bisection; then the smallest feasible level if levels are given). */
function optimizeCut(model: CostModel, cutIndex: number, tol: number, knownFeasibleAt?: number): CutOptimum {
  const problem = model.problem;
  const upper = knownFeasibleAt ?? maxRatio(problem);
  const none: CutOptimum = { cutIndex, feasible: false, ratio: NaN, continuousRatio: NaN, decision: null, breakdown: null };
  let lo = 0;
  let hi: number;
  if (evaluate(model, cutIndex, 0).feasible) hi = 0;
  else if (knownFeasibleAt === undefined && !evaluate(model, cutIndex, upper).feasible) return none;
  else {
    hi = upper;
    for (let k = 0; k < 200 && hi - lo > tol; k++) {
      const m = 0.5 * (lo + hi);
      if (evaluate(model, cutIndex, m).feasible) hi = m;
      else lo = m;
    }
  }
  let ratio = hi;
  if (problem.ratios.kind === 'discrete') {
    const level = problem.ratios.levels.find((l) => l >= lo && evaluate(model, cutIndex, l).feasible);
    if (level === undefined) return none;
    ratio = level;
  }
  const ev = evaluate(model, cutIndex, ratio);
  if (!ev.feasible) return none;
  const decision: Decision = { cutIndex, ratio, powerW: ev.inner.powerW, freqHz: ev.inner.freqHz };
  const breakdown = model.breakdown(decision);
  // NOTE: the inner solution meets the budgets by construction; the re-check through cost.ts guards
  // against the closed forms and the breakdown drifting apart.
  if (breakdown.violated.length > 0) return none;
  return { cutIndex, feasible: true, ratio, continuousRatio: hi, decision, breakdown };
}

function cutResult(model: CostModel, o: CutOptimum): CutResult {
  const b = o.breakdown;
  return {
    cutIndex: o.cutIndex, cutId: model.problem.cuts[o.cutIndex]!.id, feasible: o.feasible,
    ratio: o.feasible ? o.ratio : null, distortion: b ? b.distortion : null, energyJ: b ? b.energy.totalJ : null, latencyS: b ? b.latency.totalS : null,
  };
}

/** True when plan a is better than b: less distortion, then less energy, then less latency. */
function better(a: CostBreakdown, b: CostBreakdown, ratioTol: number): boolean {
  if (Math.abs(a.ratio - b.ratio) > 2 * ratioTol && a.distortion !== b.distortion) return a.distortion < b.distortion;
  if (a.energy.totalJ !== b.energy.totalJ) return a.energy.totalJ < b.energy.totalJ;
  return a.latency.totalS < b.latency.totalS;
}

function optimizeOver(problem: PlanningProblem, scheme: SchemeName, cutIndices: readonly number[], options: OptimizeOptions): PlanResult {
  const tol = options.ratioTolerance ?? 1e-9;
  if (!(tol > 0 && tol < 1)) throw new EdgesplitError('ERR_USAGE', `ratioTolerance: expected a number in (0, 1) like 1e-9, got ${tol}`);
  const model = new CostModel(problem);
  let best: CutOptimum | null = null;
  let perCut: CutResult[] = [];
  if (options.perCut ?? true) {
    const optima = cutIndices.map((i) => optimizeCut(model, i, tol));
    perCut = optima.map((o) => cutResult(model, o));
    for (const o of optima) {
      if (o.feasible && (!best || better(o.breakdown!, best.breakdown!, tol))) best = o;
    }
  } else {
    // Branch and bound over cuts: those feasible at the largest ratio, least energy there first (a
    // good first incumbent); a cut is only solved if it is feasible at the incumbent's ratio.
    const rhoMax = maxRatio(problem);
    const order = cutIndices
      .map((i) => ({ i, ev: evaluate(model, i, rhoMax) }))
      .filter((c) => c.ev.feasible)
      .sort((x, y) => x.ev.inner.energyJ - y.ev.inner.energyJ);
    for (const { i } of order) {
      if (best && !evaluate(model, i, best.ratio).feasible) continue;
      const o = optimizeCut(model, i, tol, best ? best.ratio : rhoMax);
      if (o.feasible && (!best || better(o.breakdown!, best.breakdown!, tol))) best = o;
    }
  }
  if (!best) return { scheme, feasible: false, infeasibility: diagnose(model, cutIndices), perCut };
  return {
    scheme, feasible: true, decision: best.decision!, breakdown: best.breakdown!, distortion: best.breakdown!.distortion,
    ...(problem.ratios.kind === 'discrete' ? { continuousRatio: best.continuousRatio } : {}), perCut,
  };
}

function allCuts(problem: PlanningProblem): number[] {
  return problem.cuts.map((_, i) => i);
}

/**
 * The joint design of MODEL.md: split, pruning ratio, transmit power and CPU frequency that
 * minimise the distortion bound under the latency, energy and memory budgets. Ties in distortion
 * go to the plan with less energy, then less latency. Infeasible budgets give a result that says
 * which budget cannot be met (never a throw).
 */
export function optimize(problem: PlanningProblem, options: OptimizeOptions = {}): PlanResult {
  return optimizeOver(problem, 'joint', allCuts(problem), options);
}

/** `optimize`, but infeasible budgets throw ERR_INFEASIBLE with the diagnosis (for the CLI and `edgesplit plan`). */
export function optimizeOrThrow(problem: PlanningProblem, options: OptimizeOptions = {}): FeasiblePlan {
  return orThrow(optimize(problem, options));
}

/** Turn an infeasible result into ERR_INFEASIBLE; pass a feasible one through. */
export function orThrow(result: PlanResult): FeasiblePlan {
  if (result.feasible) return result;
  const inf = result.infeasibility;
  throw new EdgesplitError('ERR_INFEASIBLE', inf.message, {
    details: { scheme: result.scheme, violated: inf.violated, minLatencyS: inf.minLatencyS, minEnergyUnderLatencyJ: inf.minEnergyUnderLatencyJ },
  });
}

/** Fully on-device (s = L): the best ratio and frequency with nothing sent (unless the last cut sends a result). */
export function onDevice(problem: PlanningProblem, options: OptimizeOptions = {}): PlanResult {
  return optimizeOver(problem, 'on-device', [problem.cuts.length - 1], options);
}

/** Fully on-server (s = 0): the input is sent; the best ratio (it shortens the server's time) and power. */
export function onServer(problem: PlanningProblem, options: OptimizeOptions = {}): PlanResult {
  return optimizeOver(problem, 'on-server', [0], options);
}

/** A fixed split at cut `cutIndex`, with its best ratio, power and frequency. */
export function fixedSplit(problem: PlanningProblem, cutIndex: number, options: OptimizeOptions = {}): PlanResult {
  if (!Number.isInteger(cutIndex) || cutIndex < 0 || cutIndex >= problem.cuts.length) {
    throw new EdgesplitError('ERR_USAGE', `split: expected a cut index in [0, ${problem.cuts.length - 1}], got ${cutIndex}`);
  }
  return optimizeOver(problem, 'fixed', [cutIndex], options);
}

/**
 * Split only, the Neurosurgeon way: no pruning, full power and frequency, and the cut with the
 * least latency among those that fit in memory. Feasible only if that decision meets every budget.
 */
export function splitOnly(problem: PlanningProblem): PlanResult {
  const model = new CostModel(problem);
  const { device, channel } = problem;
  const fMax = device.freqStepsHz ? device.freqStepsHz[device.freqStepsHz.length - 1]! : device.freqMaxHz;
  const breakdowns = problem.cuts.map((_, i) => model.breakdown({ cutIndex: i, ratio: 0, powerW: model.at(i, 0).bits > 0 ? channel.powerMaxW : 0, freqHz: fMax }));
  const fitting = breakdowns.filter((b) => !b.violated.includes('memory'));
  const pool = fitting.length > 0 ? fitting : breakdowns;
  const chosen = pool.reduce((x, y) => (y.latency.totalS < x.latency.totalS ? y : x));
  const perCut: CutResult[] = breakdowns.map((b) => ({
    cutIndex: b.cutIndex, cutId: b.cutId, feasible: b.violated.length === 0,
    ratio: b.violated.length === 0 ? 0 : null, distortion: b.violated.length === 0 ? b.distortion : null,
    energyJ: b.energy.totalJ, latencyS: b.latency.totalS,
  }));
  const decision: Decision = { cutIndex: chosen.cutIndex, ratio: 0, powerW: chosen.powerW, freqHz: chosen.freqHz };
  if (chosen.violated.length === 0) return { scheme: 'split-only', feasible: true, decision, breakdown: chosen, distortion: chosen.distortion, perCut };
  const b = problem.budgets;
  const said = chosen.violated.map((v) => (v === 'latency' ? `latency ${formatSi(chosen.latency.totalS, 's')} > ${formatSi(b.latencyS, 's')}` : v === 'energy' ? `energy ${formatSi(chosen.energy.totalJ, 'J')} > ${formatSi(b.energyJ, 'J')}` : `memory ${formatSi(chosen.memory.totalBytes, 'B')} > ${formatSi(chosen.memory.limitBytes, 'B')}`));
  return {
    scheme: 'split-only', feasible: false, perCut,
    infeasibility: {
      violated: chosen.violated,
      message: `split-only (no pruning, full power and frequency): the latency-optimal cut '${chosen.cutId}' breaks the budgets: ${said.join(', ')}.`,
      minLatencyS: chosen.latency.totalS, minLatencyDecision: decision,
      minEnergyUnderLatencyJ: chosen.violated.includes('latency') ? null : chosen.energy.totalJ,
      minEnergyDecision: chosen.violated.includes('latency') ? null : decision,
    },
  };
}

const BUDGETS: readonly BudgetName[] = ['energy', 'latency', 'memory'];

/**
 * Why no decision over `cutIndices` meets the budgets. First the budgets that cannot be met even
 * alone (the others loosened without limit); then, if loosening those is not enough, the
 * smallest combination of the rest that cannot be met together: latency + memory, energy +
 * memory, energy + latency, or all three. Loosening every budget named makes the problem
 * feasible. Everything is evaluated at the largest ratio, where each cut is at its cheapest.
 */
export function diagnose(model: CostModel, cutIndices: readonly number[]): Infeasibility {
  const problem = model.problem;
  const { device, channel, budgets } = problem;
  const rhoMax = maxRatio(problem);
  const steps = device.freqStepsHz;
  const fMin = steps ? steps[0]! : device.freqMinHz;
  const fMax = steps ? steps[steps.length - 1]! : device.freqMaxHz;
  const rows = cutIndices.map((i) => {
    const q = model.at(i, rhoMax);
    const fastest: Decision = { cutIndex: i, ratio: rhoMax, powerW: q.bits > 0 ? channel.powerMaxW : 0, freqHz: fMax };
    const latencyS = model.breakdown(fastest).latency.totalS;
    // Least energy with no deadline: f_min, and the radio's energy as t2 grows without bound, N0 ln2 bits / g.
    const energyFloorJ = device.kappa * q.cycles * fMin * fMin + (channel.noiseDensityWPerHz * Math.LN2 * q.bits) / model.gain;
    const inner = solveInner(model, q);
    return { i, q, fastest, latencyS, energyFloorJ, inner, memoryOk: q.memoryBytes <= model.memoryLimitBytes };
  });
  type Row = (typeof rows)[number];
  const meets = (r: Row, loose: ReadonlySet<BudgetName>): boolean => {
    if (!loose.has('memory') && !r.memoryOk) return false;
    if (loose.has('latency')) return loose.has('energy') || r.energyFloorJ <= budgets.energyJ;
    return r.inner.feasible && (loose.has('energy') || r.inner.energyJ <= budgets.energyJ);
  };
  const feasibleWith = (loose: ReadonlySet<BudgetName>): boolean => rows.some((r) => meets(r, loose));
  const allBut = (...kept: BudgetName[]): Set<BudgetName> => new Set(BUDGETS.filter((b) => !kept.includes(b)));

  const alone = BUDGETS.filter((b) => !feasibleWith(allBut(b)));
  const loosened = new Set<BudgetName>(alone);
  let conflict: BudgetName[] = [];
  if (!feasibleWith(loosened)) {
    const rest = BUDGETS.filter((b) => !loosened.has(b));
    const pairs: BudgetName[][] = [['latency', 'memory'], ['energy', 'memory'], ['energy', 'latency']];
    conflict = pairs.find((pair) => pair.every((b) => rest.includes(b)) && !feasibleWith(allBut(...pair))) ?? rest;
  }
  const violated = BUDGETS.filter((b) => alone.includes(b) || conflict.includes(b));

  const pool = rows.some((r) => r.memoryOk) ? rows.filter((r) => r.memoryOk) : rows;
  const fastest = pool.reduce((x, y) => (y.latencyS < x.latencyS ? y : x));
  const underLatency = pool.filter((r) => r.inner.feasible);
  const cheapest = underLatency.length > 0 ? underLatency.reduce((x, y) => (y.inner.energyJ < x.inner.energyJ ? y : x)) : null;

  const id = (i: number): string => `'${problem.cuts[i]!.id}'`;
  const T = formatSi(budgets.latencyS, 's');
  const E = formatSi(budgets.energyJ, 'J');
  const M = formatSi(model.memoryLimitBytes, 'B');
  const single = cutIndices.length === 1 ? id(cutIndices[0]!) : null;
  const at = (i: number, before: string, after = ''): string => (single ? '' : `${before}cut ${id(i)}${after}`);
  const noCut = (verb: string, fitsMemory: boolean): string => (single ? `cut ${single} does not ${verb}` : `no cut${fitsMemory ? ` that fits the memory budget ${M}` : ''} ${verb === 'fit' ? 'fits' : 'meets'}`);
  const least = <T extends Row>(xs: T[], key: (r: T) => number): T => xs.reduce((x, y) => (key(y) < key(x) ? y : x));
  const parts: string[] = [];
  for (const b of alone) {
    if (b === 'memory') {
      const smallest = least(rows, (r) => r.q.memoryBytes);
      parts.push(`${noCut('fit', false)} the memory budget ${M}: the smallest device half, at ratio ${rhoMax}, needs ${formatSi(smallest.q.memoryBytes, 'B')}${at(smallest.i, ' (', ')')}`);
    } else if (b === 'latency') {
      const quickest = least(rows, (r) => r.latencyS);
      parts.push(`${noCut('meet', false)} the latency budget ${T}: the least latency, at ratio ${rhoMax}, f_max and p_max, is ${formatSi(quickest.latencyS, 's')}${at(quickest.i, ' at ')}`);
    } else {
      const lowest = least(rows, (r) => r.energyFloorJ);
      parts.push(`${noCut('meet', false)} the energy budget ${E} even without a deadline: at least ${formatSi(lowest.energyFloorJ, 'J')}${at(lowest.i, ' (', ')')}`);
    }
  }
  if (conflict.length > 0) {
    const memoryTight = conflict.includes('memory');
    const candidates = memoryTight ? rows.filter((r) => r.memoryOk) : rows;
    const prefix = alone.length > 0 ? `and with the ${alone.join(' and ')} budget${alone.length > 1 ? 's' : ''} loosened, ` : '';
    const key = conflict.join('+');
    if (key === 'latency+memory') {
      const quickest = least(candidates, (r) => r.latencyS);
      parts.push(`${prefix}${noCut('meet', true)} the latency budget ${T}: the least latency, at ratio ${rhoMax}, f_max and p_max, is ${formatSi(quickest.latencyS, 's')}${at(quickest.i, ' at ')}`);
    } else if (key === 'energy+memory') {
      const lowest = least(candidates, (r) => r.energyFloorJ);
      parts.push(`${prefix}${noCut('meet', true)} the energy budget ${E} even without a deadline: at least ${formatSi(lowest.energyFloorJ, 'J')}${at(lowest.i, ' (', ')')}`);
    } else {
      const timely = candidates.filter((r) => r.inner.feasible);
      const note = timely.length > 0
        ? (() => {
          const c = least(timely, (r) => r.inner.energyJ);
          return `the least energy within ${T} is ${formatSi(c.inner.energyJ, 'J')}${at(c.i, ' at ')} (ratio ${rhoMax})`;
        })()
        : `the latency budget ${T} cannot be met by a cut that fits the memory budget`;
      parts.push(`${prefix}${noCut('meet', memoryTight)} the energy budget ${E} within the latency budget ${T}: ${note}${memoryTight ? '; larger device halves could, but do not fit in memory' : ''}`);
    }
  }
  const advice = `Loosen the ${violated.join(' or ')} budget${violated.length > 1 ? 's' : ''}, allow a larger pruning ratio, or pick a faster device or channel.`;
  return {
    violated,
    message: `${parts.join('; ')}. ${advice}`,
    minLatencyS: fastest.latencyS,
    minLatencyDecision: fastest.fastest,
    minEnergyUnderLatencyJ: cheapest ? cheapest.inner.energyJ : null,
    minEnergyDecision: cheapest ? { cutIndex: cheapest.i, ratio: rhoMax, powerW: cheapest.inner.powerW, freqHz: cheapest.inner.freqHz } : null,
  };
}

function axis(lo: number, hi: number, n: number): number[] {
  if (n <= 1 || hi === lo) return [hi];
  return Array.from({ length: n }, (_, i) => lo + ((hi - lo) * i) / (n - 1));
}

function geometricAxis(lo: number, hi: number, n: number): number[] {
  if (n <= 1) return [hi];
  return Array.from({ length: n }, (_, i) => lo * (hi / lo) ** (i / (n - 1)));
}

/**
 * Exhaustive grid search over (s, rho, p, f), the reference: every cut, `ratioSteps` ratios in
 * [0, rho_max] (or the discrete levels), `powerSteps` powers spaced geometrically in
 * [1e-6 p_max, p_max] and `freqSteps`
 * frequencies in [f_min, f_max] (or the listed steps). Each point is priced with the same
 * formulas as cost.ts; the best has the least distortion, then energy, then latency.
 */
export function gridSearch(problem: PlanningProblem, resolution: GridResolution = DEFAULT_GRID): PlanResult {
  const bad = (['ratioSteps', 'powerSteps', 'freqSteps'] as const).filter((k) => !(Number.isInteger(resolution[k]) && resolution[k] >= 2));
  if (bad.length > 0) throw new EdgesplitError('ERR_USAGE', `grid resolution: expected integers >= 2 points per axis, got ${bad.map((k) => `${k} ${resolution[k]}`).join(', ')}`);
  const model = new CostModel(problem);
  const { device, channel, budgets } = problem;
  const ratios = problem.ratios.kind === 'discrete' ? [...problem.ratios.levels] : axis(0, problem.ratios.maxRatio, resolution.ratioSteps);
  const freqs = device.freqStepsHz ? [...device.freqStepsHz] : axis(device.freqMinHz, device.freqMaxHz, resolution.freqSteps);
  // NOTE: powers are spaced geometrically over six decades below p_max: the least-energy power is
  // often a tiny fraction of p_max, which a linear axis starting at p_max / n cannot represent.
  const powers = geometricAxis(channel.powerMaxW * 1e-6, channel.powerMaxW, resolution.powerSteps);
  const rates = powers.map((p) => rateBitPerS(p, channel.bandwidthHz, model.gain, channel.noiseDensityWPerHz));
  const Tmax = budgets.latencyS;
  const Emax = budgets.energyJ;
  const kappa = device.kappa;
  let best: { d: Decision; distortion: number; energyJ: number; latencyS: number } | null = null;
  const perCut: CutResult[] = [];
  for (let s = 0; s < problem.cuts.length; s++) {
    let cutBest: { d: Decision; distortion: number; energyJ: number; latencyS: number } | null = null;
    for (const rho of ratios) {
      const q = model.at(s, rho);
      if (q.memoryBytes > model.memoryLimitBytes) continue;
      const distortion = distortionAt(problem.distortion, rho);
      const fixedS = q.serverS + q.roundTripS;
      for (const f of freqs) {
        const deviceS = q.cycles > 0 ? q.cycles / f : 0;
        const deviceJ = kappa * q.cycles * f * f;
        for (let k = 0; k < (q.bits > 0 ? powers.length : 1); k++) {
          const transmitS = q.bits > 0 ? q.bits / rates[k]! : 0;
          const transmitJ = q.bits > 0 ? powers[k]! * transmitS : 0;
          const latencyS = deviceS + transmitS + fixedS;
          const energyJ = deviceJ + transmitJ;
          if (latencyS > Tmax || energyJ > Emax) continue;
          if (!cutBest || distortion < cutBest.distortion || (distortion === cutBest.distortion && (energyJ < cutBest.energyJ || (energyJ === cutBest.energyJ && latencyS < cutBest.latencyS)))) {
            cutBest = { d: { cutIndex: s, ratio: rho, powerW: q.bits > 0 ? powers[k]! : 0, freqHz: f }, distortion, energyJ, latencyS };
          }
        }
      }
    }
    perCut.push({
      cutIndex: s, cutId: problem.cuts[s]!.id, feasible: cutBest !== null, ratio: cutBest ? cutBest.d.ratio : null,
      distortion: cutBest ? cutBest.distortion : null, energyJ: cutBest ? cutBest.energyJ : null, latencyS: cutBest ? cutBest.latencyS : null,
    });
    if (cutBest && (!best || cutBest.distortion < best.distortion || (cutBest.distortion === best.distortion && (cutBest.energyJ < best.energyJ || (cutBest.energyJ === best.energyJ && cutBest.latencyS < best.latencyS))))) best = cutBest;
  }
  if (!best) return { scheme: 'grid', feasible: false, infeasibility: diagnose(model, allCuts(problem)), perCut };
  const breakdown = model.breakdown(best.d);
  return { scheme: 'grid', feasible: true, decision: best.d, breakdown, distortion: breakdown.distortion, perCut };
}

/** Every scheme on one problem, for tables and plots: joint, grid, on-device, on-server, split-only, and a fixed split if asked. */
export function compareSchemes(problem: PlanningProblem, options: OptimizeOptions & { grid?: GridResolution; fixedCutIndex?: number } = {}): PlanResult[] {
  const out = [optimize(problem, options), gridSearch(problem, options.grid), onDevice(problem, options), onServer(problem, options), splitOnly(problem)];
  if (options.fixedCutIndex !== undefined) out.push(fixedSplit(problem, options.fixedCutIndex, options));
  return out;
}

/** Run one scheme by name (`fixed` needs `fixedCutIndex`). */
export function solveScheme(problem: PlanningProblem, scheme: SchemeName, options: OptimizeOptions & { grid?: GridResolution; fixedCutIndex?: number } = {}): PlanResult {
  switch (scheme) {
    case 'joint': return optimize(problem, options);
    case 'grid': return gridSearch(problem, options.grid);
    case 'on-device': return onDevice(problem, options);
    case 'on-server': return onServer(problem, options);
    case 'split-only': return splitOnly(problem);
    case 'fixed':
      if (options.fixedCutIndex === undefined) throw new EdgesplitError('ERR_USAGE', 'the fixed scheme needs a split: pass --split S (a cut index)');
      return fixedSplit(problem, options.fixedCutIndex, options);
  }
}
