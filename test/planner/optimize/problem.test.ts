import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Rng } from '../../../planner/util/rng.ts';
import { costBreakdown } from '../../../planner/optimize/cost.ts';
import { applyMeasuredLatency, cutAt, interpolate, laplaceDistortion, loadProblem, parseProblem } from '../../../planner/optimize/problem.ts';
import { rejects, smallProblem } from './helpers.ts';

const EXAMPLE = new URL('../../../docs/problem.example.json', import.meta.url);

test('docs/problem.example.json is a valid problem', () => {
  const p = loadProblem(EXAMPLE.pathname);
  assert.equal(p.cuts.length, 15);
  assert.equal(p.device.name, 'rpi4');
  assert.equal(p.server.name, 'desktop');
  assert.equal(p.channel.bandwidthHz, 5e6);
  assert.equal(p.channel.noiseDensityWPerHz, 2e-19);
  assert.deepEqual(p.budgets, { latencyS: 0.1, energyJ: 0.3, memoryBytes: 256e6 });
  assert.deepEqual(p.ratios, { kind: 'continuous', maxRatio: 0.7 });
});

test('the Laplace closed form matches MODEL.md and magnitude pruning of sampled weights', () => {
  // MODEL.md: 2 b^2 [...] = 0.0666 at 0.5 and 0.243 at 0.7 for b = 1.
  assert.ok(Math.abs(2 * laplaceDistortion(0.5) - 0.0666) < 1e-4);
  assert.ok(Math.abs(2 * laplaceDistortion(0.7) - 0.243) < 1e-3);
  const w = Array.from(new Rng(11).laplaceArray(200_000, 1)).sort((a, b) => Math.abs(a) - Math.abs(b));
  const energy = w.reduce((s, x) => s + x * x, 0);
  for (const rho of [0.2, 0.5, 0.8]) {
    const k = Math.floor(rho * w.length);
    let removed = 0;
    for (let i = 0; i < k; i++) removed += w[i]! * w[i]!;
    const measured = removed / energy;
    assert.ok(Math.abs(measured - laplaceDistortion(rho)) < 0.02 * laplaceDistortion(rho), `rho ${rho}: sampled ${measured}, closed form ${laplaceDistortion(rho)}`);
  }
});

test('one point shrinks to first order; several are interpolated linearly', () => {
  assert.equal(interpolate([0], [100], 0.5, 0.8), 60);
  assert.equal(interpolate([0, 0.5], [100, 40], 0.25, 1), 70);
  assert.equal(interpolate([0, 0.5, 0.8], [100, 40, 10], 0.65, 1), 25);
  const q = cutAt({ id: 'c', crossingBytes: 10, prunableShare: 0.5, points: [{ ratio: 0, headFlops: 1000, tailFlops: 500, headParamBytes: 40, headPeakActivationBytes: 8 }] }, 0.4);
  assert.deepEqual(q, { headFlops: 800, tailFlops: 400, headParamBytes: 32, headPeakActivationBytes: 6.4, crossingBytes: 10 });
});

test('measured latencies replace FLOPs x cycles per FLOP, scaled as 1 / f from freqMax', () => {
  const p = smallProblem();
  const measured = applyMeasuredLatency(p, {
    device: { freqHz: 1e9, points: [{ cut: 'mid', ratio: 0, headS: 0.08, tailS: 0 }] },
    server: { freqHz: 3e9, points: [{ cut: 'mid', ratio: 0, headS: 0, tailS: 0.03 }] },
  });
  // 80 ms measured at 1 GHz is 40 ms at freqMax 2 GHz; at 0.5 GHz it is 160 ms.
  const b = costBreakdown(measured, { cutIndex: 1, ratio: 0, powerW: 0.5, freqHz: 0.5e9 });
  assert.ok(Math.abs(b.latency.deviceS - 0.16) < 1e-12);
  assert.ok(Math.abs(b.latency.serverS - 0.03) < 1e-12);
  const unmeasured = costBreakdown(measured, { cutIndex: 2, ratio: 0, powerW: 0, freqHz: 0.5e9 });
  assert.ok(Math.abs(unmeasured.latency.deviceS - (0.1 * 2e9) / 0.5e9) < 1e-12);
});

test('BAD CALL - a broken problem lists every problem in one ERR_PROBLEM_INVALID', () => {
  const json = JSON.parse(readFileSync(EXAMPLE, 'utf8'));
  json.device = 'rpi9';
  json.ratios = { max: 0.5, levels: [0.1] };
  json.cuts[0].points[0].headFlops = 5;
  json.cuts[2].crossingBytes = -1;
  json.cuts[4].id = 'block2';
  json.distortion = { model: 'gauss', gamma: 1 };
  json.budget = json.budgets;
  rejects(() => parseProblem(json), 'ERR_PROBLEM_INVALID',
    'device: unknown built-in device profile "rpi9"',
    'ratios: expected exactly one of "max"',
    'cuts[0].points: expected headFlops 0',
    'cuts[2].crossingBytes: expected a size in bytes >= 0',
    'cuts[4].id: expected unique cut ids, got "block2" twice',
    'distortion.model: expected "laplace" or "table", got "gauss"',
    'budget: unknown field',
  );
});

test('BAD CALL - points that add work when pruned, or a distortion table that falls, are rejected', () => {
  const json = JSON.parse(readFileSync(EXAMPLE, 'utf8'));
  json.cuts[3].points.push({ ratio: 0.5, headFlops: 1e12, tailFlops: 0, headParamBytes: 0, headPeakActivationBytes: 0 });
  json.cuts[4].measuredHead = [{ ratio: 0, latency: '10 ms' }, { ratio: 0.5, latency: '12 ms' }];
  json.distortion = { model: 'table', gamma: 1, points: [{ ratio: 0, distortion: 0 }, { ratio: 0.5, distortion: 0.2 }, { ratio: 0.7, distortion: 0.1 }] };
  rejects(() => parseProblem(json), 'ERR_PROBLEM_INVALID', 'cuts[3].points[1].headFlops: expected no more than', 'cuts[4].measuredHead[1].latency: expected no more than at the smaller ratio (0.01 s)', 'distortion.points[2].distortion: expected distortion not to fall');
});

test('BAD CALL - a problem that is not an object, or a missing file', () => {
  rejects(() => parseProblem([1, 2]), 'ERR_PROBLEM_INVALID', 'expected a JSON object');
  rejects(() => loadProblem('/nonexistent/problem.json'), 'ERR_FILE_NOT_FOUND', '/nonexistent/problem.json');
});

test('docs/examples/problem.levels.json: levels, a distortion table, cpufreq steps and a measured head', () => {
  const p = loadProblem(new URL('../../../docs/examples/problem.levels.json', import.meta.url).pathname);
  assert.deepEqual(p.ratios, { kind: 'discrete', levels: [0, 0.25, 0.5, 0.75] });
  assert.equal(p.device.freqStepsHz?.length, 5);
  const layer1 = p.cuts.findIndex((c) => c.id === 'layer1');
  // The measured 131 ms at 1.43 GHz replaces 0.125 cycles/FLOP x 1.16 GFLOP (101 ms there).
  const b = costBreakdown(p, { cutIndex: layer1, ratio: 0, powerW: 0.1, freqHz: 1.43e9 });
  assert.ok(Math.abs(b.latency.deviceS - 0.131) < 1e-12);
  const half = costBreakdown(p, { cutIndex: layer1, ratio: 0.5, powerW: 0.1, freqHz: 0.7104e9 });
  assert.ok(Math.abs(half.latency.deviceS - (0.041 * 1.43) / 0.7104) < 1e-12);
  assert.ok(Math.abs(half.distortion - 0.061) < 1e-12);
});
