// Recovery without gradients: after structured pruning, re-fit each layer that reads pruned channels
// by ridge-regularised least squares, so that it reproduces the original layer's outputs on calibration
// inputs from the channels that remain.
import type { ModelProto, NodeProto } from '../onnx/model.ts';
import { attrFloat, attrInt, attrInts, attrString, cloneModel, constantTensors, setFloatData, tensorDims, tensorToFloat32 } from '../onnx/model.ts';
import type { Feeds } from '../onnx/session.ts';
import { EdgesplitError } from '../../shared/errors.ts';
import { captureTensors, type Captured } from './activations.ts';
import { indexGraph, modelGraph } from '../onnx/graph.ts';
import { weightLayers, type WeightLayer } from './layers.ts';
import type { PruningPlan } from './structured.ts';

/** Options of `refitPruned`. */
export interface RefitOptions {
  /** Ridge strength relative to the mean diagonal of X^T X (default 1e-3). */
  lambda?: number;
  /**
   * Most rows (samples x output positions) per layer: 16 per unknown, at least 4096, at most this
   * (default 20000). Conv positions are subsampled evenly.
   */
  maxRows?: number;
  /**
   * Layers with more unknowns than this (kept input channels x kernel + 1) are left as pruned
   * (default 512). NOTE: the normal equations cost rows x unknowns^2 in JavaScript; 512 keeps a
   * layer near a second.
   */
  maxUnknowns?: number;
  /** Called after each re-fitted layer (for progress on stderr). */
  onLayer?: (done: number, total: number, node: string) => void;
}

/** What re-fitting did to one layer: relative squared error of its outputs against the original's. */
export interface RefitLayer {
  node: string;
  rows: number;
  /** Inputs of the least-squares problem (kept input channels x kernel, plus 1 for the bias). */
  unknowns: number;
  errorBefore: number;
  errorAfter: number;
}

/** Fills A^T A and A^T Y row by row (A with a trailing 1 when the layer has a bias). */
class NormalEquations {
  readonly ata: Float64Array;
  readonly aty: Float64Array;
  rows = 0;
  constructor(readonly d: number, readonly m: number) {
    this.ata = new Float64Array(d * d);
    this.aty = new Float64Array(d * m);
  }

  add(a: Float64Array, y: ArrayLike<number>): void {
    const { d, m, ata, aty } = this;
    for (let i = 0; i < d; i++) {
      const ai = a[i]!;
      if (ai === 0) continue;
      for (let j = i; j < d; j++) ata[i * d + j] = ata[i * d + j]! + ai * a[j]!;
      for (let k = 0; k < m; k++) aty[i * m + k] = aty[i * m + k]! + ai * y[k]!;
    }
    this.rows++;
  }

  /** Solve (A^T A + lambda I) theta = A^T Y by Cholesky; theta is d x m. */
  solve(lambdaRel: number): Float64Array {
    const { d, m, ata, aty } = this;
    for (let i = 0; i < d; i++) for (let j = 0; j < i; j++) ata[i * d + j] = ata[j * d + i]!;
    let trace = 0;
    for (let i = 0; i < d; i++) trace += ata[i * d + i]!;
    const lambda = Math.max(lambdaRel * (trace / d), 1e-12);
    const L = new Float64Array(d * d);
    for (let i = 0; i < d; i++) {
      for (let j = 0; j <= i; j++) {
        let s = ata[i * d + j]! + (i === j ? lambda : 0);
        for (let k = 0; k < j; k++) s -= L[i * d + k]! * L[j * d + k]!;
        if (i === j) {
          if (s <= 0) throw new EdgesplitError('ERR_INTERNAL', `re-fit: the normal equations are not positive definite (pivot ${s} at ${i}); raise lambda.`);
          L[i * d + i] = Math.sqrt(s);
        } else {
          L[i * d + j] = s / L[j * d + j]!;
        }
      }
    }
    const theta = new Float64Array(d * m);
    for (let c = 0; c < m; c++) {
      const z = new Float64Array(d);
      for (let i = 0; i < d; i++) {
        let s = aty[i * m + c]!;
        for (let k = 0; k < i; k++) s -= L[i * d + k]! * z[k]!;
        z[i] = s / L[i * d + i]!;
      }
      for (let i = d - 1; i >= 0; i--) {
        let s = z[i]!;
        for (let k = i + 1; k < d; k++) s -= L[k * d + i]! * theta[k * m + c]!;
        theta[i * m + c] = s / L[i * d + i]!;
      }
    }
    return theta;
  }
}

/** The kept output channels of a layer whose own outputs were pruned too, or undefined (all kept). */
function keptOutputs(plan: PruningPlan, weight: string): number[] | undefined {
  for (const g of plan.groups) {
    if (g.kept.length === g.channels) continue;
    if (g.members.some((m) => m.tensor === weight && m.role === 'producer')) return g.kept;
  }
  return undefined;
}

/** Rows of a dense layer's problem: the last axis of X against the last axis of Y. */
function denseRows(x: Captured, y: Captured, kept: number[] | undefined, bias: boolean, emit: (a: Float64Array, y: Float64Array) => void, maxRows: number): void {
  const k = x.dims[0]!.at(-1)!;
  const outAll = y.dims[0]!.at(-1)!;
  const outIdx = kept ?? Array.from({ length: outAll }, (_, i) => i);
  const a = new Float64Array(k + (bias ? 1 : 0));
  const t = new Float64Array(outIdx.length);
  let rows = 0;
  for (let s = 0; s < x.data.length && rows < maxRows; s++) {
    const xd = x.data[s]!;
    const yd = y.data[s]!;
    for (let r = 0; r * k < xd.length && rows < maxRows; r++, rows++) {
      for (let i = 0; i < k; i++) a[i] = xd[r * k + i]!;
      if (bias) a[k] = 1;
      outIdx.forEach((o, j) => { t[j] = yd[r * outAll + o]!; });
      emit(a, t);
    }
  }
}

/** Rows of a Conv's problem: im2col patches of X against each output position of Y. */
function convRows(node: NodeProto, wDims: number[], x: Captured, y: Captured, kept: number[] | undefined, bias: boolean, emit: (a: Float64Array, y: Float64Array) => void, maxRows: number): void {
  const [, cin, kh, kw] = wDims as [number, number, number, number];
  const [sh, sw] = attrInts(node, 'strides', [1, 1]) as [number, number];
  const [dh, dw] = attrInts(node, 'dilations', [1, 1]) as [number, number];
  const pads = attrInts(node, 'pads', [0, 0, 0, 0]);
  const [pt, pl] = [pads[0]!, pads[1]!];
  const d = cin * kh * kw;
  const a = new Float64Array(d + (bias ? 1 : 0));
  const [, coutAll, ho, wo] = y.dims[0]! as [number, number, number, number];
  const [, , h, w] = x.dims[0]! as [number, number, number, number];
  const outIdx = kept ?? Array.from({ length: coutAll }, (_, i) => i);
  const t = new Float64Array(outIdx.length);
  const positions = x.data.length * ho * wo;
  const step = Math.max(1, Math.ceil(positions / maxRows));
  for (let p = 0; p < positions; p += step) {
    const s = Math.floor(p / (ho * wo));
    const oy = Math.floor((p % (ho * wo)) / wo);
    const ox = p % wo;
    const xd = x.data[s]!;
    const yd = y.data[s]!;
    let i = 0;
    for (let c = 0; c < cin; c++) {
      for (let ky = 0; ky < kh; ky++) {
        const iy = oy * sh - pt + ky * dh;
        for (let kx = 0; kx < kw; kx++, i++) {
          const ix = ox * sw - pl + kx * dw;
          a[i] = iy >= 0 && iy < h && ix >= 0 && ix < w ? xd[(c * h + iy) * w + ix]! : 0;
        }
      }
    }
    if (bias) a[d] = 1;
    outIdx.forEach((o, j) => { t[j] = yd[(o * ho + oy) * wo + ox]!; });
    emit(a, t);
  }
}

/** Whether the re-fit handles this layer: dense layers, and 2-D Conv with one group and explicit pads. */
/** Inputs of a layer's least-squares problem, without the bias: kept input channels x kernel. */
function unknownsOf(layer: WeightLayer, node: NodeProto): number {
  const w = layer.weightDims;
  if (layer.opType === 'Conv') return w.slice(1).reduce((a, b) => a * b, 1);
  return layer.opType === 'Gemm' && attrInt(node, 'transB', 0) === 1 ? w[1]! : w[0]!;
}

function refittable(layer: WeightLayer, node: NodeProto): boolean {
  if (layer.opType !== 'Conv') return true;
  return layer.weightDims.length === 4 && attrInt(node, 'group', 1) === 1 && attrString(node, 'auto_pad', 'NOTSET') === 'NOTSET';
}

/**
 * Re-fit every layer that reads pruned channels (Gemm, MatMul and 2-D Conv consumers), in
 * topological order: X = its input in the pruned model (earlier re-fits applied), Y = its output
 * (after its bias) in the original model restricted to the channels the layer keeps; solve
 * (X^T X + lambda I) W = X^T Y in Float64 and write W (and the bias) back. Returns a new model, what
 * each layer gained, and the layers left as pruned (grouped Conv, too many unknowns) with the reason.
 */
export async function refitPruned(original: ModelProto, pruned: ModelProto, plan: PruningPlan, calibration: readonly Feeds[], options: RefitOptions = {}): Promise<{ model: ModelProto; layers: RefitLayer[]; skipped: Array<{ node: string; reason: string }> }> {
  if (calibration.length === 0) throw new EdgesplitError('ERR_USAGE', `re-fit needs calibration inputs, got 0. Pass at least as many inputs as the widest re-fitted layer has kept inputs.`);
  const lambdaRel = options.lambda ?? 1e-3;
  const maxRowsCap = options.maxRows ?? 20000;
  const maxUnknowns = options.maxUnknowns ?? 512;
  const consumers = new Set<string>();
  for (const g of plan.groups) {
    if (g.kept.length < g.channels) for (const m of g.members) if (m.role === 'consumer') consumers.add(m.tensor);
  }
  const model = cloneModel(pruned);
  const nodes = new Map(indexGraph(modelGraph(model)).nodes.map((n) => [n.name || n.output[0] || '', n]));
  const skipped: Array<{ node: string; reason: string }> = [];
  const all = weightLayers(model);
  for (const g of plan.groups) {
    if (g.kept.length === g.channels) continue;
    for (const m of g.members) {
      if (m.role === 'consumer' && !all.some((l) => l.weight === m.tensor) && !skipped.some((x) => x.node === m.node)) skipped.push({ node: m.node, reason: 'not a Conv, Gemm or MatMul layer' });
    }
  }
  const layers = all.filter((l) => {
    if (!consumers.has(l.weight)) return false;
    const node = nodes.get(l.node)!;
    if (!refittable(l, node)) {
      skipped.push({ node: l.node, reason: 'a grouped or auto-padded Conv' });
      return false;
    }
    const unknowns = unknownsOf(l, node) + (l.bias ? 1 : 0);
    if (unknowns > maxUnknowns) {
      skipped.push({ node: l.node, reason: `${unknowns} unknowns, more than maxUnknowns ${maxUnknowns}` });
      return false;
    }
    return true;
  });
  const targets = await captureTensors(original, calibration, layers.map((l) => l.output));
  const report: RefitLayer[] = [];
  for (const layer of layers) {
    const node = nodes.get(layer.node)!;
    const x = (await captureTensors(model, calibration, [layer.input])).get(layer.input)!;
    const y = targets.get(layer.output)!;
    const kept = keptOutputs(plan, layer.weight);
    const bias = layer.bias !== undefined;
    const weights = constantTensors(modelGraph(model));
    const wT = weights.get(layer.weight)!;
    const wDims = tensorDims(wT);
    const transB = layer.opType === 'Gemm' && attrInt(node, 'transB', 0) === 1;
    const k = unknownsOf(layer, node);
    const maxRows = Math.min(maxRowsCap, Math.max(4096, 16 * (k + 1)));
    const m = layer.opType === 'Conv' || transB ? wDims[0]! : wDims[1]!;
    const eq = new NormalEquations(k + (bias ? 1 : 0), m);
    const rows = (emit: (a: Float64Array, t: Float64Array) => void): void => {
      if (layer.opType === 'Conv') convRows(node, wDims, x, y, kept, bias, emit, maxRows);
      else denseRows(x, y, kept, bias, emit, maxRows);
    };
    rows((a, t) => eq.add(a, t));
    const theta = eq.solve(lambdaRel);
    // The current weights as a theta too, to measure the error before the re-fit on the same rows.
    const alpha = layer.opType === 'Gemm' ? attrFloat(node, 'alpha', 1) : 1;
    const beta = layer.opType === 'Gemm' ? attrFloat(node, 'beta', 1) : 1;
    const wData = tensorToFloat32(wT);
    const bT = bias ? weights.get(layer.bias!)! : undefined;
    const bData = bT ? tensorToFloat32(bT) : undefined;
    const current = new Float64Array(eq.d * m);
    for (let i = 0; i < k; i++) {
      for (let o = 0; o < m; o++) {
        const v = layer.opType === 'Conv' || transB ? wData[o * k + i]! : wData[i * m + o]!;
        current[i * m + o] = v * alpha;
      }
    }
    if (bData) for (let o = 0; o < m; o++) current[k * m + o] = bData[bData.length === m ? o : 0]! * beta;
    let errBefore = 0;
    let errAfter = 0;
    let norm = 0;
    rows((a, t) => {
      for (let o = 0; o < m; o++) {
        let p0 = 0;
        let p1 = 0;
        for (let i = 0; i < eq.d; i++) {
          p0 += a[i]! * current[i * m + o]!;
          p1 += a[i]! * theta[i * m + o]!;
        }
        errBefore += (t[o]! - p0) ** 2;
        errAfter += (t[o]! - p1) ** 2;
        norm += t[o]! ** 2;
      }
    });
    const newW = new Float32Array(wData.length);
    for (let i = 0; i < k; i++) {
      for (let o = 0; o < m; o++) {
        const v = theta[i * m + o]! / alpha;
        if (layer.opType === 'Conv' || transB) newW[o * k + i] = v;
        else newW[i * m + o] = v;
      }
    }
    setFloatData(wT, wDims, newW);
    if (bT && bData) {
      const nb = new Float32Array(bData.length);
      for (let o = 0; o < bData.length; o++) nb[o] = theta[k * m + (bData.length === m ? o : 0)]! / beta;
      setFloatData(bT, tensorDims(bT), nb);
    }
    report.push({ node: layer.node, rows: eq.rows, unknowns: eq.d, errorBefore: norm > 0 ? errBefore / norm : 0, errorAfter: norm > 0 ? errAfter / norm : 0 });
    options.onLayer?.(report.length, layers.length, layer.node);
  }
  return { model, layers: report, skipped };
}
