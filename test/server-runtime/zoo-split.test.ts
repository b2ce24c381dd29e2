// The server on a real split from the planner: the zoo transformer cut where two tensors cross.
// The device's tensors come in any order; the result equals the tail run directly and the full model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadZooModel } from '../../planner/zoo/index.ts';
import { analyzeModel, findCut } from '../../planner/onnx/analyze.ts';
import { splitModel } from '../../planner/onnx/split.ts';
import { encodeModel } from '../../planner/onnx/model.ts';
import { createSession, maxAbsDiff } from '../../planner/onnx/session.ts';
import { startServer } from '../../server-runtime/server.ts';
import { wireTensor, tensorView } from '../../shared/protocol.ts';
import { TestClient } from './client.ts';
import { sha256Hex } from './fixtures.ts';

test('a planner split with two crossing tensors: sent in any order, the result equals the tail and the full model', async () => {
  const zoo = await loadZooModel('transformer');
  const analysis = await analyzeModel(zoo.model, { inputShapes: zoo.inputShapes });
  const cut = findCut(analysis, 'p20');
  assert.equal(cut.crossing.length, 2);
  const { head, tail, crossing } = splitModel(zoo.model, cut, analysis);
  const dir = await mkdtemp(join(tmpdir(), 'edgesplit-zoo-plan-'));
  const headBytes = encodeModel(head);
  const tailBytes = encodeModel(tail);
  await writeFile(join(dir, 'device.onnx'), headBytes);
  await writeFile(join(dir, 'server.onnx'), tailBytes);
  const spec = (t: { name: string; dtype: string; dims: number[] }): unknown => ({ name: t.name, dtype: t.dtype, dims: t.dims });
  await writeFile(join(dir, 'plan.json'), JSON.stringify({
    schemaVersion: 1, planId: 'transformer-p20', model: { id: 'transformer' }, split: { cutIndex: cut.index, cutId: cut.id, crossing: crossing.map(spec) },
    device: { file: 'device.onnx', sha256: sha256Hex(headBytes), inputs: analysis.inputs.map(spec) },
    server: { file: 'server.onnx', sha256: sha256Hex(tailBytes), outputs: analysis.outputs.map(spec) },
  }));
  const server = await startServer({ plans: [dir], port: 0, workers: 1 });
  const [headSession, tailSession, fullSession] = await Promise.all([createSession(headBytes), createSession(tailBytes), createSession(zoo.model)]);
  try {
    const c = await TestClient.connect(server.url);
    assert.equal((await c.hello({ planId: 'transformer-p20', serverSha256: sha256Hex(tailBytes) })).type, 'hello-ok');
    const outputName = analysis.outputs[0]!.name;
    for (const [i, feeds] of (await zoo.sampleInputs(3, 7)).entries()) {
      const crossed = await headSession.run(feeds);
      const tensors = crossing.map((t) => wireTensor(t.name, t.dtype, crossed[t.name]!.dims, crossed[t.name]!.data)).reverse();
      c.send({ type: 'infer', requestId: i, tensors });
      const r = await c.next();
      assert.ok(r.type === 'result' && r.requestId === i, JSON.stringify(r));
      const got = [...tensorView({ dtype: 'float32', data: r.tensors[0]!.data })];
      const direct = await tailSession.run(crossed);
      assert.deepEqual(got, [...direct[outputName]!.data].map(Number), 'the server gives exactly what the tail gives');
      const full = await fullSession.run(feeds);
      const { maxDiff, scale } = maxAbsDiff(got, [...full[outputName]!.data].map(Number));
      assert.ok(maxDiff <= 1e-5 * Math.max(1, scale), `composed result differs from the full model by ${maxDiff} (scale ${scale})`);
    }
    await c.close();
  } finally {
    await Promise.all([headSession.release(), tailSession.release(), fullSession.release()]);
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
});
