// Tests of the MNIST data and the trained zoo model: deterministic disjoint splits, the committed
// model's accuracy in ONNX Runtime against its record, and a deterministic trainer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mnistSample, mnistSplits } from '../../../planner/zoo/mnist.ts';
import { loadZooModel, ZOO_MODELS_DIR } from '../../../planner/zoo/index.ts';
import { encodeModel } from '../../../planner/onnx/model.ts';
import { createSession } from '../../../planner/onnx/session.ts';
import { digitFeedDims, exportMlp, MNIST_CNN_TRAIN_CONFIG, MNIST_TRAIN_CONFIG, onnxAccuracy, readMnistRecord, trainMlp } from '../../../planner/zoo/train-mnist.ts';
import { exportCnn, trainCnn } from '../../../planner/zoo/train-cnn.ts';

test('the split takes the first 80% of each digit for training and the rest for test', () => {
  const { train, test: held } = mnistSplits();
  assert.equal(train.length, 7996);
  assert.equal(held.length, 2004);
  const perClass = (set: typeof train): number[] => Array.from({ length: 10 }, (_, c) => set.filter((d) => d.label === c).length);
  assert.deepEqual(perClass(train), [800, 901, 792, 825, 784, 690, 811, 856, 755, 782]);
  assert.deepEqual(perClass(held), [201, 226, 199, 207, 196, 173, 203, 214, 189, 196]);
  const key = (p: Float32Array): string => Buffer.from(p.buffer).toString('base64');
  const trainKeys = new Set(train.map((d) => key(d.pixels)));
  assert.equal(held.filter((d) => trainKeys.has(key(d.pixels))).length, 0, 'no test digit is also a training digit');
  assert.ok(train.every((d) => d.pixels.length === 784 && d.pixels.every((v) => v >= 0 && v <= 1)));
});

test('mnistSample is seeded and prefix-stable', () => {
  const a = mnistSample('test', 50, 3);
  assert.deepEqual(mnistSample('test', 50, 3), a);
  assert.deepEqual(mnistSample('test', 20, 3), a.slice(0, 20));
  assert.notDeepEqual(mnistSample('test', 50, 4).map((d) => d.label), a.map((d) => d.label));
});

for (const id of ['mnist-mlp', 'mnist-cnn'] as const) {
  test(`${id}: the committed model matches its record: sha256, and test accuracy >= 0.9 in ONNX Runtime`, async () => {
    const record = await readMnistRecord(id);
    const bytes = await readFile(join(ZOO_MODELS_DIR, `${id}.onnx`));
    assert.equal(createHash('sha256').update(bytes).digest('hex'), record.sha256);
    const zoo = await loadZooModel(id);
    const { inputs, labels } = await zoo.labelled!(mnistSplits().test.length);
    assert.deepEqual(inputs[0]!['x']!.dims, digitFeedDims(id));
    const session = await createSession(zoo.model);
    let score = 0;
    for (let i = 0; i < inputs.length; i++) score += zoo.taskMetric!.score(await session.run(inputs[i]!), labels[i]!);
    await session.release();
    const accuracy = score / inputs.length;
    assert.ok(accuracy >= 0.9, `test accuracy ${accuracy}`);
    assert.ok(Math.abs(accuracy - record.testAccuracy) <= 0.005, `measured ${accuracy}, recorded ${record.testAccuracy}`);
    assert.ok(record.trainAccuracy >= accuracy);
  });
}

test('the MLP trainer is deterministic and learns: one short run twice gives the same model', async () => {
  const train = mnistSample('train', 600, 11);
  const held = mnistSample('test', 300, 11);
  const config = { ...MNIST_TRAIN_CONFIG, epochs: 2 };
  const a = exportMlp(trainMlp(train, held, config));
  const b = exportMlp(trainMlp(train, held, config));
  assert.deepEqual(encodeModel(a), encodeModel(b));
  assert.notDeepEqual(encodeModel(exportMlp(trainMlp(train, held, { ...config, seed: config.seed + 1 }))), encodeModel(a));
  const accuracy = await onnxAccuracy(a, held);
  assert.ok(accuracy > 0.7, `600 digits, 2 epochs: test accuracy ${accuracy}`);
});

test('the CNN trainer is deterministic and learns: one short run twice gives the same model', async () => {
  const train = mnistSample('train', 300, 12);
  const held = mnistSample('test', 200, 12);
  const config = { ...MNIST_CNN_TRAIN_CONFIG, epochs: 2 };
  const a = exportCnn(trainCnn(train, held, config));
  assert.deepEqual(encodeModel(exportCnn(trainCnn(train, held, config))), encodeModel(a));
  const accuracy = await onnxAccuracy(a, held, digitFeedDims('mnist-cnn'));
  assert.ok(accuracy > 0.5, `300 digits, 2 epochs: test accuracy ${accuracy}`);
});
