// The schemes the studies compare, solved by the planner's optimizer on one problem: the joint design,
// fully on-device, fully on-server, split-only (no pruning), fixed splits and the exhaustive grid.
import { fixedSplit, gridSearch, onDevice, onServer, optimize, splitOnly, type PlanResult } from '../planner/optimize/optimizer.ts';
import type { PlanningProblem } from '../planner/optimize/problem.ts';
import { headFlopShare } from './problems.ts';
import type { Column, Row } from './types.ts';

/** The series name of a fixed split at cut index `cutIndex`. */
export function fixedName(cutIndex: number): string {
  return `fixed s=${cutIndex}`;
}

/** The cut whose device half holds the share of FLOPs nearest to `share` (0 to 1), never an end. */
export function cutNearShare(problem: PlanningProblem, share: number): number {
  let best = 1;
  for (let i = 1; i < problem.cuts.length - 1; i++) {
    if (Math.abs(headFlopShare(problem, i) - share) < Math.abs(headFlopShare(problem, best) - share)) best = i;
  }
  return best;
}

/** Columns of one solved scheme in a CSV row. */
export const SCHEME_COLUMNS: Column[] = [
  { name: 'scheme', type: 'string', description: 'joint, on-device, on-server, split-only (no pruning, full power and frequency), fixed s=K (split fixed at cut K), grid (exhaustive search)' },
  { name: 'feasible', type: 'number', description: '1 when the scheme meets every budget, else 0' },
  { name: 'distortion', type: 'number', description: 'distortion bound Gamma * D(rho) of the plan (empty when infeasible)' },
  { name: 'ratio', type: 'number', description: 'pruning ratio rho chosen (empty when infeasible)' },
  { name: 'cutIndex', type: 'number', description: 'split point s chosen: cut index, 0 = everything on the server' },
  { name: 'headFlopSharePct', type: 'number', description: 'share of the unpruned FLOPs run on the device at the chosen split [%]' },
  { name: 'latencyMs', type: 'number', description: 'predicted latency of the plan [ms]' },
  { name: 'energyJ', type: 'number', description: 'predicted device energy of the plan (compute and transmission) [J]' },
  { name: 'powerW', type: 'number', description: 'transmit power chosen [W]' },
  { name: 'freqGHz', type: 'number', description: 'device CPU frequency chosen [GHz]' },
  { name: 'violated', type: 'string', description: 'budgets an infeasible scheme cannot meet (latency, energy, memory)' },
];

/** A solved scheme as the cells of SCHEME_COLUMNS. */
export function schemeCells(problem: PlanningProblem, name: string, r: PlanResult): Row {
  if (!r.feasible) {
    return { scheme: name, feasible: 0, distortion: null, ratio: null, cutIndex: null, headFlopSharePct: null, latencyMs: null, energyJ: null, powerW: null, freqGHz: null, violated: r.infeasibility.violated.join('+') };
  }
  const b = r.breakdown;
  return {
    scheme: name, feasible: 1, distortion: r.distortion, ratio: r.decision.ratio, cutIndex: r.decision.cutIndex,
    headFlopSharePct: headFlopShare(problem, r.decision.cutIndex) * 100, latencyMs: b.latency.totalS * 1000, energyJ: b.energy.totalJ,
    powerW: r.decision.powerW, freqGHz: r.decision.freqHz / 1e9, violated: '',
  };
}

/** Which schemes to solve: the fixed splits' cut indices and the grid's points per axis (0: no grid). */
export interface SchemeChoice {
  fixedCuts: readonly number[];
  gridSteps: number;
}

/** Solve every scheme on `problem`; rows in a stable order (joint first). */
export function solveSchemes(problem: PlanningProblem, choice: SchemeChoice): Row[] {
  const results: Array<[string, PlanResult]> = [
    ['joint', optimize(problem)],
    ['on-device', onDevice(problem)],
    ['on-server', onServer(problem)],
    ['split-only', splitOnly(problem)],
    ...choice.fixedCuts.map((c): [string, PlanResult] => [fixedName(c), fixedSplit(problem, c)]),
  ];
  if (choice.gridSteps > 0) results.push(['grid', gridSearch(problem, { ratioSteps: choice.gridSteps, powerSteps: choice.gridSteps, freqSteps: choice.gridSteps })]);
  return results.map(([name, r]) => schemeCells(problem, name, r));
}
