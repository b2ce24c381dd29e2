// Dense tensor arithmetic along one axis: keep, zero or scatter chosen positions, and measure channels'
// entries. The group members of structured pruning are all edited through these functions.
import type { TensorProto } from '../onnx/model.ts';

/** Product of dims. */
export function count(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

function layout(dims: readonly number[], axis: number): { outer: number; len: number; inner: number } {
  return { outer: count(dims.slice(0, axis)), len: dims[axis]!, inner: count(dims.slice(axis + 1)) };
}

/** Positions along an axis owned by the given channels (channel c owns [offset + c * block, offset + (c + 1) * block)). */
export function channelPositions(channels: readonly number[], block: number, offset = 0): number[] {
  const pos: number[] = [];
  for (const c of channels) for (let j = 0; j < block; j++) pos.push(offset + c * block + j);
  return pos;
}

/** Keep only the entries at `positions` (ascending) along `axis`; returns the new data and dims. */
export function selectAxis(data: Float32Array, dims: readonly number[], axis: number, positions: readonly number[]): { data: Float32Array; dims: number[] } {
  const { outer, len, inner } = layout(dims, axis);
  const out = new Float32Array(outer * positions.length * inner);
  for (let o = 0; o < outer; o++) {
    for (let p = 0; p < positions.length; p++) {
      const src = (o * len + positions[p]!) * inner;
      out.set(data.subarray(src, src + inner), (o * positions.length + p) * inner);
    }
  }
  const newDims = [...dims];
  newDims[axis] = positions.length;
  return { data: out, dims: newDims };
}

/** A copy with the entries at `positions` along `axis` set to zero (same dims). */
export function zeroAxis(data: Float32Array, dims: readonly number[], axis: number, positions: readonly number[]): Float32Array {
  const { outer, len, inner } = layout(dims, axis);
  const out = data.slice();
  for (let o = 0; o < outer; o++) for (const p of positions) out.fill(0, (o * len + p) * inner, (o * len + p + 1) * inner);
  return out;
}

/** Scatter a selected tensor back to `fullLen` entries along `axis`, zeros elsewhere (the inverse of selectAxis). */
export function scatterAxis(data: Float32Array, dims: readonly number[], axis: number, positions: readonly number[], fullLen: number): { data: Float32Array; dims: number[] } {
  const { outer, len, inner } = layout(dims, axis);
  const out = new Float32Array(outer * fullLen * inner);
  for (let o = 0; o < outer; o++) {
    for (let p = 0; p < len; p++) {
      const src = (o * len + p) * inner;
      out.set(data.subarray(src, src + inner), (o * fullLen + positions[p]!) * inner);
    }
  }
  const newDims = [...dims];
  newDims[axis] = fullLen;
  return { data: out, dims: newDims };
}

/**
 * Per channel, the sum of |w| (`l1`) or of w^2 (`l2`, squared so that members add up) of its
 * entries along `axis` (channel c owns [offset + c * block, offset + (c + 1) * block)), added into
 * `acc` (length = channels).
 */
export function accumulateChannelNorms(acc: Float64Array, data: Float32Array, dims: readonly number[], axis: number, block: number, norm: 'l1' | 'l2', offset = 0): void {
  const { outer, len, inner } = layout(dims, axis);
  const end = Math.min(len, offset + acc.length * block);
  for (let o = 0; o < outer; o++) {
    for (let p = offset; p < end; p++) {
      const c = Math.floor((p - offset) / block);
      let s = 0;
      const base = (o * len + p) * inner;
      for (let i = 0; i < inner; i++) {
        const v = data[base + i]!;
        s += norm === 'l1' ? Math.abs(v) : v * v;
      }
      acc[c] = acc[c]! + s;
    }
  }
}
