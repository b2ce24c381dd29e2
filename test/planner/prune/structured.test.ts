// Tests of structured pruning: pruned models shrink, load and run in ONNX Runtime and equal the
// zero-masked original; plans reach the ratio; prune-then-split equals split-then-prune; bad calls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constantTensors, tensorDims, type ModelProto, tensorToFloat32 } from '../../../planner/onnx/model.ts';
import { modelGraph } from '../../../planner/onnx/graph.ts';
import { createSession, maxAbsDiff, type Feeds } from '../../../planner/onnx/session.ts';
import { analyzeModel, findCut } from '../../../planner/onnx/analyze.ts';
import { splitModel } from '../../../planner/onnx/split.ts';
import { applyPruning, maskPruning, planPruning, type PruningPlan } from '../../../planner/prune/structured.ts';
import { loadZooModel } from '../../../planner/zoo/index.ts';
import { EdgesplitError } from '../../../shared/errors.ts';
import { concatDepthwise, deconvChain, normalFeeds, resizeChain, singleLayer, tinyChain } from './fixtures.ts';

async function outputs(model: ModelProto, inputs: readonly Feeds[]): Promise<Float32Array[]> {
  const s = await createSession(model);
  try {
    const out: Float32Array[] = [];
    for (const f of inputs) out.push((await s.run(f))[s.outputNames[0]!]!.data as Float32Array);
    return out;
  } finally {
    await s.release();
  }
}

function dimsOf(model: ModelProto, name: string): number[] {
  return tensorDims(constantTensors(modelGraph(model)).get(name)!);
}

for (const id of ['mlp', 'cnn', 'transformer', 'mnist-mlp']) {
  test(`${id}: structured pruning at 0.5 shrinks the layers and equals the zero-masked original in ONNX Runtime`, async () => {
    const zoo = await loadZooModel(id);
    const inputs = await zoo.sampleInputs(8, 5);
    for (const scope of ['uniform', 'global'] as const) {
      const plan = planPruning(zoo.model, { ratio: 0.5, scope });
      assert.ok(Math.abs(plan.achievedRatio - 0.5) < 0.03, `${scope}: achieved ${plan.achievedRatio}`);
      assert.equal(plan.removedWeights, Math.round(plan.achievedRatio * plan.prunableWeights));
      const pruned = applyPruning(zoo.model, plan);
      for (const g of plan.groups) {
        const producer = g.members.find((m) => m.role === 'producer')!;
        assert.equal(dimsOf(pruned, producer.tensor)[producer.axis], g.kept.length * producer.block, `${g.id} shrinks`);
      }
      const [a, b] = [await outputs(pruned, inputs), await outputs(maskPruning(zoo.model, plan), inputs)];
      const original = await outputs(zoo.model, inputs);
      a.forEach((y, i) => {
        const { maxDiff, scale } = maxAbsDiff(y, b[i]!);
        assert.ok(maxDiff <= 1e-5 * scale, `${scope} input ${i}: pruned and masked differ by ${maxDiff} at scale ${scale}`);
        assert.ok(maxAbsDiff(y, original[i]!).maxDiff > 1e-3, 'pruning changed the output');
      });
    }
  });
}

test('uniform plans keep the same share of every group; a plan is a pure function of the model and options', async () => {
  const { model } = await loadZooModel('cnn');
  const plan = planPruning(model, { ratio: 0.5, norm: 'l1' });
  const shares = plan.groups.map((g) => g.kept.length / g.channels);
  assert.ok(Math.max(...shares) - Math.min(...shares) < 0.05, `shares ${shares.join(', ')}`);
  assert.deepEqual(planPruning(model, { ratio: 0.5, norm: 'l1' }), plan);
  assert.notDeepEqual(planPruning(model, { ratio: 0.5, norm: 'l2' }).groups.map((g) => g.kept), plan.groups.map((g) => g.kept));
  assert.deepEqual(planPruning(model, { ratio: 0 }).groups.map((g) => g.kept.length), plan.groups.map((g) => g.channels));
});

test('the kept channels are the ones of largest magnitude', () => {
  const model = tinyChain();
  const plan = planPruning(model, { ratio: 0.4, norm: 'l1' });
  const w = constantTensors(modelGraph(model));
  const rows = (name: string, n: number, k: number): number[] => {
    const t = w.get(name)!;
    const d = new Float32Array(new Uint8Array(t.rawData!).buffer);
    return Array.from({ length: n }, (_, r) => Array.from(d.subarray(r * k, r * k + k)).reduce((a, v) => a + Math.abs(v), 0));
  };
  const w1 = rows('w1', 2, 4);
  const w2cols = [0, 1].map((c) => [0, 1, 2].reduce((a, r) => a + Math.abs(new Float32Array(new Uint8Array(w.get('w2')!.rawData!).buffer)[r * 2 + c]!), 0));
  const importance = w1.map((v, i) => v + w2cols[i]!);
  assert.deepEqual(plan.groups[0]!.kept, [importance[0]! >= importance[1]! ? 0 : 1]);
});

async function splitAt(model: ModelProto, at: string): Promise<{ head: ModelProto; tail: ModelProto; crossing: string[] }> {
  const analysis = await analyzeModel(model);
  const cut = findCut(analysis, at);
  const s = splitModel(model, cut, analysis);
  return { head: s.head, tail: s.tail, crossing: s.crossing.map((t) => t.name) };
}

async function runHalves(head: ModelProto, tail: ModelProto, inputs: readonly Feeds[]): Promise<Array<{ mid: Feeds; y: Float32Array }>> {
  const h = await createSession(head);
  const t = await createSession(tail);
  try {
    const out: Array<{ mid: Feeds; y: Float32Array }> = [];
    for (const f of inputs) {
      const mid = await h.run(f);
      out.push({ mid, y: (await t.run(mid))[t.outputNames[0]!]!.data as Float32Array });
    }
    return out;
  } finally {
    await h.release();
    await t.release();
  }
}

for (const [id, at] of [['mlp', 'p2'], ['cnn', 'p7'], ['cnn', 'p17'], ['transformer', 'p20'], ['transformer', 'p29']] as const) {
  test(`${id} cut at ${at}: pruning then splitting gives the same halves as splitting then pruning each half with the same plan`, async () => {
    const zoo = await loadZooModel(id);
    const plan: PruningPlan = planPruning(zoo.model, { ratio: 0.5 });
    const a = await splitAt(applyPruning(zoo.model, plan), at);
    const b = await splitAt(zoo.model, at);
    const bHead = applyPruning(b.head, plan, 'head');
    const bTail = applyPruning(b.tail, plan, 'tail');
    assert.deepEqual(a.crossing, b.crossing);
    const inputs = await zoo.sampleInputs(3, 2);
    const ra = await runHalves(a.head, a.tail, inputs);
    const rb = await runHalves(bHead, bTail, inputs);
    ra.forEach((r, i) => {
      for (const name of a.crossing) {
        assert.deepEqual(rb[i]!.mid[name]!.dims, r.mid[name]!.dims, `crossing ${name} dims`);
        assert.deepEqual(rb[i]!.mid[name]!.data, r.mid[name]!.data, `crossing ${name} values`);
      }
      assert.deepEqual(rb[i]!.y, r.y);
    });
    for (const [x, y] of [[a.head, bHead], [a.tail, bTail]] as const) {
      const wx = constantTensors(modelGraph(x));
      const wy = constantTensors(modelGraph(y));
      assert.deepEqual([...wx.keys()].sort(), [...wy.keys()].sort());
      for (const [name, t] of wx) assert.deepEqual(tensorDims(wy.get(name)!), tensorDims(t), `${name} dims`);
    }
  });
}

test('one half of a split prunes alone: groups inside it shrink, groups crossing the cut stay whole', async () => {
  const zoo = await loadZooModel('mlp');
  const { head, tail } = await splitAt(zoo.model, 'p4');
  const plan = planPruning(head, { ratio: 0.3 }, 'head');
  assert.deepEqual(plan.groups.map((g) => g.id), ['channels:fc1/gemm']);
  assert.match(plan.skipped.find((s) => s.producers[0] === 'fc2/gemm')!.reason, /reach the graph output/);
  const prunedHead = applyPruning(head, plan, 'head');
  const inputs = await zoo.sampleInputs(2, 3);
  const whole = await outputs(zoo.model, inputs);
  const masked = await outputs(maskPruning(zoo.model, plan), inputs);
  const halves = await runHalves(prunedHead, tail, inputs);
  halves.forEach((h, i) => {
    assert.ok(maxAbsDiff(h.y, masked[i]!).maxDiff <= 1e-5 * maxAbsDiff(h.y, masked[i]!).scale, 'pruned head + tail = masked whole');
    assert.ok(maxAbsDiff(h.y, whole[i]!).maxDiff > 1e-3);
  });
});

test('ppocr-cls: the safe groups (conv channels inside blocks) prune, the model still runs and equals its zero-masked form', async () => {
  const zoo = await loadZooModel('ppocr-cls');
  const plan = planPruning(zoo.model, { ratio: 0.2 });
  assert.ok(plan.groups.length >= 10, `${plan.groups.length} groups`);
  assert.ok(plan.skipped.length >= 1);
  for (const s of plan.skipped) assert.ok(s.reason.length > 10);
  const inputs = await zoo.sampleInputs(2, 1);
  const [a, b] = [await outputs(applyPruning(zoo.model, plan), inputs), await outputs(maskPruning(zoo.model, plan), inputs)];
  a.forEach((y, i) => {
    const { maxDiff, scale } = maxAbsDiff(y, b[i]!);
    assert.ok(maxDiff <= 1e-4 * scale, `differ by ${maxDiff} at scale ${scale}`);
  });
});

test('a Concat, a depthwise conv and its gate shrink with their groups, and the graph equals its zero-masked form', async () => {
  const model = concatDepthwise();
  const base = planPruning(model, { ratio: 0 });
  const keep: Record<string, number[]> = { 'channels:a': [1, 3], 'channels:b': [0], 'channels:c': [0, 2, 3] };
  const plan: PruningPlan = { ...base, groups: base.groups.map((g) => ({ ...g, kept: keep[g.id]! })) };
  const pruned = applyPruning(model, plan);
  assert.deepEqual([dimsOf(pruned, 'a.w'), dimsOf(pruned, 'c.w'), dimsOf(pruned, 'd.w'), dimsOf(pruned, 'gate'), dimsOf(pruned, 'fc.w')], [[2, 3, 3, 3], [3, 3, 3, 3], [3, 1, 3, 3], [1, 3, 1, 1], [2, 3]]);
  const inputs = normalFeeds([1, 3, 8, 8], 2, 1);
  const [a, b] = [await outputs(pruned, inputs), await outputs(maskPruning(model, plan), inputs)];
  a.forEach((y, i) => assert.ok(maxAbsDiff(y, b[i]!).maxDiff <= 1e-5 * maxAbsDiff(y, b[i]!).scale));
  // c's input channels: a's kept 1 and 3, then b's kept 0 at offset 4.
  const full = constantTensors(modelGraph(model)).get('c.w')!;
  const cw = tensorToFloat32(constantTensors(modelGraph(pruned)).get('c.w')!);
  const orig = tensorToFloat32(full);
  assert.deepEqual(Array.from(cw.subarray(0, 27)), [1, 3, 4].flatMap((ci) => Array.from(orig.subarray(ci * 9, ci * 9 + 9))));
  const automatic = planPruning(model, { ratio: 0.3 });
  const [c, d] = [await outputs(applyPruning(model, automatic), inputs), await outputs(maskPruning(model, automatic), inputs)];
  c.forEach((y, i) => assert.ok(maxAbsDiff(y, d[i]!).maxDiff <= 1e-5 * maxAbsDiff(y, d[i]!).scale));
});

test('attention heads: blocks may keep different heads although they share one Reshape shape constant', async () => {
  const zoo = await loadZooModel('transformer');
  const base = planPruning(zoo.model, { ratio: 0 });
  const keep: Record<string, number[]> = { 'heads:block0.attn/softmax': [0, 1, 3], 'heads:block1.attn/softmax': [2] };
  const plan: PruningPlan = { ...base, groups: base.groups.map((g) => ({ ...g, kept: keep[g.id] ?? g.kept })) };
  const pruned = applyPruning(zoo.model, plan);
  assert.deepEqual([dimsOf(pruned, 'block0.attn.q.weight'), dimsOf(pruned, 'block1.attn.v.weight'), dimsOf(pruned, 'block1.attn.out.weight')], [[32, 24], [32, 8], [8, 32]]);
  const inputs = await zoo.sampleInputs(3, 1);
  const [a, b] = [await outputs(pruned, inputs), await outputs(maskPruning(zoo.model, plan), inputs)];
  a.forEach((y, i) => assert.ok(maxAbsDiff(y, b[i]!).maxDiff <= 1e-5 * maxAbsDiff(y, b[i]!).scale));
});

test('roundTo keeps a multiple of that many channels in each channel group and leaves head counts free', async () => {
  const { model } = await loadZooModel('transformer');
  for (const scope of ['uniform', 'global'] as const) {
    const plan = planPruning(model, { ratio: 0.25, roundTo: 8, scope });
    for (const g of plan.groups) if (g.kind === 'channels') assert.equal(g.kept.length % 8, 0, `${scope} ${g.id}: ${g.kept.length}`);
    assert.ok(plan.groups.some((g) => g.kind === 'heads' && g.kept.length % 2 === 1), 'an odd head count is allowed');
    assert.ok(Math.abs(plan.achievedRatio - 0.25) < 0.03, `${scope}: ${plan.achievedRatio}`);
  }
  assert.throws(() => planPruning(model, { ratio: 0.4, roundTo: 0 }), (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_USAGE' && /'roundTo' must be an integer >= 1, got 0/.test(e.message));
});

test('include restricts pruning to chosen groups, e.g. the device half of a split; the rest stays whole', async () => {
  const { model } = await loadZooModel('mlp');
  const plan = planPruning(model, { ratio: 0.3, include: (g) => g.producers.includes('fc1/gemm') });
  assert.deepEqual(plan.groups.map((g) => g.id), ['channels:fc1/gemm']);
  assert.ok(plan.groups[0]!.kept.length < 128);
  assert.ok(plan.skipped.some((s) => s.producers[0] === 'fc2/gemm' && s.reason === 'left out by the caller (include)'));
  const pruned = applyPruning(model, plan);
  assert.deepEqual([dimsOf(pruned, 'fc1.weight')[0], dimsOf(pruned, 'fc2.weight')], [plan.groups[0]!.kept.length, [128, plan.groups[0]!.kept.length]]);
});

test('groups through a Resize and through ConvTranspose layers shrink, and the graphs equal their zero-masked forms', async () => {
  const deconv = deconvChain();
  const p = planPruning(deconv, { ratio: 0.4 });
  assert.ok(p.groups.every((g) => g.kept.length < g.channels));
  const x = normalFeeds([1, 3, 8, 8], 2, 3);
  const [e, f] = [await outputs(applyPruning(deconv, p), x), await outputs(maskPruning(deconv, p), x)];
  e.forEach((y, i) => assert.ok(maxAbsDiff(y, f[i]!).maxDiff <= 1e-5 * maxAbsDiff(y, f[i]!).scale));
  const model = resizeChain();
  const plan = planPruning(model, { ratio: 0.3 });
  const inputs = normalFeeds([1, 3, 8, 8], 2, 2);
  const [a, b] = [await outputs(applyPruning(model, plan), inputs), await outputs(maskPruning(model, plan), inputs)];
  assert.ok(plan.groups[0]!.kept.length < 6);
  a.forEach((y, i) => assert.ok(maxAbsDiff(y, b[i]!).maxDiff <= 1e-5 * maxAbsDiff(y, b[i]!).scale));
});

test('BAD CALL - ratio outside [0, 1) is ERR_PRUNE_RATIO', () => {
  for (const ratio of [1, -0.1, Number.NaN, 1.5]) {
    assert.throws(() => planPruning(tinyChain(), { ratio }), (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_PRUNE_RATIO' && /'ratio' is out of range \[0, 1\), got /.test(e.message));
  }
});

test('BAD CALL - a model with nothing prunable is ERR_PRUNE_NOTHING and says why', () => {
  assert.throws(() => planPruning(singleLayer(), { ratio: 0.5 }), (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_PRUNE_NOTHING' && /nothing to prune/.test(e.message) && /graph output 'y'/.test(e.message) && /--unstructured/.test(e.message));
});

test('BAD CALL - a ratio that would empty a layer is ERR_PRUNE_EMPTIES_LAYER with the largest ratio allowed', () => {
  const plan = planPruning(tinyChain(), { ratio: 0.5 });
  assert.deepEqual(plan.groups.map((g) => g.kept.length), [1]);
  assert.throws(() => planPruning(tinyChain(), { ratio: 0.6 }), (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_PRUNE_EMPTIES_LAYER' && /removes at most 0\.5000 of the prunable weights/.test(e.message) && /ratio of at most 0\.5/.test(e.message));
  const empty: PruningPlan = { ...plan, groups: plan.groups.map((g) => ({ ...g, kept: [] })) };
  assert.throws(() => applyPruning(tinyChain(), empty), (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_PRUNE_EMPTIES_LAYER' && /keeps no channel of its 2/.test(e.message));
});

test('BAD CALL - a plan applied to a model it does not fit is ERR_MODEL_INVALID', async () => {
  const plan = planPruning(tinyChain(), { ratio: 0.5 });
  const other = planPruning((await loadZooModel('mlp')).model, { ratio: 0.5 });
  assert.throws(() => applyPruning(tinyChain(), { ...plan, groups: other.groups.map((g) => ({ ...g, members: g.members.map((m) => ({ ...m, tensor: 'w1' })) })) }),
    (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_MODEL_INVALID' && /does not fit this model: 'w1' has 2 entries on axis 0, the plan expects 128/.test(e.message));
});
