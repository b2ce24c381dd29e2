// Benchmark: the optimizer beside exhaustive grid search of equal resolution on a 200-cut
// problem (time ratio, same answer), and the multi-device integer program. Writes the
// 'optimize' section of docs/benchmarks.md. Run: npm run bench:optimize
import { median, table, writeSection } from './results.ts';
import { Rng } from '../planner/util/rng.ts';
import { type FeasiblePlan, type GridResolution, gridSearch, optimize, orThrow } from '../planner/optimize/optimizer.ts';
import { planMultiEqualShare, planMultiIlp, planMultiIndependent } from '../planner/optimize/multi.ts';
import type { PlanningProblem } from '../planner/optimize/problem.ts';
import { randomProblem } from '../planner/optimize/synthetic.ts';

const CUTS = 200;
const STEPS = 101;

function timeMs(fn: () => unknown, runs: number): { ms: number; runs: number } {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    fn();
    times.push(performance.now() - t);
  }
  return { ms: median(times), runs };
}

/** The first seeded 200-cut problem whose optimum prunes (neither 0 nor the largest ratio): the hard case. */
function hardProblem(): { problem: PlanningProblem; seed: number; rhoMax: number } {
  for (let seed = 1; ; seed++) {
    const problem = randomProblem(new Rng(seed), { blocks: CUTS - 1, discreteChance: 0, freqStepsChance: 0, memoryBudgetChance: 0 });
    const r = optimize(problem, { perCut: false });
    if (problem.ratios.kind === 'continuous' && r.feasible && r.decision.ratio > 0.1 * problem.ratios.maxRatio && r.decision.ratio < 0.9 * problem.ratios.maxRatio) return { problem, seed, rhoMax: problem.ratios.maxRatio };
  }
}

function fmt(ms: number): string {
  return ms >= 100 ? `${ms.toFixed(0)} ms` : ms >= 1 ? `${ms.toFixed(2)} ms` : `${(ms * 1000).toFixed(0)} µs`;
}

function describe(p: FeasiblePlan): string {
  return `cut ${p.decision.cutIndex}, ratio ${p.decision.ratio.toFixed(4)}, distortion ${p.distortion.toPrecision(4)}`;
}

const { problem, seed, rhoMax } = hardProblem();
const grid: GridResolution = { ratioSteps: STEPS, powerSteps: STEPS, freqSteps: STEPS };
const step = rhoMax / (STEPS - 1);

process.stderr.write(`problem: seed ${seed}, ${problem.cuts.length} cuts; grid ${STEPS}^3 per cut...\n`);
const gridPlan = orThrow(gridSearch(problem, grid));
const gridTime = timeMs(() => gridSearch(problem, grid), 3);
process.stderr.write(`grid: ${fmt(gridTime.ms)}\n`);

const equalOpts = { ratioTolerance: step, perCut: false };
const equalPlan = orThrow(optimize(problem, equalOpts));
const equalTime = timeMs(() => optimize(problem, equalOpts), 41);
const fullPlan = orThrow(optimize(problem, { perCut: false }));
const fullTime = timeMs(() => optimize(problem, { perCut: false }), 41);
const perCutPlan = orThrow(optimize(problem));
const perCutTime = timeMs(() => optimize(problem), 11);

const sameAnswer = (p: FeasiblePlan): string => {
  const sameCut = p.decision.cutIndex === gridPlan.decision.cutIndex;
  const steps = (gridPlan.decision.ratio - p.decision.ratio) / step;
  const where = Math.abs(steps) < 0.005 ? 'the same ratio' : `a ratio ${Math.abs(steps).toFixed(2)} grid steps ${steps > 0 ? 'below' : 'above'} the grid's`;
  return `${sameCut ? 'yes: same cut' : 'no: another cut'}, ${where}${Math.abs(steps) <= 1 ? ' (within one step)' : ''}`;
};

const rows = [
  [`exhaustive grid, ${STEPS} ratios x ${STEPS} powers x ${STEPS} frequencies per cut`, fmt(gridTime.ms), '1x', describe(gridPlan), '(reference)'],
  [`optimizer, ratio tolerance = grid step (${step.toFixed(4)}), cuts skipped by bound`, fmt(equalTime.ms), `${Math.round(gridTime.ms / equalTime.ms)}x`, describe(equalPlan), sameAnswer(equalPlan)],
  ['optimizer, ratio tolerance 1e-9, cuts skipped by bound', fmt(fullTime.ms), `${Math.round(gridTime.ms / fullTime.ms)}x`, describe(fullPlan), sameAnswer(fullPlan)],
  ['optimizer, ratio tolerance 1e-9, every cut solved (per-cut results)', fmt(perCutTime.ms), `${Math.round(gridTime.ms / perCutTime.ms)}x`, describe(perCutPlan), sameAnswer(perCutPlan)],
];

// Several devices sharing a band and a server: 6 devices, each 8 cuts x 4 pruning levels.
const rng = new Rng(42);
const devices = Array.from({ length: 6 }, () => ({ ...randomProblem(rng, { blocks: 7, budgetScale: [1, 3], memoryBudgetChance: 0 }), ratios: { kind: 'discrete' as const, levels: [0, 0.25, 0.5, 0.75] } }));
const alone = planMultiIndependent({ devices, bandwidthHz: 20e6, serverPeriodS: 10 });
const mp = { devices, bandwidthHz: 20e6 * 0.4, serverPeriodS: Math.max(1e-3, 0.5 * alone.serverUsedS) };
const ilpTime = timeMs(() => planMultiIlp(mp), 5);
const ilp = planMultiIlp(mp);
const equal = planMultiEqualShare(mp);
const multiRows = [
  ['joint integer program', fmt(ilpTime.ms), ilp.feasible ? ilp.totalDistortion.toPrecision(4) : 'infeasible', ilp.feasible ? (ilp.violatesSharedCapacity ? 'no' : 'yes') : '-'],
  ['each device alone (whole band and server each)', '-', alone.feasible ? alone.totalDistortion.toPrecision(4) : 'infeasible', alone.feasible ? (alone.bandwidthUsedHz <= mp.bandwidthHz && alone.serverUsedS <= mp.serverPeriodS ? 'yes' : 'no') : '-'],
  ['equal shares (B / 6 and 1/6 of the server each)', '-', equal.feasible ? equal.totalDistortion.toPrecision(4) : 'infeasible', equal.feasible ? 'yes' : '-'],
];

const markdown = [
  '## Optimizer against exhaustive grid search',
  '',
  `One seeded synthetic problem (\`randomProblem(new Rng(${seed}), { blocks: ${CUTS - 1} })\` in planner/optimize/synthetic.ts: ${problem.cuts.length} cuts, continuous ratios up to ${rhoMax.toFixed(3)}, budgets that force pruning). Median wall time of ${gridTime.runs} grid runs and ${equalTime.runs} optimizer runs; "equal resolution" gives the grid ${STEPS} points on each of the ratio, power and frequency axes and the optimizer's ratio bisection the grid's ratio step (power and frequency come from closed forms, exact).`,
  '',
  table(['method', 'time', 'speed-up', 'answer', 'same answer?'], rows),
  '',
  'The grid can only land on its own ratios, so its ratio is the optimizer\'s rounded up to a grid point (or one more step when the feasible power and frequency region just above the optimum is narrower than its power and frequency steps). At equal resolution the optimizer\'s bisection stops within one grid step above the true optimum, so either may come out a fraction of a step ahead.',
  '',
  '## Several devices sharing one band and one server',
  '',
  `Six seeded devices (8 cuts x 4 pruning levels each), sharing ${(mp.bandwidthHz / 1e6).toFixed(0)} MHz and a server period of ${(mp.serverPeriodS * 1000).toFixed(1)} ms (half of what they would use alone).`,
  '',
  table(['plan', 'time', 'total distortion', 'fits the shared capacity?'], multiRows),
].join('\n');

await writeSection('optimize', markdown);
process.stdout.write(markdown + '\n');
