// Tests of exact splitting in real ONNX Runtime sessions: head then tail reproduces the full model on every
// cut of the generated and MNIST models and on cuts spread over the PP-OCR models; halves keep only their weights.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type ModelProto, decodeModel, encodeModel, opsetVersion, loadModel, tensorDims } from '../../../planner/onnx/model.ts';
import { graphParts, modelGraph, indexGraph } from '../../../planner/onnx/graph.ts';
import { type CutPoint, type ModelAnalysis, analyzeModel, findCut } from '../../../planner/onnx/analyze.ts';
import { splitModel } from '../../../planner/onnx/split.ts';
import { type Feeds, type PlannerSession, createSession, maxAbsDiff } from '../../../planner/onnx/session.ts';
import { listZoo, loadZooModel } from '../../../planner/zoo/index.ts';
import { constantTensors } from '../../../planner/onnx/model.ts';
import { EdgesplitError } from '../../../shared/errors.ts';
import { REC_PATH, maskModel, residualModel } from './fixtures.ts';

/** Float weights a half holds: initializers and Constant values. */
function floatParams(model: ModelProto): number {
  let n = 0;
  for (const t of constantTensors(modelGraph(model)).values()) if (t.dataType === 1) n += tensorDims(t).reduce((a, b) => a * b, 1);
  return n;
}

/** Run head then tail and compare every output with the full model's; returns the worst diff relative to the output scale. */
async function composeAndCompare(model: ModelProto, analysis: ModelAnalysis, cut: CutPoint, feeds: Feeds[], expected: Feeds[]): Promise<number> {
  const { head, tail, crossing } = splitModel(model, cut, analysis);
  // both halves survive our own loader (valid, non-empty graphs, same opset and IR version)
  for (const half of [head, tail]) {
    const again = decodeModel(encodeModel(half), `${cut.id} half`);
    assert.equal(opsetVersion(again), opsetVersion(model));
    assert.equal(String(again.irVersion), String(model.irVersion));
  }
  const h = await createSession(head);
  const t = await createSession(tail);
  try {
    assert.deepEqual([...h.outputNames], crossing.map((c) => c.name), `${cut.id}: head outputs are the crossing tensors`);
    assert.deepEqual([...t.inputNames].sort(), crossing.map((c) => c.name).sort(), `${cut.id}: tail inputs are the crossing tensors`);
    assert.equal(floatParams(head), cut.headParams, `${cut.id}: head keeps exactly its weights`);
    assert.equal(floatParams(tail), cut.tailParams, `${cut.id}: tail keeps exactly its weights`);
    let worst = 0;
    for (let i = 0; i < feeds.length; i++) {
      const headFeeds = Object.fromEntries(Object.entries(feeds[i]!).filter(([name]) => h.inputNames.includes(name)));
      const mid = await h.run(headFeeds);
      for (const c of crossing) {
        const fixed = c.symbolicDims.map((d, k) => (typeof d === 'number' ? d : mid[c.name]!.dims[k]));
        assert.deepEqual(mid[c.name]!.dims, fixed, `${cut.id}: ${c.name} has the analysed dims where they are fixed`);
      }
      const got = await t.run(mid);
      for (const [name, ref] of Object.entries(expected[i]!)) {
        const d = maxAbsDiff(ref.data as Float32Array, got[name]!.data as Float32Array);
        assert.ok(d.maxDiff <= 1e-5 * d.scale, `${cut.id}: output ${name} differs by ${d.maxDiff} (scale ${d.scale})`);
        worst = Math.max(worst, d.maxDiff / d.scale);
      }
    }
    return worst;
  } finally {
    await h.release();
    await t.release();
  }
}

async function reference(model: ModelProto, feeds: Feeds[]): Promise<Feeds[]> {
  const session: PlannerSession = await createSession(model);
  try {
    const out: Feeds[] = [];
    for (const f of feeds) out.push(await session.run(f));
    return out;
  } finally {
    await session.release();
  }
}

// Every generated and trained zoo model, at every cut (the npm PP-OCR models get spread cuts below).
for (const id of listZoo().filter((m) => m.source !== 'npm').map((m) => m.id)) {
  test(`${id}: head then tail reproduces the model at every cut point`, async () => {
    const zoo = await loadZooModel(id);
    const analysis = await analyzeModel(zoo.model, { inputShapes: zoo.inputShapes });
    const feeds = await zoo.sampleInputs(2, 11);
    const expected = await reference(zoo.model, feeds);
    assert.ok(analysis.cuts.length >= 6, `${id} has ${analysis.cuts.length} cuts`);
    for (const cut of analysis.cuts) await composeAndCompare(zoo.model, analysis, cut, feeds, expected);
  });
}

/** `n` cut indices spread evenly over the analysis, both ends included. */
function spread(analysis: ModelAnalysis, n: number): CutPoint[] {
  const last = analysis.cuts.length - 1;
  const picks = new Set(Array.from({ length: n }, (_, k) => Math.round((k * last) / (n - 1))));
  return [...picks].map((i) => analysis.cuts[i]!);
}

test('ppocr-cls: head then tail reproduces the classifier at 12 cuts spread over it', async () => {
  const zoo = await loadZooModel('ppocr-cls');
  const analysis = await analyzeModel(zoo.model, { inputShapes: zoo.inputShapes });
  const feeds = await zoo.sampleInputs(1, 4);
  const expected = await reference(zoo.model, feeds);
  const cuts = spread(analysis, 12);
  assert.equal(cuts.length, 12);
  for (const cut of cuts) await composeAndCompare(zoo.model, analysis, cut, feeds, expected);
});

/** The recogniser and its analysis at the zoo's shape (1, 3, 48, 320), loaded once for this file. */
let recogniser: Promise<{ model: ModelProto; analysis: ModelAnalysis }> | undefined;
function loadRecogniser(): Promise<{ model: ModelProto; analysis: ModelAnalysis }> {
  recogniser ??= loadModel(REC_PATH).then(async (model) => ({ model, analysis: await analyzeModel(model, { inputShapes: { x: [1, 3, 48, 320] } }) }));
  return recogniser;
}

test('ppocr-rec: head then tail reproduces the recogniser at 10 spread cuts, a two-tensor cut and a cut where a shape vector crosses', async () => {
  const zoo = await loadZooModel('ppocr-rec');
  assert.deepEqual(zoo.inputShapes, { x: [1, 3, 48, 320] });
  const { analysis } = await loadRecogniser();
  assert.ok(analysis.cuts.length > 250, `${analysis.cuts.length} cuts`);
  const feeds = await zoo.sampleInputs(1, 4);
  const expected = await reference(zoo.model, feeds);
  const shapeCut = analysis.cuts.find((c) => c.crossing.some((t) => t.kind === 'shape'))!;
  assert.ok(shapeCut, 'the recogniser has a cut where a shape vector crosses');
  assert.ok(shapeCut.crossing.filter((t) => t.kind === 'shape').every((t) => (t.dtype === 'int64' || t.dtype === 'int32') && t.bytes <= 64));
  const twoTensor = analysis.cuts.find((c) => c.crossing.length === 2 && c.crossing.every((t) => t.kind === 'activation'))!;
  const cuts = [...spread(analysis, 10), shapeCut, twoTensor];
  for (const cut of cuts) await composeAndCompare(zoo.model, analysis, cut, feeds, expected);
});

test('split halves keep symbolic dims: a recogniser split analysed at width 320 runs at width 640 and at batch 2', async () => {
  const { model, analysis } = await loadRecogniser();
  const cut = analysis.cuts[Math.round(analysis.cuts.length / 3)]!;
  const { head, tail } = splitModel(model, cut, analysis);
  const n = 2 * 3 * 48 * 640;
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = ((i * 7919) % 1000) / 1000;
  const feeds: Feeds = { x: { dtype: 'float32', dims: [2, 3, 48, 640], data: x } };
  const [expected] = await reference(model, [feeds]);
  const h = await createSession(head);
  const t = await createSession(tail);
  try {
    const got = await t.run(await h.run(feeds));
    const name = analysis.outputs[0]!.name;
    assert.deepEqual(got[name]!.dims, [2, 80, 6625]);
    const d = maxAbsDiff(expected![name]!.data as Float32Array, got[name]!.data as Float32Array);
    assert.ok(d.maxDiff <= 1e-5 * d.scale, `differs by ${d.maxDiff}`);
  } finally {
    await h.release();
    await t.release();
  }
});

test('the ends are Identity halves, and a split without the analysis keeps the declared value_info', async () => {
  const model = residualModel();
  const analysis = await analyzeModel(model);
  const first = splitModel(model, analysis.cuts[0]!, analysis);
  assert.deepEqual(graphParts(modelGraph(first.head)).nodes.map((n) => n.opType), ['Identity']);
  assert.equal(graphParts(modelGraph(first.tail)).nodes.length, 1 + indexGraph(modelGraph(model)).nodes.length);
  const last = splitModel(model, analysis.cuts[analysis.cuts.length - 1]!, analysis);
  assert.deepEqual(graphParts(modelGraph(last.tail)).nodes.map((n) => n.opType), ['Identity']);
  assert.deepEqual(graphParts(modelGraph(last.tail)).outputs.map((o) => o.name), ['y']);
  const bare = splitModel(model, findCut(analysis, 'p2'));
  assert.deepEqual(graphParts(modelGraph(bare.head)).inputs.map((i) => i.name), ['x']);
  assert.deepEqual(graphParts(modelGraph(bare.head)).initializers.map((t) => t.name), ['W0']);
  assert.deepEqual(graphParts(modelGraph(bare.tail)).initializers.map((t) => t.name).sort(), ['W1', 'W2']);
  const feeds = [{ x: { dtype: 'float32' as const, dims: [3, 4], data: Float32Array.from({ length: 12 }, (_, i) => i / 6 - 1) } }];
  await composeAndCompare(model, analysis, findCut(analysis, 'p2'), feeds, await reference(model, feeds));
});

for (const opset of [11, 21]) {
  test(`opset ${opset}: the residual graph splits exactly at every cut and its halves keep the opset`, async () => {
    const model = residualModel(opset);
    const analysis = await analyzeModel(model);
    assert.equal(analysis.opset, opset);
    const feeds = [{ x: { dtype: 'float32' as const, dims: [2, 4], data: Float32Array.from({ length: 8 }, (_, i) => Math.cos(i)) } }];
    const expected = await reference(model, feeds);
    for (const cut of analysis.cuts) await composeAndCompare(model, analysis, cut, feeds, expected);
  });
}

test('a model input the tail needs (a mask) crosses as <name>.crossing through the head, at every cut', async () => {
  const model = maskModel();
  const analysis = await analyzeModel(model);
  assert.deepEqual(analysis.cuts.map((c) => c.crossing.map((t) => `${t.name}<-${t.source}`).join('+')),
    ['x.crossing<-x+m.crossing<-m', 'm.crossing<-m+r<-r', 'm.crossing<-m+h<-h', 'm.crossing<-m+z<-z', 'y.crossing<-y']);
  const rows = 3;
  const feeds = [{
    x: { dtype: 'float32' as const, dims: [rows, 4], data: Float32Array.from({ length: 4 * rows }, (_, i) => Math.sin(i)) },
    m: { dtype: 'float32' as const, dims: [rows, 4], data: Float32Array.from({ length: 4 * rows }, (_, i) => i % 3) },
  }];
  const expected = await reference(model, feeds);
  for (const cut of analysis.cuts) await composeAndCompare(model, analysis, cut, feeds, expected);
  const p2 = splitModel(model, findCut(analysis, 'p2'), analysis);
  assert.deepEqual(graphParts(modelGraph(p2.head)).inputs.map((i) => i.name), ['x', 'm']);
  assert.deepEqual(graphParts(modelGraph(p2.tail)).nodes.map((n) => n.opType), ['Identity', 'MatMul', 'Mul']);
});

test('BAD CALL - a cut from another model, or out of range, is ERR_CUT_NOT_FOUND', async () => {
  const model = residualModel();
  const analysis = await analyzeModel(model);
  const mlp = await loadZooModel('mlp');
  const other = await analyzeModel(mlp.model, { inputShapes: mlp.inputShapes });
  assert.throws(() => splitModel(model, other.cuts[2]!), (e: unknown) => {
    assert.ok(e instanceof EdgesplitError);
    assert.equal(e.code, 'ERR_CUT_NOT_FOUND');
    assert.match(e.message, /cut 'p2' does not belong to this model: at position 2 the crossing tensors are \[h, a\], the cut names \[fc1\/relu\]/);
    return true;
  });
  assert.throws(() => splitModel(model, { ...analysis.cuts[6]!, id: 'p7', position: 7 }, analysis), (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_CUT_NOT_FOUND' && /cut 'p7' is not one of the 8 cut points of this analysis/.test(e.message));
  assert.throws(() => splitModel(model, { ...analysis.cuts[1]!, position: 99 }), (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_CUT_NOT_FOUND' && /position 99, outside this model's positions 0\.\.8/.test(e.message));
});
