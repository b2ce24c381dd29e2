// Every tensor's dtype and dims for one input shape: from the model's value_info where it is complete and
// concrete, otherwise from one real ONNX Runtime run that exposes every intermediate tensor as an output.
import type { ModelProto, ValueInfoProto } from './model.ts';
import { valueInfoDims, valueInfoDtype, tensorDims } from './model.ts';
import { onnx } from './proto.ts';
import type { GraphIndex } from './graph.ts';
import { createSession, type Feeds, type NamedTensor } from './session.ts';
import { EdgesplitError, isEdgesplitError } from '../../shared/errors.ts';
import { type Dtype, byteLength, dtypeFromOnnx, isDtype } from '../../shared/dtypes.ts';
import { Rng } from '../util/rng.ts';

/** A tensor's type at the analysed input shape. */
export interface TensorInfo {
  name: string;
  dtype: Dtype;
  /** Concrete dims at the analysed input shape. */
  dims: number[];
  /**
   * The same dims with the batch-dependent ones named (e.g. `['batch', 120, 1, 40]`), when the model
   * has a dynamic batch; equal to `dims` otherwise. Written into the value_info of split models.
   */
  symbolicDims: Array<number | string>;
  /** Bytes of the dense tensor at `dims`. */
  bytes: number;
}

/** Input shapes by input name, e.g. `{ x: [1, 3, 48, 320] }`. */
export type InputShapes = Record<string, number[]>;

/** The shape-inference result: the resolved input shapes and the info of every non-weight tensor. */
export interface ShapeResult {
  inputShapes: InputShapes;
  tensors: Map<string, TensorInfo>;
  /** 'value_info' when the model's own annotations sufficed, 'onnxruntime' when a run was needed. */
  source: 'value_info' | 'onnxruntime';
}

function formatDims(dims: ReadonlyArray<number | string>): string {
  return `[${dims.join(',')}]`;
}

function exampleFlag(name: string, declared: ReadonlyArray<number | string>): string {
  return `--input-shape ${name}=${declared.map((d, i) => (typeof d === 'number' ? d : i === 0 ? 1 : 32)).join(',')}`;
}

/**
 * The concrete shape of every graph input. A given shape must match the input's rank and fixed dims;
 * without one, a dynamic first (batch) dim becomes 1 and any other dynamic dim is an error.
 * Every problem is collected into one ERR_INPUT_SHAPE.
 */
export function resolveInputShapes(index: GraphIndex, given: InputShapes = {}, source = 'model'): InputShapes {
  const declaredOf = new Map<string, ValueInfoProto>(index.parts.inputs.map((vi) => [vi.name, vi]));
  const problems: string[] = [];
  const resolved: InputShapes = {};
  for (const name of Object.keys(given)) {
    if (!index.inputs.includes(name)) problems.push(`'${name}' is not an input of the model (its inputs: ${index.inputs.map((i) => `'${i}'`).join(', ')})`);
  }
  for (const name of index.inputs) {
    const declared = valueInfoDims(declaredOf.get(name)!) ?? [];
    const shape = given[name];
    if (shape) {
      const bad = shape.some((d) => !Number.isInteger(d) || d <= 0);
      const rankOk = declared.length === 0 || declared.length === shape.length;
      const fixedOk = rankOk && declared.every((d, i) => typeof d !== 'number' || d === shape[i]);
      if (bad || !rankOk || !fixedOk) {
        problems.push(`input '${name}' has declared dims ${formatDims(declared)} and the given shape ${formatDims(shape)} does not fit (${bad ? 'dims must be positive integers' : !rankOk ? `rank ${shape.length}, expected ${declared.length}` : 'a fixed dim differs'}); e.g. ${exampleFlag(name, declared)}`);
        continue;
      }
      resolved[name] = [...shape];
      continue;
    }
    if (declared.length === 0 && !declaredOf.get(name)!.type?.tensorType?.shape) {
      problems.push(`input '${name}' declares no shape; give one, e.g. --input-shape ${name}=1,...`);
      continue;
    }
    const open = declared.map((d, i) => (typeof d === 'number' || i === 0 ? -1 : i)).filter((i) => i >= 0);
    if (open.length > 0) {
      problems.push(`input '${name}' has declared dims ${formatDims(declared)}: dim${open.length > 1 ? 's' : ''} ${open.map((i) => `${i} ('${declared[i]}')`).join(', ')} ${open.length > 1 ? 'are' : 'is'} dynamic and only a batch dim defaults (to 1); give the shape, e.g. ${exampleFlag(name, declared)}`);
      continue;
    }
    resolved[name] = declared.map((d) => (typeof d === 'number' ? d : 1));
  }
  if (problems.length > 0) {
    throw new EdgesplitError('ERR_INPUT_SHAPE', `${source}: ${problems.join('; ')}.`, { details: { source, problems } });
  }
  return resolved;
}

/** A deterministic sample input: uniform [0, 1) floats, zeros for integer and bool inputs (valid indices for any embedding). */
export function sampleFeeds(inputs: ReadonlyArray<{ name: string; dtype: Dtype; dims: number[] }>, seed = 1): Feeds {
  const rng = new Rng(seed);
  const feeds: Feeds = {};
  for (const { name, dtype, dims } of inputs) {
    const n = dims.reduce((a, b) => a * b, 1);
    let data: NamedTensor['data'];
    switch (dtype) {
      case 'float32': data = Float32Array.from({ length: n }, () => rng.next()); break;
      case 'float64': data = Float64Array.from({ length: n }, () => rng.next()); break;
      case 'int64': data = new BigInt64Array(n); break;
      case 'int32': data = new Int32Array(n); break;
      case 'int8': data = new Int8Array(n); break;
      case 'uint8': case 'bool': data = new Uint8Array(n); break;
      default:
        throw new EdgesplitError('ERR_MODEL_INVALID', `input '${name}' has dtype ${dtype}; edgesplit can feed float32, float64, int64, int32, int8, uint8 and bool inputs.`, { details: { input: name, dtype } });
    }
    feeds[name] = { dtype, dims: [...dims], data };
  }
  return feeds;
}

function inputDtype(index: GraphIndex, name: string, source: string): Dtype {
  const vi = index.parts.inputs.find((i) => i.name === name)!;
  const dtype = valueInfoDtype(vi);
  if (!dtype) {
    throw new EdgesplitError('ERR_MODEL_INVALID', `${source}: input '${name}' has element type ${vi.type?.tensorType?.elemType ?? 'none'}, which edgesplit does not move (expected a numeric tensor).`, { details: { source, input: name } });
  }
  return dtype;
}

/** Names of every tensor whose info the analysis needs: inputs and every output of a needed non-Constant node. */
function wantedTensors(index: GraphIndex): string[] {
  const names: string[] = [];
  index.nodes.forEach((node, i) => {
    if (!index.needed.has(i) || node.opType === 'Constant') return;
    for (const out of node.output) if (out !== '') names.push(out);
  });
  return names;
}

function fromValueInfo(index: GraphIndex, inputShapes: InputShapes, names: string[]): Map<string, TensorInfo> | undefined {
  const vis = new Map<string, ValueInfoProto>();
  for (const vi of [...index.parts.valueInfo, ...index.parts.outputs, ...index.parts.inputs]) vis.set(vi.name, vi);
  const out = new Map<string, TensorInfo>();
  for (const name of [...index.inputs, ...names]) {
    const vi = vis.get(name);
    const dims = vi ? valueInfoDims(vi) : undefined;
    const dtype = vi ? valueInfoDtype(vi) : undefined;
    if (!vi || !dims || !dtype || dims.some((d) => typeof d !== 'number')) return undefined;
    const nums = dims as number[];
    if (index.inputs.includes(name) && nums.join(',') !== inputShapes[name]!.join(',')) return undefined;
    out.set(name, { name, dtype, dims: nums, symbolicDims: [...nums], bytes: byteLength(dtype, nums) });
  }
  return out;
}

/**
 * Check that every known input value names an input of the model and has its dtype and resolved
 * dims; every problem is collected into one ERR_INPUT_SHAPE.
 */
function checkValues(index: GraphIndex, inputs: ReadonlyArray<{ name: string; dtype: Dtype; dims: number[] }>, values: Feeds, source: string): void {
  const problems: string[] = [];
  for (const [name, v] of Object.entries(values)) {
    const input = inputs.find((i) => i.name === name);
    if (!input) problems.push(`a value is given for '${name}', which is not an input of the model (its inputs: ${index.inputs.map((i) => `'${i}'`).join(', ')})`);
    else if (v.dtype !== input.dtype || formatDims(v.dims) !== formatDims(input.dims)) problems.push(`the value given for input '${name}' is ${v.dtype}${formatDims(v.dims)}, expected ${input.dtype}${formatDims(input.dims)} (the input's dtype at the analysed shape)`);
  }
  if (problems.length > 0) throw new EdgesplitError('ERR_INPUT_SHAPE', `${source}: ${problems.join('; ')}. Give each known value at the input's dtype and shape.`, { details: { source, problems } });
}

/** The feeds of one shape-inference run: sample data, except the inputs with a known value at the run's dims. */
function runFeeds(inputs: ReadonlyArray<{ name: string; dtype: Dtype; dims: number[] }>, values: Feeds): Feeds {
  const feeds = sampleFeeds(inputs);
  for (const { name, dims } of inputs) {
    const v = values[name];
    if (v && formatDims(v.dims) === formatDims(dims)) feeds[name] = v;
  }
  return feeds;
}

/**
 * Infer the dtype and concrete dims of every input and every activation, shape and derived-constant
 * tensor at the given input shapes (see `resolveInputShapes` for the defaults). A further run with
 * the dynamic input dims doubled finds which dims follow them; those stay symbolic in `symbolicDims`
 * (named like the input's dim when equal to it, else `<tensor>.dim<i>`).
 * `values` gives inputs whose content decides shapes further on (a shape vector that crosses into a
 * model's tail half): they are fed as given in every run at their dims, instead of sample data.
 * NOTE: the other inputs get `sampleFeeds` values (zeros for integers); a shape that depends on
 * input values (NonZero, a TopK with a computed k, a Reshape to a shape read from an input) is the
 * one of that sample, so a model whose integer input is a shape vector needs its value in `values`.
 */
export async function inferShapes(model: ModelProto, index: GraphIndex, given: InputShapes = {}, source = 'model', values: Feeds = {}): Promise<ShapeResult> {
  const inputShapes = resolveInputShapes(index, given, source);
  const names = wantedTensors(index);
  const declared = new Map(index.parts.inputs.map((vi) => [vi.name, valueInfoDims(vi) ?? []]));
  const inputs = index.inputs.map((name) => ({ name, dtype: inputDtype(index, name, source), dims: inputShapes[name]! }));
  checkValues(index, inputs, values, source);
  const dynamic = index.inputs.some((n) => declared.get(n)!.some((d) => typeof d !== 'number'));
  if (!dynamic) {
    const fromVi = fromValueInfo(index, inputShapes, names);
    if (fromVi) return { inputShapes, tensors: fromVi, source: 'value_info' };
  }

  const shapeText = index.inputs.map((n) => `${n}=${inputShapes[n]!.join(',')}`).join(' ');
  const existing = new Set(index.parts.outputs.map((o) => o.name));
  const probe = onnx.ModelProto.create({
    ...model,
    graph: onnx.GraphProto.create({
      ...index.graph,
      output: [...index.parts.outputs, ...names.filter((n) => !existing.has(n)).map((n) => onnx.ValueInfoProto.create({ name: n }))],
    }),
  });
  const session = await createSession(probe, { optimization: 'disabled' });
  const tensors = new Map<string, TensorInfo>();
  try {
    let first: Feeds;
    try {
      first = await session.run(runFeeds(inputs, values));
    } catch (e) {
      if (!isEdgesplitError(e, 'ERR_SESSION')) throw e;
      const zeroed = inputs.filter((i) => !values[i.name] && !i.dtype.startsWith('float')).map((i) => `'${i.name}'`);
      const hint = zeroed.length > 0 ? ` Input${zeroed.length > 1 ? 's' : ''} ${zeroed.join(', ')} ${zeroed.length > 1 ? 'were' : 'was'} fed zeros (the sample data for integer and bool inputs): if one is a shape vector (the tail half of a split), analyse the model with its real value (analyzeModel's inputValues).` : '';
      throw new EdgesplitError('ERR_INPUT_SHAPE',
        `${source}: ONNX Runtime cannot run the model at input shape ${shapeText}: ${e.message.replace(/^ONNX Runtime failed to run the model: /, '').trim()}. Give a shape the model accepts, e.g. ${index.inputs.map((n) => exampleFlag(n, declared.get(n)!)).join(' ')}.${hint}`,
        { cause: e, details: { source, inputShapes } });
    }
    for (const name of [...index.inputs, ...names]) {
      const t = first[name] ?? (index.inputs.includes(name) ? { dtype: inputs.find((i) => i.name === name)!.dtype, dims: inputShapes[name]! } : undefined);
      if (!t) continue;
      if (!isDtype(t.dtype)) {
        throw new EdgesplitError('ERR_MODEL_INVALID', `${source}: tensor '${name}' has dtype ${String(t.dtype)}, which edgesplit does not move (expected a numeric tensor).`, { details: { source, tensor: name } });
      }
      tensors.set(name, { name, dtype: t.dtype, dims: [...t.dims], symbolicDims: [...t.dims], bytes: byteLength(t.dtype, t.dims) });
    }

    // NOTE: a second run with every dynamic input dim doubled tells which dims follow them; those stay
    // symbolic so that split halves accept every shape the original accepts. If the model refuses
    // that, each dynamic dim is doubled alone, and a dim the model runs only at its analysed value
    // (a Reshape hard-coding batch 1) stays concrete.
    const dynamicDims = inputs.flatMap((input) => declared.get(input.name)!.flatMap((d, axis) => (typeof d === 'number' ? [] : [{ input: input.name, axis, param: String(d), value: input.dims[axis]! }])));
    const attempt = async (dims: typeof dynamicDims): Promise<boolean> => {
      const bumped = inputs.map((i) => ({ ...i, dims: i.dims.map((d, k) => (dims.some((x) => x.input === i.name && x.axis === k) ? 2 * d : d)) }));
      let second: Feeds;
      try {
        second = await session.run(runFeeds(bumped, values));
      } catch (e) {
        if (!isEdgesplitError(e, 'ERR_SESSION')) throw e;
        return false;
      }
      for (const info of tensors.values()) {
        const other = bumped.find((b) => b.name === info.name)?.dims ?? second[info.name]?.dims;
        if (!other || other.length !== info.dims.length) continue;
        info.symbolicDims = info.symbolicDims.map((d, i) => {
          if (typeof d === 'string' || other[i] === info.dims[i]) return d;
          const source = dims.filter((x) => x.value === info.dims[i] && other[i] === 2 * x.value);
          return source.length === 1 ? source[0]!.param : `${info.name}.dim${i}`;
        });
      }
      return true;
    };
    if (dynamicDims.length > 0 && !(await attempt(dynamicDims)) && dynamicDims.length > 1) {
      for (const d of dynamicDims) await attempt([d]);
    }
  } finally {
    await session.release();
  }
  return { inputShapes, tensors, source: 'onnxruntime' };
}

/** The dims of a weight (initializer or Constant value) as a TensorInfo, for FLOP and parameter counting. */
export function weightInfo(index: GraphIndex, name: string): TensorInfo | undefined {
  const t = index.weights.get(name);
  if (!t) return undefined;
  const dtype = dtypeFromOnnx(t.dataType);
  if (!dtype) return undefined;
  const dims = tensorDims(t);
  return { name, dtype, dims, symbolicDims: [...dims], bytes: byteLength(dtype, dims) };
}
