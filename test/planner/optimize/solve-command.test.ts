import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../../cli/commands/solve.ts';

const EXAMPLE = new URL('../../../docs/problem.example.json', import.meta.url).pathname;

async function solve(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await run(argv, { out: (t) => void (out += t), err: (t) => void (err += t) });
  return { code, out, err };
}

test('edgesplit solve prints the decision with units, the breakdown and every scheme', async () => {
  const r = await solve([EXAMPLE]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /joint plan:/);
  assert.match(r.out, /split +cut 1 'patch_embed' \(1 of 14 blocks on the device\)/);
  assert.match(r.out, /latency +100 ms = device [\d.]+ ms \+ transmit [\d.]+ ms \+ server [\d.]+ ms \+ round trip 5 ms/);
  assert.match(r.out, /energy +[\d.]+ mJ = device/);
  for (const scheme of ['joint', 'grid', 'on-device', 'on-server', 'split-only']) assert.match(r.out, new RegExp(`^${scheme} `, 'm'));
  assert.match(r.out, /^on-server +no .*cannot meet latency/m);
  assert.doesNotMatch(r.out, /best at each cut/);
  const perCut = await solve([EXAMPLE, '--per-cut']);
  assert.match(perCut.out, /best at each cut \(joint\):/);
  assert.match(perCut.out, /^1 +patch_embed +yes +0\.4396 /m);
  assert.match(perCut.out, /^2 +block1 +no +- /m);
});

test('edgesplit solve --json gives the plan and the comparison', async () => {
  const r = await solve([EXAMPLE, '--json', '--scheme', 'fixed', '--split', 'patch_embed']);
  assert.equal(r.code, 0, r.err);
  const json = JSON.parse(r.out);
  assert.equal(json.scheme, 'fixed');
  assert.equal(json.plan.decision.cutIndex, 1);
  assert.equal(json.plan.breakdown.cutId, 'patch_embed');
  assert.deepEqual(json.comparison.map((c: { scheme: string }) => c.scheme), ['joint', 'grid', 'on-device', 'on-server', 'split-only', 'fixed']);
});

test('BAD CALL - edgesplit solve: usage errors exit 2, infeasible budgets exit 1 with ERR_INFEASIBLE', async () => {
  const noSplit = await solve([EXAMPLE, '--scheme', 'fixed']);
  assert.equal(noSplit.code, 2);
  assert.match(noSplit.err, /ERR_USAGE: --scheme fixed needs --split S/);
  const badScheme = await solve([EXAMPLE, '--scheme', 'best']);
  assert.equal(badScheme.code, 2);
  assert.match(badScheme.err, /--scheme expects one of joint, grid, on-device, on-server, split-only, fixed, got 'best'/);
  const badSplit = await solve([EXAMPLE, '--split', '99']);
  assert.equal(badSplit.code, 2);
  assert.match(badSplit.err, /--split expects a cut index in \[0, 14\] or a cut id/);
  const missing = await solve(['/nonexistent/problem.json']);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /ERR_FILE_NOT_FOUND/);

  const dir = mkdtempSync(join(tmpdir(), 'edgesplit-solve-'));
  const path = join(dir, 'tight.json');
  const json = JSON.parse(readFileSync(EXAMPLE, 'utf8'));
  json.budgets.latency = '1 ms';
  writeFileSync(path, JSON.stringify(json));
  const tight = await solve([path, '--json']);
  assert.equal(tight.code, 1);
  const err = JSON.parse(tight.out).error;
  assert.equal(err.code, 'ERR_INFEASIBLE');
  assert.deepEqual(err.details.violated, ['latency']);
  assert.match(err.message, /^joint: no cut meets the latency budget 1 ms/);
  assert.equal(err.details.comparison.length, 5);

  const onServer = await solve([EXAMPLE, '--scheme', 'on-server']);
  assert.equal(onServer.code, 1);
  assert.match(onServer.err, /ERR_INFEASIBLE: on-server: cut 'input' does not meet the latency budget 100 ms: .* \(joint, grid, on-device do meet the budgets: try --scheme joint\)/);
});
