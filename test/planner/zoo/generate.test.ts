// Tests of the generated zoo models: deterministic bytes, the structure each promises, Laplace
// weights, and activations in a sane range in ONNX Runtime.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateCnn, generateMlp, generateTransformer, GENERATED_SEEDS } from '../../../planner/zoo/generate.ts';
import { loadZooModel } from '../../../planner/zoo/index.ts';
import { encodeModel, tensorDims, tensorToFloat32, type ModelProto } from '../../../planner/onnx/model.ts';
import { createSession } from '../../../planner/onnx/session.ts';
import { graphParts, modelGraph } from '../../../planner/onnx/graph.ts';

const parts = (m: ModelProto): ReturnType<typeof graphParts> => graphParts(modelGraph(m));

const GENERATORS = { mlp: generateMlp, cnn: generateCnn, transformer: generateTransformer } as const;

for (const [id, generate] of Object.entries(GENERATORS)) {
  test(`${id}: the same seed gives the same bytes, another seed other weights`, () => {
    const a = encodeModel(generate());
    assert.deepEqual(encodeModel(generate()), a);
    assert.deepEqual(encodeModel(generate(GENERATED_SEEDS[id as keyof typeof GENERATED_SEEDS])), a);
    assert.notDeepEqual(encodeModel(generate(1)), a);
  });
}

function opCounts(model: ModelProto): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const n of parts(model).nodes) counts[n.opType] = (counts[n.opType] ?? 0) + 1;
  return counts;
}

test('the MLP is three Gemm layers with two Relus', () => {
  assert.deepEqual(opCounts(generateMlp()), { Gemm: 3, Relu: 2 });
  assert.deepEqual(parts(generateMlp()).initializers.filter((t) => t.name.endsWith('.weight')).map(tensorDims), [[128, 64], [128, 128], [10, 128]]);
});

test('the CNN has a residual block Conv-BN-Relu-Conv-BN + skip, then Relu, and both poolings', () => {
  const model = generateCnn();
  assert.deepEqual(opCounts(model), { Conv: 4, BatchNormalization: 4, Relu: 4, MaxPool: 1, Add: 1, AveragePool: 1, GlobalAveragePool: 1, Flatten: 1, Gemm: 1 });
  const { nodes } = parts(model);
  const add = nodes.find((n) => n.opType === 'Add')!;
  const producers = add.input.map((t) => nodes.find((n) => n.output.includes(t))!.opType).sort();
  assert.deepEqual(producers, ['BatchNormalization', 'MaxPool']);
  const consumer = nodes.find((n) => n.input.includes(add.output[0]!))!;
  assert.equal(consumer.opType, 'Relu');
  const bnMeans = parts(model).initializers.filter((t) => t.name.endsWith('running_mean')).flatMap((t) => [...tensorToFloat32(t)]);
  const bnVars = parts(model).initializers.filter((t) => t.name.endsWith('running_var')).flatMap((t) => [...tensorToFloat32(t)]);
  assert.ok(bnMeans.some((m) => Math.abs(m) > 0.05), 'running means are not all zero');
  assert.ok(bnVars.some((v) => Math.abs(v - 1) > 0.1), 'running variances are not all one');
});

test('the transformer has 2 blocks of 4-head attention, LayerNorm, FFN and residuals, at opset 17', () => {
  const model = generateTransformer();
  const ops = opCounts(model);
  assert.equal(ops['Softmax'], 2);
  assert.equal(ops['LayerNormalization'], 5);
  assert.equal(ops['Reshape'], 8);
  assert.equal(ops['Transpose'], 8);
  assert.equal(ops['Relu'], 2);
  assert.equal(ops['MatMul'], 1 + 2 * (4 + 2 + 2) + 1);
  assert.equal(model.opsetImport[0]!.version, 17);
  const shape = parts(model).initializers.find((t) => t.name === 'shape.heads')!;
  assert.deepEqual([...new BigInt64Array(shape.rawData!.slice().buffer)].map(Number), [1, 16, 4, 8]);
});

test('weights are Laplace-distributed: kurtosis near 6, not the 3 of a Gaussian', () => {
  for (const [id, generate] of Object.entries(GENERATORS)) {
    // Each weight tensor has its own scale b, so each is normalised to unit variance before pooling.
    const pooled: number[] = [];
    for (const t of parts(generate()).initializers.filter((w) => w.name.endsWith('.weight') && w.dims.length >= 2)) {
      const w = tensorToFloat32(t);
      const rms = Math.sqrt(w.reduce((a, x) => a + x * x, 0) / w.length);
      for (const x of w) pooled.push(x / rms);
    }
    const m2 = pooled.reduce((a, x) => a + x * x, 0) / pooled.length;
    const m4 = pooled.reduce((a, x) => a + x ** 4, 0) / pooled.length;
    const kurtosis = m4 / (m2 * m2);
    assert.ok(pooled.length > 9000, `${id}: ${pooled.length} weights`);
    assert.ok(kurtosis > 5 && kurtosis < 7, `${id}: kurtosis ${kurtosis.toFixed(2)}`);
  }
});

test('activations stay in a sane range: logits of order 1 on Normal inputs', async () => {
  for (const id of Object.keys(GENERATORS)) {
    const zoo = await loadZooModel(id);
    const session = await createSession(zoo.model);
    for (const feeds of await zoo.sampleInputs(4, 9)) {
      const logits = (await session.run(feeds))['logits']!.data as Float32Array;
      const rms = Math.sqrt(logits.reduce((a, x) => a + x * x, 0) / logits.length);
      assert.ok(rms > 0.1 && rms < 10, `${id}: logits rms ${rms.toFixed(3)}`);
    }
    await session.release();
  }
});
