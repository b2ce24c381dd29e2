// The Lipschitz bound of MODEL.md for chain models (dense layers with 1-Lipschitz activations between):
// spectral norms by power iteration, Gamma for the planner's objective Gamma * D, and a per-input
// check of the bound against the output distortion ONNX Runtime measures.
import type { ModelProto } from '../onnx/model.ts';
import { attrFloat, attrInt, constantTensors, tensorDims, tensorToFloat32 } from '../onnx/model.ts';
import { indexGraph, modelGraph } from '../onnx/graph.ts';
import type { Feeds } from '../onnx/session.ts';
import { EdgesplitError } from '../../shared/errors.ts';
import { captureTensors } from './activations.ts';
import { weightLayers } from './layers.ts';

/** One dense layer of a chain as y = W x + b, W row-major [out, in]. */
export interface ChainLayer {
  node: string;
  out: number;
  in: number;
  w: Float64Array;
  b: Float64Array;
}

/** Activations allowed between chain layers: 1-Lipschitz and 0 at 0. */
const ACTIVATIONS = new Set(['Relu', 'Tanh', 'Identity', 'LeakyRelu']);

/**
 * The dense layers of a chain model, in order: one input, one output, and nothing but Gemm or
 * MatMul(+Add bias) layers with Relu, LeakyRelu (slope <= 1), Tanh or Identity between them.
 * ERR_MODEL_INVALID names the first node that breaks the pattern.
 */
export function chainLayers(model: ModelProto, source = 'model'): ChainLayer[] {
  const graph = modelGraph(model, source);
  const index = indexGraph(graph, source);
  const layers = weightLayers(model, source);
  const weights = constantTensors(graph);
  const byNode = new Set(layers.flatMap((l) => [l.node, l.biasNode ?? '']));
  const notChain = (why: string): EdgesplitError => new EdgesplitError('ERR_MODEL_INVALID', `${source}: not a chain model (${why}). The Lipschitz bound applies to chains of dense layers with 1-Lipschitz activations, such as an MLP.`, { details: { source } });
  if (index.inputs.length !== 1 || index.outputs.length !== 1) throw notChain(`${index.inputs.length} inputs and ${index.outputs.length} outputs`);
  for (const node of index.nodes) {
    const name = node.name || node.output[0] || '';
    if (node.opType === 'Constant' || byNode.has(name)) continue;
    if (!ACTIVATIONS.has(node.opType) || (node.opType === 'LeakyRelu' && Math.abs(attrFloat(node, 'alpha', 0.01)) > 1)) throw notChain(`node '${name}' is ${node.opType}`);
  }
  let current = index.inputs[0]!;
  const out: ChainLayer[] = [];
  for (const layer of layers) {
    let x = layer.input;
    while (x !== current) {
      const p = index.producer.get(x);
      const n = p === undefined ? undefined : index.nodes[p]!;
      if (!n || !ACTIVATIONS.has(n.opType)) throw notChain(`layer '${layer.node}' does not read the previous layer's output`);
      x = n.input[0]!;
    }
    const node = index.nodes.find((n) => (n.name || n.output[0]) === layer.node)!;
    const wt = weights.get(layer.weight)!;
    const [r, c] = tensorDims(wt) as [number, number];
    const transposed = layer.opType === 'MatMul' || attrInt(node, 'transB', 0) === 0;
    const alpha = layer.opType === 'Gemm' ? attrFloat(node, 'alpha', 1) : 1;
    const beta = layer.opType === 'Gemm' ? attrFloat(node, 'beta', 1) : 1;
    const [o, i] = transposed ? [c, r] : [r, c];
    const wd = tensorToFloat32(wt);
    const w = new Float64Array(o * i);
    for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) w[a * i + b] = alpha * (transposed ? wd[b * o + a]! : wd[a * i + b]!);
    const b = new Float64Array(o);
    if (layer.bias) {
      const bd = tensorToFloat32(weights.get(layer.bias)!);
      for (let a = 0; a < o; a++) b[a] = beta * bd[bd.length === o ? a : 0]!;
    }
    out.push({ node: layer.node, out: o, in: i, w, b });
    current = layer.output;
  }
  let y = index.outputs[0]!;
  while (y !== current) {
    const p = index.producer.get(y);
    const n = p === undefined ? undefined : index.nodes[p]!;
    if (!n || !ACTIVATIONS.has(n.opType)) throw notChain('the output is not the last layer\'s');
    y = n.input[0]!;
  }
  if (out.length === 0) throw notChain('no dense layer');
  return out;
}

/**
 * Spectral norm of the affine layer written as one matrix on [x; 1]: [[W, b], [0, 1]] for a hidden
 * layer (the 1 carries through), [W, b] for the last one. Power iteration on M^T M, Float64.
 * NOTE: the augmented form makes biases part of the bound exactly, instead of ignoring them.
 */
export function augmentedSpectralNorm(layer: ChainLayer, last: boolean, iterations = 500): number {
  const { out: o, in: n, w, b } = layer;
  const d = n + 1;
  let v = new Float64Array(d).fill(1 / Math.sqrt(d));
  let sigma = 0;
  for (let it = 0; it < iterations; it++) {
    const u = new Float64Array(o + (last ? 0 : 1));
    for (let a = 0; a < o; a++) {
      let s = b[a]! * v[n]!;
      for (let c = 0; c < n; c++) s += w[a * n + c]! * v[c]!;
      u[a] = s;
    }
    if (!last) u[o] = v[n]!;
    const next = new Float64Array(d);
    for (let a = 0; a < o; a++) {
      const ua = u[a]!;
      for (let c = 0; c < n; c++) next[c] = next[c]! + w[a * n + c]! * ua;
      next[n] = next[n]! + b[a]! * ua;
    }
    if (!last) next[n] = next[n]! + u[o]!;
    let norm = 0;
    for (const x of next) norm += x * x;
    norm = Math.sqrt(norm);
    const s = Math.sqrt(norm);
    if (norm === 0) return 0;
    v = next.map((x) => x / norm);
    if (Math.abs(s - sigma) <= 1e-12 * s) return s;
    sigma = s;
  }
  return sigma;
}

/** Gamma of a chain model for the planner's objective: output distortion <= gamma * D. */
export interface LipschitzGamma {
  gamma: number;
  layers: Array<{ node: string; spectralNorm: number; squaredNorm: number }>;
  /** sum ||[x; 1]||^2 / sum ||y||^2 over the calibration inputs. */
  inputOutputRatio: number;
}

function outputsOf(model: ModelProto): string {
  return modelGraph(model).output[0]?.name ?? '';
}

/** Sum of squares of the values of every input tensor of one run. */
function inputSquares(feeds: Feeds): number {
  let s = 0;
  for (const t of Object.values(feeds)) {
    const d = t.data as ArrayLike<number | bigint>;
    for (let i = 0; i < d.length; i++) s += Number(d[i]) ** 2;
  }
  return s;
}

async function sumSquares(model: ModelProto, inputs: readonly Feeds[]): Promise<{ x2: number; y2: number; y: Float32Array[] }> {
  const out = outputsOf(model);
  const y = (await captureTensors(model, inputs, [out])).get(out)!.data;
  const x2 = inputs.reduce((a, f) => a + inputSquares(f) + 1, 0);
  let y2 = 0;
  for (const d of y) for (const v of d) y2 += v * v;
  return { x2, y2, y };
}

/**
 * Gamma from the original weights: with P_l = prod_{k != l} ||W~_k||_2 (augmented spectral norms),
 * ||y - y'|| <= ||x~|| sum_l P_l ||dW~_l||_2, squared by Cauchy-Schwarz and summed over the inputs:
 * output distortion <= (sum ||x~||^2 / sum ||y||^2) * sum_l P_l^2 * sum_l ||W_l||_F^2 * D, where D is
 * the parameter distortion over the layers' weights and biases. It holds for any pruning whose
 * layers' spectral norms do not grow (zero-masking whole rows or columns never grows them).
 */
export async function lipschitzGamma(model: ModelProto, calibration: readonly Feeds[]): Promise<LipschitzGamma> {
  const layers = chainLayers(model);
  const sigma = layers.map((l, i) => augmentedSpectralNorm(l, i === layers.length - 1));
  const sq = layers.map((l) => l.w.reduce((a, v) => a + v * v, 0) + l.b.reduce((a, v) => a + v * v, 0));
  let sumP2 = 0;
  sigma.forEach((_, l) => {
    const p = sigma.reduce((a, s, k) => (k === l ? a : a * s), 1);
    sumP2 += p * p;
  });
  const { x2, y2 } = await sumSquares(model, calibration);
  const inputOutputRatio = y2 > 0 ? x2 / y2 : Infinity;
  return {
    gamma: inputOutputRatio * sumP2 * sq.reduce((a, b) => a + b, 0),
    layers: layers.map((l, i) => ({ node: l.node, spectralNorm: sigma[i]!, squaredNorm: sq[i]! })),
    inputOutputRatio,
  };
}

/** The bound checked on real inputs: per input and in the aggregate Gamma * D form. */
export interface LipschitzCheck {
  /** Per input: ||y - y'|| measured by ONNX Runtime, and the MODEL.md bound ||x~|| sum_l P_l ||dW~_l||_2. */
  measured: number[];
  bound: number[];
  /** Largest measured / bound over the inputs (at most 1 when the bound holds). */
  worstRatio: number;
  /** Median bound / measured: how loose the per-input bound is. */
  medianLooseness: number;
  /** The aggregate form: measured output distortion, parameter distortion D, and Gamma * D. */
  outputDistortion: number;
  parameterDistortion: number;
  gamma: number;
  gammaBound: number;
}

/**
 * Check the bound for a pruned chain model of the same shapes (unstructured, or the zero-masked
 * equivalent of a structured plan). P_l uses max(||W~_k||, ||W~'_k||) for the layers before l, so the
 * per-input bound holds for any change of the weights.
 */
export async function lipschitzCheck(original: ModelProto, pruned: ModelProto, inputs: readonly Feeds[]): Promise<LipschitzCheck> {
  const a = chainLayers(original);
  const b = chainLayers(pruned, 'pruned model');
  if (a.length !== b.length || a.some((l, i) => l.w.length !== b[i]!.w.length)) {
    throw new EdgesplitError('ERR_MODEL_INVALID', 'the pruned chain has other layer shapes than the original. Pass the zero-masked equivalent of a structured plan (maskPruning).');
  }
  const last = a.length - 1;
  const sa = a.map((l, i) => augmentedSpectralNorm(l, i === last));
  const sb = b.map((l, i) => augmentedSpectralNorm(l, i === last));
  const delta = a.map((l, i) => augmentedSpectralNorm({ ...l, w: l.w.map((v, j) => v - b[i]!.w[j]!), b: l.b.map((v, j) => v - b[i]!.b[j]!) }, true));
  let factor = 0;
  for (let l = 0; l <= last; l++) {
    let p = delta[l]!;
    for (let k = 0; k < l; k++) p *= Math.max(sa[k]!, sb[k]!);
    for (let k = l + 1; k <= last; k++) p *= sa[k]!;
    factor += p;
  }
  const ya = await sumSquares(original, inputs);
  const yb = await sumSquares(pruned, inputs);
  const measured: number[] = [];
  const bound: number[] = [];
  let err2 = 0;
  inputs.forEach((f, i) => {
    const x2 = inputSquares(f) + 1;
    let e = 0;
    const p = ya.y[i]!;
    const q = yb.y[i]!;
    for (let j = 0; j < p.length; j++) e += (p[j]! - q[j]!) ** 2;
    err2 += e;
    measured.push(Math.sqrt(e));
    bound.push(Math.sqrt(x2) * factor);
  });
  let dw2 = 0;
  let w2 = 0;
  a.forEach((l, i) => {
    l.w.forEach((v, j) => { dw2 += (v - b[i]!.w[j]!) ** 2; w2 += v * v; });
    l.b.forEach((v, j) => { dw2 += (v - b[i]!.b[j]!) ** 2; w2 += v * v; });
  });
  const g = await lipschitzGamma(original, inputs);
  const parameterDistortion = w2 > 0 ? dw2 / w2 : 0;
  const looseness = measured.map((m, i) => (m > 0 ? bound[i]! / m : Infinity)).sort((x, y) => x - y);
  return {
    measured, bound,
    worstRatio: Math.max(...measured.map((m, i) => (bound[i]! > 0 ? m / bound[i]! : m > 0 ? Infinity : 0))),
    medianLooseness: looseness[Math.floor(looseness.length / 2)]!,
    outputDistortion: ya.y2 > 0 ? err2 / ya.y2 : 0,
    parameterDistortion, gamma: g.gamma, gammaBound: g.gamma * parameterDistortion,
  };
}
