// The wire protocol between the device and the server runtimes: every frame one member of a
// discriminated union, encoded as plain msgpack, and the one decode function that validates them.
// Browser-safe (msgpackr runs in browsers): imported by both runtimes.
import { Packr } from 'msgpackr';
import { EdgesplitError, ERROR_CODES, type ErrorCode } from './errors.ts';
import { type Dtype, DTYPES, type TypedArrayOf, byteLength, isDtype } from './dtypes.ts';

/** The protocol version this edgesplit speaks. A hello with another version is refused with ERR_PROTOCOL_VERSION. */
export const PROTOCOL_VERSION = 1;

/** Frames before a successful hello may be at most this large (a hello is a few hundred bytes). */
export const HELLO_MAX_FRAME_BYTES = 64 * 1024;

/** WebSocket close codes the server uses, with the reason each stands for. */
export const CLOSE_CODES = Object.freeze({
  /** Normal close asked for by either side. */
  NORMAL: 1000,
  /** The server is shutting down for good: reconnect to another server or later. */
  GOING_AWAY: 1001,
  /** A hello was refused (unknown plan, hash mismatch, protocol version, token): the reason holds the error code. Do not retry unchanged. */
  POLICY_VIOLATION: 1008,
  /** A frame exceeded the largest frame any plan on the server allows (ws `maxPayload`). */
  MESSAGE_TOO_BIG: 1009,
  /** The server is restarting: reconnect after a back-off. */
  SERVICE_RESTART: 1012,
} as const);

/** A tensor on the wire: raw little-endian bytes of a dense row-major array, never an array of numbers. */
export interface WireTensor {
  name: string;
  dtype: Dtype;
  /** Concrete dimensions, each a non-negative integer. */
  dims: number[];
  /** The element bytes: `data.byteLength === byteLength(dtype, dims)`. May sit at any byteOffset: use `tensorView`. */
  data: Uint8Array;
}

/** Device -> server, first frame on a connection: which plan and server half the device holds. */
export interface HelloFrame {
  type: 'hello';
  protocolVersion: number;
  deviceId: string;
  planId: string;
  /** sha256 of server.onnx as the device's plan.json records it; the server refuses a different half. */
  serverSha256: string;
  /** Bearer token, when the server requires one (browsers cannot set headers on a WebSocket, so it travels here). */
  token?: string;
}

/** Server -> device: the hello was accepted. */
export interface HelloOkFrame {
  type: 'hello-ok';
  protocolVersion: number;
  planId: string;
  /** The edgesplit version of the server. */
  serverVersion: string;
  /** Frames larger than this are refused on this connection. */
  maxFrameBytes: number;
  /** Sessions running this plan's server half at once. */
  workers: number;
  /** Requests that may wait for a session before ERR_OVERLOADED. */
  queue: number;
}

/** Device -> server: run the server half on the crossing tensors. */
export interface InferFrame {
  type: 'infer';
  /** Chosen by the device, unique among its requests in flight; echoed in the result or error. */
  requestId: number;
  tensors: WireTensor[];
  /** Budget in ms counted from the server receiving the frame; work still queued when it runs out is answered with ERR_DEADLINE_EXCEEDED and not run. */
  deadlineMs?: number;
  /** The device's clock when it sent the frame (ms since the epoch), for logs only. */
  sentAt?: number;
}

/** Server -> device: the server half's outputs. */
export interface ResultFrame {
  type: 'result';
  requestId: number;
  tensors: WireTensor[];
  /** Time the request waited for a session and the time the session ran it, in ms. */
  timing: { queueMs: number; runMs: number };
}

/** Either direction: a request or the connection failed. `requestId` is set when the error is about one request. */
export interface ErrorFrame {
  type: 'error';
  requestId?: number;
  code: ErrorCode;
  message: string;
  /** Whether sending the same request again later may succeed (ERR_OVERLOADED, ERR_SHUTTING_DOWN). */
  retryable: boolean;
}

/** Either direction: asks for a pong echoing `t`, to measure the round trip or check the link from a browser. */
export interface PingFrame {
  type: 'ping';
  t: number;
}

/** The answer to a ping, echoing its `t`. */
export interface PongFrame {
  type: 'pong';
  t: number;
}

/** Every frame of the protocol. */
export type Frame = HelloFrame | HelloOkFrame | InferFrame | ResultFrame | ErrorFrame | PingFrame | PongFrame;
export type FrameType = Frame['type'];

export const FRAME_TYPES: readonly FrameType[] = Object.freeze(['hello', 'hello-ok', 'infer', 'result', 'error', 'ping', 'pong']);

/** Most dimensions a wire tensor may have. */
export const MAX_RANK = 16;

// NOTE: plain msgpack (no msgpackr records, no `moreTypes`): with `moreTypes` msgpackr writes a
// Uint8Array as its own extension type, which other msgpack libraries cannot read. Tensor bytes go
// out as msgpack `bin` and come back as a zero-copy view into the received frame.
const packr = new Packr({ useRecords: false, mapsAsObjects: true });

/** Each tensor's `data` in a frame from `encodeFrame` starts at a multiple of this many bytes from the frame's first byte. */
export const TENSOR_DATA_ALIGN_BYTES = 8;

const textEncoder = new TextEncoder();

/** Bytes of `s` in UTF-8. */
function utf8Bytes(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** Sizes of the three msgpack map and array header forms: fix (1 byte), 16-bit (3), 32-bit (5). */
const CONTAINER_HEADER_BYTES = [1, 3, 5] as const;

/**
 * Writes the msgpack of an infer or result frame. Run once without a target to measure the frame,
 * then again into a buffer of exactly that size: one allocation and one copy of each tensor's bytes.
 */
class TensorFrameWriter {
  pos = 0;
  /** Where each tensor's data starts, in the order written. */
  readonly dataAt: number[] = [];
  /** Where each f64 value starts, in the order written. */
  readonly valueAt: number[] = [];
  private view: DataView | undefined;
  constructor(private readonly target?: Uint8Array) {
    if (target) this.view = new DataView(target.buffer, target.byteOffset, target.byteLength);
  }

  private byte(b: number): void {
    if (this.target) this.target[this.pos] = b;
    this.pos++;
  }

  private u16(v: number): void {
    this.view?.setUint16(this.pos, v);
    this.pos += 2;
  }

  private u32(v: number): void {
    this.view?.setUint32(this.pos, v);
    this.pos += 4;
  }

  /** A map (0x80, 0xde, 0xdf) or array (0x90, 0xdc, 0xdd) header, `widen` forms wider than the smallest that holds `n`. */
  container(n: number, kind: 'map' | 'array', widen = 0): void {
    const form = (n < 16 ? 0 : n < 0x10000 ? 1 : 2) + widen;
    const [fix, b16, b32] = kind === 'map' ? [0x80, 0xde, 0xdf] : [0x90, 0xdc, 0xdd];
    if (form === 0) return this.byte(fix | n);
    this.byte(form === 1 ? b16 : b32);
    if (form === 1) this.u16(n);
    else this.u32(n);
  }

  /** A string; `widen` 1 writes a fixstr's header as str8. */
  str(s: string, widen = 0): void {
    const n = utf8Bytes(s);
    if (n < 32 && widen === 0) this.byte(0xa0 | n);
    else if (n < 0x100) {
      this.byte(0xd9);
      this.byte(n);
    } else if (n < 0x10000) {
      this.byte(0xda);
      this.u16(n);
    } else {
      this.byte(0xdb);
      this.u32(n);
    }
    if (this.target) textEncoder.encodeInto(s, this.target.subarray(this.pos, this.pos + n));
    this.pos += n;
  }

  /** A number: integers in [-2^31, 2^32) as msgpack ints, anything else as float64 (as msgpackr writes them). */
  num(v: number): void {
    if (Number.isInteger(v) && v >= -0x80000000 && v < 0x100000000) {
      if (v >= 0 && v < 0x80) return this.byte(v);
      if (v < 0 && v >= -32) return this.byte(v & 0xff);
      if (v >= 0) {
        this.byte(v < 0x100 ? 0xcc : v < 0x10000 ? 0xcd : 0xce);
        if (v < 0x100) this.byte(v);
        else if (v < 0x10000) this.u16(v);
        else this.u32(v);
        return;
      }
      this.byte(0xd2);
      this.view?.setInt32(this.pos, v);
      this.pos += 4;
      return;
    }
    this.byte(0xcb);
    this.view?.setFloat64(this.pos, v);
    this.pos += 8;
  }

  field(key: string, value: number): void {
    this.str(key);
    this.num(value);
  }

  /**
   * One tensor as the map { name, dtype, dims, data }, its data at a multiple of TENSOR_DATA_ALIGN_BYTES.
   * NOTE: the alignment lets receivers view the bytes as a Float32Array (or Float64Array) in place
   * instead of copying them: a frame off the wire starts at offset 0 of its own buffer. It is
   * reached by writing up to 7 bytes of wider msgpack headers, which every msgpack decoder reads as
   * the same values: the tensor's map header 2 or 4 bytes wider, the dims array header 2 bytes
   * wider, the dtype string header 1 byte wider. No field is added.
   */
  tensor(t: WireTensor | TensorShape): void {
    const n = 'data' in t ? t.data.byteLength : byteLength(t.dtype, t.dims);
    const minimal = new TensorFrameWriter();
    minimal.container(4, 'map');
    minimal.str('name');
    minimal.str(t.name);
    minimal.str('dtype');
    minimal.str(t.dtype);
    minimal.str('dims');
    minimal.container(t.dims.length, 'array');
    for (const d of t.dims) minimal.num(d);
    minimal.str('data');
    const binHeader = n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
    const pad = (TENSOR_DATA_ALIGN_BYTES - ((this.pos + minimal.pos + binHeader) % TENSOR_DATA_ALIGN_BYTES)) % TENSOR_DATA_ALIGN_BYTES;
    const mapWiden = Math.min(pad & 6, 4);
    this.container(4, 'map', mapWiden / 2);
    this.str('name');
    this.str(t.name);
    this.str('dtype');
    this.str(t.dtype, pad & 1);
    this.str('dims');
    this.container(t.dims.length, 'array', ((pad & 6) - mapWiden) / 2);
    for (const d of t.dims) this.num(d);
    this.str('data');
    if (n < 0x100) {
      this.byte(0xc4);
      this.byte(n);
    } else if (n < 0x10000) {
      this.byte(0xc5);
      this.u16(n);
    } else {
      this.byte(0xc6);
      this.u32(n);
    }
    if ('data' in t) this.target?.set(t.data, this.pos);
    this.dataAt.push(this.pos);
    this.pos += n;
  }

  tensors(tensors: readonly (WireTensor | TensorShape)[]): void {
    this.str('tensors');
    this.container(tensors.length, 'array');
    for (const t of tensors) this.tensor(t);
  }

  /** A number as msgpack float64 whatever its value, so that it can be rewritten in place (see layoutResultFrame). */
  f64(key: string, v: number): void {
    this.str(key);
    this.byte(0xcb);
    this.valueAt.push(this.pos);
    this.view?.setFloat64(this.pos, v);
    this.pos += 8;
  }

  frame(frame: InferFrame | ResultFrame | ResultFrameShape): void {
    if (frame.type === 'infer') {
      this.container(3 + (frame.deadlineMs !== undefined ? 1 : 0) + (frame.sentAt !== undefined ? 1 : 0), 'map');
      this.str('type');
      this.str('infer');
      this.field('requestId', frame.requestId);
      if (frame.deadlineMs !== undefined) this.field('deadlineMs', frame.deadlineMs);
      if (frame.sentAt !== undefined) this.field('sentAt', frame.sentAt);
    } else {
      this.container(4, 'map');
      this.str('type');
      this.str('result');
      this.field('requestId', frame.requestId);
      this.str('timing');
      this.container(2, 'map');
      this.f64('queueMs', frame.timing.queueMs);
      this.f64('runMs', frame.timing.runMs);
    }
    this.tensors(frame.tensors);
  }
}

/**
 * Encode a frame as msgpack bytes. Tensors go out as their raw bytes, each starting at a multiple of
 * TENSOR_DATA_ALIGN_BYTES from the frame's start. Infer and result frames carry exactly the fields
 * their type defines.
 * NOTE: infer and result frames, which carry the large tensors, are measured first and written into
 * one buffer of their exact size: msgpackr grows its buffer to four times the frame, copying what
 * it holds so far, whenever a frame of a megabyte does not fit.
 */
export function encodeFrame(frame: Frame): Uint8Array {
  if (frame.type !== 'infer' && frame.type !== 'result') return packr.pack(frame);
  const measure = new TensorFrameWriter();
  measure.frame(frame);
  const bytes = allocateUnfilled(measure.pos);
  new TensorFrameWriter(bytes).frame(frame);
  return bytes;
}

/** A tensor's name, dtype and dims, without its bytes. */
export interface TensorShape {
  name: string;
  dtype: Dtype;
  dims: readonly number[];
}

/** A result frame whose tensors are given by shape, to lay out before their bytes exist. */
interface ResultFrameShape {
  type: 'result';
  requestId: number;
  tensors: readonly TensorShape[];
  timing: { queueMs: number; runMs: number };
}

/** A result frame laid out ahead of its contents: see layoutResultFrame. */
export interface ResultFrameLayout {
  /** The whole frame, as encodeFrame would write it once the tensors' bytes and the timing are filled in. */
  bytes: Uint8Array;
  /** Each tensor's bytes inside `bytes`, in the order given, each at a multiple of TENSOR_DATA_ALIGN_BYTES. */
  tensorData: Uint8Array[];
  /** Write the frame's timing in place. */
  setTiming(timing: { queueMs: number; runMs: number }): void;
}

/**
 * Lay out the result frame of `requestId` for tensors of the given shapes, with their bytes not yet
 * written: whoever computes the tensors writes them straight into `tensorData` (ONNX Runtime into
 * pre-allocated outputs), and then the timing. Filled in, `bytes` equals encodeFrame of the same frame.
 * NOTE: the timing fields are always float64 so that they keep their width whatever their value.
 */
export function layoutResultFrame(requestId: number, tensors: readonly TensorShape[]): ResultFrameLayout {
  const frame: ResultFrameShape = { type: 'result', requestId, tensors, timing: { queueMs: 0, runMs: 0 } };
  const measure = new TensorFrameWriter();
  measure.frame(frame);
  const bytes = allocateUnfilled(measure.pos);
  const writer = new TensorFrameWriter(bytes);
  writer.frame(frame);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const [queueAt, runAt] = writer.valueAt as [number, number];
  return {
    bytes,
    tensorData: tensors.map((t, i) => bytes.subarray(writer.dataAt[i]!, writer.dataAt[i]! + byteLength(t.dtype, t.dims))),
    setTiming(timing) {
      view.setFloat64(queueAt, timing.queueMs);
      view.setFloat64(runAt, timing.runMs);
    },
  };
}

/**
 * A byte array of `n` bytes whose every byte the caller writes next.
 * NOTE: in Node, Buffer.allocUnsafeSlow skips zero-filling a megabyte that is overwritten at once
 * (and, unlike allocUnsafe, never hands out a slice of a shared pool, so the frame owns its
 * ArrayBuffer and can be transferred); browsers get a plain Uint8Array.
 */
const allocateUnfilled: (n: number) => Uint8Array = typeof Buffer === 'function' ? (n) => Buffer.allocUnsafeSlow(n) : (n) => new Uint8Array(n);

function malformed(message: string, requestId?: number): EdgesplitError {
  return new EdgesplitError('ERR_FRAME_MALFORMED', `${message}. Build frames with encodeFrame of the same protocol version (${PROTOCOL_VERSION}).`, { details: requestId === undefined ? {} : { requestId } });
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Uint8Array) return `${v.byteLength} bytes`;
  if (ArrayBuffer.isView(v)) return v.constructor.name;
  if (typeof v === 'string') return `"${v.length > 40 ? v.slice(0, 40) + '...' : v}"`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

function field(obj: Record<string, unknown>, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined;
}

/** Reads fields of one frame, throwing ERR_FRAME_MALFORMED that names the frame type and the field. */
class FrameReader {
  requestId: number | undefined;
  constructor(private readonly obj: Record<string, unknown>, private readonly type: string) {}

  private fail(key: string, expected: string, got: unknown): never {
    throw malformed(`${this.type} frame field '${key}': expected ${expected}, got ${describe(got)}`, this.requestId);
  }

  string(key: string, maxLength = 256): string {
    const v = field(this.obj, key);
    if (typeof v !== 'string' || v.length === 0 || v.length > maxLength) this.fail(key, `a string of 1-${maxLength} characters`, v);
    return v;
  }

  optionalString(key: string, maxLength = 4096): string | undefined {
    return field(this.obj, key) === undefined ? undefined : this.string(key, maxLength);
  }

  number(key: string, check: 'finite' | 'positive' | 'nonNegative' | 'id' = 'finite'): number {
    const v = field(this.obj, key);
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(key, 'a finite number', v);
    if (check === 'positive' && !(v > 0)) this.fail(key, 'a number > 0', v);
    if (check === 'nonNegative' && v < 0) this.fail(key, 'a number >= 0', v);
    if (check === 'id' && !(Number.isSafeInteger(v) && v >= 0)) this.fail(key, 'an integer in [0, 2^53)', v);
    return v;
  }

  optionalNumber(key: string, check: 'finite' | 'positive' | 'nonNegative' = 'finite'): number | undefined {
    return field(this.obj, key) === undefined ? undefined : this.number(key, check);
  }

  boolean(key: string): boolean {
    const v = field(this.obj, key);
    if (typeof v !== 'boolean') this.fail(key, 'a boolean', v);
    return v;
  }

  tensors(key: string): WireTensor[] {
    const v = field(this.obj, key);
    if (!Array.isArray(v)) this.fail(key, 'an array of tensors', v);
    return v.map((item: unknown, i: number) => this.tensor(item, `${key}[${i}]`));
  }

  private tensor(item: unknown, at: string): WireTensor {
    if (!isRecord(item)) this.fail(at, '{ name, dtype, dims, data }', item);
    const name = field(item, 'name');
    if (typeof name !== 'string' || name.length === 0 || name.length > 1024) this.fail(`${at}.name`, 'a non-empty string', name);
    const dtype = field(item, 'dtype');
    if (!isDtype(dtype)) this.fail(`${at}.dtype`, `one of ${Object.keys(DTYPES).join(', ')}`, dtype);
    const dims = field(item, 'dims');
    if (!Array.isArray(dims) || dims.length > MAX_RANK || !dims.every((d: unknown) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
      this.fail(`${at}.dims`, `an array of at most ${MAX_RANK} non-negative integers`, Array.isArray(dims) ? JSON.stringify(dims) : dims);
    }
    const data = field(item, 'data');
    if (!(data instanceof Uint8Array)) this.fail(`${at}.data`, 'raw bytes (msgpack bin)', data);
    const shape = dims.map((d: number) => d);
    const elements = shape.reduce((a, b) => a * b, 1);
    const expected = byteLength(dtype, shape);
    if (!Number.isSafeInteger(expected) || data.byteLength !== expected) {
      throw new EdgesplitError('ERR_TENSOR_BYTES', `tensor '${name}' has ${data.byteLength} bytes, expected ${expected} for ${dtype} [${shape.join(',')}] (${DTYPES[dtype].bytes} bytes x ${elements} elements). Send the tensor's raw bytes, row-major.`,
        { details: { ...(this.requestId === undefined ? {} : { requestId: this.requestId }), tensor: name, expected, got: data.byteLength } });
    }
    return { name, dtype, dims: shape, data };
  }
}

/** Options of `decodeFrame`. */
export interface DecodeOptions {
  /** Refuse frames larger than this with ERR_FRAME_TOO_LARGE before decoding them. */
  maxFrameBytes?: number;
}

/**
 * Turn bytes off the wire into a typed frame, validating every field. Throws EdgesplitError:
 * ERR_FRAME_TOO_LARGE (over `maxFrameBytes`), ERR_FRAME_MALFORMED (not msgpack, truncated,
 * unknown type, missing or mistyped field), ERR_TENSOR_BYTES (data length does not match
 * dtype x dims) or ERR_PROTOCOL_VERSION (a hello of another protocol version). When the frame's requestId could be read, `details.requestId` carries it.
 * Unknown fields are ignored; tensor `data` stays a view into `bytes` (see `tensorView`).
 */
export function decodeFrame(bytes: Uint8Array, options: DecodeOptions = {}): Frame {
  if (options.maxFrameBytes !== undefined && bytes.byteLength > options.maxFrameBytes) {
    throw new EdgesplitError('ERR_FRAME_TOO_LARGE', `frame of ${bytes.byteLength} bytes is over the limit of ${options.maxFrameBytes} bytes. Send smaller tensors, or raise limits.maxFrameBytes in plan.json on both sides.`, { details: { limitBytes: options.maxFrameBytes, gotBytes: bytes.byteLength } });
  }
  if (bytes.byteLength === 0) throw malformed('empty frame');
  let value: unknown;
  try {
    value = packr.unpack(bytes);
  } catch (cause) {
    const truncated = typeof cause === 'object' && cause !== null && 'incomplete' in cause && cause.incomplete === true;
    const reason = truncated ? 'truncated msgpack' : /end of buffer not reached/.test(String(cause)) ? 'trailing bytes after the msgpack value' : 'not valid msgpack';
    throw malformed(`frame of ${bytes.byteLength} bytes is ${reason}`);
  }
  if (!isRecord(value)) throw malformed(`a frame must be a msgpack map with a 'type' field, got ${describe(value)}`);
  const type = field(value, 'type');
  const r = new FrameReader(value, typeof type === 'string' ? type : 'unknown');
  const rawId = field(value, 'requestId');
  if (typeof rawId === 'number' && Number.isSafeInteger(rawId) && rawId >= 0) r.requestId = rawId;
  switch (type) {
    case 'hello': {
      // NOTE: the version is checked before the other fields: another version's hello may have other fields.
      const protocolVersion = r.number('protocolVersion', 'id');
      if (protocolVersion !== PROTOCOL_VERSION) {
        throw new EdgesplitError('ERR_PROTOCOL_VERSION', `device speaks protocol version ${protocolVersion}, this server speaks ${PROTOCOL_VERSION}. Run the same edgesplit version on the device and the server.`, { details: { expected: PROTOCOL_VERSION, got: protocolVersion } });
      }
      const token = r.optionalString('token');
      return { type, protocolVersion, deviceId: r.string('deviceId'), planId: r.string('planId'), serverSha256: r.string('serverSha256', 64), ...(token !== undefined ? { token } : {}) };
    }
    case 'hello-ok':
      return { type, protocolVersion: r.number('protocolVersion', 'id'), planId: r.string('planId'), serverVersion: r.string('serverVersion'), maxFrameBytes: r.number('maxFrameBytes', 'positive'), workers: r.number('workers', 'id'), queue: r.number('queue', 'id') };
    case 'infer': {
      const requestId = r.number('requestId', 'id');
      const deadlineMs = r.optionalNumber('deadlineMs', 'positive');
      const sentAt = r.optionalNumber('sentAt', 'nonNegative');
      return { type, requestId, tensors: r.tensors('tensors'), ...(deadlineMs !== undefined ? { deadlineMs } : {}), ...(sentAt !== undefined ? { sentAt } : {}) };
    }
    case 'result': {
      const requestId = r.number('requestId', 'id');
      const timingValue = field(value, 'timing');
      if (!isRecord(timingValue)) throw malformed(`result frame field 'timing': expected { queueMs, runMs }, got ${describe(timingValue)}`, requestId);
      const timing = new FrameReader(timingValue, 'result.timing');
      return { type, requestId, tensors: r.tensors('tensors'), timing: { queueMs: timing.number('queueMs', 'nonNegative'), runMs: timing.number('runMs', 'nonNegative') } };
    }
    case 'error': {
      const requestId = field(value, 'requestId') === undefined ? undefined : r.number('requestId', 'id');
      const rawCode = field(value, 'code');
      const known = Object.keys(ERROR_CODES).find((c): c is ErrorCode => c === rawCode);
      if (known === undefined) throw malformed(`error frame field 'code': expected an edgesplit error code (ERR_...), got ${describe(rawCode)}`, requestId);
      return { type, ...(requestId !== undefined ? { requestId } : {}), code: known, message: r.string('message', 65536), retryable: r.boolean('retryable') };
    }
    case 'ping':
    case 'pong':
      return { type, t: r.number('t') };
    default:
      throw malformed(`unknown frame type ${describe(type)}; expected one of ${FRAME_TYPES.join(', ')}`, r.requestId);
  }
}

/**
 * The tensor's elements as a TypedArray of its dtype. A view without copying when `data` is
 * aligned for the element size, else a copy: msgpack places bytes at any offset, and a
 * Float32Array over an odd byteOffset throws.
 */
export function tensorView<D extends Dtype>(t: { dtype: D; data: Uint8Array }): TypedArrayOf<D>;
export function tensorView(t: { dtype: Dtype; data: Uint8Array }): TypedArrayOf<Dtype> {
  const { array, bytes } = DTYPES[t.dtype];
  const length = t.data.byteLength / bytes;
  if (t.data.buffer instanceof ArrayBuffer && t.data.byteOffset % bytes === 0) return new array(t.data.buffer, t.data.byteOffset, length);
  // NOTE: `new Uint8Array(data)` and not `data.slice()`: in Node, data off the wire is a Buffer,
  // whose slice() is a view into a shared pool rather than a copy.
  return new array(new Uint8Array(t.data).buffer, 0, length);
}

/** A WireTensor over a TypedArray's bytes (no copy); throws ERR_TENSOR_BYTES when the length does not fit `dims`. */
export function wireTensor(name: string, dtype: Dtype, dims: readonly number[], values: ArrayBufferView): WireTensor {
  const expected = byteLength(dtype, dims);
  if (values.byteLength !== expected) {
    throw new EdgesplitError('ERR_TENSOR_BYTES', `tensor '${name}' has ${values.byteLength} bytes, expected ${expected} for ${dtype} [${dims.join(',')}]. Pass an array of the tensor's dtype and shape.`, { details: { tensor: name, expected, got: values.byteLength } });
  }
  return { name, dtype, dims: [...dims], data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
}

/** The error frame for an EdgesplitError, optionally about one request. */
export function errorFrame(err: EdgesplitError, requestId?: number): ErrorFrame {
  return { type: 'error', ...(requestId !== undefined ? { requestId } : {}), code: err.code, message: err.message, retryable: err.retryable };
}

/** The EdgesplitError an error frame stands for (details carry the requestId when set). */
export function errorFromFrame(frame: ErrorFrame): EdgesplitError {
  return new EdgesplitError(frame.code, frame.message, { retryable: frame.retryable, details: frame.requestId === undefined ? {} : { requestId: frame.requestId } });
}
