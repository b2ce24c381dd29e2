// Tests of dependency groups: the residual CNN ties its residual stream into one group, the transformer
// prunes only its FFN hidden dims, a Concat is left whole, a depthwise conv and a gate join their group.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyzeGroups, type PruneGroup } from '../../../planner/prune/groups.ts';
import { loadZooModel } from '../../../planner/zoo/index.ts';
import { concatDepthwise, deconvChain, resizeChain, singleLayer } from './fixtures.ts';

const members = (g: { members: Array<{ tensor: string; role: string; axis: number; block: number }> }): string[] =>
  g.members.map((m) => `${m.role}:${m.tensor}@${m.axis}${m.block > 1 ? `x${m.block}` : ''}`).sort();

test('residual CNN: the stem and the second residual conv form one group with every BatchNorm and reader', async () => {
  const { model } = await loadZooModel('cnn');
  const { groups, skipped } = analyzeGroups(model);
  assert.deepEqual(groups.map((g) => [g.id, g.channels, g.producers]), [
    ['channels:stem.conv/conv', 48, ['stem.conv/conv', 'res.conv2/conv']],
    ['channels:res.conv1/conv', 48, ['res.conv1/conv']],
    ['channels:head.conv/conv', 96, ['head.conv/conv']],
  ]);
  const stream = groups[0]!;
  const bn = (p: string): string[] => ['bias', 'running_mean', 'running_var', 'weight'].map((k) => `norm:${p}.${k}@0`);
  assert.deepEqual(members(stream), [
    'bias:res.conv2.bias@0', 'bias:stem.conv.bias@0',
    'consumer:head.conv.weight@1', 'consumer:res.conv1.weight@1',
    ...bn('res.bn2'), ...bn('stem.bn'),
    'producer:res.conv2.weight@0', 'producer:stem.conv.weight@0',
  ]);
  assert.ok(stream.activations.some((a) => a.tensor === 'res/add'), 'the residual sum is in the group');
  assert.ok(members(groups[2]!).includes('consumer:fc.weight@1'), 'the Gemm after Flatten reads the head group');
  assert.deepEqual(skipped.map((s) => s.producers), [['logits']]);
  assert.match(skipped[0]!.reason, /reach the graph output 'logits'/);
});

test('transformer: FFN hidden dims and whole attention heads are groups; the residual stream is left whole with the reason', async () => {
  const { model } = await loadZooModel('transformer');
  const { groups, skipped } = analyzeGroups(model);
  assert.deepEqual(groups.map((g) => [g.id, g.channels]), [
    ['channels:block0.ffn.fc1/matmul', 64], ['channels:block1.ffn.fc1/matmul', 64],
    ['heads:block0.attn/softmax', 4], ['heads:block1.attn/softmax', 4],
  ]);
  assert.deepEqual(members(groups[0]!), ['bias:block0.ffn.fc1.bias@0', 'consumer:block0.ffn.fc2.weight@0', 'producer:block0.ffn.fc1.weight@1']);
  assert.deepEqual(members(groups[2]!), [
    'bias:block0.attn.k.bias@0x8', 'bias:block0.attn.q.bias@0x8', 'bias:block0.attn.v.bias@0x8',
    'consumer:block0.attn.out.weight@0x8',
    'producer:block0.attn.k.weight@1x8', 'producer:block0.attn.q.weight@1x8', 'producer:block0.attn.v.weight@1x8',
    'shape:shape.heads@2', 'shape:shape.heads@2', 'shape:shape.heads@2', 'shape:shape.tokens@2x8',
  ]);
  assert.deepEqual(skipped.map((s) => s.producers[0]), ['embed/matmul', 'classifier/matmul']);
  const stream = skipped[0]!;
  assert.ok(stream.producers.includes('block1.ffn.fc2/matmul') && stream.producers.includes('block0.attn.out/matmul'));
  assert.match(stream.reason, /'block0.ln1\/ln' \(LayerNormalization\) reads its channels, and the pruner does not know how LayerNormalization moves them/);
});

test('a Concat along the channels: each input group owns its segment of the reader; a depthwise conv and a gate join their group', () => {
  const { groups, skipped } = analyzeGroups(concatDepthwise());
  assert.deepEqual(groups.map((g) => g.id), ['channels:a', 'channels:b', 'channels:c']);
  const withOffset = (g: PruneGroup): string[] => g.members.filter((m) => m.role === 'consumer').map((m) => `${m.tensor}@${m.axis}+${m.offset ?? '-'}`);
  assert.deepEqual([withOffset(groups[0]!), withOffset(groups[1]!)], [['c.w@1+0'], ['c.w@1+4']]);
  assert.ok(groups[0]!.activations.some((a) => a.tensor === 'cat'));
  assert.deepEqual(members(groups[2]!), ['bias:c.b@0', 'bias:d.b@0', 'consumer:fc.w@1', 'depthwise:d.w@0', 'producer:c.w@0', 'scale:gate@1']);
  assert.deepEqual(skipped.map((s) => s.producers[0]), ['fc']);
});

test('a model whose only layer writes the output has no group', () => {
  const { groups, skipped } = analyzeGroups(singleLayer());
  assert.equal(groups.length, 0);
  assert.match(skipped[0]!.reason, /graph output 'y'/);
});

test('channels pass a Resize with constant scales of 1 on them; a Resize to constant sizes leaves its group whole', () => {
  const { groups, skipped } = analyzeGroups(resizeChain());
  assert.deepEqual(groups.map((g) => g.id), ['channels:a']);
  assert.deepEqual(members(groups[0]!), ['bias:a.b@0', 'consumer:b.w@1', 'producer:a.w@0']);
  assert.match(skipped.find((s) => s.producers[0] === 'b')!.reason, /'down' \(Resize\) resizes with other than constant scales of 1 on the channels/);
});

test('a ConvTranspose reads channels on its weight axis 0 and writes its own on axis 1', () => {
  const { groups, skipped } = analyzeGroups(deconvChain());
  assert.deepEqual(groups.map((g) => g.id), ['channels:a', 'channels:b']);
  assert.deepEqual(members(groups[0]!), ['bias:a.b@0', 'consumer:b.w@0', 'producer:a.w@0']);
  assert.deepEqual(members(groups[1]!), ['bias:b.b@0', 'consumer:c.w@0', 'producer:b.w@1']);
  assert.deepEqual(skipped.map((s) => s.producers[0]), ['c']);
});
