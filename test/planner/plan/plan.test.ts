// Tests of `edgesplit plan` and `plan(config)`: the emitted halves run in ONNX Runtime and compose to the
// pruned model, plan.json validates and its hashes and predictions match the files, and bad inputs get their codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { decodeModel, encodeModel, floatTensor, makeModel, makeNode, makeValueInfo, saveModel } from '../../../planner/onnx/model.ts';
import { analyzeModel, findCut } from '../../../planner/onnx/analyze.ts';
import { createSession, maxAbsDiff, type Feeds } from '../../../planner/onnx/session.ts';
import { pruneStructured } from '../../../planner/prune/structured.ts';
import { loadZooModel } from '../../../planner/zoo/index.ts';
import { loadProfile } from '../../../planner/profiles/profiles.ts';
import { plan, type PlanResult } from '../../../planner/plan/index.ts';
import { loadPlanSource } from '../../../planner/plan/source.ts';
import { buildProblem } from '../../../planner/plan/problem.ts';
import { emitPlan } from '../../../planner/plan/emit.ts';
import { parseBudgets } from '../../../planner/profiles/budgets.ts';
import { run } from '../../../cli/commands/plan.ts';
import { validatePlan } from '../../../shared/plan.ts';
import { EdgesplitError } from '../../../shared/errors.ts';
import { shapeVectorModel } from '../onnx/fixtures.ts';

/** A device so slow per FLOP that the unpruned MNIST model misses 120 ms on it, and a 10 kHz uplink. */
const SLOW_DEVICE = { kind: 'device', name: 'slow', description: 'test device', freqMin: '600 MHz', freqMax: '1.5 GHz', kappa: 1e-28, cyclesPerFlop: 1000, memory: '1 GiB' };
const SLOW_CHANNEL = { kind: 'channel', name: 'slowlink', description: 'test uplink', bandwidth: '10 kHz', noiseDensity: '-164 dBm/Hz', pathLoss: '-90 dB', fading: 'none', powerMax: '0.1 W', roundTrip: '2 ms' };

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'edgesplit-plan-'));
}

async function writeJson(dir: string, name: string, json: unknown): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, JSON.stringify(json));
  return path;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function capture(): { io: { out: (t: string) => void; err: (t: string) => void }; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return { io: { out: (t) => void (out += t), err: (t) => void (err += t) }, out: () => out, err: () => err };
}

/** Run device.onnx then server.onnx from the plan directory and the pruned full model on `inputs`; return the worst relative difference. */
async function composeAgainst(dir: string, pruned: Uint8Array, inputs: Feeds[]): Promise<number> {
  const head = await createSession(await readFile(join(dir, 'device.onnx')));
  const tail = await createSession(await readFile(join(dir, 'server.onnx')));
  const full = await createSession(pruned);
  let worst = 0;
  try {
    for (const x of inputs) {
      const y = await tail.run(await head.run(Object.fromEntries(head.inputNames.map((n) => [n, x[n]!]))));
      const yp = await full.run(x);
      for (const name of full.outputNames) {
        const d = maxAbsDiff(y[name]!.data as Float32Array, yp[name]!.data as Float32Array);
        worst = Math.max(worst, d.maxDiff / Math.max(d.scale, 1e-30));
      }
    }
  } finally {
    await Promise.all([head.release(), tail.release(), full.release()]);
  }
  return worst;
}

/** The files of a plan directory against plan.json: validation and sha256. */
async function checkFiles(r: Pick<PlanResult, 'files' | 'plan'>): Promise<void> {
  const json: unknown = JSON.parse(await readFile(r.files.plan, 'utf8'));
  const manifest = validatePlan(json);
  assert.equal(manifest.device.sha256, sha256(await readFile(r.files.device)));
  assert.equal(manifest.server.sha256, sha256(await readFile(r.files.server)));
  assert.deepEqual(manifest.split.crossing, r.plan.split.crossing);
}

test('plan on mnist-mlp with a slow device prunes, and the emitted halves compose to the pruned model', async () => {
  const dir = await tempDir();
  const device = await writeJson(dir, 'slow.json', SLOW_DEVICE);
  const channel = await writeJson(dir, 'slowlink.json', SLOW_CHANNEL);
  const r = await plan({ model: 'mnist-mlp', device, channel, budgets: { latency: '120 ms', energy: '2 J' }, calibrationInputs: 16, out: join(dir, 'plan') });
  // Unpruned, the whole model takes 146 ms of compute and sending the input 139 ms: some pruning is needed.
  assert.ok(r.decision.ratio > 0, `expected a pruned plan, got ratio ${r.decision.ratio}`);
  assert.equal(r.plan.pruning.method, 'structured');
  await checkFiles(r);

  const zoo = await loadZooModel('mnist-mlp');
  const pruned = pruneStructured(zoo.model, { ratio: r.decision.ratio }).model;
  const inputs = await zoo.sampleInputs(8, 5);
  assert.ok(await composeAgainst(r.dir, encodeModel(pruned), inputs) <= 1e-5);

  // Distortion figures: measured against the unpruned model, bound = Gamma x parameter distortion.
  const d = r.plan.distortion;
  assert.ok(d.measuredOutput > 0 && d.top1Agreement > 0.3 && d.top1Agreement <= 1);
  assert.ok(Math.abs(d.bound - d.gamma * d.parameter) <= 1e-4 * d.bound);
  assert.ok(d.accuracy && d.accuracy.unpruned > 0.8 && d.accuracy.inputs === 16);
  for (const budget of ['latency', 'energy', 'memory'] as const) assert.ok(!r.breakdown.violated.includes(budget));
});

test('predicted figures are the cost model applied to the emitted sub-models\' real FLOPs and bytes', async () => {
  const dir = await tempDir();
  const r = await plan({ model: 'mnist-mlp', device: 'rpi4', channel: 'lte', budgets: { latency: '60 ms', energy: '0.5 J' }, calibrationInputs: 4, out: dir });
  const head = decodeModel(await readFile(r.files.device));
  const tail = decodeModel(await readFile(r.files.server));
  const ha = await analyzeModel(head, { inputShapes: { x: [1, 784] } });
  const crossing = r.plan.split.crossing;
  const ta = await analyzeModel(tail, { inputShapes: Object.fromEntries(crossing.map((c) => [c.name, c.dims])) });
  // The whole model on the device keeps its result there: nothing is sent at the last cut.
  const onDevice = r.decision.cutIndex === r.problem.problem.cuts.length - 1;
  assert.equal(r.plan.split.fullyOnDevice === true, onDevice);
  const crossingBytes = onDevice ? 0 : crossing.reduce((a, c) => a + 4 * c.dims.reduce((x, y) => x * y, 1), 0);
  // The system model's formulas written out here, independently of the optimizer's module.
  const dev = loadProfile('device', 'rpi4');
  const ch = loadProfile('channel', 'lte');
  const srv = loadProfile('server', 'desktop');
  const { powerW, freqHz } = r.decision;
  const deviceS = (dev.cyclesPerFlop * ha.totals.flops) / freqHz;
  const rate = ch.bandwidthHz * Math.log2(1 + (powerW * ch.pathLoss) / (ch.noiseDensityWPerHz * ch.bandwidthHz));
  const transmitS = crossingBytes > 0 ? (8 * crossingBytes) / rate : 0;
  const serverS = ta.totals.flops > 0 ? ta.totals.flops / srv.flopsPerS + srv.overheadS : 0;
  const p = r.plan.predicted;
  const close = (a: number, b: number, what: string): void => assert.ok(Math.abs(a - b) <= 1e-5 * Math.max(Math.abs(b), 1e-12), `${what}: ${a} vs ${b}`);
  close(p.latencyMs.device, deviceS * 1e3, 'device ms');
  close(p.latencyMs.transmit, transmitS * 1e3, 'transmit ms');
  close(p.latencyMs.server, serverS * 1e3, 'server ms');
  close(p.latencyMs.roundTrip, crossingBytes > 0 ? ch.roundTripS * 1e3 : 0, 'round trip ms');
  close(p.energyJ.device, dev.kappa * dev.cyclesPerFlop * ha.totals.flops * freqHz ** 2, 'device J');
  close(p.energyJ.transmit, powerW * transmitS, 'transmit J');
  close(p.memoryBytes, ha.totals.paramBytes + ha.cuts.at(-1)!.headPeakActivationBytes, 'memory bytes');
  assert.ok(p.latencyMs.total <= 60 * (1 + 1e-6) && p.energyJ.total <= 0.5);
  await checkFiles(r);
});

test('plan on a generated CNN given as an .onnx file writes halves that compose to the pruned model', async () => {
  const dir = await tempDir();
  const zoo = await loadZooModel('cnn');
  const file = join(dir, 'cnn.onnx');
  const bytes = await saveModel(zoo.model, file);
  const device = await writeJson(dir, 'slow.json', { ...SLOW_DEVICE, cyclesPerFlop: 2 });
  const r = await plan({ model: file, device, channel: 'wifi', budgets: { latency: '40 ms', energy: '1 J' }, ratios: [0, 0.5], calibrationInputs: 4, out: join(dir, 'plan') });
  assert.equal(r.plan.model.id, 'cnn');
  assert.equal(r.plan.model.sha256, sha256(bytes));
  await checkFiles(r);
  const pruned = r.decision.ratio > 0 ? pruneStructured(zoo.model, { ratio: r.decision.ratio }).model : zoo.model;
  assert.ok(await composeAgainst(r.dir, encodeModel(pruned), await zoo.sampleInputs(3, 9)) <= 1e-5);
});

test('infeasible budgets name the budget that cannot be met', async () => {
  const dir = await tempDir();
  const latency = plan({ model: 'mnist-mlp', device: 'rpi4', channel: 'wifi', budgets: { latency: '1 us', energy: '2 J' }, out: join(dir, 'a') });
  await assert.rejects(latency, (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_INFEASIBLE' && /latency/.test(e.message) && Array.isArray(e.details?.violated) && (e.details.violated as string[]).includes('latency'));
  const energy = plan({ model: 'mnist-mlp', device: 'rpi4', channel: 'wifi', budgets: { latency: '10 s', energy: '1 nJ' }, out: join(dir, 'b') });
  await assert.rejects(energy, (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_INFEASIBLE' && /energy/.test(e.message) && (e.details?.violated as string[]).includes('energy') && !(e.details?.violated as string[]).includes('latency'));
});

test('BAD CALL - malformed budgets give ERR_BUDGET_INVALID naming the field', async () => {
  const dir = await tempDir();
  await assert.rejects(plan({ model: 'mnist-mlp', device: 'rpi4', channel: 'wifi', budgets: { latency: 'fast', energy: '2 J' }, out: dir }),
    (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_BUDGET_INVALID' && /latency/.test(e.message));
  await assert.rejects(plan({ model: 'mnist-mlp', device: 'rpi4', channel: 'wifi', budgets: { latency: '300 ms', energy: '-2 J' }, out: dir }),
    (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_BUDGET_INVALID' && /energy/.test(e.message));
});

test('BAD CALL - unknown or invalid profiles give ERR_PROFILE_INVALID naming the field', async () => {
  const dir = await tempDir();
  await assert.rejects(plan({ model: 'mnist-mlp', device: 'pi3', channel: 'wifi', budgets: { latency: '300 ms', energy: '2 J' }, out: dir }),
    (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_PROFILE_INVALID' && /unknown device profile 'pi3'/.test(e.message));
  const { kappa: _kappa, ...noKappa } = SLOW_DEVICE;
  const bad = await writeJson(dir, 'bad.json', noKappa);
  await assert.rejects(plan({ model: 'mnist-mlp', device: bad, channel: 'wifi', budgets: { latency: '300 ms', energy: '2 J' }, out: dir }),
    (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_PROFILE_INVALID' && /kappa/.test(e.message));
  const notMeasured = await writeJson(dir, 'notmeasured.json', SLOW_DEVICE);
  await assert.rejects(plan({ model: 'mnist-mlp', device: 'rpi4', channel: 'wifi', budgets: { latency: '300 ms', energy: '2 J' }, profile: notMeasured, out: dir }),
    (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_PROFILE_INVALID' && /"kind": "measured-latency"/.test(e.message));
});

test('edgesplit plan CLI: --json prints the plan, usage errors exit 2, infeasible exits 1 with ERR_INFEASIBLE', async () => {
  const dir = await tempDir();
  const ok = capture();
  const code = await run(['mnist-mlp', '--device', 'rpi4', '--channel', 'wifi', '--latency', '300ms', '--energy', '2J', '--calib', '4', '--out', dir, '--json'], ok.io);
  assert.equal(code, 0);
  const printed: unknown = JSON.parse(ok.out());
  assert.equal(validatePlan(printed).planId, JSON.parse(await readFile(join(dir, 'plan.json'), 'utf8')).planId);
  assert.match(ok.err(), /edgesplit plan: verifying head \+ tail on 4 calibration inputs/);

  const human = capture();
  assert.equal(await run(['mnist-mlp', '--device', 'rpi4', '--channel', 'lte', '--latency', '50ms', '--energy', '8uJ', '--calib', '4', '--out', join(dir, 'human')], human.io), 0);
  assert.match(human.out(), /^  split      cut p\d+ \(\d+ of 5\); crossing .+: \d+ B$/m);
  // The whole model on the device at the lowest clock: nothing is sent, no server time, no round trip.
  assert.match(human.out(), /^  split      cut p5 \(5 of 5\); crossing logits\.crossing float32\[1,10\]: 0 B$/m);
  assert.match(human.out(), /^  latency    [\d.]+ .s = device [\d.]+ .s \+ transmit 0 s \+ server 0 s \+ round trip 0 s   \(budget 50 ms\)$/m);
  assert.match(human.out(), /^  energy     [\d.]+ µJ = device .+\(budget 8 µJ\)$/m);
  assert.match(human.out(), /^  on-server    infeasible \(energy\)$/m);
  assert.match(human.out(), new RegExp(`^  ${join(dir, 'human', 'device.onnx').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}  sha256 [0-9a-f]{64}$`, 'm'));

  const usage = capture();
  assert.equal(await run(['mnist-mlp', '--device', 'rpi4', '--channel', 'wifi', '--energy', '2J', '--out', dir], usage.io), 2);
  assert.match(usage.err(), /ERR_USAGE: missing --latency/);

  const infeasible = capture();
  assert.equal(await run(['mnist-mlp', '--device', 'rpi4', '--channel', 'wifi', '--latency', '1us', '--energy', '2J', '--out', join(dir, 'x')], infeasible.io), 1);
  assert.match(infeasible.err(), /ERR_INFEASIBLE: .*latency/);
});

test('emitPlan at an interior cut of the pruned transformer and CNN: exact halves, repriced on their real figures', async () => {
  const dir = await tempDir();
  for (const id of ['transformer', 'cnn']) {
    const source = await loadPlanSource(id);
    const device = loadProfile('device', 'rpi4');
    const channel = loadProfile('channel', 'wifi');
    const mp = await buildProblem(source, { device, channel, server: loadProfile('server', 'desktop'), budgets: parseBudgets({ latency: '10 s', energy: '10 J' }), gamma: 1, ratios: [0, 0.5] });
    const cutIndex = Math.floor(mp.problem.cuts.length / 2);
    const r = await emitPlan(mp, { cutIndex, ratio: 0.5, powerW: channel.powerMaxW, freqHz: device.freqMaxHz }, join(dir, id), { calibrationInputs: 4, gammaSource: 'test', profileNames: { device: 'rpi4', channel: 'wifi', server: 'desktop' } });
    assert.equal(r.verification.composeMaxAbsDiff <= 1e-5 * r.verification.composeScale, true);
    assert.ok(r.verification.composeMaxAbsDiffOptimized <= 1e-4 * r.verification.composeScale);
    // Pruning narrows what crosses or leaves it; the emitted figures never exceed the optimizer's.
    assert.ok(r.emitted.crossingBytes <= mp.problem.cuts[cutIndex]!.crossingBytes);
    assert.ok(r.breakdown.latency.totalS <= r.optimizerBreakdown.latency.totalS * (1 + 1e-9));
    assert.equal(r.emitted.headFlops, r.optimizerBreakdown.headFlops);
    assert.equal(r.plan.split.cutId, mp.problem.cuts[cutIndex]!.id);
    await checkFiles(r);
    const pruned = pruneStructured((await loadZooModel(id)).model, { ratio: 0.5 }).model;
    assert.ok(await composeAgainst(r.dir, encodeModel(pruned), await source.sampleInputs(2, 3)) <= 1e-4);
  }
});

test('a model with nothing to prune is planned without pruning, and the skipped levels are reported', async () => {
  const dir = await tempDir();
  const w = Float32Array.from({ length: 3 * 4 }, (_, i) => (i % 5) - 2);
  const model = makeModel({
    name: 'one-layer', nodes: [makeNode('Gemm', ['x', 'W', 'b'], ['y'], { transB: 1 })],
    inputs: [makeValueInfo('x', 'float32', [1, 4])], outputs: [makeValueInfo('y', 'float32', [1, 3])],
    initializers: [floatTensor('W', [3, 4], w), floatTensor('b', [3], [0.1, -0.2, 0.3])],
  });
  const file = join(dir, 'one-layer.onnx');
  await saveModel(model, file);
  const progress: string[] = [];
  const r = await plan({ model: file, device: 'rpi4', channel: 'wifi', budgets: { latency: '300 ms', energy: '2 J' }, calibrationInputs: 2, out: join(dir, 'plan'), onProgress: (m) => progress.push(m) });
  assert.deepEqual(r.plan.pruning.levels, [0]);
  assert.deepEqual(r.plan.pruning.skipped, [{ ratio: 0.25, code: 'ERR_PRUNE_NOTHING' }, { ratio: 0.5, code: 'ERR_PRUNE_NOTHING' }, { ratio: 0.75, code: 'ERR_PRUNE_NOTHING' }]);
  assert.equal(r.decision.ratio, 0);
  assert.ok(progress.some((m) => /no pruned model at ratio 0.25 or above \(ERR_PRUNE_NOTHING\): planning over ratios 0/.test(m)));
  await checkFiles(r);
});

test('BAD CALL - plan(config) with a bad level or calibration count names it', async () => {
  const dir = await tempDir();
  const base = { model: 'mnist-mlp', device: 'rpi4', channel: 'wifi', budgets: { latency: '300 ms', energy: '2 J' }, out: dir };
  await assert.rejects(plan({ ...base, ratios: [0, 1.5] }), (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_PRUNE_RATIO' && /'ratios' is out of range \[0, 1\), got 1.5/.test(e.message));
  await assert.rejects(plan({ ...base, calibrationInputs: 0 }), (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_USAGE' && /'calibrationInputs' must be an integer >= 1, got 0/.test(e.message));
});

test('--refit re-fits the pruned levels: same decision, lower measured output distortion, exact halves', async () => {
  const dir = await tempDir();
  const device = await writeJson(dir, 'slow.json', SLOW_DEVICE);
  const channel = await writeJson(dir, 'slowlink.json', SLOW_CHANNEL);
  const base = { model: 'mnist-mlp', device, channel, budgets: { latency: '120 ms', energy: '2 J' }, ratios: [0, 0.25, 0.5], calibrationInputs: 16 };
  const plain = await plan({ ...base, out: join(dir, 'plain') });
  const refit = await plan({ ...base, refit: 64, out: join(dir, 'refit') });
  assert.ok(plain.decision.ratio > 0);
  assert.equal(refit.decision.ratio, plain.decision.ratio);
  assert.equal(refit.decision.cutIndex, plain.decision.cutIndex);
  assert.ok(refit.plan.pruning.refit && refit.plan.pruning.refit.inputs === 64 && refit.plan.pruning.refit.layers >= 1);
  assert.equal(plain.plan.pruning.refit, undefined);
  assert.ok(refit.verification.outputDistortion < plain.verification.outputDistortion / 2, `${refit.verification.outputDistortion} vs ${plain.verification.outputDistortion}`);
  assert.ok(refit.verification.composeMaxAbsDiff <= 1e-5 * refit.verification.composeScale);
  await checkFiles(refit);
});

test('a plan at a cut where a shape vector crosses beside the activation is emitted, priced on its halves and composes', async () => {
  const dir = await tempDir();
  const file = join(dir, 'shape-vector.onnx');
  await saveModel(shapeVectorModel(), file);
  const source = await loadPlanSource(file);
  const mp = await buildProblem(source, { device: loadProfile('device', 'rpi4'), channel: loadProfile('channel', 'wifi'), server: loadProfile('server', 'desktop'), budgets: parseBudgets({ latency: '1 s', energy: '1 J' }), gamma: 1, ratios: [0] });
  const analysis = mp.levels[0]!.analysis;
  for (const id of ['p4', 'p7']) {
    const cut = findCut(analysis, id);
    assert.ok(cut.crossing.some((t) => t.kind === 'shape' && t.dtype === 'int64'), `${id} sends a shape vector`);
    const r = await emitPlan(mp, { cutIndex: mp.problem.cuts.findIndex((c) => c.id === id), ratio: 0, powerW: 0.05, freqHz: 1.5e9 }, join(dir, id), { calibrationInputs: 2, profileNames: { device: 'rpi4', channel: 'wifi', server: 'desktop' }, gammaSource: 'test' });
    assert.deepEqual(r.plan.split.crossing.map((c) => [c.name, c.dtype]), cut.crossing.map((c) => [c.name, c.dtype]));
    assert.equal(r.emitted.tailFlops, cut.tailFlops, `${id}: the server half's FLOPs, analysed on what the head sends`);
    assert.equal(r.emitted.crossingBytes, cut.crossingBytes);
    assert.equal(r.verification.composeMaxAbsDiff, 0);
    await checkFiles(r);
    assert.equal(await composeAgainst(r.dir, encodeModel(shapeVectorModel()), await source.sampleInputs(2, 3)), 0);
  }
});

test('ppocr-rec pruned at 0.5: a plan at p398, where a shape vector crosses beside two activations, is emitted and composes', async () => {
  const dir = await tempDir();
  const source = await loadPlanSource('ppocr-rec');
  const mp = await buildProblem(source, { device: loadProfile('device', 'jetson-orin-nano'), channel: loadProfile('channel', 'lte'), server: loadProfile('server', 'desktop'), budgets: parseBudgets({ latency: '10 s', energy: '1 J' }), gamma: 1, ratios: [0, 0.5] });
  const level = mp.levels[1]!;
  const cut = findCut(level.analysis, 'p398');
  assert.ok(cut.crossing.some((t) => t.kind === 'shape'), 'p398 sends a shape vector');
  const r = await emitPlan(mp, { cutIndex: mp.problem.cuts.findIndex((c) => c.id === 'p398'), ratio: 0.5, powerW: 0.2, freqHz: 1.5e9 }, join(dir, 'plan'), { calibrationInputs: 2, profileNames: { device: 'jetson-orin-nano', channel: 'lte', server: 'desktop' }, gammaSource: 'test' });
  assert.equal(r.emitted.tailFlops, cut.tailFlops);
  assert.equal(r.emitted.headFlops, cut.headFlops);
  assert.ok(r.verification.composeMaxAbsDiff <= 1e-5 * r.verification.composeScale);
  await checkFiles(r);
  assert.ok(await composeAgainst(r.dir, encodeModel(level.model), await source.sampleInputs(2, 4)) <= 1e-5);
});
