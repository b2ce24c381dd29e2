// Whole attention heads as pruning groups, where the graph has the usual exported pattern: Q, K and V
// projections reshaped to (.., heads, head_dim), scaled scores, Softmax, context merged back and
// projected out. A head owns head_dim columns of Wq, Wk, Wv (and biases) and head_dim rows of Wo.
import type { NodeProto } from '../onnx/model.ts';
import { tensorDims, tensorToInts } from '../onnx/model.ts';
import type { GraphIndex } from '../onnx/graph.ts';
import type { GroupActivation, GroupMember, PruneGroup } from './groups.ts';

function nameOf(node: NodeProto): string {
  return node.name || node.output[0] || node.opType;
}

/** A matched attention block: its head group and the projection nodes it takes over. */
export interface AttentionMatch {
  group: PruneGroup;
  /** The Q, K and V MatMul nodes (their output channels now belong to the head group). */
  projections: string[];
}

/**
 * Find every attention block of the pattern
 * Softmax(MatMul(Transpose(Reshape(x Wq + bq)), Transpose(Reshape(x Wk + bk))) * scale) -> MatMul with
 * Transpose(Reshape(x Wv + bv)) -> Transpose -> Reshape -> MatMul Wo, where every intermediate tensor
 * has one reader and the Reshape shapes are constants of the form [.., T, heads, head_dim] and
 * [.., T, heads * head_dim]. Anything else is not matched (and stays whole).
 */
export function findAttentionHeads(index: GraphIndex): AttentionMatch[] {
  const only = (tensor: string | undefined): NodeProto | undefined => {
    const c = tensor ? index.consumers.get(tensor) : undefined;
    return c && c.length === 1 && !index.outputs.includes(tensor!) ? index.nodes[c[0]!] : undefined;
  };
  const producer = (tensor: string | undefined): NodeProto | undefined => {
    const p = tensor ? index.producer.get(tensor) : undefined;
    return p === undefined ? undefined : index.nodes[p];
  };
  const ints = (name: string | undefined): number[] | undefined => {
    const t = name ? index.weights.get(name) : undefined;
    return t ? tensorToInts(t) : undefined;
  };
  const perm = (n: NodeProto | undefined): string => (n?.opType === 'Transpose' ? (n.attribute.find((a) => a.name === 'perm')?.ints ?? []).map(Number).join(',') : '');
  const readers = (name: string): number => index.consumers.get(name)?.length ?? 0;

  interface Projection { members: GroupMember[]; acts: GroupActivation[]; node: string; dim: number }
  /** Walk back from a Transpose(Reshape(lin)) to the projection; heads and head_dim from the shape. */
  const projection = (transposed: string | undefined, wantPerm: string, heads: number | undefined): (Projection & { heads: number; headDim: number; shape: GroupMember }) | undefined => {
    const tr = producer(transposed);
    if (!tr || perm(tr) !== wantPerm || only(tr.output[0]) === undefined) return undefined;
    const rs = producer(tr.input[0]);
    if (rs?.opType !== 'Reshape' || only(rs.output[0]) !== tr) return undefined;
    const shape = ints(rs.input[1]);
    if (!shape || shape.length !== 4 || shape[2]! <= 0 || shape[3]! <= 0 || (heads !== undefined && shape[2] !== heads)) return undefined;
    const [h, hd] = [shape[2]!, shape[3]!];
    let lin = producer(rs.input[0]);
    const acts: GroupActivation[] = [
      { tensor: rs.output[0]!, axisFromEnd: -2, block: 1 },
      { tensor: tr.output[0]!, axisFromEnd: -3, block: 1 },
    ];
    const members: GroupMember[] = [];
    if (lin?.opType === 'Add') {
      const bias = lin.input.find((n) => index.weights.has(n));
      const x = lin.input.find((n) => !index.weights.has(n));
      const b = bias ? tensorDims(index.weights.get(bias)!) : undefined;
      if (!bias || !x || !b || b.at(-1) !== h * hd || b.reduce((a, v) => a * v, 1) !== h * hd || readers(bias) > 1 || only(lin.output[0]) !== rs) return undefined;
      members.push({ tensor: bias, axis: b.length - 1, block: hd, role: 'bias', node: nameOf(lin) });
      acts.push({ tensor: lin.output[0]!, axisFromEnd: -1, block: hd });
      lin = producer(x);
      if (!lin || only(lin.output[0]) === undefined) return undefined;
    }
    if (lin?.opType !== 'MatMul') return undefined;
    const w = index.weights.get(lin.input[1] ?? '');
    const wd = w ? tensorDims(w) : undefined;
    if (!w || !wd || wd.length !== 2 || wd[1] !== h * hd || readers(lin.input[1]!) > 1) return undefined;
    members.push({ tensor: lin.input[1]!, axis: 1, block: hd, role: 'producer', node: nameOf(lin) });
    acts.push({ tensor: lin.output[0]!, axisFromEnd: -1, block: hd });
    return { members, acts, node: nameOf(lin), dim: wd[0]!, heads: h, headDim: hd, shape: { tensor: rs.input[1]!, axis: 2, block: 1, role: 'shape', node: nameOf(rs) } };
  };

  const matches: AttentionMatch[] = [];
  for (const softmax of index.nodes) {
    if (softmax.opType !== 'Softmax') continue;
    const axis = Number(softmax.attribute.find((a) => a.name === 'axis')?.i ?? -1);
    if (axis !== -1 && axis !== 3) continue;
    const acts: GroupActivation[] = [{ tensor: softmax.output[0]!, axisFromEnd: -3, block: 1 }];
    let scores = producer(softmax.input[0]);
    if (scores && (scores.opType === 'Mul' || scores.opType === 'Div')) {
      const c = scores.input.find((n) => index.weights.has(n));
      const cd = c ? tensorDims(index.weights.get(c)!) : undefined;
      if (!c || !cd || cd.reduce((a, v) => a * v, 1) !== 1 || (scores.opType === 'Div' && scores.input[0] === c)) continue;
      acts.push({ tensor: scores.output[0]!, axisFromEnd: -3, block: 1 });
      const x = scores.input.find((n) => n !== c);
      if (only(x) !== scores) continue;
      scores = producer(x);
    }
    if (scores?.opType !== 'MatMul' || only(scores.output[0]) === undefined) continue;
    acts.push({ tensor: scores.output[0]!, axisFromEnd: -3, block: 1 });
    const q = projection(scores.input[0], '0,2,1,3', undefined);
    if (!q) continue;
    const k = projection(scores.input[1], '0,2,3,1', q.heads);
    const ctx = only(softmax.output[0]);
    if (!k || k.headDim !== q.headDim || ctx?.opType !== 'MatMul' || ctx.input[0] !== softmax.output[0]) continue;
    const v = projection(ctx.input[1], '0,2,1,3', q.heads);
    if (!v) continue;
    const back = only(ctx.output[0]);
    const merge = only(back?.output[0]);
    if (!back || perm(back) !== '0,2,1,3' || merge?.opType !== 'Reshape') continue;
    const mshape = ints(merge.input[1]);
    const hd = v.headDim;
    if (!mshape || mshape.length !== 3 || mshape[2] !== q.heads * hd) continue;
    const out = only(merge.output[0]);
    const wo = out?.opType === 'MatMul' && out.input[0] === merge.output[0] ? index.weights.get(out.input[1] ?? '') : undefined;
    const wod = wo ? tensorDims(wo) : undefined;
    if (!out || !wod || wod.length !== 2 || wod[0] !== q.heads * hd || readers(out.input[1]!) > 1) continue;
    acts.push(
      { tensor: ctx.output[0]!, axisFromEnd: -3, block: 1 },
      { tensor: back.output[0]!, axisFromEnd: -2, block: 1 },
      { tensor: merge.output[0]!, axisFromEnd: -1, block: hd },
    );
    const members: GroupMember[] = [
      ...q.members, ...k.members, ...v.members, q.shape, k.shape, v.shape,
      { tensor: merge.input[1]!, axis: 2, block: hd, role: 'shape', node: nameOf(merge) },
      { tensor: out.input[1]!, axis: 0, block: hd, role: 'consumer', node: nameOf(out) },
    ];
    matches.push({
      group: { id: `heads:${nameOf(softmax)}`, kind: 'heads', channels: q.heads, members, activations: [...q.acts, ...k.acts, ...v.acts, ...acts], producers: [q.node, k.node, v.node] },
      projections: [q.node, k.node, v.node],
    });
  }
  return matches;
}
