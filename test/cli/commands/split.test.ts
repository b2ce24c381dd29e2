// Tests of `edgesplit split` through run(argv, io): it writes head.onnx and tail.onnx that load and
// compose to the original (checked here in ONNX Runtime), prints the crossing tensors, and fails cleanly.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../../cli/commands/split.ts';
import type { Io } from '../../../cli/args.ts';
import { loadModel } from '../../../planner/onnx/model.ts';
import { createSession, maxAbsDiff } from '../../../planner/onnx/session.ts';
import { loadZooModel } from '../../../planner/zoo/index.ts';
import { REC_PATH } from '../../planner/onnx/fixtures.ts';

const dir = await mkdtemp(join(tmpdir(), 'edgesplit-split-'));
after(() => rm(dir, { recursive: true, force: true }));

async function split(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Io = { out: (t) => void (out += t), err: (t) => void (err += t) };
  const code = await run(argv, io);
  return { code, out, err };
}

interface SplitJson {
  cut: { id: string; index: number; crossingBytes: number };
  head: { path: string; bytes: number };
  tail: { path: string; bytes: number };
  crossing: Array<{ name: string; dtype: string; dims: number[] }>;
  check?: { maxAbsDiff: number; scale: number };
}

test('split a zoo model: head.onnx and tail.onnx load and compose to the original', async () => {
  const out = join(dir, 'cnn');
  const r = await split('cnn', '--at', 'p5', '--out', out, '--json');
  assert.equal(r.code, 0, r.err);
  const parsed = JSON.parse(r.out) as SplitJson;
  assert.equal(parsed.cut.id, 'p5');
  assert.deepEqual(parsed.crossing.map((c) => c.name), ['stem/maxpool', 'res.conv1/conv']);
  assert.equal((await stat(join(out, 'head.onnx'))).size, parsed.head.bytes);
  assert.equal((await stat(join(out, 'tail.onnx'))).size, parsed.tail.bytes);
  const zoo = await loadZooModel('cnn');
  const [feeds] = await zoo.sampleInputs(1, 2);
  const full = await createSession(zoo.model);
  const head = await createSession(await loadModel(join(out, 'head.onnx')));
  const tail = await createSession(await loadModel(join(out, 'tail.onnx')));
  const expected = await full.run(feeds!);
  const got = await tail.run(await head.run(feeds!));
  for (const [name, t] of Object.entries(expected)) {
    const d = maxAbsDiff(t.data as Float32Array, got[name]!.data as Float32Array);
    assert.ok(d.maxDiff <= 1e-5 * d.scale, `${name} differs by ${d.maxDiff}`);
  }
  await Promise.all([full.release(), head.release(), tail.release()]);
});

test('split the PP-OCR recogniser file by index with --check: the text names the crossing tensor with units', async () => {
  const out = join(dir, 'rec');
  const r = await split(REC_PATH, '--input-shape', 'x=1,3,48,320', '--at', '60', '--out', out, '--check');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^cut 60 \(p\d+\) of .*ch_PP-OCRv4_rec_infer\.onnx: \d+ compute nodes on the device$/m);
  assert.match(r.out, /^head {2}.*head\.onnx {2}[\d.]+ kB {2}[\d.]+ MFLOPs, [\d.]+ k params, peak activations [\d.]+ MB$/m);
  assert.match(r.out, /^crossing \d tensors?, [\d.]+ kB per inference:$/m);
  assert.match(r.out, /^check {2}head then tail matches the model: max abs diff /m);
  await loadModel(join(out, 'head.onnx'));
  await loadModel(join(out, 'tail.onnx'));
});

test('--at accepts the name of the one tensor crossing a cut', async () => {
  const r = await split('mlp', '--at', 'fc2/relu', '--out', join(dir, 'mlp'), '--json');
  assert.equal(r.code, 0, r.err);
  assert.equal((JSON.parse(r.out) as SplitJson).cut.id, 'p4');
});

async function expectFailure(argv: string[], exitCode: number, code: string, message: RegExp): Promise<void> {
  const r = await split(...argv, '--json');
  assert.equal(r.code, exitCode, r.err);
  const parsed = JSON.parse(r.out) as { error: { code: string; message: string } };
  assert.equal(parsed.error.code, code);
  assert.match(parsed.error.message, message);
  assert.match(r.err, new RegExp(`^edgesplit split: ${code}: `));
}

test('BAD CALL - a cut that does not exist is ERR_CUT_NOT_FOUND, exit 1, and nothing is written', async () => {
  const out = join(dir, 'none');
  await expectFailure(['mlp', '--at', '17', '--out', out], 1, 'ERR_CUT_NOT_FOUND', /no cut point '17' in this model: expected an index 0\.\.5, an id \(p0, p1, p2, p3, p4, p5\)/);
  await expectFailure(['mlp', '--at', 'p9', '--out', out], 1, 'ERR_CUT_NOT_FOUND', /no cut point 'p9'/);
  await assert.rejects(stat(out), /ENOENT/);
});

test('BAD CALL - missing --at or --out, or a missing model, ends with its code', async () => {
  await expectFailure(['mlp', '--out', join(dir, 'x')], 2, 'ERR_USAGE', /missing --at/);
  await expectFailure(['mlp', '--at', '1'], 2, 'ERR_USAGE', /missing --out/);
  await expectFailure([join(dir, 'missing.onnx'), '--at', '1', '--out', join(dir, 'x')], 1, 'ERR_FILE_NOT_FOUND', /missing\.onnx' is neither a file nor a zoo id/);
  await expectFailure(['mlp', '--at', '1', '--out', join(dir, 'x'), '--input-shape', 'x=1,65'], 1, 'ERR_INPUT_SHAPE', /input 'x' has declared dims \[1,64\]/);
});
