// The device runtime's contract with ONNX Runtime: a backend makes sessions from model bytes, a
// session runs named tensors. backend-node.ts and backend-web.ts implement it; nothing else imports ORT.
import type { Dtype } from '../shared/dtypes.ts';

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
