// Tests of `edgesplit models`: the listing, --json, and --out writing files that ONNX Runtime loads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../../cli/commands/models.ts';
import type { Io } from '../../../cli/args.ts';
import { loadModel } from '../../../planner/onnx/model.ts';
import { createSession } from '../../../planner/onnx/session.ts';
import { listZoo, loadZooModel } from '../../../planner/zoo/index.ts';

function capture(): Io & { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return { out: (t) => void (out += t), err: (t) => void (err += t), stdout: () => out, stderr: () => err };
}

test('models lists every zoo model with source, parameters, size and inputs', async () => {
  const io = capture();
  assert.equal(await run([], io), 0);
  const lines = io.stdout().trim().split('\n');
  assert.match(lines[0]!, /^id\s+source\s+params\s+size\s+inputs\s+outputs\s+title$/);
  assert.equal(lines.length, 1 + listZoo().length);
  assert.match(io.stdout(), /ppocr-rec\s+npm\s+2\.69 M\s+10\.8 MB\s+x \[1, 3, 48, 320\]\s+softmax_11\.tmp_0 \[1, 40, 6625\]/);
  assert.match(io.stdout(), /mnist-mlp\s+trained\s+109\.4 k\s+438\.1 kB\s+x \[1, 784\]/);
});

test('models --out DIR --json writes each model and models.json, and every file runs in ONNX Runtime', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'edgesplit-models-'));
  try {
    const io = capture();
    assert.equal(await run(['--out', dir, '--json'], io), 0);
    const result = JSON.parse(io.stdout()) as { models: { id: string; file: string; bytes: number; sha256: string }[]; index: string };
    assert.deepEqual(result.models.map((m) => m.id), listZoo().map((z) => z.id));
    const index = JSON.parse(await readFile(join(dir, 'models.json'), 'utf8')) as { models: { id: string; file: string; bytes: number; params: number }[] };
    assert.deepEqual(index.models.map((m) => m.file), listZoo().map((z) => `${z.id}.onnx`));
    for (const entry of index.models) {
      const model = await loadModel(join(dir, entry.file));
      assert.equal((await readFile(join(dir, entry.file))).length, entry.bytes);
      const zoo = await loadZooModel(entry.id);
      const session = await createSession(model);
      const [feeds] = await zoo.sampleInputs(1);
      const out = await session.run(feeds!);
      assert.deepEqual(Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.dims])), zoo.outputShapes);
      await session.release();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('BAD CALL - an unknown option exits 2 with ERR_USAGE', async () => {
  const io = capture();
  assert.equal(await run(['--size'], io), 2);
  assert.equal(io.stderr(), "edgesplit models: ERR_USAGE: Unknown option '--size'. Run 'edgesplit models --help' for the options.\n");
});

test('BAD CALL - --out on a path that is a file exits 1 with ERR_FILE_WRITE', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'edgesplit-models-'));
  try {
    const file = join(dir, 'taken');
    await writeFile(file, 'not a directory');
    const io = capture();
    assert.equal(await run(['--out', file, '--json'], io), 1);
    const { error } = JSON.parse(io.stdout()) as { error: { code: string; message: string } };
    assert.equal(error.code, 'ERR_FILE_WRITE');
    assert.match(error.message, new RegExp(`^cannot write ${join(file, 'mlp.onnx').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('models --help describes --out', async () => {
  const io = capture();
  assert.equal(await run(['--help'], io), 0);
  assert.match(io.stdout(), /--out DIR\s+write each model as DIR\/<id>\.onnx and an index DIR\/models\.json/);
});
