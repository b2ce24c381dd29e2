// Tests of model analysis: cut points of a hand-built residual graph (crossing sets, bytes, parameters,
// peak memory, stable ids), shape inference from value_info and from ONNX Runtime, and bad input shapes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeValueInfo } from '../../../planner/onnx/model.ts';
import { analyzeModel, findCut } from '../../../planner/onnx/analyze.ts';
import { splitModel } from '../../../planner/onnx/split.ts';
import { createSession } from '../../../planner/onnx/session.ts';
import { sampleFeeds } from '../../../planner/onnx/shapes.ts';
import { EdgesplitError } from '../../../shared/errors.ts';
import { flopsModel, reshapeModel, residualModel, shapeVectorModel } from './fixtures.ts';

test('cut points of a residual graph: one tensor outside the block, two inside, both ends included', async () => {
  const a = await analyzeModel(residualModel());
  assert.deepEqual(a.nodes.map((n) => n.name), ['mm0', 'relu0', 'mm1', 'relu1', 'residual', 'mm2', 'shape', 'reshape']);
  const crossing = a.cuts.map((c) => `${c.id}:${c.crossing.map((t) => t.name).join('+')}`);
  // NOTE: p7 (between Shape and Reshape) crosses the same tensor as p6, since the tail recomputes the shape: listed once.
  assert.deepEqual(crossing, ['p0:x.crossing', 'p1:h', 'p2:h+a', 'p3:h+b', 'p4:h+c', 'p5:d', 'p6:z', 'p8:y.crossing']);
  assert.deepEqual(a.cuts.map((c) => c.index), [0, 1, 2, 3, 4, 5, 6, 7]);
  const p2 = findCut(a, 'p2');
  assert.equal(p2.crossingBytes, 2 * 8 * 4);
  assert.deepEqual(p2.crossing.map((t) => [t.source, t.kind, t.dims]), [['h', 'activation', [1, 8]], ['a', 'activation', [1, 8]]]);
  assert.deepEqual(a.cuts[0]!.crossing.map((t) => [t.name, t.source, t.kind]), [['x.crossing', 'x', 'input']]);
  assert.deepEqual(a.cuts[7]!.crossing.map((t) => [t.name, t.source]), [['y.crossing', 'y']]);
});

test('FLOPs, parameters and peak activation bytes on each side of a cut', async () => {
  const a = await analyzeModel(residualModel());
  const p1 = findCut(a, 'p1');
  const p5 = findCut(a, 'p5');
  assert.equal(p1.headFlops, 2 * 4 * 8);
  assert.equal(p1.tailFlops, a.totals.flops - p1.headFlops);
  assert.equal(a.totals.flops, 64 + 8 + 128 + 8 + 8 + 48 + 0 + 0);
  assert.deepEqual([p1.headParams, p1.tailParams], [32, 64 + 24]);
  assert.deepEqual([p5.headParams, p5.tailParams], [32 + 64, 24]);
  assert.deepEqual([p5.headParamBytes, p5.tailParamBytes], [4 * 96, 4 * 24]);
  assert.equal(a.totals.params, 120);
  // live at once: x and h (node 0); h, a and b (node 2) is the most before p5.
  assert.equal(p1.headPeakActivationBytes, 16 + 32);
  assert.equal(p5.headPeakActivationBytes, 96);
  assert.equal(a.cuts[0]!.headPeakActivationBytes, 16);
  const ends = [a.cuts[0]!, a.cuts[a.cuts.length - 1]!];
  assert.deepEqual(ends.map((c) => [c.position, c.headFlops, c.tailFlops]), [[0, 0, a.totals.flops], [8, a.totals.flops, 0]]);
});

test('maxCrossing 1 keeps only single-tensor cuts, and ids stay the same', async () => {
  const a = await analyzeModel(residualModel(), { maxCrossing: 1 });
  assert.deepEqual(a.cuts.map((c) => c.id), ['p0', 'p1', 'p5', 'p6', 'p8']);
  assert.equal(findCut(a, 2).id, 'p5');
  assert.equal(findCut(a, 'p5').index, 2);
  assert.equal(findCut(a, 'd').id, 'p5');
  await assert.rejects(analyzeModel(residualModel(), { maxCrossing: 0 }), (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_USAGE' && /maxCrossing must be an integer >= 1, got 0/.test(e.message));
});

test('BAD CALL - a cut that does not exist is ERR_CUT_NOT_FOUND listing what exists', async () => {
  const a = await analyzeModel(residualModel());
  for (const at of ['8', 'p7', 'nope', -1]) {
    assert.throws(() => findCut(a, at), (e: unknown) => {
      assert.ok(e instanceof EdgesplitError);
      assert.equal(e.code, 'ERR_CUT_NOT_FOUND');
      assert.match(e.message, /expected an index 0\.\.7, an id \(p0, p1, p2, \.\.\., p5, p6, p8\)/);
      return true;
    });
  }
});

test('shapes come from value_info when it is complete and concrete, and agree with ONNX Runtime', async () => {
  const fromOrt = await analyzeModel(flopsModel());
  assert.equal(fromOrt.shapeSource, 'onnxruntime');
  const annotated = flopsModel();
  annotated.graph!.valueInfo = [makeValueInfo('scores', 'float32', [1, 2, 4, 4])];
  const fromVi = await analyzeModel(annotated);
  assert.equal(fromVi.shapeSource, 'value_info');
  assert.deepEqual(fromVi.tensors, fromOrt.tensors);
  assert.deepEqual(fromVi.cuts, fromOrt.cuts);
});

test('dims that follow a dynamic input dim stay symbolic; a batch defaults to 1', async () => {
  const a = await analyzeModel(reshapeModel(), { inputShapes: { x: [1, 8] } });
  assert.deepEqual(a.inputShapes, { x: [1, 8] });
  assert.deepEqual(a.inputs[0]!.symbolicDims, ['batch', 'w']);
  assert.deepEqual(a.outputs[0]!.dims, [2, 4]);
  assert.deepEqual(a.outputs[0]!.symbolicDims, ['y.dim0', 4]);
  const r = await analyzeModel(residualModel());
  assert.deepEqual(r.inputShapes, { x: [1, 4] });
  assert.deepEqual(r.tensors.h!.symbolicDims, ['batch', 8]);
});

function expectShapeError(pattern: RegExp) {
  return (e: unknown): boolean => {
    assert.ok(e instanceof EdgesplitError);
    assert.equal(e.code, 'ERR_INPUT_SHAPE');
    assert.match(e.message, pattern);
    return true;
  };
}

test('BAD CALL - an input shape that does not fit is ERR_INPUT_SHAPE with the input, its dims and an example flag', async () => {
  await assert.rejects(analyzeModel(residualModel(), { inputShapes: { x: [1, 4, 1] }, source: 'res.onnx' }),
    expectShapeError(/^res\.onnx: input 'x' has declared dims \[batch,4\] and the given shape \[1,4,1\] does not fit \(rank 3, expected 2\); e\.g\. --input-shape x=1,4\.$/));
  await assert.rejects(analyzeModel(residualModel(), { inputShapes: { x: [1, 5] } }), expectShapeError(/given shape \[1,5\] does not fit \(a fixed dim differs\)/));
  await assert.rejects(analyzeModel(residualModel(), { inputShapes: { x: [0, 4] } }), expectShapeError(/dims must be positive integers/));
  await assert.rejects(analyzeModel(residualModel(), { inputShapes: { image: [1, 4] } }), expectShapeError(/'image' is not an input of the model \(its inputs: 'x'\)/));
  await assert.rejects(analyzeModel(reshapeModel()), expectShapeError(/input 'x' has declared dims \[batch,w\]: dim 1 \('w'\) is dynamic and only a batch dim defaults \(to 1\); give the shape, e\.g\. --input-shape x=1,32/));
  await assert.rejects(analyzeModel(reshapeModel(), { inputShapes: { x: [1, 6] } }), expectShapeError(/ONNX Runtime cannot run the model at input shape x=1,6: .*Give a shape the model accepts/));
});

test('a tail half that reads a shape vector is analysed with the value the head sends, and refused with a hint on sample data', async () => {
  const model = shapeVectorModel();
  const full = await analyzeModel(model, { inputShapes: { x: [2, 6, 4] } });
  const shapeCuts = full.cuts.filter((c) => c.crossing.some((t) => t.kind === 'shape'));
  assert.deepEqual(shapeCuts.map((c) => c.id), ['p3', 'p4', 'p5', 'p6', 'p7']);
  for (const cut of shapeCuts) {
    const { head, tail, crossing } = splitModel(model, cut, full);
    const hs = await createSession(head);
    const sent = await hs.run(sampleFeeds([{ name: 'x', dtype: 'float32', dims: [2, 6, 4] }]));
    await hs.release();
    const inputShapes = Object.fromEntries(crossing.map((c) => [c.name, c.dims]));
    // Sample data feeds the shape vector zeros: Reshape(g, [-1, 6, 0]) copies a dim g does not have.
    await assert.rejects(analyzeModel(tail, { inputShapes, source: 'server.onnx' }),
      (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_INPUT_SHAPE' && /^server\.onnx: ONNX Runtime cannot run the model/.test(e.message) && /Input '(w|target)' was fed zeros \(the sample data for integer and bool inputs\): if one is a shape vector/.test(e.message), cut.id);
    const a = await analyzeModel(tail, { inputShapes, inputValues: sent, source: 'server.onnx' });
    assert.equal(a.totals.flops, cut.tailFlops, `${cut.id}: tail FLOPs`);
    assert.equal(a.totals.paramBytes, cut.tailParamBytes, `${cut.id}: tail weight bytes`);
    assert.deepEqual(a.outputs.map((o) => [o.name, o.dims]), [['y', [2, 6, 4]]], cut.id);
  }
});

test('BAD CALL - a known input value of another dtype or shape, or for no input, is ERR_INPUT_SHAPE saying what was expected', async () => {
  const model = shapeVectorModel();
  const full = await analyzeModel(model, { inputShapes: { x: [1, 6, 4] } });
  const { tail } = splitModel(model, findCut(full, 'p5'), full);
  const inputShapes = { w: [1], f: [1, 24] };
  await assert.rejects(analyzeModel(tail, { inputShapes, inputValues: { w: { dtype: 'int32', dims: [1], data: Int32Array.of(4) } }, source: 'server.onnx' }),
    (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_INPUT_SHAPE' && e.message === "server.onnx: the value given for input 'w' is int32[1], expected int64[1] (the input's dtype at the analysed shape). Give each known value at the input's dtype and shape.");
  await assert.rejects(analyzeModel(tail, { inputShapes, inputValues: { v: { dtype: 'int64', dims: [1], data: BigInt64Array.of(4n) } }, source: 'server.onnx' }),
    (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_INPUT_SHAPE' && /a value is given for 'v', which is not an input of the model \(its inputs: 'w', 'f'\)/.test(e.message));
});
