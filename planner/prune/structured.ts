// Structured pruning: choose which channels of each dependency group to keep (uniform or global, by L1 or
// L2 magnitude), and apply that choice to a model or to either half of a split, which really shrinks it.
import type { GraphProto, ModelProto, TensorProto } from '../onnx/model.ts';
import { cloneModel, constantTensors, int64Tensor, setFloatData, tensorDims, tensorToFloat32, tensorToInts } from '../onnx/model.ts';
import { modelGraph } from '../onnx/graph.ts';
import { EdgesplitError } from '../../shared/errors.ts';
import { checkRatio } from './ratio.ts';
import { analyzeGroups, type GroupMember, type PruneGroup, type SkippedPart } from './groups.ts';
import { accumulateChannelNorms, channelPositions, count, selectAxis, zeroAxis } from './slices.ts';

/** Magnitude measure of a channel: L1 (sum of |w|) or L2 (root of the sum of w^2) over the group's weights. */
export type PruneNorm = 'l1' | 'l2';
/** `uniform`: every group keeps the same share of its channels; `global`: channels ranked across groups by normalised importance. */
export type PruneScope = 'uniform' | 'global';

/** Options of structured pruning. */
export interface StructuredOptions {
  /** Share of the prunable weights to remove, in [0, 1). */
  ratio: number;
  norm?: PruneNorm;
  scope?: PruneScope;
  /**
   * Keep a multiple of this many channels in each channel group (not attention heads), default 1.
   * NOTE: ONNX Runtime's CPU kernels work on blocks of 8 (or 16) channels, so 11 kept channels cost
   * what 16 do; 8 here turns the FLOPs saved into time saved (see docs/pruning.md).
   */
  roundTo?: number;
  /**
   * Which groups may be pruned (default: all). The others stay whole and are listed in `skipped`;
   * e.g. only the groups whose producers run on the device, to prune one half of a split harder.
   */
  include?: (group: PruneGroup) => boolean;
}

/** A group with the channels the plan keeps (ascending indices into the original channels). */
export interface PlannedGroup extends PruneGroup {
  kept: number[];
}

/**
 * Which channels to keep, per group: a pure description, so the same plan applies to the full
 * model or to each half of a split (members and activations are found by tensor name).
 */
export interface PruningPlan {
  /** The requested share of prunable weights to remove. */
  ratio: number;
  /** The share removed by this plan (channels are discrete, so it is the nearest one reachable). */
  achievedRatio: number;
  norm: PruneNorm;
  scope: PruneScope;
  /** Weight entries (Conv/Gemm/MatMul weights of the groups) before pruning, and how many the plan removes. */
  prunableWeights: number;
  removedWeights: number;
  groups: PlannedGroup[];
  /** Parts of the model left whole, and why. */
  skipped: SkippedPart[];
}

const WEIGHT_ROLES = new Set(['producer', 'consumer', 'depthwise']);

/** Per channel importance of a group: L1 sum, or the root of the summed squares, over its weight members. */
export function channelImportance(weights: ReadonlyMap<string, TensorProto>, group: PruneGroup, norm: PruneNorm): number[] {
  const acc = new Float64Array(group.channels);
  for (const m of group.members) {
    if (!WEIGHT_ROLES.has(m.role)) continue;
    const t = weights.get(m.tensor);
    if (!t) continue;
    accumulateChannelNorms(acc, tensorToFloat32(t), tensorDims(t), m.axis, m.block, norm, m.offset ?? 0);
  }
  return Array.from(acc, (v) => (norm === 'l2' ? Math.sqrt(v) : v));
}

/** The weight tensors the groups touch, with the (group, axis, block) of each pruned axis. */
function weightLayout(weights: ReadonlyMap<string, TensorProto>, groups: readonly PruneGroup[]): Map<string, { dims: number[]; axes: Array<{ g: number; axis: number; block: number }> }> {
  const out = new Map<string, { dims: number[]; axes: Array<{ g: number; axis: number; block: number }> }>();
  groups.forEach((group, g) => {
    for (const m of group.members) {
      if (!WEIGHT_ROLES.has(m.role)) continue;
      const t = weights.get(m.tensor);
      if (!t) continue;
      const entry = out.get(m.tensor) ?? { dims: tensorDims(t), axes: [] };
      entry.axes.push({ g, axis: m.axis, block: m.block });
      out.set(m.tensor, entry);
    }
  });
  return out;
}

/** Kept entries of each weight for given kept counts per group. */
class WeightCounter {
  readonly total: number;
  private readonly layout: ReturnType<typeof weightLayout>;
  private readonly byGroup: string[][];
  private readonly keptOf = new Map<string, number>();
  private readonly channels: number[];
  kept = 0;

  constructor(weights: ReadonlyMap<string, TensorProto>, groups: readonly PruneGroup[], keep: readonly number[]) {
    this.layout = weightLayout(weights, groups);
    this.channels = groups.map((g) => g.channels);
    this.byGroup = groups.map(() => []);
    let total = 0;
    for (const [name, e] of this.layout) {
      total += count(e.dims);
      for (const a of e.axes) this.byGroup[a.g]!.push(name);
    }
    this.total = total;
    for (const name of this.layout.keys()) this.update(name, keep);
  }

  /** Recount the tensors of group g after its kept count changed. */
  touch(g: number, keep: readonly number[]): void {
    for (const name of this.byGroup[g]!) this.update(name, keep);
  }

  private update(name: string, keep: readonly number[]): void {
    const e = this.layout.get(name)!;
    const dims = [...e.dims];
    for (const a of e.axes) dims[a.axis] = dims[a.axis]! - (this.channels[a.g]! - keep[a.g]!) * a.block;
    const n = count(dims);
    this.kept += n - (this.keptOf.get(name) ?? 0);
    this.keptOf.set(name, n);
  }

  removedShare(): number {
    return this.total === 0 ? 0 : 1 - this.kept / this.total;
  }
}

/** Indices of the `k` most important channels, ascending (ties keep the lower index). */
function topChannels(importance: readonly number[], k: number): number[] {
  const order = importance.map((v, i) => i).sort((a, b) => importance[b]! - importance[a]! || a - b);
  return order.slice(0, k).sort((a, b) => a - b);
}

/**
 * Plan structured pruning: find the dependency groups, rank each group's channels by magnitude and
 * choose the kept channels so that the removed share of prunable weights is as near `ratio` as the
 * discrete channel counts allow. Every group keeps at least one channel.
 *
 * Errors: ERR_PRUNE_RATIO (ratio outside [0, 1)), ERR_PRUNE_NOTHING (no prunable group; the message
 * lists why each part was left whole), ERR_PRUNE_EMPTIES_LAYER (the ratio exceeds what keeping one
 * channel per group allows; the message gives that maximum).
 */
export function planPruning(model: ModelProto, options: StructuredOptions, source = 'model'): PruningPlan {
  checkRatio(options.ratio);
  const norm = options.norm ?? 'l2';
  const scope = options.scope ?? 'uniform';
  const roundTo = options.roundTo ?? 1;
  if (!Number.isInteger(roundTo) || roundTo < 1) {
    throw new EdgesplitError('ERR_USAGE', `'roundTo' must be an integer >= 1, got ${String(roundTo)}. Use 1 for any channel count, 8 for ONNX Runtime's CPU blocks.`, { details: { roundTo } });
  }
  const analysis = analyzeGroups(model, source);
  const groups = options.include ? analysis.groups.filter(options.include) : analysis.groups;
  const skipped = [...analysis.skipped, ...analysis.groups.filter((g) => !groups.includes(g)).map((g) => ({ producers: g.producers, channels: g.channels, reason: 'left out by the caller (include)' }))];
  if (groups.length === 0) {
    const why = skipped.slice(0, 4).map((s) => `${s.producers[0]}: ${s.reason}`).join('; ');
    throw new EdgesplitError('ERR_PRUNE_NOTHING',
      `${source}: nothing to prune: no Conv, Gemm or MatMul output channels can be removed without breaking the graph${why ? ` (${why}${skipped.length > 4 ? `; and ${skipped.length - 4} more` : ''})` : ''}. Use unstructured pruning (--unstructured) for such a model.`,
      { details: { source, skipped } });
  }
  const weights = constantTensors(modelGraph(model, source));
  const importance = groups.map((g) => channelImportance(weights, g, norm));
  const full = groups.map((g) => g.channels);
  const step = groups.map((g) => (g.kind === 'channels' ? roundTo : 1));
  /** A kept count rounded to the group's step, at least one step (or every channel of a smaller group). */
  const rounded = (x: number, g: number): number => {
    const n = full[g]!;
    const st = step[g]!;
    return Math.min(n, Math.max(Math.min(st, n), st * Math.round(x / st)));
  };
  const counter = new WeightCounter(weights, groups, groups.map((_, g) => rounded(1, g)));
  const maxShare = counter.removedShare();
  if (options.ratio > maxShare + 1e-12) {
    throw new EdgesplitError('ERR_PRUNE_EMPTIES_LAYER',
      `${source}: ratio ${options.ratio} would remove every channel of a layer: keeping ${roundTo > 1 ? `${roundTo} channels` : 'one channel'} (or one head) in each of the ${groups.length} groups removes at most ${maxShare.toFixed(4)} of the prunable weights. Give a ratio of at most ${Math.floor(maxShare * 1000) / 1000}.`,
      { details: { source, ratio: options.ratio, maxRatio: maxShare } });
  }

  let keep: number[];
  if (options.ratio === 0) {
    keep = full;
  } else if (scope === 'uniform') {
    const keepAt = (q: number): number[] => full.map((n, g) => rounded(q * n, g));
    const shareAt = (q: number): number => new WeightCounter(weights, groups, keepAt(q)).removedShare();
    // share(q) falls as q rises: bisect for the q where it crosses the ratio, then take the nearer side.
    let lo = 0;
    let hi = 1;
    for (let i = 0; i < 40; i++) {
      const mid = (lo + hi) / 2;
      if (shareAt(mid) > options.ratio) lo = mid;
      else hi = mid;
    }
    keep = Math.abs(shareAt(lo) - options.ratio) < Math.abs(shareAt(hi) - options.ratio) ? keepAt(lo) : keepAt(hi);
  } else {
    keep = [...full];
    const live = new WeightCounter(weights, groups, keep);
    const normalised = importance.map((imp) => {
      const mean = imp.reduce((a, b) => a + b, 0) / imp.length;
      return imp.map((v) => (mean > 0 ? v / mean : 0));
    });
    // Ascending importance; ties remove the higher index first, as topChannels keeps the lower.
    const ranks = importance.map((imp) => imp.map((_, i) => i).sort((a, b) => imp[a]! - imp[b]! || b - a));
    const floor = full.map((_, g) => rounded(1, g));
    /** The next move of group g: down to the multiple of its step below its kept count. */
    const target = (g: number): number => Math.max(floor[g]!, step[g]! * Math.ceil(keep[g]! / step[g]!) - step[g]!);
    const cost = (g: number): number => {
      const from = full[g]! - keep[g]!;
      const to = full[g]! - target(g);
      let sum = 0;
      for (let i = from; i < to; i++) sum += normalised[g]![ranks[g]![i]!]!;
      return sum / (to - from);
    };
    for (;;) {
      let best = -1;
      for (let g = 0; g < groups.length; g++) {
        if (target(g) >= keep[g]!) continue;
        if (best < 0 || cost(g) < cost(best)) best = g;
      }
      if (best < 0) break;
      const before = live.removedShare();
      const was = keep[best]!;
      keep[best] = target(best);
      live.touch(best, keep);
      const after = live.removedShare();
      if (after >= options.ratio) {
        if (Math.abs(before - options.ratio) <= Math.abs(after - options.ratio)) {
          keep[best] = was;
          live.touch(best, keep);
        }
        break;
      }
    }
  }

  const planned: PlannedGroup[] = groups.map((g, i) => ({ ...g, kept: topChannels(importance[i]!, keep[i]!) }));
  const final = new WeightCounter(weights, groups, keep);
  return {
    ratio: options.ratio, achievedRatio: final.removedShare(), norm, scope,
    prunableWeights: final.total, removedWeights: final.total - final.kept, groups: planned, skipped,
  };
}

function checkKept(group: PlannedGroup): void {
  const k = group.kept;
  if (k.length === 0) {
    throw new EdgesplitError('ERR_PRUNE_EMPTIES_LAYER', `group '${group.id}' keeps no channel of its ${group.channels}. Every group must keep at least one channel.`, { details: { group: group.id } });
  }
  k.forEach((c, i) => {
    if (!Number.isInteger(c) || c < 0 || c >= group.channels || (i > 0 && c <= k[i - 1]!)) {
      throw new EdgesplitError('ERR_MODEL_INVALID', `group '${group.id}': kept channels must be ascending distinct integers in [0, ${group.channels}), got ${c} at position ${i}.`, { details: { group: group.id } });
    }
  });
}

/** A depthwise Conv's `group` attribute follows its channel count. */
function setDepthwiseGroups(graph: GraphProto, node: string, channels: number): void {
  const n = graph.node.find((x) => (x.name || x.output?.[0]) === node);
  const a = n?.attribute?.find((x) => x.name === 'group');
  if (a) a.i = channels;
}

/**
 * Give one Reshape its own shape constant with the group's entry set to kept x block.
 * NOTE: a new constant per node, because exporters share one shape constant between the Q, K and V
 * reshapes of every block, and a global plan may keep different head counts per block.
 */
function setReshapeTarget(graph: GraphProto, m: GroupMember, t: TensorProto, group: PlannedGroup, source: string): void {
  const node = graph.node.find((x) => (x.name || x.output?.[0]) === m.node);
  if (!node?.input) return;
  const shape = tensorToInts(t);
  if (shape[m.axis] !== group.channels * m.block) {
    throw new EdgesplitError('ERR_MODEL_INVALID',
      `${source}: the pruning plan does not fit this model: the shape '${m.tensor}' of Reshape '${m.node}' has ${shape[m.axis]} at index ${m.axis}, the plan expects ${group.channels * m.block} (group '${group.id}').`,
      { details: { source, tensor: m.tensor, group: group.id } });
  }
  shape[m.axis] = group.kept.length * m.block;
  const name = `${m.node}/pruned_shape`;
  graph.initializer = [...(graph.initializer ?? []).filter((x) => x.name !== name), int64Tensor(name, [shape.length], shape)];
  node.input = node.input.map((x, i) => (i === 1 ? name : x));
  if (!graph.node.some((x) => x.input?.includes(m.tensor))) graph.initializer = graph.initializer.filter((x) => x.name !== m.tensor);
}

/**
 * The positions each plan removes along each axis of `tensor`, whose dims are `dims`: several groups
 * may share an axis (a layer reading a Concat). ERR_MODEL_INVALID when the plan does not fit.
 */
export function removedPositions(plan: PruningPlan, tensor: string, dims: readonly number[], source = 'model'): Map<number, number[]> {
  const removed = new Map<number, Set<number>>();
  for (const group of plan.groups) {
    if (group.kept.length === group.channels) continue;
    for (const m of group.members) {
      if (m.tensor !== tensor || m.role === 'shape') continue;
      const len = dims[m.axis];
      const span = group.channels * m.block;
      if (len === undefined || (m.offset === undefined ? len !== span : m.offset + span > len)) {
        throw new EdgesplitError('ERR_MODEL_INVALID',
          `${source}: the pruning plan does not fit this model: '${tensor}' has ${len ?? 'no'} entries on axis ${m.axis}, the plan expects ${m.offset === undefined ? span : `at least ${m.offset + span}`} (group '${group.id}'). Plan the pruning on this model or on the model it was split from.`,
          { details: { source, tensor, group: group.id } });
      }
      const keep = new Set(group.kept);
      const gone = Array.from({ length: group.channels }, (_, c) => c).filter((c) => !keep.has(c));
      const set = removed.get(m.axis) ?? new Set<number>();
      for (const p of channelPositions(gone, m.block, m.offset ?? 0)) set.add(p);
      removed.set(m.axis, set);
    }
  }
  return new Map([...removed].map(([axis, set]) => [axis, [...set].sort((a, b) => a - b)]));
}

/** The positions kept along an axis of `len` entries when `removed` go. */
export function keptAlong(len: number, removed: readonly number[]): number[] {
  const gone = new Set(removed);
  return Array.from({ length: len }, (_, i) => i).filter((i) => !gone.has(i));
}

function edit(model: ModelProto, plan: PruningPlan, source: string, how: 'slice' | 'mask'): ModelProto {
  const out = cloneModel(model);
  const graph = modelGraph(out, source);
  const weights = constantTensors(graph);
  const tensors = new Set<string>();
  for (const group of plan.groups) {
    checkKept(group);
    if (group.kept.length === group.channels) continue;
    for (const m of group.members) {
      const t = weights.get(m.tensor);
      if (!t) continue;
      if (m.role === 'shape') {
        if (how === 'slice') setReshapeTarget(graph, m, t, group, source);
        continue;
      }
      if (how === 'slice' && m.role === 'depthwise') setDepthwiseGroups(graph, m.node, group.kept.length);
      tensors.add(m.tensor);
    }
  }
  for (const name of tensors) {
    const t = weights.get(name)!;
    let dims = tensorDims(t);
    let data = tensorToFloat32(t);
    for (const [axis, removed] of removedPositions(plan, name, dims, source)) {
      if (how === 'slice') {
        const s = selectAxis(data, dims, axis, keptAlong(dims[axis]!, removed));
        data = s.data;
        dims = s.dims;
      } else {
        data = zeroAxis(data, dims, axis, removed);
      }
    }
    setFloatData(t, dims, data);
  }
  if (how === 'mask') return out;
  for (const group of plan.groups) {
    const acts = new Map(group.activations.map((a) => [a.tensor, a]));
    for (const vi of [...graph.input, ...graph.output, ...graph.valueInfo]) {
      const a = acts.get(vi.name ?? '');
      const dims = vi.type?.tensorType?.shape?.dim;
      if (!a || !dims) continue;
      const d = dims[dims.length + a.axisFromEnd];
      const v = d?.dimValue;
      const n = v === null || v === undefined ? 0 : typeof v === 'number' ? v : v.toNumber();
      if (d && n > 0) d.dimValue = n - (group.channels - group.kept.length) * a.block;
    }
  }
  return out;
}

/**
 * Apply a plan: slice every member weight to the kept channels and update the declared shapes of
 * the group's activations. Works on the model the plan was made for and on either half of it after
 * a split (members absent from a half are skipped); the input model is not changed.
 */
export function applyPruning(model: ModelProto, plan: PruningPlan, source = 'model'): ModelProto {
  return edit(model, plan, source, 'slice');
}

/**
 * The zero-masked equivalent of a plan: same shapes, the removed channels' entries of every member
 * set to zero. Before any re-fit, the pruned model computes exactly what this one computes.
 */
export function maskPruning(model: ModelProto, plan: PruningPlan, source = 'model'): ModelProto {
  return edit(model, plan, source, 'mask');
}

/** Plan and apply in one call. */
export function pruneStructured(model: ModelProto, options: StructuredOptions, source = 'model'): { model: ModelProto; plan: PruningPlan } {
  const plan = planPruning(model, options, source);
  return { model: applyPruning(model, plan, source), plan };
}
