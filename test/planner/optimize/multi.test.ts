import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../../planner/util/rng.ts';
import { type Candidate, type MultiDeviceProblem, deviceCandidates, paretoCandidates, planMultiEqualShare, planMultiIlp, planMultiIndependent } from '../../../planner/optimize/multi.ts';
import type { PlanningProblem } from '../../../planner/optimize/problem.ts';
import { randomProblem } from '../../../planner/optimize/synthetic.ts';
import { rejects } from './helpers.ts';

function devices(seed: number, n: number): PlanningProblem[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => ({ ...randomProblem(rng, { blocks: [2, 4], budgetScale: [0.8, 3], memoryBudgetChance: 0 }), ratios: { kind: 'discrete' as const, levels: [0, 0.3, 0.6] } }));
}

/** The least total distortion over every combination of candidates that fits, by enumeration. */
function bruteForce(mp: MultiDeviceProblem): number {
  const cands = mp.devices.map((p, i) => deviceCandidates(p, i, mp.bandwidthHz, mp.levels));
  let best = Infinity;
  const walk = (i: number, band: number, server: number, dist: number): void => {
    if (band > mp.bandwidthHz * (1 + 1e-9) || server > mp.serverPeriodS * (1 + 1e-9)) return;
    if (i === cands.length) {
      best = Math.min(best, dist);
      return;
    }
    for (const c of cands[i]!) walk(i + 1, band + c.bandwidthHz, server + c.serverS, dist + c.distortion);
  };
  walk(0, 0, 0, 0);
  return best;
}

test('the multi-device integer program equals brute force on small instances', () => {
  let tight = 0;
  let infeasible = 0;
  for (let seed = 1; seed <= 24; seed++) {
    const devs = devices(seed, 3);
    const alone = planMultiIndependent({ devices: devs, bandwidthHz: 20e6, serverPeriodS: 10 });
    if (!alone.feasible) continue;
    // Shared capacity below what the devices want alone, so the devices compete for it.
    const scale = [0.3, 0.5, 0.8][seed % 3]!;
    const mp: MultiDeviceProblem = { devices: devs, bandwidthHz: 20e6 * (0.2 + scale), serverPeriodS: Math.max(1e-4, alone.serverUsedS * scale) };
    const ilp = planMultiIlp(mp);
    const brute = bruteForce(mp);
    if (!Number.isFinite(brute)) {
      assert.ok(!ilp.feasible, `seed ${seed}: brute force found nothing, the program found ${ilp.totalDistortion}`);
      infeasible++;
      continue;
    }
    assert.ok(ilp.feasible, `seed ${seed}: brute force found ${brute}, the program nothing (${ilp.reason})`);
    assert.ok(Math.abs(ilp.totalDistortion - brute) <= 1e-9 * Math.max(1, brute), `seed ${seed}: program ${ilp.totalDistortion}, brute force ${brute}`);
    assert.ok(!ilp.violatesSharedCapacity, `seed ${seed}: the program overbooks the shared capacity`);
    assert.equal(ilp.assignments.length, 3);
    for (const a of ilp.assignments) assert.deepEqual(a.breakdown.violated, [], `seed ${seed}: device ${a.deviceIndex} breaks ${a.breakdown.violated.join(', ')}`);
    if (brute > alone.totalDistortion + 1e-9) tight++;
    const equal = planMultiEqualShare(mp);
    if (equal.feasible) {
      assert.ok(ilp.totalDistortion <= equal.totalDistortion + 1e-9, `seed ${seed}: program ${ilp.totalDistortion} > equal share ${equal.totalDistortion}`);
      assert.ok(!equal.violatesSharedCapacity);
    }
  }
  assert.ok(tight >= 5, `only ${tight} instances where sharing cost distortion`);
  assert.ok(infeasible <= 12, `${infeasible} instances infeasible: the comparison proves little`);
});

test('planning each device alone can overbook the shared band, and says so', () => {
  const devs = devices(5, 3);
  const alone = planMultiIndependent({ devices: devs, bandwidthHz: 20e6, serverPeriodS: 10 });
  assert.ok(alone.feasible);
  const squeezed = planMultiIndependent({ devices: devs, bandwidthHz: 20e6, serverPeriodS: alone.serverUsedS / 2 });
  assert.equal(squeezed.totalDistortion, alone.totalDistortion);
  assert.ok(squeezed.violatesSharedCapacity);
});

test('each candidate needs the least bandwidth that meets its budgets', () => {
  const [p] = devices(3, 1);
  const cands: Candidate[] = deviceCandidates(p!, 0, 20e6);
  assert.ok(cands.length > 0);
  for (const c of cands.filter((x) => x.bandwidthHz > 0).slice(0, 5)) {
    const enough = deviceCandidates(p!, 0, c.bandwidthHz * 1.001).some((x) => x.cutIndex === c.cutIndex && x.ratio === c.ratio);
    const short = deviceCandidates(p!, 0, c.bandwidthHz * 0.99).some((x) => x.cutIndex === c.cutIndex && x.ratio === c.ratio);
    assert.ok(enough && !short, `cut ${c.cutIndex} ratio ${c.ratio}: need ${c.bandwidthHz} Hz`);
  }
});

test('BAD CALL - a multi-device problem without devices or capacity', () => {
  rejects(() => planMultiIlp({ devices: [], bandwidthHz: -1, serverPeriodS: 0 }), 'ERR_PROBLEM_INVALID', 'devices: expected at least one device', 'bandwidthHz: expected a positive frequency, got -1', 'serverPeriodS: expected a positive time, got 0');
});

test('paretoCandidates drops exactly the candidates another one matches or beats in distortion, bandwidth and server time', () => {
  const c = (cutIndex: number, distortion: number, bandwidthHz: number, serverS: number): Candidate => ({ deviceIndex: 0, cutIndex, ratio: distortion, distortion, bandwidthHz, serverS });
  const kept = paretoCandidates([c(0, 0, 5e6, 0.01), c(1, 0, 6e6, 0.01), c(2, 0, 4e6, 0.02), c(3, 0.1, 1e6, 0.01), c(4, 0.1, 1e6, 0.01), c(5, 0.2, 2e6, 0.001), c(6, 0.3, 5e6, 0.02)]);
  // 1 is beaten by 0 (more band), 4 repeats 3, 6 is beaten by 3 (more of everything).
  assert.deepEqual(kept.map((k) => k.cutIndex).sort(), [0, 2, 3, 5]);
  assert.deepEqual(paretoCandidates([]), []);
});

test('the integer program over the undominated candidates keeps the optimum of all of them on a 200-cut device fleet', () => {
  const rng = new Rng(41);
  const devs = Array.from({ length: 3 }, () => ({ ...randomProblem(rng, { blocks: 200, budgetScale: [3, 6], memoryBudgetChance: 0, discreteChance: 0 }), ratios: { kind: 'continuous' as const, maxRatio: 0.6 } }));
  const levels = [0, 0.2, 0.4, 0.6];
  const all = devs.map((p, i) => deviceCandidates(p, i, 20e6, levels));
  assert.ok(all.every((cs) => cs.length > 0) && all.some((cs) => paretoCandidates(cs).length < cs.length / 4), 'the fleet has many dominated candidates');
  const alone = planMultiIndependent({ devices: devs, bandwidthHz: 20e6, serverPeriodS: 10, levels });
  const mp: MultiDeviceProblem = { devices: devs, bandwidthHz: Math.max(1e5, alone.bandwidthUsedHz * 0.5), serverPeriodS: Math.max(1e-4, alone.serverUsedS * 0.5), levels };
  const ilp = planMultiIlp(mp);
  const brute = bruteForce(mp);
  // Half the band and server the devices want alone: sharing costs distortion (0.398 here).
  assert.ok(ilp.feasible && ilp.totalDistortion > 0, `the shared capacity should bind: ${ilp.reason ?? ilp.totalDistortion}`);
  assert.ok(Math.abs(ilp.totalDistortion - brute) <= 1e-9 * Math.max(1, brute), `program ${ilp.totalDistortion}, brute force ${brute}`);
});
