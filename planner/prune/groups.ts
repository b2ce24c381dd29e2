// Dependency groups for structured pruning, in the spirit of DepGraph: the channels of every tensor that
// must shrink together (through activations, BatchNorm, residual adds, per-channel gates, Flatten) and
// the weight slices that go with them. A part the rules do not understand is left whole, with a reason.
import type { ModelProto, NodeProto } from '../onnx/model.ts';
import { attrInt, tensorDims, tensorToFloat32 } from '../onnx/model.ts';
import { indexGraph, modelGraph, nodeInputs, nodeLabel, type GraphIndex } from '../onnx/graph.ts';
import { findAttentionHeads } from './attention.ts';

/**
 * One weight slice of a group: channel c of the group owns the entries
 * [offset + c * block, offset + (c + 1) * block) of `tensor` along `axis`.
 */
export interface GroupMember {
  /** Name of the weight (an initializer or the output of a Constant node). */
  tensor: string;
  axis: number;
  /** Entries per channel along `axis`: 1, or the spatial size for a Gemm/MatMul after Flatten. */
  block: number;
  /**
   * Where the group's entries start along `axis`, for a layer reading a Concat of several groups.
   * Absent: the group owns the whole axis.
   */
  offset?: number;
  /**
   * - `producer`: the output channels of a Conv/Gemm/MatMul weight;
   * - `consumer`: the input channels (columns) of the next Conv/Gemm/MatMul weight;
   * - `depthwise`: the weight of a depthwise Conv, whose channels pass through;
   * - `bias`: a Conv/Gemm bias or a per-channel constant added or subtracted;
   * - `scale`: a per-channel constant multiplied or divided by;
   * - `norm`: BatchNormalization's scale, shift, mean and variance;
   * - `shape`: a Reshape's constant shape, whose entry `axis` is channels x `block` (attention heads).
   */
  role: 'producer' | 'consumer' | 'depthwise' | 'bias' | 'scale' | 'norm' | 'shape';
  /** The node that reads the weight. */
  node: string;
}

/** An activation tensor whose channels the group owns (or a part of them, after a Concat): `axis` counted from the end (-1 = last). */
export interface GroupActivation {
  tensor: string;
  axisFromEnd: number;
  block: number;
}

/** A set of channels that are pruned together: every member keeps the same channel indices. */
export interface PruneGroup {
  /** Stable id: `channels:` and the name of the group's first producing node. */
  id: string;
  /** `channels` of a layer (neurons, conv channels) or whole attention `heads`. */
  kind: 'channels' | 'heads';
  /** Channels (or heads) of the group before pruning. */
  channels: number;
  members: GroupMember[];
  activations: GroupActivation[];
  /** Names of the nodes whose output channels the group shrinks. */
  producers: string[];
}

/** A part of the model left whole, and why. */
export interface SkippedPart {
  /** Names of the nodes whose output channels would have been pruned. */
  producers: string[];
  channels: number;
  reason: string;
}

/** The groups the pruner may shrink and the parts it leaves whole. */
export interface GroupAnalysis {
  groups: PruneGroup[];
  skipped: SkippedPart[];
}

/** Ops that act on each element alone: channels pass through unchanged. */
const UNARY = new Set([
  'Relu', 'LeakyRelu', 'PRelu', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Tanh', 'Elu', 'Selu', 'Celu', 'Gelu', 'Softplus',
  'Softsign', 'Mish', 'Erf', 'Identity', 'Dropout', 'Abs', 'Neg', 'Exp', 'Sqrt', 'Reciprocal', 'Clip',
]);

/** Binary elementwise ops that broadcast: a constant operand is sliced, two activations tie their channels. */
const BINARY = new Set(['Add', 'Sub', 'Mul', 'Div']);

/** Ops that keep the channel axis 1 of an NC... tensor and work per channel. */
const SPATIAL = new Set(['MaxPool', 'AveragePool', 'GlobalAveragePool', 'GlobalMaxPool', 'LpPool', 'GlobalLpPool']);

interface Track {
  /** Channel axis counted from the end (negative). */
  axisFromEnd: number;
  /** Rank of the tensor, when known. */
  rank: number | undefined;
  /** Entries per channel along the axis; 0 = after Flatten, resolved by the consumer. */
  block: number;
}

interface Draft {
  channels: number;
  members: GroupMember[];
  activations: GroupActivation[];
  producers: string[];
  reasons: string[];
}

/** Union-find over drafts: residual adds and gates merge the channel sets they tie together. */
class Sets {
  private readonly parent: number[] = [];
  readonly drafts: Draft[] = [];

  add(d: Draft): number {
    this.parent.push(this.parent.length);
    this.drafts.push(d);
    return this.parent.length - 1;
  }

  find(i: number): number {
    while (this.parent[i] !== i) {
      this.parent[i] = this.parent[this.parent[i]!]!;
      i = this.parent[i]!;
    }
    return i;
  }

  union(a: number, b: number): number {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra === rb) return ra;
    const [keep, drop] = ra < rb ? [ra, rb] : [rb, ra];
    this.parent[drop] = keep;
    const k = this.drafts[keep]!;
    const d = this.drafts[drop]!;
    if (k.channels !== d.channels) k.reasons.push(`tensors with ${k.channels} and ${d.channels} channels meet in one elementwise op`);
    k.members.push(...d.members);
    k.activations.push(...d.activations);
    k.producers.push(...d.producers);
    k.reasons.push(...d.reasons);
    return keep;
  }
}

/** The dims of a constant node input, or undefined when it is not a constant. */
function constDims(index: GraphIndex, name: string | undefined): number[] | undefined {
  const t = name ? index.weights.get(name) : undefined;
  return t ? tensorDims(t) : undefined;
}

/** Whether a node carries an attribute. */
function getAttrPresent(node: NodeProto, name: string): boolean {
  return node.attribute.some((a) => a.name === name);
}

function nodeName(node: NodeProto): string {
  return node.name || node.output[0] || node.opType;
}

/** How many nodes read a tensor (a weight read by two nodes cannot be sliced for one). */
function readers(index: GraphIndex, name: string): number {
  return index.consumers.get(name)?.length ?? 0;
}

/**
 * Find the dependency groups of a model. Producers are Conv (groups = 1), Gemm (transA = 0) and
 * MatMul with a constant 2-D weight; their output channels flow through elementwise ops, BatchNorm,
 * pooling, Resize, depthwise Conv and Flatten until a Conv/Gemm/MatMul absorbs them as input channels,
 * directly or after a Concat along the channels (each input group then owns its segment of the
 * reader's input channels). Whole attention heads are matched separately (attention.ts).
 * A group is prunable only if every path ends that way; a group that reaches a graph output or an op
 * outside these rules (Reshape, Transpose, LayerNorm, Softmax, attention MatMuls, a Concat read by
 * anything else, ...) is left whole and listed in `skipped` with the reason.
 */
export function analyzeGroups(model: ModelProto, source = 'model'): GroupAnalysis {
  const index = indexGraph(modelGraph(model, source), source);
  const sets = new Sets();
  const setOf = new Map<string, number>();
  const track = new Map<string, Track>();
  const outputs = new Set(index.outputs);

  const fail = (tensor: string, reason: string): void => {
    const s = setOf.get(tensor);
    if (s !== undefined) sets.drafts[sets.find(s)]!.reasons.push(reason);
  };
  const draftOf = (tensor: string): Draft => sets.drafts[sets.find(setOf.get(tensor)!)]!;
  const channelsOf = (tensor: string): number => draftOf(tensor).channels;
  const setTracked = (tensor: string, t: Track, set: number): void => {
    track.set(tensor, t);
    setOf.set(tensor, set);
    sets.drafts[sets.find(set)]!.activations.push({ tensor, axisFromEnd: t.axisFromEnd, block: t.block });
    if (outputs.has(tensor)) sets.drafts[sets.find(set)]!.reasons.push(`its channels reach the graph output '${tensor}'`);
  };
  const newSet = (node: NodeProto, channels: number, member: GroupMember): number =>
    sets.add({ channels, members: [member], activations: [], producers: [nodeName(node)], reasons: [] });
  const axisFromStart = (t: Track): number | undefined => (t.rank === undefined ? undefined : t.rank + t.axisFromEnd);

  for (const node of index.nodes) {
    const name = nodeName(node);
    const label = nodeLabel(node);
    const op = node.domain && node.domain !== 'ai.onnx' ? `${node.domain}::${node.opType}` : node.opType;
    const ins = node.input;
    const tracked: Array<{ n: string; i: number; t: Track }> = [];
    ins.forEach((n, i) => {
      const t = n ? track.get(n) : undefined;
      if (t) tracked.push({ n, i, t });
    });
    const out = node.output[0] ?? '';
    if (node.attribute.some((a) => a.g || (a.graphs?.length ?? 0) > 0)) {
      for (const n of nodeInputs(node)) if (track.has(n)) fail(n, `${label} reads it inside a subgraph`);
      continue;
    }

    // Producers: a new channel set at the output (also when the input is tracked: a Conv/Gemm/MatMul
    // both absorbs its input's channels and produces its own).
    let absorbed = false;
    if (op === 'Conv') {
      const w = constDims(index, ins[1]);
      const groups = attrInt(node, 'group', 1);
      const x = track.get(ins[0] ?? '');
      if (w && groups === 1) {
        if (x) {
          if (x.block !== 1 || axisFromStart(x) !== 1) fail(ins[0]!, `${label} reads it with channels not on axis 1`);
          else if (w[1] !== channelsOf(ins[0]!)) fail(ins[0]!, `${label} has ${w[1]} input channels, the group ${channelsOf(ins[0]!)}`);
          else if (readers(index, ins[1]!) > 1) fail(ins[0]!, `the weight '${ins[1]}' of ${label} is shared with another node`);
          else draftOf(ins[0]!).members.push({ tensor: ins[1]!, axis: 1, block: 1, role: 'consumer', node: name });
          absorbed = true;
        }
        const s = newSet(node, w[0]!, { tensor: ins[1]!, axis: 0, block: 1, role: 'producer', node: name });
        if (readers(index, ins[1]!) > 1) sets.drafts[s]!.reasons.push(`the weight '${ins[1]}' of ${label} is shared with another node`);
        if (ins[2]) {
          if (readers(index, ins[2]) > 1) sets.drafts[s]!.reasons.push(`the bias '${ins[2]}' of ${label} is shared with another node`);
          sets.drafts[s]!.members.push({ tensor: ins[2], axis: 0, block: 1, role: 'bias', node: name });
        }
        setTracked(out, { axisFromEnd: -(w.length - 1), rank: w.length, block: 1 }, s);
        for (const extra of tracked) if (extra.i !== 0) fail(extra.n, `${label} reads it as a weight or bias`);
        continue;
      }
      if (w && x && groups > 1 && w[0] === groups && w[1] === 1 && groups === channelsOf(ins[0]!) && x.block === 1 && axisFromStart(x) === 1) {
        const s = setOf.get(ins[0]!)!;
        const d = draftOf(ins[0]!);
        if (readers(index, ins[1]!) > 1) d.reasons.push(`the weight '${ins[1]}' of ${label} is shared with another node`);
        d.members.push({ tensor: ins[1]!, axis: 0, block: 1, role: 'depthwise', node: name });
        if (ins[2]) d.members.push({ tensor: ins[2], axis: 0, block: 1, role: 'bias', node: name });
        setTracked(out, { ...x }, s);
        continue;
      }
    }
    if (op === 'ConvTranspose' && attrInt(node, 'group', 1) === 1) {
      // Weight [C_in, C_out, k..]: input channels on axis 0, output channels on axis 1.
      const w = constDims(index, ins[1]);
      const x = track.get(ins[0] ?? '');
      if (w) {
        if (x) {
          absorbed = true;
          if (x.block !== 1 || axisFromStart(x) !== 1) fail(ins[0]!, `${label} reads it with channels not on axis 1`);
          else if (w[0] !== channelsOf(ins[0]!)) fail(ins[0]!, `${label} has ${w[0]} input channels, the group ${channelsOf(ins[0]!)}`);
          else if (readers(index, ins[1]!) > 1) fail(ins[0]!, `the weight '${ins[1]}' of ${label} is shared with another node`);
          else draftOf(ins[0]!).members.push({ tensor: ins[1]!, axis: 0, block: 1, role: 'consumer', node: name });
        }
        const s = newSet(node, w[1]!, { tensor: ins[1]!, axis: 1, block: 1, role: 'producer', node: name });
        if (readers(index, ins[1]!) > 1) sets.drafts[s]!.reasons.push(`the weight '${ins[1]}' of ${label} is shared with another node`);
        if (ins[2]) {
          if (readers(index, ins[2]) > 1) sets.drafts[s]!.reasons.push(`the bias '${ins[2]}' of ${label} is shared with another node`);
          sets.drafts[s]!.members.push({ tensor: ins[2], axis: 0, block: 1, role: 'bias', node: name });
        }
        if (getAttrPresent(node, 'output_shape')) sets.drafts[s]!.reasons.push(`${label} names its output shape`);
        setTracked(out, { axisFromEnd: -(w.length - 1), rank: w.length, block: 1 }, s);
        for (const extra of tracked) if (extra.i !== 0) fail(extra.n, `${label} reads it as a weight or bias`);
        continue;
      }
    }
    if (op === 'Gemm' && attrInt(node, 'transA', 0) === 0) {
      const w = constDims(index, ins[1]);
      if (w && w.length === 2) {
        const transB = attrInt(node, 'transB', 0) === 1;
        const x = track.get(ins[0] ?? '');
        if (x) {
          absorbed = true;
          absorbInput(ins[0]!, x, ins[1]!, transB ? 1 : 0, transB ? w[1]! : w[0]!, label, name);
        }
        const s = newSet(node, transB ? w[0]! : w[1]!, { tensor: ins[1]!, axis: transB ? 0 : 1, block: 1, role: 'producer', node: name });
        if (readers(index, ins[1]!) > 1) sets.drafts[s]!.reasons.push(`the weight '${ins[1]}' of ${label} is shared with another node`);
        if (ins[2]) {
          const c = constDims(index, ins[2]);
          const n = sets.drafts[s]!.channels;
          if (!c) sets.drafts[s]!.reasons.push(`the bias of ${label} is not a constant`);
          else if (readers(index, ins[2]) > 1) sets.drafts[s]!.reasons.push(`the bias '${ins[2]}' of ${label} is shared with another node`);
          else if (c.length > 0 && c[c.length - 1] === n) sets.drafts[s]!.members.push({ tensor: ins[2], axis: c.length - 1, block: 1, role: 'bias', node: name });
          else if (c.length === 2 && c[0] !== 1) sets.drafts[s]!.reasons.push(`the bias of ${label} has dims [${c.join(',')}]`);
        }
        setTracked(out, { axisFromEnd: -1, rank: 2, block: 1 }, s);
        for (const extra of tracked) if (extra.i !== 0) fail(extra.n, `${label} reads it as a weight or bias`);
        continue;
      }
    }
    if (op === 'MatMul') {
      const w = constDims(index, ins[1]);
      if (w && w.length === 2) {
        const x = track.get(ins[0] ?? '');
        if (x) {
          absorbed = true;
          absorbInput(ins[0]!, x, ins[1]!, 0, w[0]!, label, name);
        }
        const s = newSet(node, w[1]!, { tensor: ins[1]!, axis: 1, block: 1, role: 'producer', node: name });
        if (readers(index, ins[1]!) > 1) sets.drafts[s]!.reasons.push(`the weight '${ins[1]}' of ${label} is shared with another node`);
        setTracked(out, { axisFromEnd: -1, rank: x?.rank, block: 1 }, s);
        continue;
      }
    }
    if (tracked.length === 0 || absorbed) continue;

    // Channel-preserving ops on a tracked input.
    const first = tracked[0]!;
    const s = setOf.get(first.n)!;
    if (UNARY.has(op) && first.i === 0) {
      for (const extra of ins.slice(1)) if (extra && !index.weights.has(extra)) fail(first.n, `${label} has a non-constant parameter '${extra}'`);
      if (op === 'PRelu') sliceConstant(first.n, first.t, ins[1], 'scale', label, name);
      setTracked(out, { ...first.t }, s);
      if (node.output.length > 1 && node.output[1]) fail(first.n, `${label} has a second output`);
      continue;
    }
    if (op === 'BatchNormalization' && first.i === 0 && tracked.length === 1) {
      if (axisFromStart(first.t) !== 1 || first.t.block !== 1) {
        fail(first.n, `${label} normalises an axis other than the channels`);
      } else {
        for (const p of ins.slice(1, 5)) {
          if (!p || !index.weights.has(p)) fail(first.n, `${label} has a non-constant parameter`);
          else if (readers(index, p) > 1) fail(first.n, `the parameter '${p}' of ${label} is shared with another node`);
          else draftOf(first.n).members.push({ tensor: p, axis: 0, block: 1, role: 'norm', node: name });
        }
      }
      setTracked(out, { ...first.t }, s);
      continue;
    }
    if (SPATIAL.has(op) && first.i === 0) {
      if (axisFromStart(first.t) !== 1 || first.t.block !== 1) fail(first.n, `${label} pools with channels not on axis 1`);
      setTracked(out, { ...first.t }, s);
      if (node.output.length > 1 && node.output[1]) fail(first.n, `${label} has a second output`);
      continue;
    }
    if ((op === 'Resize' || op === 'Upsample') && first.i === 0) {
      // Channels pass through when the channel axis is scaled by 1 through constant scales; constant
      // target sizes would name the channel count and are left alone.
      const scalesName = op === 'Resize' ? ins[2] : ins[1];
      const scales = scalesName && index.weights.has(scalesName) ? tensorToFloat32(index.weights.get(scalesName)!) : undefined;
      if (axisFromStart(first.t) !== 1 || first.t.block !== 1 || !scales || scales[1] !== 1 || (op === 'Resize' && ins[3])) fail(first.n, `${label} resizes with other than constant scales of 1 on the channels`);
      setTracked(out, { ...first.t }, s);
      continue;
    }
    if (BINARY.has(op) && ins.length === 2) {
      const other = ins.find((_, i) => !tracked.some((t) => t.i === i));
      let set = s;
      for (const t of tracked.slice(1)) {
        if (t.t.axisFromEnd !== first.t.axisFromEnd || t.t.block !== first.t.block) fail(first.n, `${label} combines tensors whose channels lie on different axes`);
        set = sets.union(set, setOf.get(t.n)!);
      }
      if (other !== undefined) {
        if (index.weights.has(other)) sliceConstant(first.n, first.t, other, op === 'Mul' || op === 'Div' ? 'scale' : 'bias', label, name);
        else fail(first.n, `${label} combines it with '${other}', whose channels the pruner cannot follow`);
      }
      const rank = Math.max(...tracked.map((t) => t.t.rank ?? -1));
      setTracked(out, { ...first.t, rank: rank < 0 ? undefined : rank }, set);
      continue;
    }
    if (op === 'Flatten' && first.i === 0) {
      if (attrInt(node, 'axis', 1) !== 1 || axisFromStart(first.t) !== 1 || first.t.block !== 1) fail(first.n, `${label} flattens with channels not right after axis 0`);
      setTracked(out, { axisFromEnd: -1, rank: 2, block: first.t.rank === 2 ? 1 : 0 }, s);
      continue;
    }
    if (op === 'Concat') {
      const why = concatenate(node, tracked, label);
      if (why) for (const t of tracked) fail(t.n, why);
      continue;
    }
    for (const t of tracked) fail(t.n, `${label} reads its channels, and the pruner does not know how ${op} moves them`);
  }

  /**
   * A Concat along the channels read only by Conv/Gemm/MatMul layers: each input group keeps its own
   * channels, and owns its segment (at its offset) of every reader's input channels. At most one
   * input may be a tensor the pruner does not follow; its size is what the readers have left over.
   * Returns why the Concat is not handled, or undefined.
   */
  function concatenate(node: NodeProto, ins: ReadonlyArray<{ n: string; i: number; t: Track }>, label: string): string | undefined {
    const first = ins[0]!.t;
    const rank = first.rank;
    if (rank === undefined) return `${label} concatenates tensors of unknown rank`;
    const axisAttr = attrInt(node, 'axis', 0);
    if ((axisAttr < 0 ? axisAttr + rank : axisAttr) !== rank + first.axisFromEnd) return `${label} concatenates along another axis than the channels`;
    if (ins.some((x) => x.t.block !== 1 || x.t.axisFromEnd !== first.axisFromEnd || x.t.rank !== rank)) return `${label} concatenates tensors whose channels lie on different axes`;
    const out = node.output[0] ?? '';
    if (outputs.has(out)) return `its channels reach the graph output '${out}' through ${label}`;
    const readerNodes = (index.consumers.get(out) ?? []).map((r) => index.nodes[r]!);
    if (readerNodes.length === 0) return `nothing reads the output of ${label}`;
    const readersOut: Array<{ node: NodeProto; weight: string; axis: number; fanIn: number }> = [];
    for (const r of readerNodes) {
      const w = constDims(index, r.input[1]);
      const only = r.input[0] === out && !r.input.slice(1).includes(out);
      if (only && w && r.opType === 'Conv' && attrInt(r, 'group', 1) === 1 && rank + first.axisFromEnd === 1) {
        readersOut.push({ node: r, weight: r.input[1]!, axis: 1, fanIn: w[1]! });
      } else if (only && w?.length === 2 && r.opType === 'Gemm' && attrInt(r, 'transA', 0) === 0 && first.axisFromEnd === -1) {
        const transB = attrInt(r, 'transB', 0) === 1;
        readersOut.push({ node: r, weight: r.input[1]!, axis: transB ? 1 : 0, fanIn: transB ? w[1]! : w[0]! });
      } else if (only && w?.length === 2 && r.opType === 'MatMul' && first.axisFromEnd === -1) {
        readersOut.push({ node: r, weight: r.input[1]!, axis: 0, fanIn: w[0]! });
      } else {
        return `the output of ${label} is read by ${nodeLabel(r)}, which the pruner does not follow through a Concat`;
      }
      if (readers(index, r.input[1]!) > 1) return `the weight '${r.input[1]}' of ${nodeLabel(r)} is shared with another node`;
    }
    const fanIn = readersOut[0]!.fanIn;
    if (readersOut.some((r) => r.fanIn !== fanIn)) return `the readers of ${label} have different input channel counts`;
    const sizes: Array<number | undefined> = node.input.map((n) => (track.has(n) ? channelsOf(n) : undefined));
    const known = sizes.reduce<number>((a, v) => a + (v ?? 0), 0);
    const open = sizes.filter((v) => v === undefined).length;
    if (open > 1) return `${label} concatenates ${open} tensors whose channels the pruner does not follow`;
    if (open === 1 ? known >= fanIn : known !== fanIn) return `${label} concatenates ${known}${open ? ' known' : ''} channels for readers with ${fanIn}`;
    let offset = 0;
    node.input.forEach((n, i) => {
      const size = sizes[i] ?? fanIn - known;
      if (track.has(n)) {
        const d = draftOf(n);
        for (const r of readersOut) d.members.push({ tensor: r.weight, axis: r.axis, block: 1, offset, role: 'consumer', node: nodeName(r.node) });
        if (!d.activations.some((a) => a.tensor === out)) d.activations.push({ tensor: out, axisFromEnd: first.axisFromEnd, block: 1 });
      }
      offset += size;
    });
    return undefined;
  }

  function absorbInput(tensor: string, x: Track, weight: string, axis: number, fanIn: number, label: string, name: string): void {
    const n = channelsOf(tensor);
    if (x.axisFromEnd !== -1) return fail(tensor, `${label} contracts an axis other than its channels`);
    if (fanIn % n !== 0 || (x.block !== 0 && fanIn !== n * x.block)) return fail(tensor, `${label} has ${fanIn} inputs, which do not fit the group's ${n} channels`);
    if (readers(index, weight) > 1) return fail(tensor, `the weight '${weight}' of ${label} is shared with another node`);
    const block = fanIn / n;
    if (x.block === 0) {
      x.block = block;
      for (const a of draftOf(tensor).activations) if (a.tensor === tensor) a.block = block;
    }
    draftOf(tensor).members.push({ tensor: weight, axis, block, role: 'consumer', node: name });
  }

  function sliceConstant(tensor: string, x: Track, constant: string | undefined, role: GroupMember['role'], label: string, name: string): void {
    const d = constant ? constDims(index, constant) : undefined;
    if (!constant || !d) return fail(tensor, `${label} has no constant parameter`);
    const at = d.length + x.axisFromEnd;
    if (at < 0 || d[at] === 1) return;
    const n = channelsOf(tensor);
    if (x.block === 0) return fail(tensor, `${label} reads flattened channels with a constant`);
    if (d[at] !== n * x.block) return fail(tensor, `the constant '${constant}' of ${label} has ${d[at]} entries on the channel axis, the group ${n}`);
    if (readers(index, constant) > 1) return fail(tensor, `the constant '${constant}' of ${label} is shared with another node`);
    draftOf(tensor).members.push({ tensor: constant, axis: at, block: x.block, role, node: name });
  }

  const groups: PruneGroup[] = [];
  const skipped: SkippedPart[] = [];
  const attention = findAttentionHeads(index);
  const heads = new Set(attention.flatMap((m) => m.projections));
  sets.drafts.forEach((d, i) => {
    if (sets.find(i) !== i) return;
    if (d.producers.length === 1 && heads.has(d.producers[0]!)) return;
    if (d.activations.some((a) => a.block === 0)) d.reasons.push('a flattened tensor reaches no Gemm or MatMul');
    if (!d.members.some((m) => m.role === 'consumer') && d.reasons.length === 0) d.reasons.push('no layer reads its channels');
    if (d.channels < 2 && d.reasons.length === 0) d.reasons.push('it has a single channel');
    if (d.reasons.length > 0) {
      skipped.push({ producers: d.producers, channels: d.channels, reason: [...new Set(d.reasons)].join('; ') });
      return;
    }
    groups.push({ id: `channels:${d.producers[0]}`, kind: 'channels', channels: d.channels, members: d.members, activations: d.activations, producers: d.producers });
  });
  groups.push(...attention.map((m) => m.group));
  return { groups, skipped };
}
