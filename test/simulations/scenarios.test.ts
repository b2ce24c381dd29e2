// Every scenario's --quick study run once through `edgesplit simulate --all --quick`, then checks of what
// the plots should show: the joint design never worse than a baseline, distortion never rising as a
// budget loosens, the Lipschitz bound respected, the report rebuilt identically, determinism, bad calls.
import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run as simulate } from '../../cli/commands/simulate.ts';
import { run as report } from '../../cli/commands/report.ts';
import { SCENARIOS } from '../../simulations/scenarios/index.ts';
import { fromCsv } from '../../simulations/csv.ts';
import type { Row } from '../../simulations/types.ts';

let dir = '';
const rowsOf = new Map<string, Row[]>();

function capture(): { io: { out: (t: string) => void; err: (t: string) => void }; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return { io: { out: (t) => void (out += t), err: (t) => void (err += t) }, out: () => out, err: () => err };
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgesplit-sim-all-'));
  const c = capture();
  const code = await simulate(['--all', '--quick', '--seed', '3', '--out', dir, '--json'], c.io);
  assert.equal(code, 0, c.err());
  for (const s of SCENARIOS) rowsOf.set(s.name, fromCsv(await readFile(join(dir, `${s.name}.csv`), 'utf8'), s.columns, s.name));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const num = (v: Row[string] | undefined): number => v as number;

test('every scenario wrote its CSV, at least one SVG with axis titles, and its section of the report', async () => {
  const files = await readdir(dir);
  const md = await readFile(join(dir, 'report.md'), 'utf8');
  const html = await readFile(join(dir, 'report.html'), 'utf8');
  assert.deepEqual(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')).seed, 3);
  for (const s of SCENARIOS) {
    assert.ok(files.includes(`${s.name}.csv`), `${s.name}.csv`);
    assert.ok((rowsOf.get(s.name) ?? []).length > 0, `${s.name} has points`);
    const svgs = files.filter((f) => f.startsWith(`${s.name}-`) && f.endsWith('.svg'));
    assert.ok(svgs.length >= 1, `${s.name} has a plot`);
    for (const f of svgs) {
      const svg = await readFile(join(dir, f), 'utf8');
      assert.match(svg, /^<svg/);
      assert.match(svg, /aria-label="X-axis titled '[^']+'/, `${f} has an x-axis title`);
      assert.match(md, new RegExp(`\\]\\(${f.replace(/[.]/g, '\\.')}\\)`), `report.md links ${f}`);
    }
    assert.match(md, new RegExp(`## ${s.number}\\. ${s.title}`));
    assert.ok(html.includes(`id="s${s.number}-${s.name}"`), `report.html has section ${s.name}`);
  }
  assert.equal((html.match(/<svg/g) ?? []).length, files.filter((f) => f.endsWith('.svg')).length, 'every SVG is inline in report.html');
});

for (const [name, field] of [['latency-budget', 'latencyBudgetMs'], ['energy-budget', 'energyBudgetJ']] as const) {
  test(`${name}: the joint design is never worse than any baseline at the same budget, and matches or beats the grid`, () => {
    const rows = rowsOf.get(name)!;
    for (const b of new Set(rows.map((r) => num(r[field])))) {
      const at = rows.filter((r) => r[field] === b);
      const joint = at.find((r) => r.scheme === 'joint')!;
      for (const r of at) {
        if (r.feasible !== 1) continue;
        assert.equal(joint.feasible, 1, `${r.scheme} is feasible at ${b} but the joint design is not`);
        assert.ok(num(joint.distortion) <= num(r.distortion) + 1e-9, `at ${b}: joint ${joint.distortion} > ${r.scheme} ${r.distortion}`);
      }
    }
  });

  test(`${name}: no scheme's distortion rises, and none becomes infeasible, as the budget loosens`, () => {
    const rows = rowsOf.get(name)!;
    for (const scheme of new Set(rows.map((r) => String(r.scheme)))) {
      const series = rows.filter((r) => r.scheme === scheme).sort((a, b) => num(a[field]) - num(b[field]));
      for (let i = 1; i < series.length; i++) {
        const [p, q] = [series[i - 1]!, series[i]!];
        if (p.feasible !== 1) continue;
        assert.equal(q.feasible, 1, `${scheme}: feasible at ${p[field]} but not at ${q[field]}`);
        assert.ok(num(q.distortion) <= num(p.distortion) + 1e-9, `${scheme}: ${p.distortion} at ${p[field]} rises to ${q.distortion} at ${q[field]}`);
      }
    }
  });
}

test('split-point: the optimum is the least distortion over the cuts, and both ends are listed for each channel', () => {
  const rows = rowsOf.get('split-point')!;
  for (const q of ['good channel', 'poor channel']) {
    const qs = rows.filter((r) => r.channelQuality === q);
    const cuts = qs.map((r) => num(r.cutIndex));
    assert.equal(Math.min(...cuts), 0);
    assert.equal(new Set(cuts).size, cuts.length, 'one row per cut');
    for (const r of qs) assert.equal(r.feasible === 1, r.distortion !== null, 'a distortion exactly where feasible');
  }
  const good = rows.filter((r) => r.channelQuality === 'good channel' && r.feasible === 1).map((r) => num(r.distortion));
  const poor = rows.filter((r) => r.channelQuality === 'poor channel' && r.feasible === 1).map((r) => num(r.distortion));
  assert.ok(Math.min(...good) <= Math.min(...poor), 'a better channel never gives a worse optimum');
});

test('channel: shares are percentages and the mean lies inside its 10th-90th percentile band', () => {
  for (const r of rowsOf.get('channel')!) {
    assert.ok(num(r.feasibleSharePct) >= 0 && num(r.feasibleSharePct) <= 100);
    if (r.meanDistortion === null) continue;
    assert.ok(num(r.p10Distortion) <= num(r.meanDistortion) + 1e-12 && num(r.meanDistortion) <= num(r.p90Distortion) + 1e-12, JSON.stringify(r));
    if (r.scheme === 'on-device') assert.equal(r.offloadSharePct, 0, 'on-device never offloads');
  }
  const rows = rowsOf.get('channel')!.filter((r) => r.scheme === 'joint');
  const device = rowsOf.get('channel')!.filter((r) => r.scheme === 'on-device');
  for (const r of rows) {
    const d = device.find((x) => x.pathLossDb === r.pathLossDb && x.bandwidthMHz === r.bandwidthMHz)!;
    if (d.meanDistortion !== null && num(d.feasibleSharePct) === 100) assert.ok(num(r.meanDistortion) <= num(d.meanDistortion) + 1e-9, 'the joint plan per draw is never worse than on-device');
  }
});

test('theory: the measured output distortion respects the Lipschitz bound wherever it applies, per input and in aggregate', () => {
  const lip = rowsOf.get('theory')!.filter((r) => r.study === 'lipschitz');
  assert.ok(lip.length > 0);
  for (const r of lip) {
    assert.ok(num(r.worstInputRatio) <= 1 + 1e-9, `per-input bound exceeded: ${JSON.stringify(r)}`);
    assert.ok(num(r.outputDistortion) <= num(r.bound), `aggregate bound exceeded: ${JSON.stringify(r)}`);
  }
  for (const r of rowsOf.get('theory')!.filter((x) => x.study === 'laplace' && x.model === 'mlp')) {
    assert.ok(Math.abs(num(r.parameterDistortion) / num(r.closedForm) - 1) < 0.1, `the generated Laplace MLP follows the closed form: ${JSON.stringify(r)}`);
  }
});

test('accuracy: the unpruned MNIST model is accurate, scores are percentages, and the OCR model reads lines', () => {
  const rows = rowsOf.get('accuracy')!;
  for (const r of rows) assert.ok(num(r.scorePct) >= 0 && num(r.scorePct) <= 100);
  assert.ok(num(rows.find((r) => r.model === 'mnist-mlp' && r.ratio === 0)!.scorePct) > 85);
  assert.ok(num(rows.find((r) => r.model === 'ppocr-rec' && r.ratio === 0)!.scorePct) > 50);
  for (const r of rows.filter((x) => x.ratio === 0)) assert.equal(r.agreementPct, 100);
});

test('multi-device: the joint plan fits the shared capacity and is never worse than planning each device alone within its share', () => {
  const rows = rowsOf.get('multi-device')!;
  for (const n of new Set(rows.map((r) => num(r.devices)))) {
    const j = rows.find((r) => r.devices === n && r.scheme === 'joint')!;
    const a = rows.find((r) => r.devices === n && r.scheme === 'planned alone')!;
    if (a.feasible === 1) {
      assert.equal(j.feasible, 1);
      assert.ok(num(j.totalDistortion) <= num(a.totalDistortion) + 1e-9);
    }
    if (j.feasible === 1) {
      assert.equal(j.fitsSharedCapacity, 1);
      assert.ok(num(j.serverUsedPct) <= 100 + 1e-6 && num(j.bandUsedPct) <= 100 + 1e-6);
    }
  }
});

test('predicted-vs-measured: every emitted plan ran on loopback and both sides carry the same simulated network share', () => {
  const rows = rowsOf.get('predicted-vs-measured')!;
  for (const r of rows) {
    assert.ok(num(r.measuredMs) > num(r.simulatedNetworkMs), 'the runtimes took some time');
    assert.ok(num(r.predictedMs) >= num(r.simulatedNetworkMs) - 1e-9, 'the prediction includes the network share');
    assert.ok(num(r.requests) > 0);
  }
});

test('report DIR rebuilds report.md and report.html identically from the CSVs and config.json', async () => {
  const md = await readFile(join(dir, 'report.md'), 'utf8');
  const html = await readFile(join(dir, 'report.html'), 'utf8');
  await writeFile(join(dir, 'report.md'), '');
  const c = capture();
  assert.equal(await report([dir], c.io), 0, c.err());
  assert.equal(await readFile(join(dir, 'report.md'), 'utf8'), md);
  assert.equal(await readFile(join(dir, 'report.html'), 'utf8'), html);
});

test('the same seed gives the same points; another seed other fading draws', async () => {
  const again = join(dir, 'again');
  const other = join(dir, 'other');
  const c = capture();
  assert.equal(await simulate(['--scenario', 'channel', '--scenario', 'latency-budget', '--quick', '--seed', '3', '--out', again], c.io), 0, c.err());
  assert.equal(await simulate(['--scenario', 'channel', '--quick', '--seed', '4', '--out', other], c.io), 0, c.err());
  for (const f of ['channel.csv', 'latency-budget.csv']) assert.equal(await readFile(join(again, f), 'utf8'), await readFile(join(dir, f), 'utf8'), f);
  assert.notEqual(await readFile(join(other, 'channel.csv'), 'utf8'), await readFile(join(dir, 'channel.csv'), 'utf8'));
});

test('BAD CALL - unknown scenario, malformed config, missing --out, report of a directory without a study', async () => {
  let c = capture();
  assert.equal(await simulate(['--scenario', 'nope', '--out', join(dir, 'x'), '--json'], c.io), 1);
  const err = JSON.parse(c.out()).error;
  assert.equal(err.code, 'ERR_SCENARIO_UNKNOWN');
  assert.match(err.message, /unknown scenario 'nope'\. Should be one of: latency-budget, energy-budget/);
  const bad = join(dir, 'bad.json');
  await writeFile(bad, '{ "scenarios": { "channel": { "draws": "many" } } }');
  c = capture();
  assert.equal(await simulate(['--config', bad, '--out', join(dir, 'x')], c.io), 1);
  assert.match(c.err(), /ERR_CONFIG_INVALID: .*scenarios\.channel\.draws: expected a finite number like 60, got "many"/);
  await writeFile(bad, '{ "scenarios": ');
  c = capture();
  assert.equal(await simulate(['--config', bad, '--out', join(dir, 'x')], c.io), 1);
  assert.match(c.err(), /ERR_CONFIG_INVALID: config file .*bad\.json: not valid JSON/);
  c = capture();
  assert.equal(await simulate(['--scenario', 'channel'], c.io), 2);
  assert.match(c.err(), /ERR_USAGE: missing --out/);
  c = capture();
  assert.equal(await report([join(dir, 'nowhere')], c.io), 1);
  assert.match(c.err(), /ERR_FILE_NOT_FOUND: the study configuration .*config\.json could not be read/);
});
