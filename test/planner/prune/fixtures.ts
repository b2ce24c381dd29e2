// Small hand-built graphs for the pruning tests: a chain too small to prune far, a graph with nothing
// prunable, a Concat the pruner must leave whole, and a depthwise block with a per-channel gate.
import { floatTensor, int64Tensor, makeModel, makeNode, makeValueInfo, type ModelProto } from '../../../planner/onnx/model.ts';
import { Rng } from '../../../planner/util/rng.ts';
import type { Feeds } from '../../../planner/onnx/session.ts';

function weights(rng: Rng, n: number): Float32Array {
  return rng.laplaceArray(n, 0.5);
}

/** x [1, 4] -> Gemm 2 -> Relu -> Gemm 3 -> y: 14 prunable weights, at most 7 removable. */
export function tinyChain(): ModelProto {
  const r = new Rng(1);
  return makeModel({
    name: 'tiny-chain',
    nodes: [makeNode('Gemm', ['x', 'w1', 'b1'], ['h'], { transB: 1 }, 'fc1'), makeNode('Relu', ['h'], ['a'], {}, 'relu'), makeNode('Gemm', ['a', 'w2', 'b2'], ['y'], { transB: 1 }, 'fc2')],
    inputs: [makeValueInfo('x', 'float32', [1, 4])], outputs: [makeValueInfo('y', 'float32', [1, 3])],
    initializers: [floatTensor('w1', [2, 4], weights(r, 8)), floatTensor('b1', [2], weights(r, 2)), floatTensor('w2', [3, 2], weights(r, 6)), floatTensor('b2', [3], weights(r, 3))],
  });
}

/** x [1, 4] -> Gemm 3 -> y: the only layer writes the output, so nothing can be pruned. */
export function singleLayer(): ModelProto {
  const r = new Rng(2);
  return makeModel({
    name: 'single-layer', nodes: [makeNode('Gemm', ['x', 'w', 'b'], ['y'], { transB: 1 }, 'fc')],
    inputs: [makeValueInfo('x', 'float32', [1, 4])], outputs: [makeValueInfo('y', 'float32', [1, 3])],
    initializers: [floatTensor('w', [3, 4], weights(r, 12)), floatTensor('b', [3], weights(r, 3))],
  });
}

/**
 * x [1, 3, 8, 8] -> conv a (4 ch) and conv b (4 ch) -> Concat -> conv c (4 ch) -> depthwise conv d ->
 * Mul by a per-channel constant -> Relu -> GlobalAveragePool -> Flatten -> Gemm 2 -> y.
 * Groups a and b meet a Concat (left whole); c, d and the gate form one group.
 */
export function concatDepthwise(): ModelProto {
  const r = new Rng(3);
  const conv = (name: string, input: string, cin: number, cout: number, group = 1): ReturnType<typeof makeNode> =>
    makeNode('Conv', [input, `${name}.w`, `${name}.b`], [name], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], group }, name);
  return makeModel({
    name: 'concat-depthwise',
    nodes: [
      conv('a', 'x', 3, 4), conv('b', 'x', 3, 4), makeNode('Concat', ['a', 'b'], ['cat'], { axis: 1 }, 'cat'),
      conv('c', 'cat', 8, 4), conv('d', 'c', 1, 4, 4), makeNode('Mul', ['d', 'gate'], ['g'], {}, 'gate_mul'),
      makeNode('Relu', ['g'], ['r'], {}, 'relu'), makeNode('GlobalAveragePool', ['r'], ['p'], {}, 'gap'),
      makeNode('Flatten', ['p'], ['f'], { axis: 1 }, 'flatten'), makeNode('Gemm', ['f', 'fc.w', 'fc.b'], ['y'], { transB: 1 }, 'fc'),
    ],
    inputs: [makeValueInfo('x', 'float32', [1, 3, 8, 8])], outputs: [makeValueInfo('y', 'float32', [1, 2])],
    initializers: [
      floatTensor('a.w', [4, 3, 3, 3], weights(r, 108)), floatTensor('a.b', [4], weights(r, 4)),
      floatTensor('b.w', [4, 3, 3, 3], weights(r, 108)), floatTensor('b.b', [4], weights(r, 4)),
      floatTensor('c.w', [4, 8, 3, 3], weights(r, 288)), floatTensor('c.b', [4], weights(r, 4)),
      floatTensor('d.w', [4, 1, 3, 3], weights(r, 36)), floatTensor('d.b', [4], weights(r, 4)),
      floatTensor('gate', [1, 4, 1, 1], weights(r, 4)),
      floatTensor('fc.w', [2, 4], weights(r, 8)), floatTensor('fc.b', [2], weights(r, 2)),
    ],
  });
}

/** `n` seeded Normal(0, 1) inputs named x of the given shape. */
export function normalFeeds(shape: number[], n: number, seed: number): Feeds[] {
  const r = new Rng(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return Array.from({ length: n }, () => ({ x: { dtype: 'float32' as const, dims: [...shape], data: Float32Array.from({ length: size }, () => r.normal()) } }));
}

/**
 * x [1, 3, 8, 8] -> conv a (6 ch) -> Resize x2 by constant scales -> conv b (6 ch) -> Resize to a
 * constant size -> conv c (2 ch) -> y. Group a passes its Resize; group b's Resize names sizes.
 */
export function resizeChain(): ModelProto {
  const r = new Rng(4);
  const conv = (name: string, input: string, cin: number, cout: number): ReturnType<typeof makeNode> =>
    makeNode('Conv', [input, `${name}.w`, `${name}.b`], [name], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, name);
  return makeModel({
    name: 'resize-chain',
    nodes: [
      conv('a', 'x', 3, 6), makeNode('Resize', ['a', '', 'scales'], ['up'], { mode: 'nearest' }, 'up'),
      conv('b', 'up', 6, 6), makeNode('Resize', ['b', '', '', 'sizes'], ['down'], { mode: 'nearest' }, 'down'),
      conv('c', 'down', 6, 2), makeNode('GlobalAveragePool', ['c'], ['y'], {}, 'gap'),
    ],
    inputs: [makeValueInfo('x', 'float32', [1, 3, 8, 8])], outputs: [makeValueInfo('y', 'float32', [1, 2, 1, 1])],
    initializers: [
      floatTensor('a.w', [6, 3, 3, 3], weights(r, 162)), floatTensor('a.b', [6], weights(r, 6)),
      floatTensor('b.w', [6, 6, 3, 3], weights(r, 324)), floatTensor('b.b', [6], weights(r, 6)),
      floatTensor('c.w', [2, 6, 3, 3], weights(r, 108)), floatTensor('c.b', [2], weights(r, 2)),
      floatTensor('scales', [4], [1, 1, 2, 2]), int64Tensor('sizes', [4], [1, 6, 8, 8]),
    ],
  });
}

/** x [1, 3, 8, 8] -> conv a (6 ch) -> ConvTranspose b (x2, 4 ch) -> Relu -> ConvTranspose c (1 ch) -> y. */
export function deconvChain(): ModelProto {
  const r = new Rng(5);
  return makeModel({
    name: 'deconv-chain',
    nodes: [
      makeNode('Conv', ['x', 'a.w', 'a.b'], ['a'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'a'),
      makeNode('ConvTranspose', ['a', 'b.w', 'b.b'], ['b'], { kernel_shape: [2, 2], strides: [2, 2] }, 'b'),
      makeNode('Relu', ['b'], ['rb'], {}, 'relu'),
      makeNode('ConvTranspose', ['rb', 'c.w', 'c.b'], ['y'], { kernel_shape: [2, 2], strides: [2, 2] }, 'c'),
    ],
    inputs: [makeValueInfo('x', 'float32', [1, 3, 8, 8])], outputs: [makeValueInfo('y', 'float32', [1, 1, 32, 32])],
    initializers: [
      floatTensor('a.w', [6, 3, 3, 3], weights(r, 162)), floatTensor('a.b', [6], weights(r, 6)),
      floatTensor('b.w', [6, 4, 2, 2], weights(r, 96)), floatTensor('b.b', [4], weights(r, 4)),
      floatTensor('c.w', [4, 1, 2, 2], weights(r, 16)), floatTensor('c.b', [1], weights(r, 1)),
    ],
  });
}
