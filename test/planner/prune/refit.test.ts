// Tests of the least-squares re-fit: it buys back MNIST accuracy at ratio 0.75, lowers each re-fitted
// layer's output error, works through Conv consumers, and needs calibration inputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyPruning, planPruning } from '../../../planner/prune/structured.ts';
import { refitPruned } from '../../../planner/prune/refit.ts';
import { compareOutputs, taskScore } from '../../../planner/prune/distortion.ts';
import { loadZooModel } from '../../../planner/zoo/index.ts';
import { EdgesplitError } from '../../../shared/errors.ts';

test('re-fit recovers MNIST accuracy at ratio 0.75 (the benchmark measures 41.6% without, 88.0% with)', async () => {
  const zoo = await loadZooModel('mnist-mlp');
  const plan = planPruning(zoo.model, { ratio: 0.75 });
  const pruned = applyPruning(zoo.model, plan);
  const { model, layers } = await refitPruned(zoo.model, pruned, plan, await zoo.sampleInputs(512, 0));
  assert.deepEqual(layers.map((l) => l.node), ['fc2/gemm', 'logits']);
  for (const l of layers) assert.ok(l.errorAfter < 0.5 * l.errorBefore, `${l.node}: ${l.errorBefore} -> ${l.errorAfter}`);
  const test500 = await zoo.labelled!(500, 0);
  const [full, without, withRefit] = [await taskScore(zoo.model, test500, zoo.taskMetric!), await taskScore(pruned, test500, zoo.taskMetric!), await taskScore(model, test500, zoo.taskMetric!)];
  assert.ok(full > 0.9, `full model ${full}`);
  assert.ok(withRefit > without + 0.25, `without ${without}, with ${withRefit}`);
  assert.ok(withRefit > full - 0.15);
});

test('re-fit through Conv consumers lowers the CNN output distortion on held-out inputs', async () => {
  const zoo = await loadZooModel('cnn');
  const plan = planPruning(zoo.model, { ratio: 0.5 });
  const pruned = applyPruning(zoo.model, plan);
  const { model, layers } = await refitPruned(zoo.model, pruned, plan, await zoo.sampleInputs(32, 0));
  assert.deepEqual(layers.map((l) => l.node), ['res.conv1/conv', 'res.conv2/conv', 'head.conv/conv', 'logits']);
  for (const l of layers) assert.ok(l.errorAfter < l.errorBefore, `${l.node}: ${l.errorBefore} -> ${l.errorAfter}`);
  const held = await zoo.sampleInputs(20, 9);
  const [a, b] = [await compareOutputs(zoo.model, pruned, held), await compareOutputs(zoo.model, model, held)];
  assert.ok(b.outputDistortion < 0.5 * a.outputDistortion, `${a.outputDistortion} -> ${b.outputDistortion}`);
});

test('re-fit through MatMul + Add layers: the transformer FFN and the attention output projections', async () => {
  const zoo = await loadZooModel('transformer');
  const plan = planPruning(zoo.model, { ratio: 0.5 });
  const pruned = applyPruning(zoo.model, plan);
  const { model, layers, skipped } = await refitPruned(zoo.model, pruned, plan, await zoo.sampleInputs(64, 0));
  assert.deepEqual(layers.map((l) => [l.node, l.unknowns]), [['block0.attn.out/matmul', 17], ['block0.ffn.fc2/matmul', 33], ['block1.attn.out/matmul', 17], ['block1.ffn.fc2/matmul', 33]]);
  assert.deepEqual(skipped, []);
  const held = await zoo.sampleInputs(20, 9);
  const [a, b] = [await compareOutputs(zoo.model, pruned, held), await compareOutputs(zoo.model, model, held)];
  assert.ok(b.outputDistortion < 0.5 * a.outputDistortion, `${a.outputDistortion} -> ${b.outputDistortion}`);
});

test('a layer with more unknowns than maxUnknowns is left as pruned and reported', async () => {
  const zoo = await loadZooModel('mnist-mlp');
  const plan = planPruning(zoo.model, { ratio: 0.5 });
  const { layers, skipped } = await refitPruned(zoo.model, applyPruning(zoo.model, plan), plan, await zoo.sampleInputs(64, 0), { maxUnknowns: 40 });
  assert.deepEqual(layers.map((l) => l.node), ['logits']);
  assert.deepEqual(skipped, [{ node: 'fc2/gemm', reason: '67 unknowns, more than maxUnknowns 40' }]);
});

test('BAD CALL - re-fit without calibration inputs is ERR_USAGE', async () => {
  const { model } = await loadZooModel('mlp');
  const plan = planPruning(model, { ratio: 0.5 });
  await assert.rejects(refitPruned(model, applyPruning(model, plan), plan, []), (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_USAGE' && /re-fit needs calibration inputs, got 0/.test(e.message));
});
