// Tests of the simulation infrastructure on a small scenario defined here: CSV round trip, plot
// rendering and colours, config validation, the study directory and its rebuild.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EdgesplitError } from '../../shared/errors.ts';
import { fromCsv, toCsv } from '../../simulations/csv.ts';
import { renderSvg, seriesColour, SERIES_COLOURS } from '../../simulations/plot.ts';
import { mergeConfig, runScenario, type Scenario } from '../../simulations/scenario.ts';
import { rebuildReport, resolveStudy, runStudy } from '../../simulations/study.ts';
import { sig, times } from '../../simulations/format.ts';
import { Rng } from '../../planner/util/rng.ts';
import type { Column, Row } from '../../simulations/types.ts';

const columns: Column[] = [
  { name: 'scheme', type: 'string', description: 'scheme' },
  { name: 'budgetMs', type: 'number', description: 'latency budget [ms]' },
  { name: 'distortion', type: 'number', description: 'distortion bound' },
];

const toy: Scenario<{ budgetsMs: number[]; noise: number }> = {
  name: 'toy', number: 1, title: 'Toy study', question: 'Does the infrastructure work?', columns,
  defaults: (quick) => ({ budgetsMs: quick ? [100, 200] : [100, 200, 300], noise: 0.1 }),
  async simulate(config, ctx) {
    const rng = new Rng(ctx.seed);
    const rows: Row[] = [];
    for (const b of config.budgetsMs) {
      rows.push({ scheme: 'joint', budgetMs: b, distortion: 1 / b + config.noise * rng.next() });
      rows.push({ scheme: 'on-device', budgetMs: b, distortion: b > 150 ? 2 / b : null });
    }
    return rows;
  },
  present(rows) {
    const d = rows.find((r) => r.scheme === 'joint')?.distortion as number;
    return { figures: [{ plot: { id: 'd', title: 'Toy', x: { field: 'budgetMs', title: 'latency budget [ms]' }, y: { field: 'distortion', title: 'distortion bound', scale: 'log' }, seriesField: 'scheme', rows, markers: [{ x: 100, y: d, label: 'here', series: 'joint' }] }, paragraph: `joint at 100 ms: ${sig(d)}.` }] };
  },
};

test('CSV: numbers, nulls and quoted strings read back exactly', () => {
  const rows: Row[] = [{ scheme: 'a, "b"', budgetMs: 0.1 + 0.2, distortion: null }, { scheme: 'x', budgetMs: 1e-21, distortion: -3.5e12 }];
  const back = fromCsv(toCsv(rows, columns), columns, 't.csv');
  assert.deepEqual(back, rows);
});

test('BAD CALL - CSV with a wrong header or a non-number cell', () => {
  assert.throws(() => fromCsv('scheme,budget\n', columns, 't.csv'), (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_CONFIG_INVALID' && /expected the header 'scheme,budgetMs,distortion'/.test(e.message));
  assert.throws(() => fromCsv('scheme,budgetMs,distortion\njoint,abc,1\n', columns, 't.csv'), (e: unknown) => e instanceof EdgesplitError && /line 2, column 'budgetMs': expected a number, got 'abc'/.test(e.message));
});

test('plot: SVG carries the axis titles with units, the legend and the frozen scheme colours', async () => {
  const rows = await toy.simulate(toy.defaults(false), { quick: false, seed: 1, progress: { start() {}, tick() {}, stop() {} } });
  const svg = await renderSvg(toy.present(rows, toy.defaults(false)).figures[0]!.plot);
  assert.match(svg, /^<svg/);
  assert.match(svg, /latency budget \[ms\]/);
  assert.match(svg, /on-device/);
  assert.ok(svg.toLowerCase().includes(SERIES_COLOURS['joint']!), 'joint drawn in its table colour');
  assert.ok(svg.toLowerCase().includes(SERIES_COLOURS['on-device']!), 'on-device drawn in its table colour');
  assert.equal(seriesColour('fixed s=3'), seriesColour('fixed s=3'));
  assert.notEqual(seriesColour('fixed s=3'), seriesColour('joint'));
  assert.equal(seriesColour('predicted, ρ=0.5'), SERIES_COLOURS['predicted']);
  assert.equal(seriesColour('mnist-mlp unstructured'), SERIES_COLOURS['mnist-mlp']);
});

test('runScenario hands back the rows with the plots and paragraphs built from them', async () => {
  const result = await runScenario(toy, toy.defaults(true), { quick: true, seed: 2, progress: { start() {}, tick() {}, stop() {} } });
  assert.equal(result.rows.length, 4);
  assert.equal(result.figures.length, 1);
  assert.deepEqual(result.figures[0]!.plot.rows, result.rows);
  assert.match(result.figures[0]!.paragraph, /^joint at 100 ms: 0\.0\d+\.$/);
});

test('format: significant digits and ratios', () => {
  assert.equal(sig(0.012345), '0.0123');
  assert.equal(sig(0.00012345), '1.23e-4');
  assert.equal(times(4.1, 1), '4.1x');
});

test('BAD CALL - unknown knob, wrong type, unknown scenario, malformed config', () => {
  assert.throws(() => mergeConfig(toy.defaults(false), { budgetMs: [1] }, 'c.scenarios.toy'), (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_CONFIG_INVALID' && /unknown knob 'budgetMs'. Should be one of: budgetsMs, noise/.test(e.message));
  assert.throws(() => mergeConfig(toy.defaults(false), { noise: 'big' }, 'c.scenarios.toy'), (e: unknown) => e instanceof EdgesplitError && /c.scenarios.toy.noise: expected a finite number like 0.1, got "big"/.test(e.message));
  assert.throws(() => mergeConfig(toy.defaults(false), { budgetsMs: [] }, 'c'), (e: unknown) => e instanceof EdgesplitError && /expected a non-empty number\[\]/.test(e.message));
  assert.throws(() => resolveStudy([toy], { names: ['nope'] }), (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_SCENARIO_UNKNOWN' && /unknown scenario 'nope'. Should be one of: toy/.test(e.message));
  assert.throws(() => resolveStudy([toy], { file: { scenarios: { nope: {} } } }), (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_SCENARIO_UNKNOWN');
  assert.throws(() => resolveStudy([toy], { file: [1, 2] }), (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_CONFIG_INVALID');
  assert.throws(() => resolveStudy([toy], { file: { scenario: {} } }), (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_CONFIG_INVALID' && /unknown key 'scenario'/.test(e.message));
  assert.throws(() => resolveStudy([toy], { file: { seed: 1.5, scenarios: {} } }), (e: unknown) => e instanceof EdgesplitError && /seed: expected an integer, got 1.5/.test(e.message));
});

test('study: writes CSV, SVG, report.md, report.html and config.json; report rebuilds identically; same seed same rows', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'edgesplit-sim-'));
  try {
    const study = resolveStudy([toy], { file: { seed: 7, scenarios: { toy: { noise: 0.5 } } }, quick: true });
    assert.deepEqual(study, { seed: 7, quick: true, scenarios: { toy: { budgetsMs: [100, 200], noise: 0.5 } } });
    await runStudy([toy], study, dir);
    assert.deepEqual((await readdir(dir)).sort(), ['config.json', 'report.html', 'report.md', 'toy-d.svg', 'toy.csv']);
    const md = await readFile(join(dir, 'report.md'), 'utf8');
    assert.match(md, /!\[Toy\]\(toy-d.svg\)/);
    assert.match(md, /joint at 100 ms: /);
    const html = await readFile(join(dir, 'report.html'), 'utf8');
    assert.match(html, /<svg[^>]*>/);
    const csv1 = await readFile(join(dir, 'toy.csv'), 'utf8');
    await writeFile(join(dir, 'report.md'), 'stale');
    await rebuildReport([toy], dir);
    assert.equal(await readFile(join(dir, 'report.md'), 'utf8'), md);
    const dir2 = join(dir, 'again');
    await runStudy([toy], study, dir2);
    assert.equal(await readFile(join(dir2, 'toy.csv'), 'utf8'), csv1);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
