// Tests of `edgesplit prune` through its run(argv, io): the written model, the JSON report, and the exit
// codes and messages of bad calls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../../cli/commands/prune.ts';
import { loadModel, saveModel } from '../../../planner/onnx/model.ts';
import { createSession } from '../../../planner/onnx/session.ts';
import { singleLayer } from './fixtures.ts';

function capture(): { io: { out: (t: string) => void; err: (t: string) => void }; out: () => string; err: () => string } {
  let o = '';
  let e = '';
  return { io: { out: (t) => { o += t; }, err: (t) => { e += t; } }, out: () => o, err: () => e };
}

test('prune a zoo model with re-fit: writes a smaller model that runs, and reports costs, distortion, accuracy and latency', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'edgesplit-prune-'));
  try {
    const out = join(dir, 'pruned.onnx');
    const c = capture();
    const code = await run(['mnist-mlp', '--ratio', '0.5', '--refit', '--calib', '256', '--eval', '100', '--runs', '20', '--out', out, '--json'], c.io);
    assert.equal(code, 0, c.err());
    const r = JSON.parse(c.out());
    assert.equal(r.mode, 'structured');
    assert.ok(Math.abs(r.achievedRatio - 0.5) < 0.02);
    assert.ok(r.params.after < 0.55 * r.params.before && r.flops.after < 0.55 * r.flops.before);
    assert.ok(r.taskScore.after > 0.85 && r.taskScore.before > 0.9, JSON.stringify(r.taskScore));
    assert.ok(r.output.top1Agreement > 0.9);
    assert.ok(r.latencyMs.before > 0 && r.latencyMs.after > 0);
    assert.deepEqual(r.refit.map((l: { node: string }) => l.node), ['fc2/gemm', 'logits']);
    assert.deepEqual(r.plan.groups.map((g: { kept: number[] }) => g.kept.length), [66, 33]);
    const s = await createSession(await loadModel(out));
    const y = await s.run({ x: { dtype: 'float32', dims: [1, 784], data: new Float32Array(784) } });
    assert.deepEqual(y.logits!.dims, [1, 10]);
    await s.release();
    const text = capture();
    assert.equal(await run(['mlp', '--ratio', '0.3', '--unstructured', '--runs', '0', '--eval', '10', '--out', join(dir, 'u.onnx')], text.io), 0, text.err());
    assert.match(text.out(), /^unstructured pruning of mlp: ratio 0.3 requested, 0.3000 of the prunable weights removed/);
    assert.match(text.out(), /params {3}26\.1 k -> 26\.1 k/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('BAD CALL - prune with a ratio of 1 exits 1 with ERR_PRUNE_RATIO', async () => {
  const c = capture();
  assert.equal(await run(['mlp', '--ratio', '1', '--out', join(tmpdir(), 'never.onnx')], c.io), 1);
  assert.match(c.err(), /^edgesplit prune: ERR_PRUNE_RATIO: 'ratio' is out of range \[0, 1\), got 1\./);
});

test('BAD CALL - prune of a model with nothing prunable exits 1 with ERR_PRUNE_NOTHING', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'edgesplit-prune-'));
  try {
    const path = join(dir, 'single.onnx');
    await saveModel(singleLayer(), path);
    const c = capture();
    assert.equal(await run([path, '--ratio', '0.5', '--out', join(dir, 'o.onnx'), '--json'], c.io), 1);
    assert.equal(JSON.parse(c.out()).error.code, 'ERR_PRUNE_NOTHING');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('BAD CALL - contradictory or missing options exit 2 with ERR_USAGE', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['mlp', '--ratio', '0.5', '--structured', '--unstructured', '--out', 'o.onnx'], /give --structured or --unstructured, not both/],
    [['mlp', '--ratio', '0.5', '--unstructured', '--refit', '--out', 'o.onnx'], /--refit works with structured pruning only/],
    [['mlp', '--ratio', '0.5'], /missing --out/],
    [['mlp', '--ratio', 'half', '--out', 'o.onnx'], /--ratio expects a number, got 'half'/],
    [['mlp', '--ratio', '0.5', '--norm', 'l3', '--out', 'o.onnx'], /--norm expects 'l1' or 'l2', got 'l3'/],
    [['mlp', '--ratio', '0.5', '--input-shape', 'x=1,64', '--out', 'o.onnx'], /--input-shape is for model files; zoo model 'mlp' brings its own inputs/],
    [['mlp', '--ratio', '0.5', '--round-to', '0', '--out', 'o.onnx'], /--round-to expects an integer >= 1, got '0'/],
  ];
  for (const [argv, message] of cases) {
    const c = capture();
    assert.equal(await run(argv, c.io), 2, argv.join(' '));
    assert.match(c.err(), /ERR_USAGE/);
    assert.match(c.err(), message);
  }
});
