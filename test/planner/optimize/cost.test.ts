import { test } from 'node:test';
import assert from 'node:assert/strict';
import { costBreakdown, drawFadingGain, powerForRateW, rateBitPerS } from '../../../planner/optimize/cost.ts';
import { Rng } from '../../../planner/util/rng.ts';
import { smallProblem } from './helpers.ts';

function close(actual: number, expected: number, rel = 1e-12): void {
  assert.ok(Math.abs(actual - expected) <= rel * Math.abs(expected) + 1e-300, `expected ${expected}, got ${actual}`);
}

test('a split decision is priced term by term with the formulas of MODEL.md', () => {
  const p = smallProblem();
  const b = costBreakdown(p, { cutIndex: 1, ratio: 0.5, powerW: 0.1, freqHz: 1e9 });
  const share = 0.8;
  const headFlops = 5e8 * (1 - 0.5 * share);
  const tailFlops = 1.5e9 * (1 - 0.5 * share);
  const cycles = 0.1 * headFlops;
  const rate = 10e6 * Math.log2(1 + (0.1 * 1e-10) / (1e-20 * 10e6));
  close(b.headFlops, headFlops);
  close(b.latency.deviceS, cycles / 1e9);
  close(b.energy.deviceJ, 1e-27 * cycles * 1e18);
  close(b.rateBitPerS, rate);
  close(b.latency.transmitS, (8 * 20_000) / rate);
  close(b.energy.transmitJ, (0.1 * 8 * 20_000) / rate);
  close(b.latency.serverS, tailFlops / 1e11 + 0.001);
  assert.equal(b.latency.roundTripS, 0.004);
  close(b.latency.totalS, cycles / 1e9 + (8 * 20_000) / rate + tailFlops / 1e11 + 0.001 + 0.004);
  close(b.memory.totalBytes, (1e6 + 4e5) * (1 - 0.5 * share));
  const u = -Math.log(0.5);
  close(b.distortion, 2 * (0.5 - 0.5 * (u + (u * u) / 2)));
  assert.deepEqual(b.violated, []);
});

test('all on the device sends nothing: no transmission, server or round trip', () => {
  const b = costBreakdown(smallProblem(), { cutIndex: 2, ratio: 0, powerW: 0, freqHz: 2e9 });
  assert.equal(b.latency.transmitS, 0);
  assert.equal(b.latency.serverS, 0);
  assert.equal(b.latency.roundTripS, 0);
  assert.equal(b.energy.transmitJ, 0);
  close(b.latency.totalS, (0.1 * 2e9) / 2e9);
  close(b.energy.deviceJ, 1e-27 * 0.1 * 2e9 * 4e18);
  assert.deepEqual(b.violated, ['energy']);
});

test('all on the server sends the input and spends no device energy', () => {
  const b = costBreakdown(smallProblem(), { cutIndex: 0, ratio: 0, powerW: 0.5, freqHz: 1e9 });
  assert.equal(b.energy.deviceJ, 0);
  assert.equal(b.latency.deviceS, 0);
  assert.equal(b.crossingBytes, 200_000);
  close(b.latency.serverS, 2e9 / 1e11 + 0.001);
});

test('zero power with bytes to send takes forever and breaks the latency budget', () => {
  const b = costBreakdown(smallProblem(), { cutIndex: 1, ratio: 0, powerW: 0, freqHz: 1e9 });
  assert.equal(b.latency.transmitS, Infinity);
  assert.ok(b.violated.includes('latency'));
});

test('powerForRateW inverts rateBitPerS', () => {
  const p = powerForRateW(30e6, 10e6, 1e-10, 1e-20);
  close(rateBitPerS(p, 10e6, 1e-10, 1e-20), 30e6, 1e-12);
});

test('a memory budget below the device half breaks the memory budget', () => {
  const b = costBreakdown(smallProblem({ budgets: { latencyS: 1, energyJ: 1, memoryBytes: 1e6 } }), { cutIndex: 1, ratio: 0, powerW: 0.5, freqHz: 2e9 });
  assert.deepEqual(b.violated, ['memory']);
  assert.equal(b.memory.limitBytes, 1e6);
});

test('fading draws: Rayleigh power gains average 1, no fading is always 1', () => {
  const channel = smallProblem().channel;
  const rng = new Rng(5);
  const draws = Array.from({ length: 20_000 }, () => drawFadingGain({ ...channel, fading: 'rayleigh' }, rng));
  const mean = draws.reduce((a, b) => a + b, 0) / draws.length;
  assert.ok(Math.abs(mean - 1) < 0.03, `mean ${mean}`);
  assert.ok(draws.filter((g) => g < 0.1).length / draws.length > 0.08, 'deep fades happen (P(|h|^2 < 0.1) = 9.5%)');
  assert.equal(drawFadingGain({ ...channel, fading: 'none' }, rng), 1);
});
