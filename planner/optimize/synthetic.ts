// Seeded random planning problems for tests, benchmarks and simulation studies: a chain of blocks
// with random FLOPs, activations and weights, a random device, channel and server, and budgets
// drawn around what split-only inference needs, so that most bind and some are infeasible.
import type { Rng } from '../util/rng.ts';
import { CostModel } from './cost.ts';
import type { Cut, PlanningProblem } from './problem.ts';

/** Knobs of `randomProblem`; every range is inclusive. */
export interface RandomProblemOptions {
  /** Number of blocks L (the problem has L + 1 cuts). Default: 5 to 50. */
  blocks?: number | [number, number];
  /** Probability of discrete pruning levels instead of a continuous range. Default 0.3. */
  discreteChance?: number;
  /** Probability of a device with listed frequency steps. Default 0.3. */
  freqStepsChance?: number;
  /** Probability of a memory budget. Default 0.3. */
  memoryBudgetChance?: number;
  /** Scale of the latency and energy budgets against the split-only reference. Default [0.25, 1.5]. */
  budgetScale?: [number, number];
}

function logUniform(rng: Rng, lo: number, hi: number): number {
  return Math.exp(rng.uniform(Math.log(lo), Math.log(hi)));
}

/** A random, valid PlanningProblem drawn from `rng` (same seed, same problem). */
export function randomProblem(rng: Rng, options: RandomProblemOptions = {}): PlanningProblem {
  const blocksOpt = options.blocks ?? [5, 50];
  const L = typeof blocksOpt === 'number' ? blocksOpt : rng.int(blocksOpt[0], blocksOpt[1]);
  const blockFlops = Array.from({ length: L }, () => logUniform(rng, 1e6, 2e9));
  const blockParams = Array.from({ length: L }, () => logUniform(rng, 1e3, 2e7));
  const inputBytes = logUniform(rng, 1e4, 2e6);
  const crossing = [inputBytes, ...Array.from({ length: L - 1 }, () => logUniform(rng, 1e3, 4e6)), rng.next() < 0.5 ? 0 : logUniform(rng, 4, 4e3)];
  const total = blockFlops.reduce((x, y) => x + y, 0);
  const discrete = rng.next() < (options.discreteChance ?? 0.3);
  const levels = discrete ? [0, ...Array.from({ length: rng.int(2, 6) }, () => Math.round(rng.uniform(0.05, 0.9) * 100) / 100)] : [];
  const maxRatio = discrete ? Math.max(...levels) : rng.uniform(0.3, 0.95);
  const cuts: Cut[] = [];
  let headFlops = 0;
  let params = 0;
  let peak = inputBytes;
  for (let s = 0; s <= L; s++) {
    if (s > 0) {
      headFlops += blockFlops[s - 1]!;
      params += blockParams[s - 1]!;
      peak = Math.max(peak, crossing[s - 1]! + crossing[s]!);
    }
    const share = rng.uniform(0.5, 1);
    const tailFlops = s === L ? 0 : Math.max(0, total - headFlops);
    const base = { ratio: 0, headFlops, tailFlops, headParamBytes: params, headPeakActivationBytes: s === 0 ? 0 : peak };
    const points = rng.next() < 0.3 && s > 0 && s < L
      ? [base, { ratio: maxRatio, headFlops: headFlops * (1 - 0.8 * maxRatio), tailFlops: tailFlops * (1 - 0.7 * maxRatio), headParamBytes: params * (1 - maxRatio), headPeakActivationBytes: peak * (1 - 0.5 * maxRatio) }]
      : [base];
    cuts.push({ id: s === 0 ? 'input' : s === L ? 'output' : `block${s}`, crossingBytes: crossing[s]!, prunableShare: share, points });
  }
  const freqMinHz = rng.uniform(0.1e9, 1e9);
  const freqMaxHz = rng.uniform(1.2e9, 2.4e9);
  const stepCount = rng.next() < (options.freqStepsChance ?? 0.3) ? rng.int(2, 12) : 0;
  const steps = stepCount > 0 ? Array.from({ length: stepCount }, (_, i) => freqMinHz + ((freqMaxHz - freqMinHz) * i) / (stepCount - 1)) : undefined;
  const kappa = logUniform(rng, 1e-28, 2e-27);
  const cyclesPerFlop = logUniform(rng, 0.03, 0.3);
  const [b0, b1] = options.budgetScale ?? [0.25, 1.5];
  const memoryBudget = rng.next() < (options.memoryBudgetChance ?? 0.3) ? params * rng.uniform(0.2, 1.2) + inputBytes : undefined;
  const problem: PlanningProblem = {
    name: 'random',
    device: {
      kind: 'device', name: 'random-device', description: 'random', freqMinHz, freqMaxHz, ...(steps ? { freqStepsHz: steps } : {}),
      kappa, cyclesPerFlop, memoryBytes: 8 * 2 ** 30,
    },
    channel: {
      kind: 'channel', name: 'random-channel', description: 'random', bandwidthHz: logUniform(rng, 1e6, 1e8),
      noiseDensityWPerHz: 10 ** ((rng.uniform(-174, -164) - 30) / 10), pathLoss: logUniform(rng, 1e-11, 1e-6),
      fading: 'rayleigh', powerMaxW: rng.uniform(0.1, 1), roundTripS: rng.uniform(0, 0.03),
    },
    server: { kind: 'server', name: 'random-server', description: 'random', flopsPerS: logUniform(rng, 5e10, 5e11), overheadS: rng.uniform(0, 0.002) },
    budgets: { latencyS: 1, energyJ: 1, ...(memoryBudget !== undefined ? { memoryBytes: memoryBudget } : {}) },
    fadingGain: rng.next() < 0.5 ? 1 : rng.exponential(),
    cuts,
    distortion: rng.next() < 0.8 ? { model: 'laplace', gamma: rng.uniform(0.5, 20) } : {
      model: 'table', gamma: 1,
      points: [0, 0.25, 0.5, 0.75, 0.999].map((r) => ({ ratio: r, distortion: r ** 2 * rng.uniform(0.9, 1.1) })).map((p, i, a) => ({ ratio: p.ratio, distortion: i === 0 ? 0 : Math.max(p.distortion, a[i - 1]!.distortion) })),
    },
    ratios: discrete ? { kind: 'discrete', levels: [...new Set(levels)].sort((a, b) => a - b) } : { kind: 'continuous', maxRatio },
  };
  // Budgets around the Neurosurgeon reference (no pruning, f_max, p_max, the fastest cut), so
  // that the latency and energy budgets bind in most problems and some are infeasible.
  const model = new CostModel(problem);
  const fastest = problem.cuts
    .map((_, i) => model.breakdown({ cutIndex: i, ratio: 0, powerW: problem.channel.powerMaxW, freqHz: steps ? steps[steps.length - 1]! : freqMaxHz }))
    .reduce((x, y) => (y.latency.totalS < x.latency.totalS ? y : x));
  return {
    ...problem,
    budgets: { ...problem.budgets, latencyS: fastest.latency.totalS * rng.uniform(b0, b1), energyJ: Math.max(fastest.energy.totalJ, 1e-6) * rng.uniform(b0 * 0.3, b1) },
  };
}
