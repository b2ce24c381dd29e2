// Tests of FLOP and parameter counting: Conv, Gemm and attention MatMul against hand computation, the
// unknown-op policy, and that every op of the three PP-OCR models is known.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadModel } from '../../../planner/onnx/model.ts';
import { indexGraph, modelGraph } from '../../../planner/onnx/graph.ts';
import { analyzeModel } from '../../../planner/onnx/analyze.ts';
import { isKnownOp } from '../../../planner/onnx/flops.ts';
import { EdgesplitError } from '../../../shared/errors.ts';
import { CLS_PATH, DET_PATH, REC_PATH, flopsModel, modelWithOp } from './fixtures.ts';

test('Conv (groups, bias), Gemm (transB, C) and an activation x activation MatMul match hand counts', async () => {
  const a = await analyzeModel(flopsModel());
  const node = (name: string) => a.nodes.find((n) => n.name === name)!;
  // Conv: 384 outputs, each 2 in-channels x 3 x 3 multiply-adds (2 FLOPs each), plus one bias add.
  assert.equal(node('conv').flops, 2 * (6 * 8 * 8) * (2 * 3 * 3) + 6 * 8 * 8);
  assert.equal(node('conv').params, 6 * 2 * 3 * 3 + 6);
  // Gemm: [2,5] x [5,3]: 2 * M * N * K, plus M * N for C.
  assert.equal(node('gemm').flops, 2 * 2 * 3 * 5 + 2 * 3);
  assert.equal(node('gemm').params, 3 * 5 + 3);
  // Attention scores: 2 heads of [4,8] x [8,4]; no weights.
  assert.equal(node('attention').flops, 2 * (2 * 4 * 4) * 8);
  assert.equal(node('attention').params, 0);
  assert.equal(node('softmax').flops, 5 * 32);
  assert.equal(a.totals.flops, a.nodes.reduce((s, n) => s + n.flops, 0));
  assert.equal(a.totals.params, 114 + 18);
  assert.equal(a.totals.paramBytes, 4 * (114 + 18));
});

test('every op of the PP-OCR recogniser, classifier and detector is known', async () => {
  for (const path of [REC_PATH, CLS_PATH, DET_PATH]) {
    const index = indexGraph(modelGraph(await loadModel(path)));
    const unknown = index.nodes.filter((n) => !isKnownOp(n)).map((n) => n.opType);
    assert.deepEqual(unknown, [], path);
  }
});

test('the detector (ConvTranspose, Resize) analyses at a small input with every op counted', async () => {
  const a = await analyzeModel(await loadModel(DET_PATH), { inputShapes: { x: [1, 3, 64, 64] } });
  assert.deepEqual(a.warnings, []);
  const ct = a.nodes.filter((n) => n.opType === 'ConvTranspose');
  assert.equal(ct.length, 2);
  for (const n of ct) assert.ok(n.flops > 0);
  assert.equal(a.totals.params, 1171841);
});

test("BAD CALL - an op the analysis does not know is ERR_UNSUPPORTED_OP naming op and node; 'zero' counts it 0 with a warning", async () => {
  const model = modelWithOp('CumSum', {}, ['axis']);
  await assert.rejects(analyzeModel(model, { source: 'cumsum.onnx' }), (e: unknown) => {
    assert.ok(e instanceof EdgesplitError);
    assert.equal(e.code, 'ERR_UNSUPPORTED_OP');
    assert.match(e.message, /^cumsum\.onnx: node 'the_node' \(CumSum\) uses op 'CumSum', whose FLOPs edgesplit does not know/);
    assert.match(e.message, /unknownOps: 'zero'/);
    return true;
  });
  const a = await analyzeModel(model, { unknownOps: 'zero' });
  assert.equal(a.nodes.find((n) => n.name === 'the_node')!.flops, 0);
  assert.deepEqual(a.warnings, ["node 'the_node' (CumSum): unknown op, counted as 0 FLOPs"]);
  await assert.rejects(analyzeModel(modelWithOp('Gelu', {}, [], 'com.microsoft')), (e: unknown) => {
    assert.ok(e instanceof EdgesplitError);
    assert.equal(e.code, 'ERR_UNSUPPORTED_OP');
    assert.match(e.message, /uses op 'com\.microsoft::Gelu'/);
    return true;
  });
});
