// Load, save and edit ONNX models: the protobuf round trip, weights in initializers or Constant nodes,
// and small builders for nodes, tensors and value infos. Everything else in planner/onnx builds on this.
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { onnx as O } from 'onnx-proto';
import { onnx } from './proto.ts';
import { EdgesplitError } from '../../shared/errors.ts';
import { type Dtype, DTYPES, dtypeFromOnnx } from '../../shared/dtypes.ts';

export type ModelProto = O.ModelProto;
export type GraphProto = O.GraphProto;
export type NodeProto = O.NodeProto;
export type TensorProto = O.TensorProto;
export type ValueInfoProto = O.ValueInfoProto;
export type AttributeProto = O.AttributeProto;

// NOTE: onnx-proto types nested messages as their I* interfaces (every field optional), but protobufjs
// `decode` and `create` always fill them with class instances whose fields have defaults. These three
// helpers are where model.ts says so to the type checker; graph.ts's `graphParts` does the same for graphs.
function nodesOf(graph: O.IGraphProto): NodeProto[] {
  return (graph.node ?? []) as NodeProto[];
}
function attributesOf(node: O.INodeProto): AttributeProto[] {
  return (node.attribute ?? []) as AttributeProto[];
}
function initializersOf(graph: O.IGraphProto): TensorProto[] {
  return (graph.initializer ?? []) as TensorProto[];
}

/** Opsets of the default ONNX domain that edgesplit reads and writes. */
export const MIN_OPSET = 7;
export const MAX_OPSET = 21;

/** A 64-bit protobuf field as a JS number (exact up to 2^53). */
export function toNumber(v: number | Long | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

/** Decode ONNX bytes; `source` names them in error messages. */
export function decodeModel(bytes: Uint8Array, source = 'model'): ModelProto {
  let model: ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (cause) {
    throw new EdgesplitError('ERR_MODEL_CORRUPT',
      `${source}: not a valid ONNX model (${(cause as Error).message}). Expected an .onnx file written by an ONNX exporter; check the file is complete (${bytes.length} bytes read).`,
      { cause, details: { source, bytes: bytes.length } });
  }
  if (!model.graph || nodesOf(model.graph).length === 0) {
    throw new EdgesplitError('ERR_MODEL_CORRUPT',
      `${source}: the file decodes but holds no graph nodes (${bytes.length} bytes). Expected an ONNX model with a graph; the file is likely truncated or not ONNX.`,
      { details: { source, bytes: bytes.length } });
  }
  const opset = opsetVersion(model);
  if (opset < MIN_OPSET || opset > MAX_OPSET) {
    throw new EdgesplitError('ERR_MODEL_OPSET',
      `${source}: ONNX opset ${opset} is outside the supported range [${MIN_OPSET}, ${MAX_OPSET}]. Convert the model with onnx.version_converter to an opset in range.`,
      { details: { source, opset } });
  }
  return model;
}

/** Read and decode an ONNX file. */
export async function loadModel(path: string): Promise<ModelProto> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new EdgesplitError('ERR_FILE_NOT_FOUND', `model file not found: ${path}. Check the path, or run 'edgesplit models' for the built-in ones.`, { cause, details: { path } });
    }
    throw new EdgesplitError('ERR_FILE_READ', `cannot read model file ${path}: ${(cause as Error).message}`, { cause, details: { path } });
  }
  return decodeModel(bytes, path);
}

/** Encode a model to ONNX bytes. */
export function encodeModel(model: ModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

/** Encode and write a model, creating the directory. */
export async function saveModel(model: ModelProto, path: string): Promise<Uint8Array> {
  const bytes = encodeModel(model);
  try {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, bytes);
  } catch (cause) {
    throw new EdgesplitError('ERR_FILE_WRITE', `cannot write ${path}: ${(cause as Error).message}`, { cause, details: { path } });
  }
  return bytes;
}

/** A deep copy (through the protobuf encoding, so nothing is shared). */
export function cloneModel(model: ModelProto): ModelProto {
  return onnx.ModelProto.decode(encodeModel(model));
}

/** The model's opset of the default ONNX domain. */
export function opsetVersion(model: ModelProto): number {
  const entry = model.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx');
  return entry ? toNumber(entry.version) : 0;
}

/** The dims of a tensor as numbers. */
export function tensorDims(t: TensorProto): number[] {
  return t.dims.map((d) => toNumber(d));
}

function rawCopy(raw: Uint8Array): ArrayBuffer {
  // NOTE: rawData is a view into the whole file buffer, often at an offset a TypedArray cannot
  // start at; copying gives an aligned buffer of its own. `new Uint8Array(view)` copies for a Node
  // Buffer too, where `Buffer#slice` would return another view of the whole file.
  return new Uint8Array(raw).buffer;
}

/** The values of a float32 (or float64) weight tensor as a fresh Float32Array. */
export function tensorToFloat32(t: TensorProto): Float32Array {
  const n = tensorDims(t).reduce((a, b) => a * b, 1);
  if (t.dataType === DTYPES.float32.onnx) {
    if (t.rawData && t.rawData.length > 0) return new Float32Array(rawCopy(t.rawData));
    return Float32Array.from(t.floatData.length ? t.floatData : new Array<number>(n).fill(0));
  }
  if (t.dataType === DTYPES.float64.onnx) {
    if (t.rawData && t.rawData.length > 0) return Float32Array.from(new Float64Array(rawCopy(t.rawData)));
    return Float32Array.from(t.doubleData);
  }
  throw new EdgesplitError('ERR_MODEL_INVALID', `tensor '${t.name}' has dtype ${dtypeFromOnnx(t.dataType) ?? t.dataType}, expected float32 or float64`);
}

/** The values of an integer tensor (int64, int32, ...) as numbers. */
export function tensorToInts(t: TensorProto): number[] {
  const raw = t.rawData && t.rawData.length > 0 ? rawCopy(t.rawData) : undefined;
  switch (t.dataType) {
    case DTYPES.int64.onnx:
      return raw ? Array.from(new BigInt64Array(raw), Number) : t.int64Data.map(toNumber);
    case DTYPES.int32.onnx:
      return raw ? Array.from(new Int32Array(raw)) : [...t.int32Data];
    case DTYPES.float32.onnx:
      return Array.from(tensorToFloat32(t));
    default:
      throw new EdgesplitError('ERR_MODEL_INVALID', `tensor '${t.name}' has dtype ${dtypeFromOnnx(t.dataType) ?? t.dataType}, expected an integer tensor`);
  }
}

/** A float32 TensorProto with raw data. */
export function floatTensor(name: string, dims: readonly number[], data: Float32Array | readonly number[]): TensorProto {
  const arr = data instanceof Float32Array ? data : Float32Array.from(data);
  return onnx.TensorProto.create({ name, dims: [...dims], dataType: DTYPES.float32.onnx, rawData: new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength).slice() });
}

/** An int64 TensorProto with raw data (shapes, axes, indices). */
export function int64Tensor(name: string, dims: readonly number[], data: readonly number[]): TensorProto {
  const arr = BigInt64Array.from(data.map((v) => BigInt(v)));
  return onnx.TensorProto.create({ name, dims: [...dims], dataType: DTYPES.int64.onnx, rawData: new Uint8Array(arr.buffer) });
}

/** Replace a float tensor's values (and dims) in place, keeping name and dtype float32. */
export function setFloatData(t: TensorProto, dims: readonly number[], data: Float32Array): void {
  t.dims = [...dims];
  t.dataType = DTYPES.float32.onnx;
  t.floatData = [];
  t.doubleData = [];
  t.rawData = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
}

/** Attribute values accepted by `makeNode`. */
export type AttrValue = number | string | number[] | TensorProto | { ints: number[] } | { floats: number[] } | { float: number };

function makeAttribute(name: string, v: AttrValue): AttributeProto {
  const A = onnx.AttributeProto.AttributeType;
  if (typeof v === 'number') {
    return Number.isInteger(v) ? onnx.AttributeProto.create({ name, type: A.INT, i: v }) : onnx.AttributeProto.create({ name, type: A.FLOAT, f: v });
  }
  if (typeof v === 'string') return onnx.AttributeProto.create({ name, type: A.STRING, s: new TextEncoder().encode(v) });
  if (Array.isArray(v)) return onnx.AttributeProto.create({ name, type: A.INTS, ints: v });
  if (v instanceof onnx.TensorProto) return onnx.AttributeProto.create({ name, type: A.TENSOR, t: v });
  if ('ints' in v) return onnx.AttributeProto.create({ name, type: A.INTS, ints: v.ints });
  if ('floats' in v) return onnx.AttributeProto.create({ name, type: A.FLOATS, floats: v.floats });
  return onnx.AttributeProto.create({ name, type: A.FLOAT, f: v.float });
}

/** A NodeProto; integer numbers become INT attributes, others FLOAT (use `{ float: 1 }` for a whole float). */
export function makeNode(opType: string, inputs: string[], outputs: string[], attrs: Record<string, AttrValue> = {}, name?: string): NodeProto {
  return onnx.NodeProto.create({
    opType, input: inputs, output: outputs, name: name ?? outputs[0] ?? opType,
    attribute: Object.entries(attrs).map(([k, v]) => makeAttribute(k, v)),
  });
}

/** A tensor ValueInfoProto; a string dim is symbolic ("batch"). */
export function makeValueInfo(name: string, dtype: Dtype, dims: ReadonlyArray<number | string>): ValueInfoProto {
  return onnx.ValueInfoProto.create({
    name,
    type: onnx.TypeProto.create({
      tensorType: onnx.TypeProto.Tensor.create({
        elemType: DTYPES[dtype].onnx,
        shape: onnx.TensorShapeProto.create({
          dim: dims.map((d) => (typeof d === 'number' ? onnx.TensorShapeProto.Dimension.create({ dimValue: d }) : onnx.TensorShapeProto.Dimension.create({ dimParam: d }))),
        }),
      }),
    }),
  });
}

/** A ModelProto around a graph, with the default-domain opset. */
export function makeModel(graph: { name: string; nodes: NodeProto[]; inputs: ValueInfoProto[]; outputs: ValueInfoProto[]; initializers: TensorProto[]; valueInfo?: ValueInfoProto[] }, opset = 17, producer = 'edgesplit'): ModelProto {
  return onnx.ModelProto.create({
    irVersion: 8,
    producerName: producer,
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: opset })],
    graph: onnx.GraphProto.create({
      name: graph.name, node: graph.nodes, input: graph.inputs, output: graph.outputs,
      initializer: graph.initializers, valueInfo: graph.valueInfo ?? [],
    }),
  });
}

/** An attribute of a node, or undefined. */
export function getAttr(node: NodeProto, name: string): AttributeProto | undefined {
  return attributesOf(node).find((a) => a.name === name);
}

/** An INT attribute as a number, or the default. */
export function attrInt(node: NodeProto, name: string, dflt: number): number {
  const a = getAttr(node, name);
  return a ? toNumber(a.i) : dflt;
}

/** An INTS attribute as numbers, or the default. */
export function attrInts(node: NodeProto, name: string, dflt: number[]): number[] {
  const a = getAttr(node, name);
  return a ? a.ints.map((v) => toNumber(v)) : dflt;
}

/** A FLOAT attribute, or the default. */
export function attrFloat(node: NodeProto, name: string, dflt: number): number {
  const a = getAttr(node, name);
  return a ? a.f : dflt;
}

/** A STRING attribute, or the default. */
export function attrString(node: NodeProto, name: string, dflt: string): string {
  const a = getAttr(node, name);
  return a ? new TextDecoder().decode(a.s) : dflt;
}

/**
 * Every constant tensor of a graph by name: its initializers and the `value` of its Constant nodes
 * (the PP-OCR models keep their weights in Constant nodes).
 */
export function constantTensors(graph: GraphProto): Map<string, TensorProto> {
  const out = new Map<string, TensorProto>();
  for (const t of initializersOf(graph)) out.set(t.name, t);
  for (const n of nodesOf(graph)) {
    if (n.opType !== 'Constant' || n.output.length !== 1) continue;
    const v = getAttr(n, 'value');
    if (v?.t) out.set(n.output[0]!, v.t as TensorProto);
  }
  return out;
}

/** The element type of a value info as a dtype name, if edgesplit knows it. */
export function valueInfoDtype(vi: ValueInfoProto): Dtype | undefined {
  const t = vi.type?.tensorType;
  return t ? dtypeFromOnnx(t.elemType ?? 0) : undefined;
}

/** The dims of a value info: numbers, or the symbolic name (or '?') of a dynamic dimension. */
export function valueInfoDims(vi: ValueInfoProto): Array<number | string> | undefined {
  const shape = vi.type?.tensorType?.shape;
  if (!shape) return undefined;
  return (shape.dim ?? []).map((d) => (d.dimValue !== null && d.dimValue !== undefined && toNumber(d.dimValue) > 0 ? toNumber(d.dimValue) : d.dimParam || '?'));
}

/** The names of graph inputs that are real inputs, not initializers listed as inputs (old exporters). */
export function realInputs(graph: GraphProto): ValueInfoProto[] {
  const inits = new Set(initializersOf(graph).map((t) => t.name));
  return (graph.input as ValueInfoProto[]).filter((i) => !inits.has(i.name));
}
