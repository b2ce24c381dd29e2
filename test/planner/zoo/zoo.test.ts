// Tests of the zoo's API: every model loads and runs in ONNX Runtime on its sample inputs with the
// listed shapes, listings match the models, and bad calls fail with stable codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countParams, listZoo, loadZooModel, ZOO_IDS } from '../../../planner/zoo/index.ts';
import { createSession } from '../../../planner/onnx/session.ts';
import { encodeModel, realInputs, valueInfoDims } from '../../../planner/onnx/model.ts';
import { graphParts, modelGraph } from '../../../planner/onnx/graph.ts';
import { EdgesplitError } from '../../../shared/errors.ts';

test('the zoo lists the seven models with their sources', () => {
  assert.deepEqual(listZoo().map((z) => [z.id, z.source]), [
    ['mlp', 'generated'], ['cnn', 'generated'], ['transformer', 'generated'], ['mnist-mlp', 'trained'], ['mnist-cnn', 'trained'], ['ppocr-rec', 'npm'], ['ppocr-cls', 'npm'],
  ]);
  assert.deepEqual([...ZOO_IDS], listZoo().map((z) => z.id));
});

for (const info of listZoo()) {
  test(`${info.id}: loads, matches its listing and runs on its sample inputs in ONNX Runtime`, async () => {
    const zoo = await loadZooModel(info.id);
    assert.equal(zoo.id, info.id);
    assert.equal(countParams(zoo.model), info.params);
    const graph = modelGraph(zoo.model);
    assert.deepEqual(realInputs(graph).map((i) => i.name), info.inputs.map((t) => t.name));
    assert.deepEqual(graphParts(graph).outputs.map((o) => o.name), info.outputs.map((t) => t.name));
    for (const t of info.inputs) {
      assert.deepEqual(zoo.inputShapes[t.name], t.shape);
      assert.ok(t.shape.every((d) => Number.isInteger(d) && d > 0), `${t.name} has concrete dims`);
      const declared = valueInfoDims(realInputs(graph).find((i) => i.name === t.name)!)!;
      declared.forEach((d, k) => typeof d === 'number' && assert.equal(d, t.shape[k]));
    }
    const session = await createSession(zoo.model);
    const inputs = await zoo.sampleInputs(2, 5);
    assert.equal(inputs.length, 2);
    const outs = [];
    for (const feeds of inputs) {
      assert.deepEqual(Object.keys(feeds), info.inputs.map((t) => t.name));
      const out = await session.run(feeds);
      for (const t of info.outputs) {
        assert.deepEqual(out[t.name]!.dims, t.shape, `${t.name} shape`);
        assert.ok((out[t.name]!.data as Float32Array).every(Number.isFinite), `${t.name} is finite`);
      }
      outs.push(out[info.outputs[0]!.name]!.data as Float32Array);
    }
    assert.notDeepEqual(outs[0], outs[1], 'two different inputs give two different outputs');
    await session.release();
  });
}

test('sampleInputs is seeded: the same seed gives the same inputs, another seed others', async () => {
  for (const id of ['mlp', 'mnist-mlp', 'mnist-cnn', 'ppocr-rec']) {
    const zoo = await loadZooModel(id);
    const [a, b, c] = [await zoo.sampleInputs(2, 3), await zoo.sampleInputs(2, 3), await zoo.sampleInputs(2, 4)];
    assert.deepEqual(a, b, id);
    assert.notDeepEqual(a, c, id);
  }
});

test('sample inputs never come from the labelled (held-out) data', async () => {
  const zoo = await loadZooModel('mnist-mlp');
  const key = (d: Float32Array): string => Buffer.from(d.buffer, d.byteOffset, d.byteLength).toString('base64');
  const samples = new Set((await zoo.sampleInputs(300, 1)).map((f) => key(f['x']!.data as Float32Array)));
  const { inputs } = await zoo.labelled!(300, 1);
  assert.equal(inputs.filter((f) => samples.has(key(f['x']!.data as Float32Array))).length, 0);
});

test('loadZooModel hands out a fresh copy each call', async () => {
  const a = await loadZooModel('mlp');
  graphParts(modelGraph(a.model)).nodes.pop();
  const b = await loadZooModel('mlp');
  assert.equal(graphParts(modelGraph(b.model)).nodes.length, graphParts(modelGraph(a.model)).nodes.length + 1);
  assert.deepEqual(encodeModel(b.model), encodeModel((await loadZooModel('mlp')).model));
});

test('only the labelled models carry labelled data and a task metric', async () => {
  for (const info of listZoo()) {
    const zoo = await loadZooModel(info.id);
    assert.equal(zoo.labelled !== undefined, info.metric !== undefined, info.id);
    assert.equal(zoo.taskMetric?.name, info.metric, info.id);
  }
});

test('BAD CALL - unknown zoo id', async () => {
  await assert.rejects(loadZooModel('resnet50'), (e: unknown) => {
    assert.ok(e instanceof EdgesplitError);
    assert.equal(e.code, 'ERR_UNKNOWN_MODEL');
    assert.equal(e.message, "unknown zoo model 'resnet50'. Should be one of: mlp, cnn, transformer, mnist-mlp, mnist-cnn, ppocr-rec, ppocr-cls.");
    return true;
  });
});

test('BAD CALL - a negative or fractional sample count', async () => {
  const zoo = await loadZooModel('mlp');
  for (const n of [-1, 1.5]) {
    await assert.rejects(zoo.sampleInputs(n), (e: unknown) => {
      assert.ok(e instanceof EdgesplitError);
      assert.equal(e.code, 'ERR_USAGE');
      assert.equal(e.message, `'n' must be a non-negative integer, got ${n}.`);
      return true;
    });
  }
});

test('BAD CALL - more labelled MNIST digits than the test split holds', async () => {
  const zoo = await loadZooModel('mnist-mlp');
  await assert.rejects(zoo.labelled!(2005), (e: unknown) => {
    assert.ok(e instanceof EdgesplitError);
    assert.equal(e.code, 'ERR_USAGE');
    assert.equal(e.message, "'n' is out of range [0, 2004] for the MNIST test split, got 2005.");
    return true;
  });
});
