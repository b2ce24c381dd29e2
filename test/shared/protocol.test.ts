// Tests of the wire protocol: every frame type round-trips, tensors stay raw bytes, and malformed
// bytes (truncated, garbage, wrong types, odd offsets, wrong byte lengths) get precise errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Packr } from 'msgpackr';
import { type Frame, PROTOCOL_VERSION, TENSOR_DATA_ALIGN_BYTES, encodeFrame, decodeFrame, layoutResultFrame, tensorView, wireTensor, errorFrame, errorFromFrame } from '../../shared/protocol.ts';
import { EdgesplitError } from '../../shared/errors.ts';
import { Rng } from '../../planner/util/rng.ts';
import { byteLength } from '../../shared/dtypes.ts';

const plainMsgpack = new Packr({ useRecords: false });
const floats = new Float32Array([1.5, -2.25, 3e-8, 4, 5, 6]);
const ids = new BigInt64Array([1n, -2n, 2n ** 62n]);

const FRAMES: Frame[] = [
  { type: 'hello', protocolVersion: PROTOCOL_VERSION, deviceId: 'pi-1', planId: 'mlp-cut2', serverSha256: 'c'.repeat(64), token: 's3cret' },
  { type: 'hello', protocolVersion: PROTOCOL_VERSION, deviceId: 'pi-1', planId: 'mlp-cut2', serverSha256: 'c'.repeat(64) },
  { type: 'hello-ok', protocolVersion: PROTOCOL_VERSION, planId: 'mlp-cut2', serverVersion: '0.1.0', maxFrameBytes: 66048, workers: 2, queue: 16 },
  { type: 'infer', requestId: 7, tensors: [wireTensor('h', 'float32', [2, 3], floats), wireTensor('ids', 'int64', [3], ids)], deadlineMs: 250, sentAt: 1_764_480_000_123.5 },
  { type: 'infer', requestId: 0, tensors: [] },
  { type: 'result', requestId: 7, tensors: [wireTensor('y', 'float32', [6], floats)], timing: { queueMs: 0.25, runMs: 3.5 } },
  { type: 'error', requestId: 7, code: 'ERR_OVERLOADED', message: 'queue full', retryable: true },
  { type: 'error', code: 'ERR_NO_HELLO', message: 'hello first', retryable: false },
  { type: 'ping', t: 123.25 },
  { type: 'pong', t: 123.25 },
];

function normalise(f: Frame): unknown {
  if (f.type !== 'infer' && f.type !== 'result') return { ...f };
  return { ...f, tensors: f.tensors.map((t) => ({ ...t, data: [...t.data] })) };
}

function decodeError(bytes: Uint8Array, maxFrameBytes?: number): EdgesplitError {
  try {
    decodeFrame(bytes, maxFrameBytes === undefined ? {} : { maxFrameBytes });
  } catch (e) {
    assert.ok(e instanceof EdgesplitError, `expected an EdgesplitError, got ${String(e)}`);
    return e;
  }
  assert.fail('decodeFrame accepted bad bytes');
}

test('every frame type round-trips through encodeFrame and decodeFrame', () => {
  for (const frame of FRAMES) assert.deepEqual(normalise(decodeFrame(encodeFrame(frame))), normalise(frame), frame.type);
});

test('tensors travel as raw bytes (msgpack bin), not arrays of numbers', () => {
  const frame: Frame = { type: 'infer', requestId: 1, tensors: [wireTensor('h', 'float32', [1000], new Float32Array(1000).fill(0.1))] };
  const bytes = encodeFrame(frame);
  assert.ok(bytes.byteLength < 4000 + 100, `frame of ${bytes.byteLength} bytes for 4000 tensor bytes`);
  const plain = plainMsgpack.unpack(bytes);
  assert.ok(plain.tensors[0].data instanceof Uint8Array, 'tensor data is a msgpack bin readable by any msgpack library');
});

test('tensor data sits at a multiple of 8 bytes in encoded frames, and any msgpack decoder reads the same values', () => {
  const rng = new Rng(11);
  for (let i = 0; i < 200; i++) {
    const rank = 1 + Math.floor(rng.next() * 16);
    const dims = Array.from({ length: rank }, (_, d) => (d < 2 ? 1 + Math.floor(rng.next() * 300) : 1));
    const name = 'x'.repeat(1 + Math.floor(rng.next() * 40)) + (i % 3 === 0 ? 'é' : '');
    const dtype = (['float32', 'int64', 'uint8', 'float16'] as const)[i % 4]!;
    const values = new Uint8Array(byteLength(dtype, dims)).map(() => Math.floor(rng.next() * 256));
    const tensors = [wireTensor(name, dtype, dims, values), wireTensor('b', 'float64', [i % 5], new Float64Array(i % 5).fill(0.5))];
    const frame: Frame = i % 2 === 0
      ? { type: 'infer', requestId: i * 1_000_003, tensors, ...(i % 4 === 0 ? { deadlineMs: 12.5, sentAt: 1_764_480_000_123.5 } : {}) }
      : { type: 'result', requestId: i, tensors, timing: { queueMs: i / 7, runMs: 3 } };
    const bytes = encodeFrame(frame);
    const decoded = decodeFrame(bytes);
    assert.deepEqual(normalise(decoded), normalise(frame), `frame ${i}`);
    assert.ok(decoded.type === 'infer' || decoded.type === 'result');
    if (decoded.type !== 'infer' && decoded.type !== 'result') return;
    for (const t of decoded.tensors) assert.equal(t.data.byteOffset % TENSOR_DATA_ALIGN_BYTES, 0, `frame ${i}: tensor '${t.name}' at offset ${t.data.byteOffset}`);
    assert.deepEqual(plainMsgpack.unpack(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)), plainMsgpack.unpack(plainMsgpack.pack(frame)), `frame ${i}: same values as msgpackr's own encoding`);
  }
});

test('a result frame laid out ahead (layoutResultFrame), then filled in, is byte for byte what encodeFrame writes', () => {
  const rng = new Rng(12);
  for (let i = 0; i < 100; i++) {
    const dims = [1 + Math.floor(rng.next() * 50), 1 + Math.floor(rng.next() * 9)];
    const dtype = (['float32', 'int64', 'uint8', 'float16'] as const)[i % 4]!;
    const tensors = [wireTensor('y'.repeat(1 + (i % 37)), dtype, dims, new Uint8Array(byteLength(dtype, dims)).map(() => Math.floor(rng.next() * 256))), wireTensor('n', 'float64', [i % 3], new Float64Array(i % 3).fill(i))];
    const timing = { queueMs: i % 5 === 0 ? 0 : rng.next() * 10, runMs: i % 7 === 0 ? 3 : rng.next() * 100 };
    const layout = layoutResultFrame(i * 65_537, tensors.map((t) => ({ name: t.name, dtype: t.dtype, dims: t.dims })));
    for (const [k, t] of tensors.entries()) {
      assert.equal(layout.tensorData[k]!.byteLength, t.data.byteLength);
      assert.equal(layout.tensorData[k]!.byteOffset % TENSOR_DATA_ALIGN_BYTES, 0);
      layout.tensorData[k]!.set(t.data);
    }
    layout.setTiming(timing);
    assert.deepEqual(layout.bytes, encodeFrame({ type: 'result', requestId: i * 65_537, tensors, timing }), `frame ${i}`);
    assert.deepEqual(normalise(decodeFrame(layout.bytes)), normalise({ type: 'result', requestId: i * 65_537, tensors, timing }));
  }
});

test('a decoded tensor of an encoded frame is viewed in place, not copied', () => {
  const decoded = decodeFrame(encodeFrame(FRAMES[3]!));
  assert.equal(decoded.type, 'infer');
  if (decoded.type !== 'infer') return;
  const view = tensorView({ dtype: 'float32', data: decoded.tensors[0]!.data });
  assert.equal(view.buffer, decoded.tensors[0]!.data.buffer);
  assert.deepEqual([...view], [...floats]);
});

test('tensorView gives the elements back whatever the byte offset, copying only when misaligned', () => {
  for (let offset = 0; offset < 8; offset++) {
    const backing = new Uint8Array(offset + floats.byteLength);
    backing.set(new Uint8Array(floats.buffer), offset);
    const data = backing.subarray(offset);
    const view = tensorView({ dtype: 'float32', data });
    assert.ok(view instanceof Float32Array);
    assert.deepEqual([...view], [...floats]);
    assert.equal(view.buffer === backing.buffer, offset % 4 === 0, `offset ${offset}: shares memory only when aligned`);
  }
  const pooled = Buffer.concat([Buffer.from([9, 9, 9]), Buffer.from(floats.buffer)]).subarray(3);
  assert.deepEqual([...tensorView({ dtype: 'float32', data: pooled })], [...floats], 'a Node Buffer at an odd offset is copied, not re-sliced');
  const decoded = decodeFrame(encodeFrame(FRAMES[3]!));
  assert.equal(decoded.type, 'infer');
  if (decoded.type !== 'infer') return;
  assert.deepEqual([...tensorView({ dtype: 'int64', data: decoded.tensors[1]!.data })], [...ids]);
});

test('BAD CALL - truncated frames are ERR_FRAME_MALFORMED at every cut', () => {
  const bytes = encodeFrame(FRAMES[3]!);
  for (let n = 1; n < bytes.byteLength; n += 7) {
    const e = decodeError(bytes.subarray(0, n));
    assert.ok(e.code === 'ERR_FRAME_MALFORMED' || e.code === 'ERR_TENSOR_BYTES', `cut at ${n}: ${e.code} ${e.message}`);
  }
  const e = decodeError(bytes.subarray(0, bytes.byteLength - 3));
  assert.equal(e.code, 'ERR_FRAME_MALFORMED');
  assert.match(e.message, /^frame of \d+ bytes is truncated msgpack\. Build frames with encodeFrame of the same protocol version \(1\)\.$/);
});

test('BAD CALL - garbage, trailing bytes, empty frames and non-map values are ERR_FRAME_MALFORMED', () => {
  const rng = new Rng(5);
  for (let i = 0; i < 300; i++) {
    const garbage = new Uint8Array(1 + Math.floor(rng.next() * 64)).map(() => Math.floor(rng.next() * 256));
    const e = decodeError(garbage);
    assert.ok(['ERR_FRAME_MALFORMED', 'ERR_TENSOR_BYTES'].includes(e.code), `garbage ${i}: ${e.code}`);
  }
  const bytes = encodeFrame(FRAMES[8]!);
  const trailing = new Uint8Array([...bytes, 0x01]);
  assert.match(decodeError(trailing).message, /is trailing bytes after the msgpack value/);
  assert.match(decodeError(new Uint8Array(0)).message, /^empty frame/);
  assert.match(decodeError(plainMsgpack.pack([1, 2, 3])).message, /a frame must be a msgpack map with a 'type' field, got an array/);
  assert.match(decodeError(new TextEncoder().encode('{"type":"ping","t":1}')).message, /not valid msgpack|trailing bytes|must be a msgpack map/);
});

test('BAD CALL - unknown frame types and wrong field types are named with expected and got', () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ type: 'hullo' }, /^unknown frame type "hullo"; expected one of hello, hello-ok, infer, result, error, ping, pong/],
    [{ t: 1 }, /unknown frame type nothing/],
    [{ type: 'ping', t: '1' }, /^ping frame field 't': expected a finite number, got "1"/],
    [{ type: 'hello', protocolVersion: 1, deviceId: 'd', planId: 5, serverSha256: 'x' }, /^hello frame field 'planId': expected a string of 1-256 characters, got number 5/],
    [{ type: 'infer', requestId: -1, tensors: [] }, /^infer frame field 'requestId': expected an integer in \[0, 2\^53\), got number -1/],
    [{ type: 'infer', requestId: 1, tensors: {} }, /^infer frame field 'tensors': expected an array of tensors, got an object/],
    [{ type: 'infer', requestId: 1, tensors: [], deadlineMs: 0 }, /^infer frame field 'deadlineMs': expected a number > 0, got number 0/],
    [{ type: 'infer', requestId: 1, tensors: [{ name: 'h', dtype: 'float32', dims: [2], data: [1, 2] }] }, /^infer frame field 'tensors\[0\]\.data': expected raw bytes \(msgpack bin\), got an array/],
    [{ type: 'infer', requestId: 1, tensors: [{ name: 'h', dtype: 'float', dims: [1], data: new Uint8Array(4) }] }, /'tensors\[0\]\.dtype': expected one of float32/],
    [{ type: 'infer', requestId: 1, tensors: [{ name: 'h', dtype: 'float32', dims: [1.5], data: new Uint8Array(4) }] }, /'tensors\[0\]\.dims': expected an array of at most 16 non-negative integers, got "\[1\.5\]"/],
    [{ type: 'result', requestId: 1, tensors: [], timing: 3 }, /^result frame field 'timing': expected \{ queueMs, runMs \}, got number 3/],
    [{ type: 'error', code: 'ERR_NOPE', message: 'x', retryable: false }, /^error frame field 'code': expected an edgesplit error code \(ERR_\.\.\.\), got "ERR_NOPE"/],
    [{ type: 'error', code: 'ERR_OVERLOADED', message: 'x', retryable: 'yes' }, /^error frame field 'retryable': expected a boolean, got "yes"/],
  ];
  for (const [value, re] of cases) {
    const e = decodeError(plainMsgpack.pack(value));
    assert.equal(e.code, 'ERR_FRAME_MALFORMED', JSON.stringify(value));
    assert.match(e.message, re);
  }
  const withId = decodeError(plainMsgpack.pack({ type: 'infer', requestId: 42, tensors: 'no' }));
  assert.equal(withId.details?.requestId, 42, 'the requestId is kept so the error frame can name the request');
});

test('BAD CALL - a hello of another protocol version is ERR_PROTOCOL_VERSION whatever its other fields', () => {
  const e = decodeError(plainMsgpack.pack({ type: 'hello', protocolVersion: 2, device: { id: 'pi' } }));
  assert.equal(e.code, 'ERR_PROTOCOL_VERSION');
  assert.equal(e.message, 'device speaks protocol version 2, this server speaks 1. Run the same edgesplit version on the device and the server.');
});

test('BAD CALL - a byte length that does not match dtype x dims is ERR_TENSOR_BYTES with expected and got', () => {
  const e = decodeError(plainMsgpack.pack({ type: 'infer', requestId: 9, tensors: [{ name: 'h', dtype: 'float32', dims: [1, 128], data: new Uint8Array(508) }] }));
  assert.equal(e.code, 'ERR_TENSOR_BYTES');
  assert.equal(e.message, "tensor 'h' has 508 bytes, expected 512 for float32 [1,128] (4 bytes x 128 elements). Send the tensor's raw bytes, row-major.");
  assert.equal(e.details?.requestId, 9);
  assert.throws(() => wireTensor('h', 'float32', [3], new Float32Array(2)), { code: 'ERR_TENSOR_BYTES', message: "tensor 'h' has 8 bytes, expected 12 for float32 [3]. Pass an array of the tensor's dtype and shape." });
});

test('BAD CALL - frames over maxFrameBytes are ERR_FRAME_TOO_LARGE before decoding', () => {
  const e = decodeError(encodeFrame(FRAMES[3]!), 20);
  assert.equal(e.code, 'ERR_FRAME_TOO_LARGE');
  assert.match(e.message, /^frame of \d+ bytes is over the limit of 20 bytes\. Send smaller tensors, or raise limits\.maxFrameBytes/);
});

test('errorFrame and errorFromFrame carry code, message, retryable and requestId', () => {
  const err = new EdgesplitError('ERR_OVERLOADED', 'full', { retryable: true });
  const frame = errorFrame(err, 3);
  assert.deepEqual(frame, { type: 'error', requestId: 3, code: 'ERR_OVERLOADED', message: 'full', retryable: true });
  const back = errorFromFrame(frame);
  assert.deepEqual(back.toJSON(), { code: 'ERR_OVERLOADED', message: 'full', retryable: true, details: { requestId: 3 } });
});
