// Exact graph splitting: the head runs the model's inputs to the crossing tensors, the tail the crossing
// tensors to the model's outputs; each keeps only the nodes and weights it needs and loads in ONNX Runtime.
import type { ModelProto, NodeProto, TensorProto, ValueInfoProto } from './model.ts';
import { makeNode, makeValueInfo } from './model.ts';
import { onnx } from './proto.ts';
import { type GraphIndex, indexGraph, modelGraph, nodeInputs } from './graph.ts';
import { type CrossingTensor, type CutPoint, type ModelAnalysis, crossingAt, crossingName, schedule } from './analyze.ts';
import { EdgesplitError } from '../../shared/errors.ts';

/** The two halves of a split model and the tensors that pass between them. */
export interface SplitResult {
  /** Model inputs (those the head reads) to the crossing tensors, named as `crossing[i].name`. */
  head: ModelProto;
  /** The crossing tensors (its inputs, exactly `crossing` in order) to the model outputs. */
  tail: ModelProto;
  crossing: CrossingTensor[];
}

/** A value info with the symbolic dims of a tensor info, or the model's own declaration when no info is known. */
function valueInfoFor(name: string, info: { dtype: CrossingTensor['dtype']; symbolicDims: Array<number | string> } | undefined, declared: ValueInfoProto | undefined): ValueInfoProto {
  if (info) return makeValueInfo(name, info.dtype, info.symbolicDims);
  if (declared) return onnx.ValueInfoProto.create({ ...declared, name });
  return onnx.ValueInfoProto.create({ name });
}

/** A sub-model around the chosen nodes of the original: same opsets, IR version and metadata. */
function subModel(model: ModelProto, index: GraphIndex, suffix: string, nodes: NodeProto[], inputs: ValueInfoProto[], outputs: ValueInfoProto[]): ModelProto {
  const used = new Set<string>();
  for (const node of nodes) for (const name of nodeInputs(node)) used.add(name);
  const produced = new Set(nodes.flatMap((n) => n.output));
  const initializers: TensorProto[] = index.parts.initializers.filter((t) => used.has(t.name) && !produced.has(t.name));
  const boundary = new Set([...inputs, ...outputs].map((v) => v.name));
  const valueInfo = index.parts.valueInfo.filter((v) => produced.has(v.name) && !boundary.has(v.name));
  return onnx.ModelProto.create({
    ...model,
    graph: onnx.GraphProto.create({
      name: `${index.graph.name || 'model'}_${suffix}`,
      docString: index.graph.docString,
      node: nodes,
      input: inputs,
      output: outputs,
      initializer: initializers,
      valueInfo,
    }),
  });
}

/**
 * Split a model at a cut point. The head computes the crossing tensors from the model inputs it needs;
 * the tail computes the model outputs from the crossing tensors. Each half keeps only the nodes it
 * needs and the weights (initializers and Constant nodes) they read, so a weight both halves read is
 * in both. Shape tensors the tail can recompute from crossing tensors are recomputed there (their
 * 0-FLOP nodes are replicated). At the ends a half is a single Identity per tensor, so both halves
 * always exist and compose. Inputs, outputs and crossing tensors get value_info with concrete dims,
 * symbolic where they follow a dynamic input dim. With `analysis` the cut is checked to be one of its
 * cut points; without it the cut is checked against the model's own structure.
 */
export function splitModel(model: ModelProto, cut: CutPoint, analysis?: ModelAnalysis): SplitResult {
  const index = indexGraph(modelGraph(model));
  const s = schedule(index);
  const L = s.order.length;
  const p = cut.position;
  if (analysis && !analysis.cuts.some((c) => c.id === cut.id && c.position === cut.position)) {
    throw new EdgesplitError('ERR_CUT_NOT_FOUND', `cut '${cut.id}' is not one of the ${analysis.cuts.length} cut points of this analysis. Take the cut from the same analysis (analysis.cuts or findCut).`, { details: { cut: cut.id } });
  }
  if (!Number.isInteger(p) || p < 0 || p > L) {
    throw new EdgesplitError('ERR_CUT_NOT_FOUND', `cut '${cut.id}' is at position ${p}, outside this model's positions 0..${L}. Take the cut from an analysis of this model.`, { details: { cut: cut.id, position: p, nodes: L } });
  }
  const expected = crossingAt(s, p);
  const given = cut.crossing.map((c) => c.source);
  if (expected.length !== given.length || expected.some((name, i) => name !== given[i])) {
    throw new EdgesplitError('ERR_CUT_NOT_FOUND',
      `cut '${cut.id}' does not belong to this model: at position ${p} the crossing tensors are [${expected.join(', ')}], the cut names [${given.join(', ')}]. Take the cut from an analysis of this model.`,
      { details: { cut: cut.id, expected, given } });
  }
  const crossing = cut.crossing.map((c) => ({ ...c, dims: [...c.dims], symbolicDims: [...c.symbolicDims] }));
  for (const c of crossing) {
    if (c.name !== crossingName(index, c.source)) {
      throw new EdgesplitError('ERR_CUT_NOT_FOUND', `cut '${cut.id}': crossing tensor '${c.source}' should travel as '${crossingName(index, c.source)}', the cut names it '${c.name}'. Take the cut from an analysis of this model.`, { details: { cut: cut.id } });
    }
  }
  const infoOf = (name: string) => analysis?.tensors[name];
  const declaredInput = new Map(index.parts.inputs.map((v) => [v.name, v]));
  const declaredOutput = new Map(index.parts.outputs.map((v) => [v.name, v]));
  const pos = (n: number): number | undefined => s.position.get(n);

  // Head: the closure of the crossing tensors over nodes before the cut and constant nodes.
  const headNodes = new Set<number>();
  const headInputs = new Set<string>();
  const visitHead = (name: string): void => {
    if (index.inputs.includes(name)) {
      headInputs.add(name);
      return;
    }
    const n = index.producer.get(name);
    if (n === undefined || headNodes.has(n)) return;
    const at = pos(n);
    if (at !== undefined && at >= p) throw new EdgesplitError('ERR_INTERNAL', `split: head needs '${name}', produced after cut ${cut.id}`);
    headNodes.add(n);
    for (const i of nodeInputs(index.nodes[n]!)) visitHead(i);
  };
  for (const c of crossing) visitHead(c.source);

  // Tail: the closure of the model outputs, stopping at crossing tensors; shape nodes before the cut are replicated.
  const available = new Set(crossing.map((c) => c.source));
  const tailNodes = new Set<number>();
  const visitTail = (name: string): void => {
    if (available.has(name)) return;
    const n = index.producer.get(name);
    if (n === undefined) {
      if (index.parts.initializers.some((t) => t.name === name)) return;
      throw new EdgesplitError('ERR_INTERNAL', `split: tail needs model input '${name}', which does not cross cut ${cut.id}`);
    }
    if (tailNodes.has(n)) return;
    const at = pos(n);
    if (at !== undefined && at < p && index.kind.get(name) !== 'shape') {
      throw new EdgesplitError('ERR_INTERNAL', `split: tail needs '${name}', produced before cut ${cut.id} and not crossing`);
    }
    tailNodes.add(n);
    for (const i of nodeInputs(index.nodes[n]!)) visitTail(i);
  };
  for (const out of index.outputs) visitTail(out);

  const ordered = (set: Set<number>): NodeProto[] => [...set].sort((a, b) => a - b).map((n) => index.nodes[n]!);
  const renamed = crossing.filter((c) => c.name !== c.source);

  const headModel = subModel(model, index, 'head',
    [...ordered(headNodes), ...renamed.map((c) => makeNode('Identity', [c.source], [c.name], {}, `edgesplit_head_${c.name}`))],
    index.inputs.filter((n) => headInputs.has(n)).map((n) => valueInfoFor(n, infoOf(n), declaredInput.get(n))),
    crossing.map((c) => valueInfoFor(c.name, c, undefined)));
  const tailModel = subModel(model, index, 'tail',
    [...renamed.map((c) => makeNode('Identity', [c.name], [c.source], {}, `edgesplit_tail_${c.name}`)), ...ordered(tailNodes)],
    crossing.map((c) => valueInfoFor(c.name, c, undefined)),
    index.outputs.map((n) => valueInfoFor(n, infoOf(n), declaredOutput.get(n))));
  return { head: headModel, tail: tailModel, crossing };
}
