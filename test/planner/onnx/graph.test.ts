// Tests of the graph index: stable topological order, producer and consumer maps, tensor kinds, and the
// structural errors (cycle, dangling tensor, double producer).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { floatTensor, int64Tensor, makeModel, makeNode, makeValueInfo, type NodeProto } from '../../../planner/onnx/model.ts';
import { indexGraph, modelGraph, nodeInputs, weightRoots } from '../../../planner/onnx/graph.ts';
import { onnx } from '../../../planner/onnx/proto.ts';
import { EdgesplitError } from '../../../shared/errors.ts';

function graphOf(nodes: NodeProto[], outputs = ['y']) {
  return modelGraph(makeModel({
    name: 'g', nodes,
    inputs: [makeValueInfo('x', 'float32', ['batch', 4])],
    outputs: outputs.map((o) => makeValueInfo(o, 'float32', ['batch', 4])),
    initializers: [floatTensor('w', [4, 4], new Float32Array(16).fill(0.5))],
  }));
}

test('topological order sorts a shuffled file stably and maps producers and consumers', () => {
  const relu = makeNode('Relu', ['x'], ['a']);
  const mm = makeNode('MatMul', ['a', 'w'], ['b']);
  const add = makeNode('Add', ['b', 'a'], ['y']);
  const index = indexGraph(graphOf([add, mm, relu]));
  assert.deepEqual(index.nodes.map((n) => n.output[0]), ['a', 'b', 'y']);
  assert.equal(index.producer.get('b'), 1);
  assert.deepEqual(index.consumers.get('a'), [1, 2]);
  assert.deepEqual(index.consumers.get('w'), [1]);
  // an already sorted file keeps its order exactly, even where another order would be valid
  const first = makeNode('Relu', ['x'], ['p']);
  const second = makeNode('Sigmoid', ['x'], ['q']);
  const join = makeNode('Add', ['p', 'q'], ['y']);
  assert.deepEqual(indexGraph(graphOf([second, first, join])).nodes.map((n) => n.output[0]), ['q', 'p', 'y']);
});

test('constants, constant-only subgraphs and shape arithmetic are not activations', () => {
  const index = indexGraph(graphOf([
    makeNode('Constant', [], ['c'], { value: floatTensor('c', [4, 4], new Float32Array(16).fill(1)) }),
    makeNode('Transpose', ['c'], ['ct']),
    makeNode('MatMul', ['x', 'ct'], ['a']),
    makeNode('Shape', ['a'], ['s']),
    makeNode('Constant', [], ['one'], { value: int64Tensor('one', [1], [1]) }),
    makeNode('Mul', ['s', 'one'], ['s2']),
    makeNode('Reshape', ['a', 's2'], ['y']),
    makeNode('Relu', ['x'], ['dead']),
  ]));
  assert.equal(index.kind.get('x'), 'input');
  assert.equal(index.kind.get('w'), 'constant');
  assert.equal(index.kind.get('c'), 'constant');
  assert.equal(index.kind.get('ct'), 'constant');
  assert.equal(index.kind.get('a'), 'activation');
  assert.equal(index.kind.get('s'), 'shape');
  assert.equal(index.kind.get('s2'), 'shape');
  assert.equal(index.kind.get('y'), 'activation');
  assert.deepEqual(weightRoots(index, 'ct'), ['c']);
  assert.equal(index.needed.has(index.producer.get('dead')!), false, 'a node nothing reads is not needed');
  assert.equal(index.needed.has(index.producer.get('y')!), true);
});

test('BAD CALL - a cycle is ERR_MODEL_INVALID naming a tensor on it', () => {
  const g = graphOf([makeNode('Relu', ['x'], ['a']), makeNode('Add', ['a', 'c'], ['b']), makeNode('Relu', ['b'], ['c']), makeNode('Identity', ['b'], ['y'])]);
  assert.throws(() => indexGraph(g, 'loop.onnx'), (e: unknown) => {
    assert.ok(e instanceof EdgesplitError);
    assert.equal(e.code, 'ERR_MODEL_INVALID');
    assert.match(e.message, /^loop\.onnx: the graph has a cycle through node .* and tensor '(b|c)'/);
    return true;
  });
});

test('BAD CALL - a tensor nobody produces is ERR_MODEL_INVALID naming it and its reader', () => {
  const g = graphOf([makeNode('Add', ['x', 'ghost'], ['y'], {}, 'adder')]);
  assert.throws(() => indexGraph(g), (e: unknown) => {
    assert.ok(e instanceof EdgesplitError);
    assert.equal(e.code, 'ERR_MODEL_INVALID');
    assert.match(e.message, /node 'adder' \(Add\) reads tensor 'ghost', which no node, input or initializer produces/);
    return true;
  });
});

test('BAD CALL - a tensor produced twice, or an output nobody produces, is ERR_MODEL_INVALID', () => {
  assert.throws(() => indexGraph(graphOf([makeNode('Relu', ['x'], ['y']), makeNode('Sigmoid', ['x'], ['y'])])), (e: unknown) => {
    assert.ok(e instanceof EdgesplitError);
    assert.equal(e.code, 'ERR_MODEL_INVALID');
    assert.match(e.message, /tensor 'y' is produced twice/);
    return true;
  });
  assert.throws(() => indexGraph(graphOf([makeNode('Relu', ['x'], ['y'])], ['y', 'z'])), (e: unknown) => {
    assert.ok(e instanceof EdgesplitError);
    assert.equal(e.code, 'ERR_MODEL_INVALID');
    assert.match(e.message, /graph output 'z' is produced by no node/);
    return true;
  });
});

test('a control-flow node depends on the outer tensors its subgraphs read', () => {
  const branch = (name: string, op: string) => onnx.GraphProto.create({
    name, node: [makeNode(op, ['late'], [`${name}_out`])], input: [], output: [makeValueInfo(`${name}_out`, 'float32', ['batch', 4])],
  });
  const cond = makeNode('Constant', [], ['cond'], { value: onnx.TensorProto.create({ name: 'cond', dims: [], dataType: 9, rawData: new Uint8Array([1]) }) });
  const branchy = makeNode('If', ['cond'], ['y'], {}, 'branchy');
  branchy.attribute = [
    onnx.AttributeProto.create({ name: 'then_branch', type: onnx.AttributeProto.AttributeType.GRAPH, g: branch('then', 'Relu') }),
    onnx.AttributeProto.create({ name: 'else_branch', type: onnx.AttributeProto.AttributeType.GRAPH, g: branch('else', 'Neg') }),
  ];
  assert.deepEqual(nodeInputs(branchy), ['cond', 'late']);
  const index = indexGraph(graphOf([branchy, cond, makeNode('Sigmoid', ['x'], ['late'])]));
  assert.deepEqual(index.nodes.map((n) => n.opType), ['Constant', 'Sigmoid', 'If']);
  assert.equal(index.kind.get('y'), 'activation');
});
