// The device backend on onnxruntime-web's WebAssembly build, for browsers (and Node, for tests): the
// only module of the device runtime that imports onnxruntime-web.
import * as ort from 'onnxruntime-web/wasm';
import { EdgesplitError } from '../shared/errors.ts';
import { type DeviceBackend, type DeviceSession, wrapOrtSession } from './backend.ts';

/** Options of the onnxruntime-web backend. */
export interface WebBackendOptions {
  /**
   * URL prefix (ending in '/') where onnxruntime-web's `ort-wasm-simd-threaded.mjs` and `.wasm` files
   * are served, e.g. '/ort/' when a server maps it to node_modules/onnxruntime-web/dist/.
   * Default: ONNX Runtime's own lookup next to the script.
   */
  wasmPaths?: string;
  /** WebAssembly threads; default 1 (threads need cross-origin isolation in browsers). */
  numThreads?: number;
}

/** A backend on onnxruntime-web with the 'wasm' execution provider. */
export function webBackend(options: WebBackendOptions = {}): DeviceBackend {
  const numThreads = options.numThreads ?? 1;
  if (!Number.isInteger(numThreads) || numThreads < 1) {
    throw new EdgesplitError('ERR_USAGE', `'numThreads' must be an integer >= 1, got ${numThreads}.`, { details: { numThreads } });
  }
  ort.env.wasm.numThreads = numThreads;
  if (options.wasmPaths !== undefined) ort.env.wasm.wasmPaths = options.wasmPaths;
  ort.env.logLevel = 'error';
  return {
    name: 'onnxruntime-web (wasm)',
    async createSession(modelBytes: Uint8Array): Promise<DeviceSession> {
      let session: ort.InferenceSession;
      try {
        // NOTE: 'wasm' must be named: in a process that also loaded onnxruntime-node the two packages
        // share one backend registry, and onnxruntime-web would otherwise run on the native backend.
        session = await ort.InferenceSession.create(modelBytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
      } catch (cause) {
        throw new EdgesplitError('ERR_SESSION', `onnxruntime-web could not load the model (${modelBytes.byteLength} bytes): ${(cause as Error).message}. Check that the file is the plan's ONNX model and that the wasm files are served at wasmPaths.`, { cause });
      }
      return wrapOrtSession(session, ort.Tensor, 'onnxruntime-web');
    },
  };
}
