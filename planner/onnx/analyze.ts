// Model analysis: nodes in topological order with FLOPs and parameters, every tensor's type, the totals,
// and the cut points where few activations cross, with what each cut costs on either side.
import type { ModelProto } from './model.ts';
import { opsetVersion } from './model.ts';
import { type GraphIndex, type TensorKind, indexGraph, modelGraph, nodeInputs, weightRoots } from './graph.ts';
import { type InputShapes, type TensorInfo, inferShapes, weightInfo } from './shapes.ts';
import { type UnknownOpPolicy, isKnownOp, nodeFlops, unsupportedOpError } from './flops.ts';
import type { Feeds } from './session.ts';
import { EdgesplitError } from '../../shared/errors.ts';

/** Default of `maxCrossing`: a single stream, or a residual stream and its branch (or a mask). */
export const DEFAULT_MAX_CROSSING = 2;

/** One computing node of the analysis (constant-only nodes and dead nodes are not listed). */
export interface NodeAnalysis {
  /** Position in the compute order: the cut at position p runs nodes 0..p-1 on the device. */
  position: number;
  name: string;
  opType: string;
  inputs: string[];
  outputs: string[];
  /** FLOPs at the analysed input shape (a multiply-add is 2 FLOPs; see flops.ts). */
  flops: number;
  /** Elements of the floating-point weights this node reads. */
  params: number;
}

/** A tensor that crosses a cut: produced by the head (or a model input), read by the tail. */
export interface CrossingTensor extends TensorInfo {
  /**
   * The tensor's name in the original model. `name` is the same, except for a model input or output
   * that crosses, which travels as `<source>.crossing` (a half cannot read and write one name).
   */
  source: string;
  /** 'activation' or 'input'; 'shape' for a small shape vector the tail cannot recompute. */
  kind: TensorKind;
}

/** A place where the model can be cut: nodes before `position` run on the device, the rest on the server. */
export interface CutPoint {
  /** Ordinal among this analysis's cut points (depends on `maxCrossing`). */
  index: number;
  /** Stable label `p<position>`: the same for a model whatever the options; `--at` accepts it. */
  id: string;
  /** Number of compute nodes before the cut (0: all on the server; nodes.length: all on the device). */
  position: number;
  /** The tensors that cross, in a stable order: head outputs and, with the same names, tail inputs. */
  crossing: CrossingTensor[];
  crossingBytes: number;
  headFlops: number;
  tailFlops: number;
  headParams: number;
  tailParams: number;
  headParamBytes: number;
  tailParamBytes: number;
  /** Peak bytes of live activations while the head runs (its inputs, intermediates and crossing tensors). */
  headPeakActivationBytes: number;
}

/** The result of `analyzeModel`. */
export interface ModelAnalysis {
  /** Graph name of the model. */
  name: string;
  irVersion: number;
  opset: number;
  /** The input shapes analysed at (given, or batch 1 for a dynamic batch). */
  inputShapes: InputShapes;
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  /** Compute nodes in topological order. */
  nodes: NodeAnalysis[];
  /** Info of every input, activation and shape tensor, by name. */
  tensors: Record<string, TensorInfo>;
  totals: { flops: number; params: number; paramBytes: number; nodes: number };
  maxCrossing: number;
  cuts: CutPoint[];
  /** Where the tensor infos came from. */
  shapeSource: 'value_info' | 'onnxruntime';
  /** Things the caller should know: ops counted as 0 FLOPs under `unknownOps: 'zero'`. */
  warnings: string[];
}

/** Options of `analyzeModel`. */
export interface AnalyzeOptions {
  /** Input shapes by name; a dynamic batch defaults to 1, other dynamic dims must be given. */
  inputShapes?: InputShapes;
  /** Most activation tensors allowed across a cut (default 2). Shape vectors do not count. */
  maxCrossing?: number;
  /** An op whose FLOPs are unknown: 'error' (default, ERR_UNSUPPORTED_OP) or 'zero' (count 0, warn). */
  unknownOps?: UnknownOpPolicy;
  /** Names the model in messages (a path or zoo id). */
  source?: string;
  /**
   * Known values of inputs, fed instead of sample data when shapes are inferred by running the model
   * (see `inferShapes`). A tail half that reads a shape vector needs it: sample data feeds zeros.
   */
  inputValues?: Feeds;
}

/** The liveness schedule of a graph: what the analysis and the splitter both derive cut sets from. */
export interface Schedule {
  index: GraphIndex;
  /** Indices into index.nodes of the compute nodes, in order. */
  order: number[];
  /** Node index to position in `order`. */
  position: Map<number, number>;
  /** Non-constant tensors that something reads: position of the producer (-1 for a model input) and of the last reader (order.length for a model output). */
  live: Map<string, { kind: TensorKind; produced: number; lastUse: number }>;
}

/** The compute order and the lifetime of every non-constant tensor. */
export function schedule(index: GraphIndex): Schedule {
  const order: number[] = [];
  index.nodes.forEach((node, i) => {
    if (!index.needed.has(i)) return;
    const out = node.output.find((o) => o !== '');
    if (out !== undefined && index.kind.get(out) === 'constant') return;
    order.push(i);
  });
  const position = new Map(order.map((n, p) => [n, p]));
  const live = new Map<string, { kind: TensorKind; produced: number; lastUse: number }>();
  const track = (name: string, produced: number): void => {
    const kind = index.kind.get(name)!;
    if (kind === 'constant') return;
    const readers = (index.consumers.get(name) ?? []).filter((c) => position.has(c)).map((c) => position.get(c)!);
    const isOutput = index.outputs.includes(name);
    // an output nobody reads (a Dropout mask, MaxPool indices) is never alive across a cut
    if (readers.length === 0 && !isOutput) return;
    live.set(name, { kind, produced, lastUse: isOutput ? order.length : Math.max(...readers) });
  };
  for (const name of index.inputs) track(name, -1);
  order.forEach((n, p) => {
    for (const out of index.nodes[n]!.output) if (out !== '') track(out, p);
  });
  return { index, order, position, live };
}

/**
 * The original names of the tensors that cross the cut at `position`, in a stable order (model
 * inputs, then by producer position and output slot).
 * NOTE: shape tensors (Shape and the int arithmetic on it) do not cross when the tail can recompute
 * them from the shapes of tensors that cross anyway: the splitter replicates those few 0-FLOP nodes
 * in the tail. Only a shape tensor whose sources are gone by the cut (e.g. the shape of a feature map
 * taken early and used late) crosses, as a small integer vector. Both ways keep the split exact.
 */
export function crossingAt(s: Schedule, position: number): string[] {
  const alive = (name: string): boolean => {
    const t = s.live.get(name);
    return t !== undefined && t.produced < position && t.lastUse >= position;
  };
  const memo = new Map<string, boolean>();
  const recomputable = (name: string): boolean => {
    const cached = memo.get(name);
    if (cached !== undefined) return cached;
    memo.set(name, false);
    const t = s.live.get(name);
    const p = s.index.producer.get(name);
    let ok = false;
    if (t && t.kind === 'shape' && p !== undefined && !s.index.outputs.includes(name)) {
      ok = nodeInputs(s.index.nodes[p]!).every((src) => {
        const k = s.index.kind.get(src);
        if (k === 'constant') return true;
        if (k === 'shape') return alive(src) || recomputable(src);
        return alive(src);
      });
    }
    memo.set(name, ok);
    return ok;
  };
  const names: string[] = [];
  for (const [name, t] of s.live) {
    if (!alive(name)) continue;
    if (t.kind === 'shape' && recomputable(name)) continue;
    names.push(name);
  }
  return names;
}

/** The name a crossing tensor travels under: its own, or `<name>.crossing` for a model input or output. */
export function crossingName(index: GraphIndex, source: string): string {
  if (!index.inputs.includes(source) && !index.outputs.includes(source)) return source;
  let name = `${source}.crossing`;
  while (index.kind.has(name)) name += '_';
  return name;
}

/**
 * Analyse a model at one input shape: topological order, every tensor's dtype and dims (value_info or a
 * real ONNX Runtime run), FLOPs and parameters per node, totals, and every cut point where at most
 * `maxCrossing` activation tensors cross, always including the two ends (position 0, everything on
 * the server, and position nodes.length, everything on the device).
 */
export async function analyzeModel(model: ModelProto, options: AnalyzeOptions = {}): Promise<ModelAnalysis> {
  const source = options.source ?? 'model';
  const maxCrossing = options.maxCrossing ?? DEFAULT_MAX_CROSSING;
  if (!Number.isInteger(maxCrossing) || maxCrossing < 1) {
    throw new EdgesplitError('ERR_USAGE', `maxCrossing must be an integer >= 1, got ${maxCrossing}.`, { details: { maxCrossing } });
  }
  const index = indexGraph(modelGraph(model, source), source);
  const s = schedule(index);
  const warnings: string[] = [];

  // Ops first: an unknown op should fail before a costly ONNX Runtime run.
  const unknown = new Set<number>();
  for (const n of s.order) {
    const node = index.nodes[n]!;
    if (isKnownOp(node)) continue;
    if (options.unknownOps !== 'zero') throw unsupportedOpError(node, source);
    unknown.add(n);
  }

  const shapes = await inferShapes(model, index, options.inputShapes ?? {}, source, options.inputValues ?? {});
  const dimsOf = (name: string): readonly number[] | undefined => shapes.tensors.get(name)?.dims ?? weightInfo(index, name)?.dims;

  const rootsOf = new Map<number, string[]>();
  const firstUse = new Map<string, number>();
  const lastUse = new Map<string, number>();
  const nodes: NodeAnalysis[] = s.order.map((n, p) => {
    const node = index.nodes[n]!;
    const roots = [...new Set(nodeInputs(node).filter((i) => index.kind.get(i) === 'constant').flatMap((i) => weightRoots(index, i)))]
      .filter((r) => isFloat(weightInfo(index, r)?.dtype));
    rootsOf.set(n, roots);
    for (const r of roots) {
      if (!firstUse.has(r)) firstUse.set(r, p);
      lastUse.set(r, p);
    }
    let flops = 0;
    if (unknown.has(n)) {
      warnings.push(`node '${node.name}' (${node.opType}${node.domain ? ` of ${node.domain}` : ''}): unknown op, counted as 0 FLOPs`);
    } else {
      flops = nodeFlops(node, dimsOf)!;
    }
    const params = roots.reduce((a, r) => a + elements(weightInfo(index, r)!.dims), 0);
    return { position: p, name: node.name, opType: node.opType, inputs: node.input.filter((i) => i !== ''), outputs: node.output.filter((o) => o !== ''), flops, params };
  });

  const L = nodes.length;
  const prefixFlops = [0];
  for (const node of nodes) prefixFlops.push(prefixFlops[prefixFlops.length - 1]! + node.flops);
  const weightsUsed = [...firstUse.keys()].map((r) => ({ first: firstUse.get(r)!, last: lastUse.get(r)!, info: weightInfo(index, r)! }));
  const totalParams = weightsUsed.reduce((a, w) => a + elements(w.info.dims), 0);
  const totalParamBytes = weightsUsed.reduce((a, w) => a + w.info.bytes, 0);

  const infoOf = (name: string): TensorInfo => {
    const info = shapes.tensors.get(name);
    if (!info) throw new EdgesplitError('ERR_INTERNAL', `${source}: no type known for tensor '${name}' after shape inference`);
    return info;
  };

  // Live activation bytes while node p runs: everything produced at or before p and read at or after it.
  const liveBytes = new Array<number>(L).fill(0);
  for (const [name, t] of s.live) {
    const bytes = infoOf(name).bytes;
    for (let p = Math.max(0, t.produced); p <= Math.min(t.lastUse, L - 1); p++) liveBytes[p]! += bytes;
  }

  const cuts: CutPoint[] = [];
  let previous = '';
  let peak = 0;
  for (let p = 0; p <= L; p++) {
    if (p > 0) peak = Math.max(peak, liveBytes[p - 1]!);
    const sources = crossingAt(s, p);
    const activations = sources.filter((n) => s.live.get(n)!.kind !== 'shape').length;
    const key = sources.join('\u0000');
    const end = p === 0 || p === L;
    if (!end && (activations > maxCrossing || key === previous)) continue;
    previous = key;
    const crossing = sources.map((src): CrossingTensor => ({ ...infoOf(src), name: crossingName(index, src), source: src, kind: s.live.get(src)!.kind }));
    const crossingBytes = crossing.reduce((a, c) => a + c.bytes, 0);
    const head = weightsUsed.filter((w) => w.first < p);
    const tail = weightsUsed.filter((w) => w.last >= p);
    cuts.push({
      index: cuts.length,
      id: `p${p}`,
      position: p,
      crossing,
      crossingBytes,
      headFlops: prefixFlops[p]!,
      tailFlops: prefixFlops[L]! - prefixFlops[p]!,
      headParams: head.reduce((a, w) => a + elements(w.info.dims), 0),
      tailParams: tail.reduce((a, w) => a + elements(w.info.dims), 0),
      headParamBytes: head.reduce((a, w) => a + w.info.bytes, 0),
      tailParamBytes: tail.reduce((a, w) => a + w.info.bytes, 0),
      headPeakActivationBytes: p === 0 ? crossingBytes : peak,
    });
  }

  const tensors: Record<string, TensorInfo> = {};
  for (const [name, info] of shapes.tensors) tensors[name] = info;
  return {
    name: index.graph.name,
    irVersion: typeof model.irVersion === 'number' ? model.irVersion : model.irVersion.toNumber(),
    opset: opsetVersion(model),
    inputShapes: shapes.inputShapes,
    inputs: index.inputs.map(infoOf),
    outputs: index.outputs.map(infoOf),
    nodes,
    tensors,
    totals: { flops: prefixFlops[L]!, params: totalParams, paramBytes: totalParamBytes, nodes: L },
    maxCrossing,
    cuts,
    shapeSource: shapes.source,
    warnings,
  };
}

function elements(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

function isFloat(dtype: string | undefined): boolean {
  return dtype === 'float32' || dtype === 'float16' || dtype === 'float64';
}

/**
 * The cut named by `at`: its index in `analysis.cuts` (a whole number), its id (`p<position>`), or the
 * name of the one tensor that crosses it. ERR_CUT_NOT_FOUND lists the valid range otherwise.
 */
export function findCut(analysis: ModelAnalysis, at: string | number): CutPoint {
  const text = String(at).trim();
  let cut: CutPoint | undefined;
  if (/^\d+$/.test(text)) cut = analysis.cuts[Number(text)];
  else cut = analysis.cuts.find((c) => c.id === text) ?? analysis.cuts.find((c) => c.crossing.length === 1 && (c.crossing[0]!.source === text || c.crossing[0]!.name === text));
  if (!cut) {
    const ids = analysis.cuts.map((c) => c.id);
    const sample = ids.length > 6 ? `${ids.slice(0, 3).join(', ')}, ..., ${ids.slice(-3).join(', ')}` : ids.join(', ');
    throw new EdgesplitError('ERR_CUT_NOT_FOUND',
      `no cut point '${text}' in this model: expected an index 0..${analysis.cuts.length - 1}, an id (${sample}) or the name of a single crossing tensor. Run 'edgesplit inspect' to list the cut points.`,
      { details: { at: text, cuts: analysis.cuts.length } });
  }
  return cut;
}
