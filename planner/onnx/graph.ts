// The structure of an ONNX graph: a stable, validated topological order, producer and consumer maps, and
// which tensors are activations, constants or shape data. Analysis and splitting both stand on this.
import type { GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto } from './model.ts';
import { constantTensors, realInputs } from './model.ts';
import { EdgesplitError } from '../../shared/errors.ts';

/**
 * What a tensor is, for cutting:
 * - `input`: a graph input (fed by the caller);
 * - `constant`: a weight (initializer or Constant node) or anything computed only from constants;
 * - `shape`: computed only from the shapes of activations and from constants (Shape, Size,
 *   ConstantOfShape and the arithmetic on their outputs): cheap to recompute, small, int64 mostly;
 * - `activation`: everything else, data that depends on the values of the inputs.
 */
export type TensorKind = 'input' | 'constant' | 'shape' | 'activation';

/** A graph's lists, typed as the message classes they hold. */
export interface GraphParts {
  nodes: NodeProto[];
  inputs: ValueInfoProto[];
  outputs: ValueInfoProto[];
  initializers: TensorProto[];
  valueInfo: ValueInfoProto[];
}

/**
 * The lists of a graph as message classes.
 * NOTE: onnx-proto types repeated message fields with its I* interfaces (every field optional), but
 * protobufjs `decode` and `create` always fill them with class instances whose fields have defaults;
 * this is the one place that says so to the type checker.
 */
export function graphParts(graph: GraphProto): GraphParts {
  return {
    nodes: graph.node as NodeProto[],
    inputs: graph.input as ValueInfoProto[],
    outputs: graph.output as ValueInfoProto[],
    initializers: graph.initializer as TensorProto[],
    valueInfo: graph.valueInfo as ValueInfoProto[],
  };
}

/** A model's main graph, or ERR_MODEL_INVALID when it has none. */
export function modelGraph(model: ModelProto, source = 'model'): GraphProto {
  if (!model.graph) throw new EdgesplitError('ERR_MODEL_INVALID', `${source}: the model has no graph. Expected an ONNX model with a main graph.`, { details: { source } });
  return model.graph as GraphProto;
}

/** The structural index of one graph. Node indices refer to `nodes`, which is in topological order. */
export interface GraphIndex {
  readonly graph: GraphProto;
  /** The graph's lists, typed. */
  readonly parts: GraphParts;
  /** Every node, in a stable topological order (the file's order wherever the file is already sorted). */
  readonly nodes: readonly NodeProto[];
  /** Tensor name to the index (in `nodes`) of the node that produces it. */
  readonly producer: ReadonlyMap<string, number>;
  /** Tensor name to the ascending indices (in `nodes`) of the nodes that consume it. */
  readonly consumers: ReadonlyMap<string, readonly number[]>;
  /** The real graph inputs (initializers listed as inputs by old exporters excluded), in order. */
  readonly inputs: readonly string[];
  /** The graph outputs, in order. */
  readonly outputs: readonly string[];
  /** The kind of every tensor of the graph. */
  readonly kind: ReadonlyMap<string, TensorKind>;
  /** Weights by name: initializers and the values of Constant nodes. */
  readonly weights: ReadonlyMap<string, TensorProto>;
  /** Indices of the nodes the graph outputs depend on (nodes outside it are dead and dropped by analysis and split). */
  readonly needed: ReadonlySet<number>;
}

/** Ops whose outputs change from run to run, so they are never constant even with constant inputs. */
const NONDETERMINISTIC = new Set(['RandomNormal', 'RandomUniform', 'RandomNormalLike', 'RandomUniformLike', 'Multinomial', 'Bernoulli']);

/** Ops whose output depends only on the shape of their (first) input. */
const SHAPE_OF = new Set(['Shape', 'Size']);

/** Names a subgraph (If, Loop, Scan body) reads from the enclosing scope. */
function outerReferences(graph: GraphProto): Set<string> {
  const { inputs, initializers, nodes } = graphParts(graph);
  const defined = new Set<string>([...inputs.map((i) => i.name), ...initializers.map((t) => t.name)]);
  const refs = new Set<string>();
  for (const node of nodes) {
    for (const name of nodeInputs(node)) if (!defined.has(name)) refs.add(name);
    for (const out of node.output) defined.add(out);
  }
  return refs;
}

/**
 * The tensors a node reads: its non-empty inputs (an empty name is an omitted optional input) and,
 * for control-flow nodes, the outer-scope tensors their subgraphs read.
 */
export function nodeInputs(node: NodeProto): string[] {
  const names = node.input.filter((n) => n !== '');
  for (const attr of node.attribute) {
    for (const g of [...(attr.g ? [attr.g as GraphProto] : []), ...(attr.graphs as GraphProto[])]) {
      for (const ref of outerReferences(g)) if (!names.includes(ref)) names.push(ref);
    }
  }
  return names;
}

/** A readable label of a node for messages: its name, or its op and first output. */
export function nodeLabel(node: NodeProto): string {
  return node.name ? `'${node.name}' (${node.opType})` : `${node.opType} -> '${node.output[0] ?? '?'}'`;
}

/** A binary min-heap of node indices, so the topological order follows the file's order where it can. */
class MinHeap {
  private readonly a: number[] = [];
  get size(): number {
    return this.a.length;
  }
  push(v: number): void {
    const a = this.a;
    a.push(v);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]! <= v) break;
      a[i] = a[p]!;
      i = p;
    }
    a[i] = v;
  }
  pop(): number {
    const a = this.a;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= a.length) break;
        const c = l + 1 < a.length && a[l + 1]! < a[l]! ? l + 1 : l;
        if (a[c]! >= last) break;
        a[i] = a[c]!;
        i = c;
      }
      a[i] = last;
    }
    return top;
  }
}

/**
 * Index a graph: validate it (every tensor produced once, nothing read that nobody produces, no
 * cycle) and sort its nodes topologically. `source` names the model in error messages.
 */
export function indexGraph(graph: GraphProto, source = 'model'): GraphIndex {
  const parts = graphParts(graph);
  const file = parts.nodes;
  const weights = constantTensors(graph);
  const inputs = (realInputs(graph) as ValueInfoProto[]).map((i) => i.name);
  const outputs = parts.outputs.map((o) => o.name);
  const available = new Set<string>([...inputs, ...parts.initializers.map((t) => t.name)]);

  const fileProducer = new Map<string, number>();
  file.forEach((node, i) => {
    for (const out of node.output) {
      if (out === '') continue;
      if (available.has(out) || fileProducer.has(out)) {
        const other = fileProducer.has(out) ? nodeLabel(file[fileProducer.get(out)!]!) : 'a graph input or initializer';
        throw new EdgesplitError('ERR_MODEL_INVALID',
          `${source}: tensor '${out}' is produced twice (by ${nodeLabel(node)} and by ${other}). An ONNX graph assigns each tensor once; re-export the model.`,
          { details: { source, tensor: out } });
      }
      fileProducer.set(out, i);
    }
  });

  // Kahn's algorithm over file indices, always taking the lowest ready index: stable, and the
  // identity when the file is already sorted.
  const fileInputs = file.map((n) => nodeInputs(n));
  const waiting = new Array<number>(file.length).fill(0);
  const dependents = new Map<number, number[]>();
  fileInputs.forEach((ins, i) => {
    for (const name of new Set(ins)) {
      if (available.has(name)) continue;
      const p = fileProducer.get(name);
      if (p === undefined) {
        throw new EdgesplitError('ERR_MODEL_INVALID',
          `${source}: node ${nodeLabel(file[i]!)} reads tensor '${name}', which no node, input or initializer produces. The model is incomplete; re-export it.`,
          { details: { source, tensor: name, node: file[i]!.name } });
      }
      waiting[i]!++;
      const list = dependents.get(p);
      if (list) list.push(i);
      else dependents.set(p, [i]);
    }
  });
  const heap = new MinHeap();
  waiting.forEach((w, i) => { if (w === 0) heap.push(i); });
  const order: number[] = [];
  while (heap.size > 0) {
    const i = heap.pop();
    order.push(i);
    for (const d of dependents.get(i) ?? []) if (--waiting[d]! === 0) heap.push(d);
  }
  if (order.length < file.length) {
    const stuck = file.findIndex((_, i) => waiting[i]! > 0);
    const node = file[stuck]!;
    const blocked = fileInputs[stuck]!.find((n) => !available.has(n) && waiting[fileProducer.get(n)!]! > 0) ?? fileInputs[stuck]![0];
    throw new EdgesplitError('ERR_MODEL_INVALID',
      `${source}: the graph has a cycle through node ${nodeLabel(node)} and tensor '${blocked}' (${file.length - order.length} nodes never become ready). An ONNX graph must be acyclic; re-export the model.`,
      { details: { source, tensor: blocked, node: node.name } });
  }

  const nodes = order.map((i) => file[i]!);
  const producer = new Map<string, number>();
  const consumers = new Map<string, number[]>();
  nodes.forEach((node, i) => {
    for (const out of node.output) if (out !== '') producer.set(out, i);
    for (const name of new Set(nodeInputs(node))) {
      const list = consumers.get(name);
      if (list) list.push(i);
      else consumers.set(name, [i]);
    }
  });
  for (const out of outputs) {
    if (!producer.has(out) && !available.has(out)) {
      throw new EdgesplitError('ERR_MODEL_INVALID',
        `${source}: graph output '${out}' is produced by no node. The model is incomplete; re-export it.`, { details: { source, tensor: out } });
    }
  }

  const kind = new Map<string, TensorKind>();
  for (const name of inputs) kind.set(name, 'input');
  for (const t of parts.initializers) if (!kind.has(t.name)) kind.set(t.name, 'constant');
  for (const node of nodes) {
    const ins = nodeInputs(node);
    const kinds = ins.map((n) => kind.get(n)!);
    let k: TensorKind;
    if (node.opType === 'Constant' && (!node.domain || node.domain === 'ai.onnx')) k = 'constant';
    else if (NONDETERMINISTIC.has(node.opType) || ins.length === 0) k = 'activation';
    else if (SHAPE_OF.has(node.opType)) k = kinds[0] === 'constant' ? 'constant' : 'shape';
    else if (kinds.every((x) => x === 'constant')) k = 'constant';
    else if (kinds.every((x) => x === 'constant' || x === 'shape')) k = 'shape';
    else k = 'activation';
    for (const out of node.output) if (out !== '') kind.set(out, k);
  }

  const needed = new Set<number>();
  const stack = outputs.filter((o) => producer.has(o)).map((o) => producer.get(o)!);
  while (stack.length > 0) {
    const i = stack.pop()!;
    if (needed.has(i)) continue;
    needed.add(i);
    for (const name of nodeInputs(nodes[i]!)) {
      const p = producer.get(name);
      if (p !== undefined && !needed.has(p)) stack.push(p);
    }
  }

  return { graph, parts, nodes, producer, consumers, inputs, outputs, kind, weights, needed };
}

/** The weights (initializer or Constant values) a constant tensor is computed from, following constant-only nodes back. */
export function weightRoots(index: GraphIndex, tensor: string): string[] {
  const roots: string[] = [];
  const seen = new Set<string>();
  const stack = [tensor];
  while (stack.length > 0) {
    const name = stack.pop()!;
    if (seen.has(name)) continue;
    seen.add(name);
    if (index.kind.get(name) !== 'constant') continue;
    const p = index.producer.get(name);
    if (p === undefined || index.nodes[p]!.opType === 'Constant') {
      if (index.weights.has(name)) roots.push(name);
      continue;
    }
    for (const n of nodeInputs(index.nodes[p]!)) stack.push(n);
  }
  return roots.sort();
}
