import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../../planner/util/rng.ts';
import { CostModel, costBreakdown } from '../../../planner/optimize/cost.ts';
import {
  type GridResolution, type PlanResult, fixedSplit, gridSearch, onDevice, onServer, optimize, optimizeOrThrow, solveInner, splitOnly,
} from '../../../planner/optimize/optimizer.ts';
import { type PlanningProblem, loadProblem, maxRatio } from '../../../planner/optimize/problem.ts';
import { randomProblem } from '../../../planner/optimize/synthetic.ts';
import { rejects, smallProblem } from './helpers.ts';

const EXAMPLE = loadProblem(new URL('../../../docs/problem.example.json', import.meta.url).pathname);
const COARSE: GridResolution = { ratioSteps: 21, powerSteps: 21, freqSteps: 21 };
const PROBLEMS = Array.from({ length: 200 }, (_, i) => randomProblem(new Rng(1000 + i)));

function assertMeetsBudgets(problem: PlanningProblem, r: PlanResult, label: string): void {
  if (!r.feasible) return;
  const b = costBreakdown(problem, r.decision);
  assert.deepEqual(b.violated, [], `${label}: ${r.scheme} breaks ${b.violated.join(', ')}`);
  const { device, channel } = problem;
  assert.ok(r.decision.powerW >= 0 && r.decision.powerW <= channel.powerMaxW * (1 + 1e-12), `${label}: power ${r.decision.powerW} outside [0, p_max]`);
  assert.ok(r.decision.freqHz >= device.freqMinHz * (1 - 1e-12) && r.decision.freqHz <= device.freqMaxHz * (1 + 1e-12), `${label}: frequency ${r.decision.freqHz} outside [f_min, f_max]`);
  if (device.freqStepsHz) assert.ok(device.freqStepsHz.includes(r.decision.freqHz), `${label}: ${r.decision.freqHz} Hz is not a listed step`);
  assert.ok(r.decision.ratio >= 0 && r.decision.ratio <= maxRatio(problem) + 1e-12, `${label}: ratio ${r.decision.ratio} outside [0, rho_max]`);
  if (problem.ratios.kind === 'discrete') assert.ok(problem.ratios.levels.includes(r.decision.ratio), `${label}: ratio ${r.decision.ratio} is not a level`);
}

test('on 200 random problems the optimizer matches exhaustive grid search within the grid resolution and never breaks a budget', () => {
  let bothFeasible = 0;
  let pruned = 0;
  let infeasible = 0;
  let farBehind = 0;
  let gridMissed = 0;
  for (const [i, p] of PROBLEMS.entries()) {
    const label = `problem ${i} (seed ${1000 + i})`;
    const opt = optimize(p);
    const grid = gridSearch(p, COARSE);
    assertMeetsBudgets(p, opt, label);
    assertMeetsBudgets(p, grid, label);
    // Every grid point is a candidate of the optimizer: whatever the grid finds, the optimizer finds at least as good.
    if (grid.feasible) assert.ok(opt.feasible, `${label}: grid feasible, optimizer not`);
    if (!opt.feasible) {
      infeasible++;
      continue;
    }
    if (!grid.feasible) {
      gridMissed++;
      continue;
    }
    bothFeasible++;
    if (opt.decision.ratio > 0) pruned++;
    assert.ok(opt.distortion <= grid.distortion + 1e-9, `${label}: optimizer ${opt.distortion} > grid ${grid.distortion}`);
    // And the grid is at most one ratio step behind, up to its power and frequency resolution.
    // Just above the optimal ratio the feasible (p, f) region is a sliver that a coarse grid can
    // miss: where the grid is further behind, a grid three times finer in p and f must come within
    // two steps (or also miss the sliver, which must stay rare).
    if (p.ratios.kind === 'continuous') {
      const step = p.ratios.maxRatio / (COARSE.ratioSteps - 1);
      if (grid.decision.ratio - opt.decision.ratio > step + 1e-9) {
        const finer = gridSearch(p, { ratioSteps: COARSE.ratioSteps, powerSteps: 3 * COARSE.powerSteps, freqSteps: 3 * COARSE.freqSteps });
        assert.ok(finer.feasible, `${label}: the finer grid lost a point the coarse one had`);
        assert.ok(finer.decision.ratio - opt.decision.ratio <= 2 * step + 1e-9, `${label}: optimizer ratio ${opt.decision.ratio}, grid ${grid.decision.ratio}, finer grid ${finer.decision.ratio}, step ${step}`);
        farBehind++;
      }
    } else {
      assert.ok(grid.decision.ratio >= opt.decision.ratio, `${label}: grid found level ${grid.decision.ratio} below the optimizer's ${opt.decision.ratio}`);
    }
  }
  assert.ok(farBehind <= 20, `the coarse grid was more than a step behind on ${farBehind} problems`);
  assert.ok(gridMissed <= 4, `the grid found nothing where the optimizer found a plan on ${gridMissed} problems`);
  // The generator must exercise every regime, or the comparison proves little.
  assert.ok(bothFeasible >= 80, `only ${bothFeasible} problems feasible for both`);
  assert.ok(pruned >= 30, `only ${pruned} problems needed pruning`);
  assert.ok(infeasible >= 20, `only ${infeasible} infeasible problems`);
});

test('the joint design is never worse than any baseline, and skipping cuts gives the same answer', () => {
  for (const [i, p] of PROBLEMS.slice(0, 100).entries()) {
    const joint = optimize(p);
    const fast = optimize(p, { perCut: false });
    assert.equal(fast.feasible, joint.feasible);
    if (fast.feasible && joint.feasible) assert.ok(Math.abs(fast.distortion - joint.distortion) <= 1e-6 * Math.max(1, joint.distortion), `problem ${i}: ${fast.distortion} vs ${joint.distortion}`);
    const mid = Math.floor(p.cuts.length / 2);
    for (const base of [onDevice(p), onServer(p), splitOnly(p), fixedSplit(p, mid)]) {
      assertMeetsBudgets(p, base, `problem ${i}`);
      if (!base.feasible) continue;
      assert.ok(joint.feasible, `problem ${i}: ${base.scheme} feasible, joint not`);
      assert.ok(joint.distortion <= base.distortion + 1e-9, `problem ${i}: joint ${joint.distortion} > ${base.scheme} ${base.distortion}`);
    }
    if (joint.feasible) {
      const best = joint.perCut.filter((c) => c.feasible).map((c) => c.distortion!);
      assert.equal(Math.min(...best), joint.distortion);
    }
  }
});

test('distortion never rises as the latency or the energy budget loosens', () => {
  for (const [i, p] of PROBLEMS.slice(0, 40).entries()) {
    for (const which of ['latencyS', 'energyJ'] as const) {
      let previous = Infinity;
      for (const factor of [0.5, 0.8, 1, 1.25, 1.6, 2.5, 5]) {
        const r = optimize({ ...p, budgets: { ...p.budgets, [which]: p.budgets[which] * factor } }, { perCut: false });
        const d = r.feasible ? r.distortion : Infinity;
        assert.ok(d <= previous + 1e-9, `problem ${i}: ${which} x${factor} gives ${d} after ${previous}`);
        previous = d;
      }
    }
  }
});

test('the inner problem finds the least energy a fine scan of the frequency finds, and its f and p deliver it', () => {
  let compared = 0;
  for (const [i, p] of PROBLEMS.slice(0, 60).entries()) {
    const model = new CostModel({ ...p, device: { ...p.device, freqStepsHz: undefined } });
    for (const s of [1, Math.floor(p.cuts.length / 2), p.cuts.length - 2]) {
      const q = model.at(s, maxRatio(p));
      const inner = solveInner(model, q);
      const { device, channel } = model.problem;
      const T = p.budgets.latencyS - q.serverS - q.roundTripS;
      const rate = (powerW: number): number => channel.bandwidthHz * Math.log2(1 + (powerW * model.gain) / (channel.noiseDensityWPerHz * channel.bandwidthHz));
      if (inner.feasible) {
        // The reported f and p meet the deadline and cost exactly the reported energy.
        const transmitS = q.bits / rate(inner.powerW);
        assert.ok(inner.powerW <= channel.powerMaxW && inner.freqHz >= device.freqMinHz && inner.freqHz <= device.freqMaxHz, `problem ${i}: f or p out of range`);
        assert.ok(q.cycles / inner.freqHz + transmitS <= T * (1 + 1e-9), `problem ${i}: the inner solution misses the deadline`);
        const energyJ = device.kappa * q.cycles * inner.freqHz ** 2 + inner.powerW * transmitS;
        assert.ok(Math.abs(energyJ - inner.energyJ) <= 1e-9 * energyJ, `problem ${i}: reported ${inner.energyJ} J, the f and p cost ${energyJ} J`);
      }
      // A fine scan over f, each with the least power that sends the bytes in the time left.
      let scan = Infinity;
      for (let k = 0; k <= 4000; k++) {
        const f = device.freqMinHz + ((device.freqMaxHz - device.freqMinHz) * k) / 4000;
        const t2 = T - q.cycles / f;
        if (!(t2 > 0)) continue;
        const power = ((channel.noiseDensityWPerHz * channel.bandwidthHz) / model.gain) * Math.expm1((q.bits / (channel.bandwidthHz * t2)) * Math.LN2);
        if (power > channel.powerMaxW) continue;
        scan = Math.min(scan, device.kappa * q.cycles * f * f + power * t2);
      }
      if (!Number.isFinite(scan)) continue;
      compared++;
      assert.ok(inner.feasible, `problem ${i}: the scan found energy ${scan}, the inner solver nothing`);
      assert.ok(inner.energyJ <= scan * (1 + 1e-9), `problem ${i}: inner ${inner.energyJ} > scan ${scan}`);
    }
  }
  assert.ok(compared >= 20, `only ${compared} feasible inner problems compared`);
});

test('infeasible budgets name the budget that cannot be met, with the least latency and energy', () => {
  const tooFast = optimize({ ...EXAMPLE, budgets: { ...EXAMPLE.budgets, latencyS: 0.001 } });
  assert.ok(!tooFast.feasible);
  assert.deepEqual(tooFast.infeasibility.violated, ['latency']);
  assert.ok(tooFast.infeasibility.minLatencyS! > 0.001);
  assert.equal(tooFast.infeasibility.minEnergyUnderLatencyJ, null);
  assert.match(tooFast.infeasibility.message, /no cut meets the latency budget 1 ms: the least latency, at ratio 0\.7, f_max and p_max, is /);

  const tooFrugal = optimize({ ...EXAMPLE, budgets: { ...EXAMPLE.budgets, energyJ: 1e-6 } });
  assert.ok(!tooFrugal.feasible);
  assert.deepEqual(tooFrugal.infeasibility.violated, ['energy']);
  assert.match(tooFrugal.infeasibility.message, /no cut meets the energy budget 1 µJ even without a deadline/);

  // Each budget alone can be met, but not both: the energy the latency budget forces is too much.
  const both = optimize({ ...EXAMPLE, budgets: { ...EXAMPLE.budgets, latencyS: 0.09, energyJ: 0.008 } });
  assert.ok(!both.feasible);
  assert.deepEqual(both.infeasibility.violated, ['energy', 'latency']);
  assert.ok(both.infeasibility.minEnergyUnderLatencyJ! > 0.008);
  assert.match(both.infeasibility.message, /no cut meets the energy budget 8 mJ within the latency budget 90 ms: the least energy within 90 ms is /);

  // Only the all-on-server cut fits in 1 kB, and it is too slow.
  const memory = optimize({ ...EXAMPLE, budgets: { ...EXAMPLE.budgets, memoryBytes: 1000 } });
  assert.ok(!memory.feasible);
  assert.deepEqual(memory.infeasibility.violated, ['latency', 'memory']);
  assert.match(memory.infeasibility.message, /no cut that fits the memory budget 1 kB meets the latency budget 100 ms/);

  // Only the all-on-server cut fits, and sending the whole input costs more than 10 mJ however
  // slowly it goes (N0 ln2 8S / g = 21 mJ); the patch embedding's cut would need about 8 mJ.
  const memoryEnergy = optimize({ ...EXAMPLE, budgets: { latencyS: 10, energyJ: 0.01, memoryBytes: 1000 } });
  assert.ok(!memoryEnergy.feasible);
  assert.deepEqual(memoryEnergy.infeasibility.violated, ['energy', 'memory']);
  assert.match(memoryEnergy.infeasibility.message, /no cut that fits the memory budget 1 kB meets the energy budget 10 mJ even without a deadline: at least 21\.\d mJ \(cut 'input'\)/);

  // All three: within 400 ms the input costs about 58 mJ to send, more than 40 mJ; cuts further
  // in would make it but do not fit in 1 kB.
  const all = optimize({ ...EXAMPLE, budgets: { latencyS: 0.4, energyJ: 0.04, memoryBytes: 1000 } });
  assert.ok(!all.feasible);
  assert.deepEqual(all.infeasibility.violated, ['energy', 'latency', 'memory']);
  assert.ok(all.infeasibility.minEnergyUnderLatencyJ! > 0.04);
  assert.match(all.infeasibility.message, /no cut that fits the memory budget 1 kB meets the energy budget 40 mJ within the latency budget 400 ms: the least energy within 400 ms is 5\d\.?\d* mJ at cut 'input'/);
});

test('a fixed split that cannot make it names its cut', () => {
  const r = fixedSplit(EXAMPLE, 4);
  assert.ok(!r.feasible);
  assert.deepEqual(r.infeasibility.violated, ['latency']);
  assert.match(r.infeasibility.message, /^cut 'block3' does not meet the latency budget 100 ms: the least latency, at ratio 0\.7, f_max and p_max, is 11\d ms\./);
});

test('on random infeasible problems, loosening the budgets named makes them feasible, and a budget named alone fails alone', () => {
  const seen = new Map<string, number>();
  for (let i = 0; i < 300; i++) {
    const p = randomProblem(new Rng(5000 + i), { memoryBudgetChance: 0.5 });
    const r = optimize(p, { perCut: false });
    if (r.feasible) continue;
    const named = r.infeasibility.violated;
    seen.set(named.join('+'), (seen.get(named.join('+')) ?? 0) + 1);
    const loosen = (budgets: readonly string[]): PlanningProblem => ({
      ...p,
      budgets: {
        latencyS: p.budgets.latencyS * (budgets.includes('latency') ? 1e6 : 1),
        energyJ: p.budgets.energyJ * (budgets.includes('energy') ? 1e6 : 1),
        ...(budgets.includes('memory') || p.budgets.memoryBytes === undefined ? {} : { memoryBytes: p.budgets.memoryBytes }),
      },
    });
    assert.ok(optimize(loosen(named), { perCut: false }).feasible, `problem ${i}: still infeasible with ${named.join(', ')} loosened`);
    if (named.length === 1) {
      const others = ['latency', 'energy', 'memory'].filter((b) => b !== named[0]);
      assert.ok(!optimize(loosen(others), { perCut: false }).feasible, `problem ${i}: ${named[0]} is met once ${others.join(' and ')} are loosened`);
    }
  }
  assert.ok((seen.get('latency') ?? 0) > 0 && (seen.get('energy+latency') ?? 0) > 0 && (seen.get('latency+memory') ?? 0) > 0, `too few kinds of infeasibility: ${[...seen].join(', ')}`);
});

test('BAD CALL - optimizeOrThrow raises ERR_INFEASIBLE with the diagnosis', () => {
  rejects(() => optimizeOrThrow({ ...EXAMPLE, budgets: { ...EXAMPLE.budgets, latencyS: 0.001 } }), 'ERR_INFEASIBLE', 'no cut meets the latency budget 1 ms', 'Loosen the latency budget');
});

test('BAD CALL - a fixed split outside the cuts, a tolerance of zero and a one-point grid are usage errors', () => {
  rejects(() => fixedSplit(EXAMPLE, 15), 'ERR_USAGE', 'split: expected a cut index in [0, 14], got 15');
  rejects(() => optimize(EXAMPLE, { ratioTolerance: 0 }), 'ERR_USAGE', 'ratioTolerance: expected a number in (0, 1) like 1e-9, got 0');
  rejects(() => gridSearch(EXAMPLE, { ratioSteps: 1, powerSteps: 2.5, freqSteps: 10 }), 'ERR_USAGE', 'grid resolution: expected integers >= 2 points per axis, got ratioSteps 1, powerSteps 2.5');
});

test('the example needs pruning; the optimizer picks its split, ratio, power and frequency', () => {
  const r = optimizeOrThrow(EXAMPLE);
  assert.equal(r.breakdown.cutId, 'patch_embed');
  assert.ok(r.decision.ratio > 0.4 && r.decision.ratio < 0.45, `ratio ${r.decision.ratio}`);
  assert.ok(Math.abs(r.breakdown.latency.totalS - 0.1) < 1e-9, 'the latency budget binds');
  assert.equal(r.perCut.length, 15);
  assert.ok(!onServer(EXAMPLE).feasible);
  assert.ok(!splitOnly(EXAMPLE).feasible);
  const device = onDevice(EXAMPLE);
  assert.ok(device.feasible && device.decision.ratio > 0.6 && device.distortion > 3 * r.distortion, 'fully on-device needs far more pruning');
  assert.deepEqual(r.perCut.filter((c) => c.feasible).map((c) => c.cutId), ['patch_embed', 'logits']);
});

test('discrete levels: the smallest real level at or above the continuous optimum', () => {
  const levels = [0, 0.2, 0.45, 0.6, 0.7];
  const p: PlanningProblem = { ...EXAMPLE, ratios: { kind: 'discrete', levels } };
  const r = optimizeOrThrow(p);
  assert.equal(r.decision.ratio, 0.45);
  assert.ok(r.continuousRatio! > 0.2 && r.continuousRatio! <= 0.45);
  assert.ok(!optimize({ ...p, ratios: { kind: 'discrete', levels: [0, 0.2] } }).feasible, 'the level below is infeasible');
});

test('listed CPU frequencies: the plan uses one of them', () => {
  const rpi4Steps = Array.from({ length: 10 }, (_, i) => 600e6 + i * 100e6);
  const p: PlanningProblem = { ...EXAMPLE, device: { ...EXAMPLE.device, freqStepsHz: rpi4Steps } };
  const r = optimizeOrThrow(p);
  assert.ok(rpi4Steps.includes(r.decision.freqHz));
  assertMeetsBudgets(p, r, 'steps');
});

test('a small problem: the answer does not depend on the cut order or tolerance', () => {
  const p = smallProblem();
  const a = optimizeOrThrow(p);
  const b = optimizeOrThrow(p, { ratioTolerance: 1e-6, perCut: false });
  assert.equal(a.decision.cutIndex, b.decision.cutIndex);
  assert.ok(Math.abs(a.decision.ratio - b.decision.ratio) <= 2e-6);
});
