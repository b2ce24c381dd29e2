// Shared helpers of the optimizer tests: a small hand-built problem and error assertions.
import assert from 'node:assert/strict';
import { EdgesplitError } from '../../../shared/errors.ts';
import type { PlanningProblem } from '../../../planner/optimize/problem.ts';

/** Assert that `fn` throws an EdgesplitError with `code` whose message holds every fragment. */
export function rejects(fn: () => unknown, code: string, ...fragments: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof EdgesplitError, `expected an EdgesplitError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    for (const f of fragments) assert.ok(e.message.includes(f), `message lacks ${JSON.stringify(f)}: ${e.message}`);
    return true;
  });
}

/** A three-cut problem with round numbers: input (s = 0), one middle cut, output (s = 2). */
export function smallProblem(overrides: Partial<PlanningProblem> = {}): PlanningProblem {
  return {
    name: 'small',
    device: { kind: 'device', name: 'd', description: '', freqMinHz: 0.5e9, freqMaxHz: 2e9, kappa: 1e-27, cyclesPerFlop: 0.1, memoryBytes: 1e9 },
    channel: { kind: 'channel', name: 'c', description: '', bandwidthHz: 10e6, noiseDensityWPerHz: 1e-20, pathLoss: 1e-10, fading: 'none', powerMaxW: 0.5, roundTripS: 0.004 },
    server: { kind: 'server', name: 's', description: '', flopsPerS: 1e11, overheadS: 0.001 },
    budgets: { latencyS: 0.2, energyJ: 0.05 },
    fadingGain: 1,
    cuts: [
      { id: 'input', crossingBytes: 200_000, prunableShare: 1, points: [{ ratio: 0, headFlops: 0, tailFlops: 2e9, headParamBytes: 0, headPeakActivationBytes: 0 }] },
      { id: 'mid', crossingBytes: 20_000, prunableShare: 0.8, points: [{ ratio: 0, headFlops: 5e8, tailFlops: 1.5e9, headParamBytes: 1e6, headPeakActivationBytes: 4e5 }] },
      { id: 'output', crossingBytes: 0, prunableShare: 0.8, points: [{ ratio: 0, headFlops: 2e9, tailFlops: 0, headParamBytes: 8e6, headPeakActivationBytes: 4e5 }] },
    ],
    distortion: { model: 'laplace', gamma: 2 },
    ratios: { kind: 'continuous', maxRatio: 0.9 },
    ...overrides,
  };
}
