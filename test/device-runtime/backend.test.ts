// Tests of the two ONNX Runtime backends: onnxruntime-node and onnxruntime-web (wasm, run here in Node
// beside the native package, which is the case that needs the 'wasm' execution provider named).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nodeBackend } from '../../device-runtime/backend-node.ts';
import { webBackend } from '../../device-runtime/backend-web.ts';
import { encodeModel } from '../../planner/onnx/model.ts';
import { loadZooModel } from '../../planner/zoo/index.ts';
import { EdgesplitError } from '../../shared/errors.ts';
import { compare } from '../e2e/fixtures.ts';

test('onnxruntime-node and onnxruntime-web (wasm) run the same model to the same outputs', async () => {
  const zoo = await loadZooModel('cnn');
  const bytes = encodeModel(zoo.model);
  const [feeds] = await zoo.sampleInputs(1, 4);
  const input = { x: { dtype: 'float32' as const, dims: feeds!.x!.dims, data: feeds!.x!.data as Float32Array } };
  const native = await nodeBackend().createSession(bytes);
  const wasm = await webBackend().createSession(bytes);
  try {
    assert.deepEqual([native.inputNames, native.outputNames], [wasm.inputNames, wasm.outputNames]);
    const a = await native.run(input);
    const b = await wasm.run(input);
    assert.deepEqual(a.logits!.dims, [1, 10]);
    assert.equal(b.logits!.dtype, 'float32');
    const { maxDiff, scale } = compare(b.logits!.data as Float32Array, a.logits!.data as Float32Array);
    assert.ok(scale > 0 && maxDiff <= 1e-5 * scale, `wasm and native differ by ${maxDiff} (scale ${scale})`);
  } finally {
    await native.release();
    await wasm.release();
  }
  assert.equal(nodeBackend().name, 'onnxruntime-node');
  assert.equal(webBackend().name, 'onnxruntime-web (wasm)');
});

test('BAD CALL - backends: bytes that are not a model are ERR_SESSION; thread counts are checked', async () => {
  const junk = new Uint8Array([1, 2, 3, 4]);
  for (const [backend, name] of [[nodeBackend(), 'onnxruntime-node'], [webBackend(), 'onnxruntime-web']] as const) {
    await assert.rejects(backend.createSession(junk), (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_SESSION' && e.message.startsWith(`${name} could not load the model (4 bytes): `) && e.message.includes("Check that the file is the plan's ONNX model"));
  }
  assert.throws(() => nodeBackend({ threads: 0 }), (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_USAGE' && e.message === "'threads' must be an integer >= 1, got 0.");
  assert.throws(() => webBackend({ numThreads: 1.5 }), (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_USAGE' && e.message === "'numThreads' must be an integer >= 1, got 1.5.");
});
