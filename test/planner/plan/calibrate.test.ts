// Tests of `edgesplit profile` and measured profiles: the file records the machine and is accepted by the
// planner, measured head times replace FLOPs x cycles per FLOP scaled as f_measured / f, and bad files get codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../../cli/commands/profile.ts';
import { plan } from '../../../planner/plan/index.ts';
import { loadPlanSource } from '../../../planner/plan/source.ts';
import { buildProblem } from '../../../planner/plan/problem.ts';
import { spreadCuts, MEASURED_PROFILE_KIND } from '../../../planner/plan/calibrate.ts';
import { loadProfile } from '../../../planner/profiles/profiles.ts';
import { parseBudgets } from '../../../planner/profiles/budgets.ts';
import { analyzeModel } from '../../../planner/onnx/analyze.ts';
import { EdgesplitError } from '../../../shared/errors.ts';

const SLOW_CHANNEL = { kind: 'channel', name: 'slowlink', description: 'test uplink', bandwidth: '10 kHz', noiseDensity: '-164 dBm/Hz', pathLoss: '-90 dB', fading: 'none', powerMax: '0.1 W', roundTrip: '2 ms' };

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'edgesplit-profile-'));
}

function capture(): { io: { out: (t: string) => void; err: (t: string) => void }; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return { io: { out: (t) => void (out += t), err: (t) => void (err += t) }, out: () => out, err: () => err };
}

/** A measured file as `edgesplit profile` writes it, with the given head seconds per cut at ratio 0 and 0.5. */
async function handMade(dir: string, sha256: string, freq: string, headMs: Record<string, [number, number]>): Promise<string> {
  const path = join(dir, 'measured.json');
  await writeFile(path, JSON.stringify({
    kind: MEASURED_PROFILE_KIND, createdAt: new Date().toISOString(),
    model: { id: 'mnist-mlp', sha256, inputShapes: { x: [1, 784] } },
    machine: { hostname: 'test', platform: 'linux', arch: 'arm64', cpuModel: 'test', cores: 4, memoryBytes: 4e9, freqHz: 1e9, freqSource: 'given', nodeVersion: 'v20', onnxruntimeVersion: '1.30.0' },
    settings: { threads: 1, runs: 1, warmup: 0, ratios: [0, 0.5], cuts: Object.keys(headMs) },
    measuredLatency: {
      freq,
      points: Object.entries(headMs).flatMap(([cut, [r0, r5]]) => [
        { cut, ratio: 0, head: `${r0} ms`, tail: '1 ms' },
        { cut, ratio: 0.5, head: `${r5} ms`, tail: '1 ms' },
      ]),
    },
  }));
  return path;
}

test('spreadCuts keeps both ends and spreads the rest evenly', () => {
  const cuts = Array.from({ length: 11 }, (_, i) => ({ id: `p${i}` })) as unknown as Parameters<typeof spreadCuts>[0];
  assert.deepEqual(spreadCuts(cuts, 3).map((c) => c.id), ['p0', 'p5', 'p10']);
  assert.deepEqual(spreadCuts(cuts, 6).map((c) => c.id), ['p0', 'p2', 'p4', 'p6', 'p8', 'p10']);
  assert.equal(spreadCuts(cuts, 20).length, 11);
});

test('edgesplit profile writes a measured profile with the machine, and the planner accepts it', async () => {
  const dir = await tempDir();
  const out = join(dir, 'mnist.json');
  const c = capture();
  const code = await run(['mnist-mlp', '--cuts', 'all', '--ratios', '0,0.5', '--runs', '3', '--out', out], c.io);
  assert.equal(code, 0, c.err());
  assert.match(c.err(), /edgesplit profile: ratio 0.5: cut p5 \(6\/6\)/);
  const file = JSON.parse(await readFile(out, 'utf8'));
  assert.equal(file.kind, MEASURED_PROFILE_KIND);
  for (const k of ['cpuModel', 'nodeVersion', 'onnxruntimeVersion']) assert.equal(typeof file.machine[k], 'string');
  assert.ok(file.machine.cores >= 1 && file.machine.freqHz > 0);
  assert.equal(file.measuredLatency.points.length, 6 * 2);
  assert.deepEqual(file.settings.cuts, ['p0', 'p1', 'p2', 'p3', 'p4', 'p5']);

  // The planner prices the device half from the measured table: T_dev = measured x f_measured / f.
  const channel = join(dir, 'slowlink.json');
  await writeFile(channel, JSON.stringify(SLOW_CHANNEL));
  const r = await plan({ model: 'mnist-mlp', device: 'rpi4', channel, budgets: { latency: '200 ms', energy: '2 J' }, profile: out, ratios: [0, 0.5], calibrationInputs: 4, out: join(dir, 'plan') });
  assert.equal(r.plan.predicted.deviceLatencyFrom, 'measured profile');
  // Timing noise may measure a larger ratio slower; the planner then takes the slower time (never a faster one than measured).
  const heads = file.measuredLatency.points
    .filter((p: { cut: string; ratio: number }) => p.cut === r.plan.split.cutId && p.ratio >= r.decision.ratio)
    .map((p: { head: string }) => Number.parseFloat(p.head));
  const expectedMs = Math.max(...heads) * file.machine.freqHz / r.decision.freqHz;
  assert.ok(Math.abs(r.plan.predicted.latencyMs.device - expectedMs) <= 1e-4 * expectedMs, `${r.plan.predicted.latencyMs.device} vs ${expectedMs}`);
});

test('a measured profile changes the device latency by f_measured / f, and fills unmeasured cuts by seconds per FLOP', async () => {
  const dir = await tempDir();
  const source = await loadPlanSource('mnist-mlp');
  // Only the two ends measured: p5 (the whole model) took 40 ms at 1 GHz unpruned, 25 ms at ratio 0.5.
  const path = await handMade(dir, source.sha256, '1 GHz', { p0: [0.01, 0.01], p5: [40, 25] });
  const channel = join(dir, 'slowlink.json');
  await writeFile(channel, JSON.stringify(SLOW_CHANNEL));
  const r = await plan({ model: source, device: 'rpi4', channel, budgets: { latency: '100 ms', energy: '2 J' }, profile: path, ratios: [0, 0.5], calibrationInputs: 4, out: join(dir, 'plan') });
  const mp = r.problem;
  assert.deepEqual(mp.measured?.device, { measuredCuts: 2, interpolatedCuts: 4 });
  const rpi4 = loadProfile('device', 'rpi4');
  // The device half at p5 is priced at 40 ms x 1 GHz / f.
  const p5 = mp.problem.cuts.findIndex((c) => c.id === 'p5');
  const at = (cut: number, ratio: number): number => mp.problem.cuts[cut]!.measuredHead!.find((p) => p.ratio === ratio)!.latencyS;
  assert.ok(Math.abs(at(p5, 0) - 0.040 * 1e9 / rpi4.freqMaxHz) < 1e-12);
  assert.ok(Math.abs(at(p5, 0.5) - 0.025 * 1e9 / rpi4.freqMaxHz) < 1e-12);
  // p2 gets p5's seconds per FLOP times its own FLOPs, at each ratio.
  const p2 = mp.problem.cuts.findIndex((c) => c.id === 'p2');
  for (const ratio of [0, 0.5]) {
    const pts = (i: number) => mp.problem.cuts[i]!.points.find((p) => p.ratio === ratio)!;
    const expected = (at(p5, ratio) / pts(p5).headFlops) * pts(p2).headFlops;
    assert.ok(Math.abs(at(p2, ratio) - expected) <= 1e-12, `p2 at ${ratio}: ${at(p2, ratio)} vs ${expected}`);
  }
  // And the written plan carries the measured time at the chosen frequency.
  const chosen = r.decision.cutIndex;
  const expectedMs = at(chosen, r.decision.ratio) * rpi4.freqMaxHz / r.decision.freqHz * 1e3;
  assert.ok(Math.abs(r.plan.predicted.latencyMs.device - expectedMs) <= 1e-4 * Math.max(expectedMs, 1e-9));
  // Without the profile the same problem prices the device from FLOPs x cycles per FLOP: another figure.
  const plain = await buildProblem(source, { device: rpi4, channel: loadProfile('channel', 'wifi'), server: loadProfile('server', 'desktop'), budgets: parseBudgets({ latency: '100 ms', energy: '2 J' }), gamma: 1, ratios: [0, 0.5] });
  assert.equal(plain.problem.cuts[p5]!.measuredHead, undefined);
  const a = await analyzeModel(source.model, { inputShapes: source.inputShapes });
  assert.equal(plain.problem.cuts[p5]!.points[0]!.headFlops, a.totals.flops);
});

test('BAD CALL - a measured profile of another model, or with a bad unit, gives ERR_PROFILE_INVALID or ERR_UNIT', async () => {
  const dir = await tempDir();
  const other = await handMade(dir, 'f'.repeat(64), '1 GHz', { p0: [0.01, 0.01], p5: [40, 25] });
  const call = (profile: string) => plan({ model: 'mnist-mlp', device: 'rpi4', channel: 'wifi', budgets: { latency: '100 ms', energy: '2 J' }, profile, out: join(dir, 'plan') });
  await assert.rejects(call(other), (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_PROFILE_INVALID' && /measured on a model with sha256 f{64}, not on this model/.test(e.message));
  const source = await loadPlanSource('mnist-mlp');
  const badUnit = await handMade(dir, source.sha256, '1 GHz', { p0: [0.01, 0.01], p5: [40, 25] });
  const json = JSON.parse(await readFile(badUnit, 'utf8'));
  json.measuredLatency.points[1].head = '25 kg';
  await writeFile(badUnit, JSON.stringify(json));
  await assert.rejects(call(badUnit), (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_UNIT' && /measuredLatency\.points\[1\]\.head/.test(e.message));
  const measuredPlain = await handMade(dir, source.sha256, '1 GHz', { p0: [0.01, 0.01], p5: [40, 25] });
  await assert.rejects(plan({ model: 'mnist-mlp', device: 'rpi4', channel: 'wifi', budgets: { latency: '100 ms', energy: '2 J' }, profile: measuredPlain, roundTo: 8, out: join(dir, 'plan') }),
    (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_PROFILE_INVALID' && /multiples of 1, but this plan prunes in multiples of 8/.test(e.message));
  const c = capture();
  assert.equal(await run(['mnist-mlp', '--cuts', '1', '--out', join(dir, 'x.json')], c.io), 2);
  assert.match(c.err(), /ERR_USAGE: --cuts expects an integer >= 2 or 'all', got '1'/);
});

test('a level measured slower than the level below it is priced at the slower time', async () => {
  const source = await loadPlanSource('mnist-mlp');
  const device = loadProfile('device', 'rpi4');
  const table = { freqHz: device.freqMaxHz, points: [{ cut: 'p5', ratio: 0, headS: 0.040, tailS: 0 }, { cut: 'p5', ratio: 0.5, headS: 0.045, tailS: 0 }] };
  const mp = await buildProblem(source, { device, channel: loadProfile('channel', 'wifi'), server: loadProfile('server', 'desktop'), budgets: parseBudgets({ latency: '1 s', energy: '1 J' }), gamma: 1, ratios: [0, 0.5], measured: { device: table } });
  const p5 = mp.problem.cuts.find((c) => c.id === 'p5')!;
  assert.deepEqual(p5.measuredHead, [{ ratio: 0, latencyS: 0.045 }, { ratio: 0.5, latencyS: 0.045 }]);
});
