// The device runtime's contract with ONNX Runtime: a backend makes sessions from model bytes, a
// session runs named tensors. backend-node.ts and backend-web.ts implement it; nothing else imports ORT.
import type { InferenceSession, Tensor } from 'onnxruntime-common';
import { type Dtype, isDtype } from '../shared/dtypes.ts';
import { EdgesplitError } from '../shared/errors.ts';

/** Any TypedArray a tensor of a known dtype can hold (see DTYPES in shared/dtypes.ts), over any buffer. */
export type TensorData = Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array;

/** A dense named tensor as the device runtime passes it around. */
export interface DeviceTensor {
  dtype: Dtype;
  dims: number[];
  data: TensorData;
}

/** Named tensors: session feeds and results, request inputs and outputs. */
export type DeviceTensors = Record<string, DeviceTensor>;

/** A loaded model. */
export interface DeviceSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Run the model; returns every output. Throws ERR_SESSION when ONNX Runtime fails. */
  run(feeds: DeviceTensors): Promise<DeviceTensors>;
  release(): Promise<void>;
}

/** One ONNX Runtime build (onnxruntime-node or onnxruntime-web). */
export interface DeviceBackend {
  /** 'onnxruntime-node' or 'onnxruntime-web (wasm)', shown in results and logs. */
  readonly name: string;
  /** Load a model from its bytes. Throws ERR_SESSION when ONNX Runtime refuses it. */
  createSession(modelBytes: Uint8Array): Promise<DeviceSession>;
}

/** The Tensor constructor of one ONNX Runtime build (onnxruntime-node's or onnxruntime-web's). */
export type TensorConstructor = new (type: Dtype, data: TensorData, dims: readonly number[]) => Tensor;

/**
 * A DeviceSession over an ONNX Runtime session of either build. `runtimeName` names the build in
 * error messages.
 * NOTE: both builds share onnxruntime-common's session and tensor types, so this takes them as types
 * only and the Tensor constructor as a value: backend.ts itself still imports no ONNX Runtime.
 */
export function wrapOrtSession(session: InferenceSession, TensorCtor: TensorConstructor, runtimeName: string): DeviceSession {
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    async run(feeds: DeviceTensors): Promise<DeviceTensors> {
      const ortFeeds: Record<string, Tensor> = {};
      for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new TensorCtor(t.dtype, t.data, t.dims);
      let result: InferenceSession.ReturnType;
      try {
        result = await session.run(ortFeeds);
      } catch (cause) {
        throw new EdgesplitError('ERR_SESSION', `${runtimeName} failed to run the model: ${(cause as Error).message}`, { cause });
      }
      const out: DeviceTensors = {};
      for (const [name, t] of Object.entries(result)) {
        if (!isDtype(t.type)) throw new EdgesplitError('ERR_SESSION', `output '${name}' has dtype '${t.type}', which edgesplit does not move. Expected one of the dtypes in shared/dtypes.ts.`, { details: { name, dtype: t.type } });
        out[name] = { dtype: t.type, dims: [...t.dims], data: t.data as TensorData };
      }
      return out;
    },
    async release(): Promise<void> {
      await session.release();
    },
  };
}
