// Tests of the accuracy floor (`minTaskScore`, `edgesplit plan --min-accuracy`): levels below it are dropped
// and reported, the plan keeps to the rest or fails with ERR_INFEASIBLE, and bad floors get ERR_USAGE.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { plan, type PlanConfig } from '../../../planner/plan/index.ts';
import { run } from '../../../cli/commands/plan.ts';
import { validatePlan } from '../../../shared/plan.ts';
import { EdgesplitError } from '../../../shared/errors.ts';

/**
 * A device slow per FLOP and costly per cycle, and a 10 kHz uplink: sending the MNIST input takes
 * 139 ms, so under 130 ms the device must compute, and its energy is what pruning buys down. At
 * 130 ms the level at 0.5 needs 760 mJ and the level at 0.75 192 mJ.
 */
const SLOW_DEVICE = { kind: 'device', name: 'slow', description: 'test device', freqMin: '600 MHz', freqMax: '1.5 GHz', kappa: 1e-26, cyclesPerFlop: 1000, memory: '1 GiB' };
const SLOW_CHANNEL = { kind: 'channel', name: 'slowlink', description: 'test uplink', bandwidth: '10 kHz', noiseDensity: '-164 dBm/Hz', pathLoss: '-90 dB', fading: 'none', powerMax: '0.1 W', roundTrip: '2 ms' };

/** Task scores of the mnist-mlp levels on its first 64 held-out digits (seed 2), unpruned 93.75%. */
const SCORES_64 = [{ ratio: 0, taskScore: 0.9375 }, { ratio: 0.25, taskScore: 0.9375 }, { ratio: 0.5, taskScore: 0.734375 }, { ratio: 0.75, taskScore: 0.4375 }];

async function setup(): Promise<{ dir: string; device: string; channel: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'edgesplit-floor-'));
  const device = join(dir, 'slow.json');
  const channel = join(dir, 'slowlink.json');
  await writeFile(device, JSON.stringify(SLOW_DEVICE));
  await writeFile(channel, JSON.stringify(SLOW_CHANNEL));
  return { dir, device, channel };
}

function capture(): { io: { out: (t: string) => void; err: (t: string) => void }; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return { io: { out: (t) => void (out += t), err: (t) => void (err += t) }, out: () => out, err: () => err };
}

test('a floor that excludes the level at 0.75 turns the tight-energy plan that picked it into ERR_INFEASIBLE naming the energy budget and the dropped level', async () => {
  const { dir, device, channel } = await setup();
  const base: PlanConfig = { model: 'mnist-mlp', device, channel, budgets: { latency: '130 ms', energy: '500 mJ' }, calibrationInputs: 64, out: join(dir, 'a') };
  const unfloored = await plan(base);
  assert.equal(unfloored.decision.ratio, 0.75);
  assert.equal(unfloored.plan.distortion.accuracy?.plan, 0.4375);
  assert.equal(unfloored.plan.pruning.minAccuracy, undefined);
  assert.equal(unfloored.problem.timingsMs.score, 0);

  // NOTE: the bound grows with the ratio, so the optimizer picks 0.75 only when no lower level fits:
  // dropping 0.75 (and keeping the lower levels) must leave no feasible plan.
  await assert.rejects(plan({ ...base, minTaskScore: 0.7, out: join(dir, 'b') }), (e: unknown) =>
    e instanceof EdgesplitError && e.code === 'ERR_INFEASIBLE' && /energy budget 500 mJ/.test(e.message) && /\(ratio 0\.5\)/.test(e.message)
    && /ratio 0\.75 \(43\.8%\) were not planned: their top1-accuracy on 64 held-out labelled inputs is below --min-accuracy 0\.7/.test(e.message)
    && (e.details?.violated as string[]).includes('energy') && JSON.stringify(e.details?.dropped) === JSON.stringify([{ ratio: 0.75, taskScore: 0.4375 }]));
});

test('with room in the energy budget, the floor plans over the kept levels and reports the dropped ones in plan.json', async () => {
  const { dir, device, channel } = await setup();
  const r = await plan({ model: 'mnist-mlp', device, channel, budgets: { latency: '130 ms', energy: '2 J' }, calibrationInputs: 64, minTaskScore: 0.7, out: join(dir, 'p') });
  assert.equal(r.decision.ratio, 0.5);
  assert.deepEqual(r.plan.pruning.levels, [0, 0.25, 0.5]);
  assert.deepEqual(r.plan.pruning.minAccuracy, { minTaskScore: 0.7, metric: 'top1-accuracy', inputs: 64, scores: SCORES_64 });
  assert.deepEqual(r.plan.pruning.dropped, [{ ratio: 0.75, taskScore: 0.4375, reason: 'below --min-accuracy 0.7' }]);
  // The floor was checked on the inputs plan.json's accuracy is measured on: the emitted halves score the same.
  assert.equal(r.plan.distortion.accuracy?.plan, 0.734375);
  assert.ok(r.problem.timingsMs.score > 0);
  const json: unknown = JSON.parse(await readFile(join(r.dir, 'plan.json'), 'utf8'));
  validatePlan(json);
  const written = json as typeof r.plan;
  assert.deepEqual(written.pruning.dropped, r.plan.pruning.dropped);
  assert.deepEqual(written.pruning.minAccuracy, r.plan.pruning.minAccuracy);

  // A floor above 0.5's score too leaves only 0 and 0.25, which no cut fits within 2 J.
  await assert.rejects(plan({ model: 'mnist-mlp', device, channel, budgets: { latency: '130 ms', energy: '2 J' }, calibrationInputs: 64, minTaskScore: 0.8, out: join(dir, 'q') }), (e: unknown) =>
    e instanceof EdgesplitError && e.code === 'ERR_INFEASIBLE' && /energy budget 2 J/.test(e.message) && /ratio 0\.5 \(73\.4%\), 0\.75 \(43\.8%\) were not planned/.test(e.message));
});

test('--refit levels are scored after their re-fit: the floor sees the model that is emitted', async () => {
  const { dir, device, channel } = await setup();
  const r = await plan({ model: 'mnist-mlp', device, channel, budgets: { latency: '130 ms', energy: '500 mJ' }, calibrationInputs: 64, refit: 64, minTaskScore: 0.7, out: join(dir, 'r') });
  const scores = r.plan.pruning.minAccuracy!.scores;
  const chosen = scores.find((s) => s.ratio === r.decision.ratio)!;
  assert.ok(chosen.taskScore >= 0.7, `level ${r.decision.ratio} scores ${chosen.taskScore}`);
  assert.equal(r.plan.distortion.accuracy?.plan, chosen.taskScore);
  assert.ok(r.plan.pruning.refit && r.plan.pruning.refit.layers > 0);
  assert.notDeepEqual(scores, SCORES_64, 'the re-fitted levels should score differently from the pruned ones');
});

test('edgesplit plan --min-accuracy: the summary lists the floor and the dropped levels; a floor outside [0, 1] exits 2', async () => {
  const { dir, device, channel } = await setup();
  const ok = capture();
  assert.equal(await run(['mnist-mlp', '--device', device, '--channel', channel, '--latency', '130ms', '--energy', '2J', '--calib', '64', '--min-accuracy', '0.7', '--out', join(dir, 'p')], ok.io), 0);
  assert.match(ok.out(), /^  pruning    ratio 0\.5 \(structured; .*levels 0, 0\.25, 0\.5\)$/m);
  assert.match(ok.out(), /^  floor      top1-accuracy >= 0\.7 on 64 held-out labelled inputs: ratio 0 93\.8%, ratio 0\.25 93\.8%, ratio 0\.5 73\.4%, ratio 0\.75 43\.8%$/m);
  assert.match(ok.out(), /^  dropped    ratio 0\.75 \(43\.8%\): below --min-accuracy 0\.7$/m);
  assert.match(ok.out(), /^timings    .*prune \d+ ms, score \d+ ms, optimise/m);
  assert.match(ok.err(), /edgesplit plan: dropping the level at ratio 0\.75: top1-accuracy 0\.4375 is below --min-accuracy 0\.7/);

  const bad = capture();
  assert.equal(await run(['mnist-mlp', '--device', device, '--channel', channel, '--latency', '130ms', '--energy', '2J', '--min-accuracy', '1.5', '--out', join(dir, 'x')], bad.io), 2);
  assert.match(bad.err(), /ERR_USAGE: --min-accuracy expects a fraction in \[0, 1\], e\.g\. 0\.9, got '1\.5'/);
});

test('BAD CALL - a floor for a model without labelled data gives ERR_USAGE naming the model and the zoo models with labels', async () => {
  const { dir } = await setup();
  await assert.rejects(plan({ model: 'mlp', device: 'rpi4', channel: 'wifi', budgets: { latency: '300 ms', energy: '2 J' }, minTaskScore: 0.9, out: join(dir, 'x') }), (e: unknown) =>
    e instanceof EdgesplitError && e.code === 'ERR_USAGE' && /--min-accuracy needs held-out labelled data .* and the model 'mlp' has none\. Zoo models with labels: mnist-mlp, mnist-cnn, ppocr-rec;/.test(e.message));
});

test('BAD CALL - a floor of 1.5 gives ERR_USAGE', async () => {
  const { dir } = await setup();
  await assert.rejects(plan({ model: 'mnist-mlp', device: 'rpi4', channel: 'wifi', budgets: { latency: '300 ms', energy: '2 J' }, minTaskScore: 1.5, out: join(dir, 'x') }), (e: unknown) =>
    e instanceof EdgesplitError && e.code === 'ERR_USAGE' && /'minTaskScore' \(--min-accuracy\) must be a fraction in \[0, 1\], e\.g\. 0\.9 for 90%, got 1\.5/.test(e.message));
});

test('BAD CALL - a floor the unpruned model cannot meet gives ERR_USAGE with its score', async () => {
  const { dir } = await setup();
  await assert.rejects(plan({ model: 'mnist-mlp', device: 'rpi4', channel: 'wifi', budgets: { latency: '300 ms', energy: '2 J' }, calibrationInputs: 64, minTaskScore: 0.95, out: join(dir, 'x') }), (e: unknown) =>
    e instanceof EdgesplitError && e.code === 'ERR_USAGE' && /the unpruned model 'mnist-mlp' itself scores 0\.9375 \(top1-accuracy\) on 64 held-out labelled inputs, below the floor 0\.95/.test(e.message) && e.details?.taskScore === 0.9375);
});
