// Tests of `edgesplit device` (cli/commands/device.ts) and its input files, against the real server
// runtime on 127.0.0.1 with a real MNIST plan.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run, runDevice, type DeviceReport } from '../../cli/commands/device.ts';
import { parseNpy, readInputFiles, seededInputs } from '../../device-runtime/input-files.ts';
import { startServer, type EdgesplitServer } from '../../server-runtime/server.ts';
import { EdgesplitError } from '../../shared/errors.ts';
import { makePlanDir, referenceOutputs, type PlanFixture } from '../e2e/fixtures.ts';

let f: PlanFixture;
let server: EdgesplitServer;

before(async () => {
  f = await makePlanDir('mnist-mlp', 0.5);
  server = await startServer({ plans: [f.dir], port: 0, workers: 1 });
});

after(async () => {
  await server.close();
  await f.remove();
});

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await run(argv, { out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

function argmax(data: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < data.length; i++) if (data[i]! > data[best]!) best = i;
  return best;
}

/** A .npy file (format 1.0) of a float32 array. */
function npy(dims: number[], data: Float32Array, descr = '<f4', fortran = 'False'): Uint8Array {
  let header = `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': (${dims.join(', ')}${dims.length === 1 ? ',' : ''}), }`;
  header = header.padEnd(Math.ceil((header.length + 11) / 64) * 64 - 11) + '\n';
  const head = new Uint8Array(10 + header.length);
  head.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(head.buffer).setUint16(8, header.length, true);
  head.set(new TextEncoder().encode(header), 10);
  const out = new Uint8Array(head.length + data.byteLength);
  out.set(head);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), head.length);
  return out;
}

test('device --json: medians over --repeat, the prediction beside them, and the top-1 of the seeded input', async () => {
  const { code, out, err } = await cli(['--plan', f.planPath, '--server', server.url, '--repeat', '5', '--seed', '3', '--json']);
  assert.equal(code, 0, err);
  const report = JSON.parse(out) as DeviceReport;
  assert.equal(report.planId, f.plan.planId);
  assert.equal(report.requests, 5);
  assert.equal(report.fallbacks, 0);
  assert.equal(report.backend, 'onnxruntime-node');
  for (const k of ['deviceMs', 'encodeMs', 'networkMs', 'decodeMs', 'totalMs', 'serverRunMs'] as const) {
    const s = report.timingMs[k]!;
    assert.ok(s.min <= s.median && s.median <= s.p90 && s.p90 <= s.max, `${k}: ${JSON.stringify(s)}`);
  }
  assert.deepEqual(report.predictedMs, f.plan.predicted!.latencyMs);
  assert.equal(report.crossingBytes, f.plan.split.crossing[0]!.dims.reduce((a, b) => a * b, 4));
  const seeded = seededInputs(f.plan.device.inputs, 3).x!;
  const [want] = await referenceOutputs(f.full, [{ x: { dtype: 'float32', dims: seeded.dims, data: seeded.data as Float32Array } }]);
  const logits = want!.logits!.data as Float32Array;
  assert.deepEqual(report.outputs.map((o) => [o.name, o.dtype, o.dims, o.top1?.index]), [['logits', 'float32', [1, 10], argmax(logits)]]);
  assert.ok(Math.abs(report.outputs[0]!.max - Math.max(...logits)) <= 1e-5 * Math.max(...logits.map(Math.abs)));
});

test('device: the human report shows measured against predicted, and the outputs', async () => {
  const { code, out } = await cli(['--plan', f.dir, '--server', server.url, '--repeat', '3']);
  assert.equal(code, 0);
  assert.match(out, new RegExp(`^plan ${f.plan.planId} on onnxruntime-node -> ws://127\\.0\\.0\\.1:\\d+: 3 requests \\(medians\\)\\n`));
  assert.match(out, /\n {2}device half +\d+\.\d{1,2} ms {2}1\.00 ms\n/);
  assert.match(out, /\n {2}network \+ server +\d+\.\d{1,2} ms {2}3\.00 ms \(transmit \+ server \+ round trip\)\n/);
  assert.match(out, /\n {2}total +\d+\.\d{1,2} ms {2}4\.00 ms\n/);
  assert.match(out, /\noutputs:\n {2}logits float32 \[1,10\]: top-1 index \d \(/);
});

test('device --input: .npy, .json and .bin files of a real digit give the full model\'s answer', async () => {
  const { inputs, labels } = await f.zoo.labelled!(1, 9);
  const pixels = inputs[0]!.x!.data as Float32Array;
  const [want] = await referenceOutputs(f.full, inputs);
  const expected = argmax(want!.logits!.data as Float32Array);
  assert.equal(expected, labels[0], 'the model reads this digit right');
  const files = {
    npy: join(f.dir, 'digit.npy'), json: join(f.dir, 'digit.json'), bin: join(f.dir, 'digit.bin'),
  };
  await writeFile(files.npy, npy([1, 784], pixels));
  await writeFile(files.json, JSON.stringify({ x: { dims: [1, 784], data: Array.from(pixels) } }));
  await writeFile(files.bin, new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.byteLength));
  for (const input of [files.npy, files.json, `x=${files.bin}`]) {
    const { code, out, err } = await cli(['--plan', f.dir, '--server', server.url, '--input', input, '--json']);
    assert.equal(code, 0, err);
    assert.equal((JSON.parse(out) as DeviceReport).outputs[0]!.top1!.index, expected, input);
  }
  const nested = await readInputFiles(f.plan.device.inputs, [files.json]);
  assert.deepEqual(Array.from(nested.x!.data as Float32Array), Array.from(pixels));
});

test('BAD CALL - device: usage errors exit 2 with the option named; a server that is not there exits 1', async () => {
  const noPlan = await cli(['--server', server.url]);
  assert.equal(noPlan.code, 2);
  assert.equal(noPlan.err, "edgesplit device: ERR_USAGE: missing --plan. Run 'edgesplit device --help' for the options.\n");
  const repeat = await cli(['--plan', f.dir, '--repeat', '0']);
  assert.equal(repeat.code, 2);
  assert.match(repeat.err, /--repeat expects an integer >= 1, got '0'/);
  const url = await cli(['--plan', f.dir, '--server', 'localhost:8765']);
  assert.equal(url.code, 2);
  assert.match(url.err, /--server expects ws:\/\/HOST:PORT or wss:\/\/HOST:PORT, got 'localhost:8765'/);
  const ext = await cli(['--plan', f.dir, '--server', server.url, '--input', join(f.dir, 'plan.json').replace('.json', '.csv')]);
  assert.equal(ext.code, 1);
  assert.match(ext.err, /ERR_FILE_NOT_FOUND: input file .*plan\.csv cannot be read \(ENOENT\)/);
  const json = await cli(['--plan', join(f.dir, 'missing'), '--json']);
  assert.equal(json.code, 1);
  assert.equal((JSON.parse(json.out) as { error: { code: string } }).error.code, 'ERR_FILE_NOT_FOUND');
  const help = await cli(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.out, /--apply-frequency/);
});

test('BAD CALL - input files: wrong size, unknown extension, bad .npy', async () => {
  const bad = async (name: string, bytes: Uint8Array | string, message: RegExp): Promise<void> => {
    const path = join(f.dir, name);
    await writeFile(path, bytes);
    await assert.rejects(readInputFiles(f.plan.device.inputs, [path]), (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_USAGE' && message.test(e.message));
  };
  await bad('short.bin', new Uint8Array(12), /short\.bin: holds 12 bytes, expected 3136 for float32 \[1,784\] \(raw little-endian, row-major\)\./);
  await bad('x.csv', '1,2', /x\.csv: unknown extension '\.csv': expected \.json, \.npy, \.bin or \.raw\./);
  await bad('f.npy', npy([1, 784], new Float32Array(784), '<f4', 'True'), /the array is in Fortran order; save a C-ordered array/);
  await bad('d.npy', npy([1, 392], new Float32Array(784), '>f8'), /dtype '>f8' is not supported; expected one of <f4, <f8/);
  await bad('n.npy', 'not numpy at all', /not a NumPy \.npy file/);
  await bad('other.json', JSON.stringify({ y: [1] }), /the plan has no input 'y'; its inputs are x\./);
  const t = parseNpy(npy([2, 3], new Float32Array([1, 2, 3, 4, 5, 6])));
  assert.deepEqual([t.dtype, t.dims, Array.from(t.data as Float32Array)], ['float32', [2, 3], [1, 2, 3, 4, 5, 6]]);
});

test('runDevice: an interrupt stops the run after the request in flight, and the report covers what was done', async () => {
  const interrupt = new AbortController();
  interrupt.abort();
  const lines: string[] = [];
  const report = await runDevice({ plan: f.dir, server: server.url, inputFiles: [], seed: 0, repeat: 5, applyFrequency: false, fallback: false, timeoutMs: 5000, signal: interrupt.signal, log: (l) => lines.push(l) });
  assert.equal(report.requests, 1);
  assert.ok(lines.includes('interrupted after 1 of 5 requests'), lines.join('\n'));
});
