// The device backend on onnxruntime-node (Raspberry Pi, Jetson, any Node host): the only module of the
// device runtime that imports onnxruntime-node.
import * as ort from 'onnxruntime-node';
import { EdgesplitError } from '../shared/errors.ts';
import { type DeviceBackend, type DeviceSession, wrapOrtSession } from './backend.ts';

/** Options of the onnxruntime-node backend. */
export interface NodeBackendOptions {
  /** Intra-op threads; default 1, which keeps the device half's latency steady and predictable. */
  threads?: number;
}

/** A backend on onnxruntime-node's CPU execution provider. */
export function nodeBackend(options: NodeBackendOptions = {}): DeviceBackend {
  const threads = options.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1) {
    throw new EdgesplitError('ERR_USAGE', `'threads' must be an integer >= 1, got ${threads}.`, { details: { threads } });
  }
  return {
    name: 'onnxruntime-node',
    async createSession(modelBytes: Uint8Array): Promise<DeviceSession> {
      let session: ort.InferenceSession;
      try {
        session = await ort.InferenceSession.create(modelBytes, {
          executionProviders: ['cpu'],
          intraOpNumThreads: threads,
          interOpNumThreads: 1,
          graphOptimizationLevel: 'all',
          logSeverityLevel: 3,
        });
      } catch (cause) {
        throw new EdgesplitError('ERR_SESSION', `onnxruntime-node could not load the model (${modelBytes.byteLength} bytes): ${(cause as Error).message}. Check that the file is the plan's ONNX model.`, { cause });
      }
      return wrapOrtSession(session, ort.Tensor, 'onnxruntime-node');
    },
  };
}
