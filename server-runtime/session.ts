// The server runtime's one door to ONNX Runtime (onnxruntime-node): a session over the server half
// that runs wire tensors. Everything else in server-runtime/ talks to the `RunSession` interface.
import * as ort from 'onnxruntime-node';
import { EdgesplitError } from '../shared/errors.ts';
import { type Dtype, isDtype } from '../shared/dtypes.ts';
import { type WireTensor, tensorView } from '../shared/protocol.ts';

/** A loaded server half: runs crossing tensors and returns the outputs in `outputNames` order. */
export interface RunSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /**
   * Run on tensors already checked against the plan; rejects with ERR_INFERENCE_FAILED. `into`, by
   * output position, gives a tensor of the output's dtype and dims whose bytes (aligned for the
   * dtype) ONNX Runtime writes that output into; the returned tensor's data is then those bytes.
   */
  run(tensors: readonly WireTensor[], into?: readonly (WireTensor | undefined)[]): Promise<WireTensor[]>;
  /** Free the session (and its thread, for a worker session). */
  close(): Promise<void>;
}

/** Options of `openOrtSession`. */
export interface OrtSessionOptions {
  /** Intra-op threads of this session; 1 lets several sessions share the cores without contention. */
  intraOpThreads?: number;
}

/**
 * Open an onnxruntime-node session on model bytes, in the calling thread.
 * NOTE: onnxruntime-node's `run` executes synchronously on the JS thread (inside a setImmediate),
 * so sessions in one thread never overlap; the server runs each session in its own worker thread
 * (server-runtime/worker-session.ts) and calls this from there.
 */
export async function openOrtSession(modelBytes: Uint8Array, options: OrtSessionOptions = {}): Promise<RunSession> {
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(modelBytes, {
      intraOpNumThreads: options.intraOpThreads ?? 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      logSeverityLevel: 4,
    });
  } catch (cause) {
    throw new EdgesplitError('ERR_SESSION', `ONNX Runtime could not load the server half: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
  const outputNames = [...session.outputNames];
  return {
    inputNames: [...session.inputNames],
    outputNames,
    async run(tensors, into) {
      const feeds: Record<string, ort.Tensor> = {};
      for (const t of tensors) feeds[t.name] = new ort.Tensor(t.dtype, tensorView(t), t.dims);
      // NOTE: a fetch given as a tensor is an output ONNX Runtime writes into instead of allocating.
      const fetches: Record<string, ort.Tensor | null> = {};
      for (const [i, name] of outputNames.entries()) {
        const t = into?.[i];
        fetches[name] = t ? new ort.Tensor(t.dtype, tensorView(t), t.dims) : null;
      }
      let result: ort.InferenceSession.ReturnType;
      try {
        result = await (into ? session.run(feeds, fetches) : session.run(feeds));
      } catch (cause) {
        throw new EdgesplitError('ERR_INFERENCE_FAILED', `ONNX Runtime failed to run the server half: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
      }
      return outputNames.map((name) => {
        const t = result[name];
        if (t === undefined) throw new EdgesplitError('ERR_INFERENCE_FAILED', `ONNX Runtime returned no output '${name}'`);
        const dtype: Dtype | undefined = isDtype(t.type) ? t.type : undefined;
        const data = t.data;
        if (dtype === undefined || !ArrayBuffer.isView(data)) throw new EdgesplitError('ERR_INFERENCE_FAILED', `output '${name}' has dtype ${t.type}, which edgesplit does not carry`);
        return { name, dtype, dims: [...t.dims], data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
      });
    },
    async close() {
      await session.release();
    },
  };
}
