// Tests of `edgesplit inspect` through run(argv, io): the table and --json, zoo ids and files, and each bad
// input ending in its error code and exit code (1 failure, 2 usage) without a stack trace.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../../cli/commands/inspect.ts';
import type { Io } from '../../../cli/args.ts';
import { saveModel } from '../../../planner/onnx/model.ts';
import { CLS_PATH, REC_PATH, modelWithOp, residualModel } from '../../planner/onnx/fixtures.ts';

const dir = await mkdtemp(join(tmpdir(), 'edgesplit-inspect-'));
after(() => rm(dir, { recursive: true, force: true }));

/** Run the command with a capturing io. */
async function inspect(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Io = { out: (t) => void (out += t), err: (t) => void (err += t) };
  const code = await run(argv, io);
  return { code, out, err };
}

test('inspect a zoo model: a table with units and the totals; --json has every cut', async () => {
  const text = await inspect('cnn');
  assert.equal(text.code, 0, text.err);
  assert.match(text.out, /^model {6}cnn \(opset \d+, 18 compute nodes\)$/m);
  assert.match(text.out, /^totals {5}45\.61 MFLOPs, 86\.4 k params \(345\.6 kB\)$/m);
  assert.match(text.out, /^index {2}id {3}crossing kB {2}head MFLOPs {2}tail MFLOPs {2}head params {2}tail params {2}crossing tensors$/m);
  assert.match(text.out, /^ {4}0 {2}p0 .* x\.crossing float32\[1,3,32,32\]$/m);
  const json = await inspect('cnn', '--json');
  assert.equal(json.code, 0);
  const parsed = JSON.parse(json.out) as { model: string; cuts: Array<{ id: string; crossingBytes: number; headFlops: number; tailFlops: number }>; totals: { flops: number } };
  assert.equal(parsed.model, 'cnn');
  assert.equal(parsed.cuts.length, 19);
  assert.equal(parsed.cuts[0]!.crossingBytes, 3 * 32 * 32 * 4);
  for (const c of parsed.cuts) assert.equal(c.headFlops + c.tailFlops, parsed.totals.flops);
});

test('inspect a file with --input-shape and --max-crossing', async () => {
  const path = join(dir, 'residual.onnx');
  await saveModel(residualModel(), path);
  const r = await inspect(path, '--input-shape', 'x=2,4', '--max-crossing', '1', '--json');
  assert.equal(r.code, 0, r.err);
  const parsed = JSON.parse(r.out) as { inputShapes: Record<string, number[]>; cuts: Array<{ id: string }> };
  assert.deepEqual(parsed.inputShapes, { x: [2, 4] });
  assert.deepEqual(parsed.cuts.map((c) => c.id), ['p0', 'p1', 'p5', 'p6', 'p8']);
  const unnamed = await inspect(path, '--input-shape', '3,4', '--json');
  assert.deepEqual((JSON.parse(unnamed.out) as { inputShapes: unknown }).inputShapes, { x: [3, 4] });
});

test('inspect the PP-OCR recogniser at a given width', async () => {
  const r = await inspect(REC_PATH, '--input-shape', 'x=1,3,48,320', '--max-crossing', '1');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^totals {5}1\.46 GFLOPs, 2\.69 M params \(10\.76 MB\)$/m);
  const cuts = /^cut points (\d+) with at most 1 crossing activation tensor/m.exec(r.out);
  assert.ok(cuts && Number(cuts[1]) > 200, r.out.slice(0, 400));
});

/** Asserts a failed run: exit code, the code in stderr and in --json's error object, part of the message. */
async function expectFailure(argv: string[], exitCode: number, code: string, message: RegExp): Promise<void> {
  const r = await inspect(...argv, '--json');
  assert.equal(r.code, exitCode, r.err);
  const parsed = JSON.parse(r.out) as { error: { code: string; message: string } };
  assert.equal(parsed.error.code, code);
  assert.match(parsed.error.message, message);
  assert.match(r.err, new RegExp(`^edgesplit inspect: ${code}: `));
  assert.doesNotMatch(r.err, /\n\s+at /, 'no stack trace');
}

test('BAD CALL - a missing file is ERR_FILE_NOT_FOUND, exit 1', async () => {
  await expectFailure([join(dir, 'nope.onnx')], 1, 'ERR_FILE_NOT_FOUND', /nope\.onnx' is neither a file nor a zoo id.*ppocr-rec/);
});

test('BAD CALL - a truncated .onnx and corrupt bytes are ERR_MODEL_CORRUPT, exit 1', async () => {
  const bytes = await readFile(CLS_PATH);
  const truncated = join(dir, 'truncated.onnx');
  await writeFile(truncated, bytes.subarray(0, Math.floor(bytes.length / 3)));
  await expectFailure([truncated], 1, 'ERR_MODEL_CORRUPT', /truncated\.onnx: /);
  const corrupt = join(dir, 'corrupt.onnx');
  const noise = new Uint8Array(4096);
  for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
  await writeFile(corrupt, noise);
  await expectFailure([corrupt], 1, 'ERR_MODEL_CORRUPT', /corrupt\.onnx: /);
  const text = join(dir, 'notes.onnx');
  await writeFile(text, 'this is not a model\n');
  await expectFailure([text], 1, 'ERR_MODEL_CORRUPT', /notes\.onnx: /);
});

test('BAD CALL - an unknown op is ERR_UNSUPPORTED_OP, exit 1; --unknown-ops zero goes on with a warning', async () => {
  const path = join(dir, 'cumsum.onnx');
  await saveModel(modelWithOp('CumSum', {}, ['axis']), path);
  await expectFailure([path], 1, 'ERR_UNSUPPORTED_OP', /node 'the_node' \(CumSum\) uses op 'CumSum'/);
  const r = await inspect(path, '--unknown-ops', 'zero');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^warning: node 'the_node' \(CumSum\): unknown op, counted as 0 FLOPs$/m);
});

test('BAD CALL - an input shape that does not fit is ERR_INPUT_SHAPE, exit 1; a malformed one is a usage error, exit 2', async () => {
  await expectFailure([REC_PATH], 1, 'ERR_INPUT_SHAPE', /input 'x' has declared dims \[p2o\.DynamicDimension\.0,3,48,p2o\.DynamicDimension\.1\]: dim 3 .* e\.g\. --input-shape x=1,3,48,32/);
  await expectFailure(['cnn', '--input-shape', 'x=1,3,32'], 1, 'ERR_INPUT_SHAPE', /given shape \[1,3,32\] does not fit \(rank 3, expected 4\)/);
  await expectFailure(['cnn', '--input-shape', 'x=1,3,a,32'], 2, 'ERR_USAGE', /--input-shape expects NAME=D,D,\.\.\. with positive integer dims/);
  await expectFailure(['cnn', '--max-crossing', '0'], 2, 'ERR_USAGE', /--max-crossing expects an integer >= 1, got '0'/);
  await expectFailure(['cnn', '--unknown-ops', 'maybe'], 2, 'ERR_USAGE', /--unknown-ops expects 'error' or 'zero', got 'maybe'/);
  await expectFailure(['cnn', '--bogus'], 2, 'ERR_USAGE', /Unknown option '--bogus'/);
  await expectFailure([], 2, 'ERR_USAGE', /missing MODEL/);
});

test('--help prints the usage and exits 0', async () => {
  const r = await inspect('--help');
  assert.equal(r.code, 0);
  assert.match(r.out, /^Usage: edgesplit inspect MODEL \[options\]/);
  assert.match(r.out, /--input-shape NAME=D,D,\.\.\./);
});
