// Unstructured magnitude pruning: zero the smallest |w| of each weight layer, or of all of them at once.
// Shapes stay the same, so dense runtimes run no faster; it serves the distortion studies.
import type { ModelProto } from '../onnx/model.ts';
import { cloneModel, constantTensors, setFloatData, tensorDims, tensorToFloat32 } from '../onnx/model.ts';
import { modelGraph } from '../onnx/graph.ts';
import { EdgesplitError } from '../../shared/errors.ts';
import { weightLayers } from './layers.ts';
import { checkRatio } from './ratio.ts';

/** Options of unstructured pruning. */
export interface UnstructuredOptions {
  /** Share of the weights of the weight layers to zero, in [0, 1). */
  ratio: number;
  /** `layer`: the same share of each layer (the default); `global`: one magnitude threshold over all layers. */
  scope?: 'layer' | 'global';
}

/** What unstructured pruning zeroed, per weight tensor. */
export interface UnstructuredReport {
  ratio: number;
  scope: 'layer' | 'global';
  layers: Array<{ node: string; weight: string; weights: number; zeroed: number }>;
  /** Zeroed share of all the layers' weights. */
  achievedRatio: number;
}

/** Zero the `k` entries of smallest magnitude (ties broken by position, so exactly k are zeroed). */
function zeroSmallest(data: Float32Array, k: number): void {
  if (k <= 0) return;
  const abs = Float32Array.from(data, Math.abs).sort();
  const threshold = abs[k - 1]!;
  let below = 0;
  for (let i = 0; i < data.length; i++) if (Math.abs(data[i]!) < threshold) below++;
  let ties = k - below;
  for (let i = 0; i < data.length; i++) {
    const a = Math.abs(data[i]!);
    if (a < threshold) data[i] = 0;
    else if (a === threshold && ties > 0) {
      data[i] = 0;
      ties--;
    }
  }
}

/**
 * Magnitude pruning without changing shapes: the weights (not biases) of every Conv, Gemm and
 * MatMul layer. Errors: ERR_PRUNE_RATIO, ERR_PRUNE_NOTHING (no weight layer).
 */
export function pruneUnstructured(model: ModelProto, options: UnstructuredOptions, source = 'model'): { model: ModelProto; report: UnstructuredReport } {
  checkRatio(options.ratio);
  const scope = options.scope ?? 'layer';
  const out = cloneModel(model);
  const layers = weightLayers(out, source);
  if (layers.length === 0) {
    throw new EdgesplitError('ERR_PRUNE_NOTHING', `${source}: nothing to prune: the model has no Conv, Gemm or MatMul layer with a constant weight.`, { details: { source } });
  }
  const weights = constantTensors(modelGraph(out, source));
  const seen = new Set<string>();
  const unique = layers.filter((l) => !seen.has(l.weight) && seen.add(l.weight));
  const data = unique.map((l) => tensorToFloat32(weights.get(l.weight)!));
  const zeroed: number[] = [];
  if (scope === 'layer') {
    data.forEach((d) => {
      const k = Math.round(options.ratio * d.length);
      zeroSmallest(d, k);
      zeroed.push(k);
    });
  } else {
    const total = data.reduce((a, d) => a + d.length, 0);
    const all = new Float32Array(total);
    let o = 0;
    for (const d of data) {
      all.set(d, o);
      o += d.length;
    }
    zeroSmallest(all, Math.round(options.ratio * total));
    o = 0;
    for (const d of data) {
      d.set(all.subarray(o, o + d.length));
      o += d.length;
      zeroed.push(d.reduce((a, v) => a + (v === 0 ? 1 : 0), 0));
    }
  }
  unique.forEach((l, i) => {
    const t = weights.get(l.weight)!;
    setFloatData(t, tensorDims(t), data[i]!);
  });
  const total = data.reduce((a, d) => a + d.length, 0);
  const report: UnstructuredReport = {
    ratio: options.ratio, scope,
    layers: unique.map((l, i) => ({ node: l.node, weight: l.weight, weights: data[i]!.length, zeroed: zeroed[i]! })),
    achievedRatio: zeroed.reduce((a, b) => a + b, 0) / total,
  };
  return { model: out, report };
}
