// FLOPs of one ONNX node from its input and output dims. A multiply-add counts as 2 FLOPs; the table
// below says how every known op is counted, and an op it does not know is an error unless asked otherwise.
import type { NodeProto } from './model.ts';
import { attrInt, attrInts, attrString } from './model.ts';
import { nodeLabel } from './graph.ts';
import { EdgesplitError } from '../../shared/errors.ts';

/** Dims of a tensor by name (activations, shape tensors and weights), or undefined when unknown. */
export type DimsOf = (name: string) => readonly number[] | undefined;

/** Ops that move, index or reshape data, or only read shapes: 0 FLOPs. */
const ZERO_OPS = new Set([
  'Reshape', 'Transpose', 'Shape', 'Size', 'Cast', 'CastLike', 'Slice', 'Concat', 'Squeeze', 'Unsqueeze', 'Flatten', 'Gather',
  'GatherElements', 'GatherND', 'Identity', 'Constant', 'ConstantOfShape', 'Expand', 'Tile', 'Split', 'Pad', 'DepthToSpace',
  'SpaceToDepth', 'Range', 'Dropout', 'ScatterND', 'ScatterElements', 'NonZero', 'OneHot', 'EyeLike', 'Trilu', 'Compress',
]);

/** Elementwise ops: 1 FLOP per output element, whatever the function (transcendentals are not weighted). */
const ELEMENTWISE = new Set([
  'Add', 'Sub', 'Mul', 'Div', 'Pow', 'Mod', 'Relu', 'LeakyRelu', 'PRelu', 'Elu', 'Selu', 'Celu', 'Gelu', 'Sigmoid', 'HardSigmoid',
  'HardSwish', 'Tanh', 'Softplus', 'Softsign', 'Mish', 'Clip', 'Sqrt', 'Reciprocal', 'Exp', 'Log', 'Erf', 'Neg', 'Abs', 'Sign',
  'Floor', 'Ceil', 'Round', 'Sin', 'Cos', 'Tan', 'Asin', 'Acos', 'Atan', 'Sinh', 'Cosh', 'Asinh', 'Acosh', 'Atanh', 'Where',
  'Equal', 'Less', 'LessOrEqual', 'Greater', 'GreaterOrEqual', 'Not', 'And', 'Or', 'Xor', 'IsNaN', 'IsInf', 'BitShift',
  'ThresholdedRelu', 'Shrink',
]);

/** Variadic elementwise ops: one FLOP per output element per extra input. */
const VARIADIC = new Set(['Sum', 'Max', 'Min', 'Mean']);

/** Reductions: 1 FLOP per input element. */
const REDUCE = new Set([
  'ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp',
  'ReduceSumSquare', 'ArgMax', 'ArgMin', 'GlobalAveragePool', 'GlobalMaxPool', 'GlobalLpPool',
]);

/** Every op type `nodeFlops` knows (default ONNX domain). */
export const KNOWN_OPS: ReadonlySet<string> = new Set([
  ...ZERO_OPS, ...ELEMENTWISE, ...VARIADIC, ...REDUCE,
  'Conv', 'ConvTranspose', 'Gemm', 'MatMul', 'MaxPool', 'AveragePool', 'LpPool', 'BatchNormalization', 'LayerNormalization',
  'InstanceNormalization', 'Softmax', 'LogSoftmax', 'Resize', 'Upsample',
]);

/** Whether `nodeFlops` knows the node's op. */
export function isKnownOp(node: NodeProto): boolean {
  return (!node.domain || node.domain === 'ai.onnx') && KNOWN_OPS.has(node.opType);
}

const prod = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

/**
 * FLOPs of one node, counting a multiply-add as 2 FLOPs (so a dense layer of K inputs and N outputs
 * is 2·K·N per row). Per op:
 * - Conv: 2 · outputs · (C_in / groups) · kernel, + outputs for a bias; ConvTranspose: 2 · inputs ·
 *   (C_out / groups) · kernel, + outputs for a bias.
 * - Gemm: 2 · M · K · N, + M · N when C is given. MatMul (weights or two activations, as in
 *   attention): 2 · outputs · K, with K the shared dim, batch dims broadcast.
 * - Elementwise: 1 per output element (Sum/Max/Min/Mean: 1 per element per extra input).
 * - MaxPool/AveragePool: outputs · kernel; global pooling and reductions: 1 per input element.
 * - BatchNormalization (inference): 2 per element (scale and shift). LayerNormalization and
 *   InstanceNormalization: 7 per element (mean, subtract, square, sum, divide, scale, shift).
 *   Softmax/LogSoftmax: 5 per element (max, subtract, exp, sum, divide).
 * - Resize/Upsample: 2 per tap per output element (linear: 2^axes taps, cubic: 4^axes); nearest 0.
 * - Data movement and shape ops (Reshape, Transpose, Gather, Concat, Slice, Cast, Shape, ...): 0.
 * Returns undefined for an op not in `KNOWN_OPS`.
 */
export function nodeFlops(node: NodeProto, dimsOf: DimsOf): number | undefined {
  const op = node.opType;
  if (node.domain && node.domain !== 'ai.onnx') return undefined;
  if (ZERO_OPS.has(op)) return 0;
  const need = (name: string | undefined): readonly number[] => {
    const d = name ? dimsOf(name) : undefined;
    if (!d) throw new EdgesplitError('ERR_INTERNAL', `no dims known for tensor '${name ?? ''}' of node ${nodeLabel(node)} while counting FLOPs`);
    return d;
  };
  const has = (i: number): boolean => node.input.length > i && node.input[i] !== '';
  const out = (): number => prod(need(node.output[0]));
  const inp = (): number => prod(need(node.input[0]));
  if (ELEMENTWISE.has(op)) return out();
  if (VARIADIC.has(op)) return out() * Math.max(1, node.input.filter((n) => n !== '').length - 1);
  if (REDUCE.has(op)) return inp();
  switch (op) {
    case 'Conv': {
      const w = need(node.input[1]);
      return 2 * out() * prod(w.slice(1)) + (has(2) ? out() : 0);
    }
    case 'ConvTranspose': {
      const w = need(node.input[1]);
      return 2 * inp() * prod(w.slice(1)) + (has(2) ? out() : 0);
    }
    case 'Gemm': {
      const a = need(node.input[0]);
      const k = attrInt(node, 'transA', 0) ? a[0]! : a[1]!;
      return 2 * out() * k + (has(2) ? out() : 0);
    }
    case 'MatMul': {
      const a = need(node.input[0]);
      return 2 * out() * a[a.length - 1]!;
    }
    case 'MaxPool':
    case 'AveragePool':
    case 'LpPool':
      return out() * prod(attrInts(node, 'kernel_shape', []));
    case 'BatchNormalization':
      return 2 * out();
    case 'LayerNormalization':
    case 'InstanceNormalization':
      return 7 * out();
    case 'Softmax':
    case 'LogSoftmax':
      return 5 * out();
    case 'Resize':
    case 'Upsample': {
      const mode = attrString(node, 'mode', 'nearest');
      if (mode === 'nearest') return 0;
      const a = need(node.input[0]);
      const o = need(node.output[0]);
      const axes = o.filter((d, i) => d !== a[i]).length;
      return 2 * out() * (mode === 'cubic' ? 4 ** axes : 2 ** axes);
    }
    default:
      return undefined;
  }
}

/** How analysis treats an op it does not know: fail (the default) or count it as 0 FLOPs with a warning. */
export type UnknownOpPolicy = 'error' | 'zero';

/** The ERR_UNSUPPORTED_OP for a node whose op is not known. */
export function unsupportedOpError(node: NodeProto, source: string): EdgesplitError {
  const op = node.domain && node.domain !== 'ai.onnx' ? `${node.domain}::${node.opType}` : node.opType;
  return new EdgesplitError('ERR_UNSUPPORTED_OP',
    `${source}: node ${nodeLabel(node)} uses op '${op}', whose FLOPs edgesplit does not know. Ops it counts: Conv, ConvTranspose, Gemm, MatMul, elementwise, pooling, normalisation, Softmax, Resize and data-movement ops. To count it as 0 FLOPs and go on, pass { unknownOps: 'zero' } (CLI: --unknown-ops zero).`,
    { details: { source, op, node: node.name } });
}
