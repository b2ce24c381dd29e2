// The dtype table: every tensor element type edgesplit moves, with its ONNX enum, byte size and TypedArray.
// Browser-safe. The one place that maps dtype names to numbers and arrays.

export const DTYPES = Object.freeze({
  float32: { onnx: 1, bytes: 4, array: Float32Array },
  uint8: { onnx: 2, bytes: 1, array: Uint8Array },
  int8: { onnx: 3, bytes: 1, array: Int8Array },
  uint16: { onnx: 4, bytes: 2, array: Uint16Array },
  int16: { onnx: 5, bytes: 2, array: Int16Array },
  int32: { onnx: 6, bytes: 4, array: Int32Array },
  int64: { onnx: 7, bytes: 8, array: BigInt64Array },
  bool: { onnx: 9, bytes: 1, array: Uint8Array },
  float16: { onnx: 10, bytes: 2, array: Uint16Array },
  float64: { onnx: 11, bytes: 8, array: Float64Array },
  uint32: { onnx: 12, bytes: 4, array: Uint32Array },
  uint64: { onnx: 13, bytes: 8, array: BigUint64Array },
} as const);

export type Dtype = keyof typeof DTYPES;
export type TypedArrayOf<D extends Dtype> = InstanceType<(typeof DTYPES)[D]['array']>;

const BY_ONNX: ReadonlyMap<number, Dtype> = new Map(
  (Object.keys(DTYPES) as Dtype[]).map((d) => [DTYPES[d].onnx, d]),
);

/** Whether `name` is a dtype edgesplit knows. */
export function isDtype(name: unknown): name is Dtype {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(DTYPES, name);
}

/** The dtype for an ONNX TensorProto.DataType number, or undefined for one edgesplit does not move. */
export function dtypeFromOnnx(elemType: number): Dtype | undefined {
  return BY_ONNX.get(elemType);
}

/** Bytes of a dense tensor of this dtype and shape. */
export function byteLength(dtype: Dtype, dims: readonly number[]): number {
  return DTYPES[dtype].bytes * dims.reduce((a, b) => a * b, 1);
}
