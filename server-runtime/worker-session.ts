// A session whose ONNX Runtime session lives in its own worker thread, so that several sessions of
// one server run in parallel while the main thread keeps serving sockets.
import { Worker } from 'node:worker_threads';
import { EdgesplitError, type ErrorCode } from '../shared/errors.ts';
import { type TensorShape, type WireTensor, TENSOR_DATA_ALIGN_BYTES } from '../shared/protocol.ts';
import type { RunSession } from './session.ts';

/**
 * Asks the worker to send a run's outputs back as the result frame to send to the device, encoded
 * on its thread, instead of as tensors.
 */
export interface ResultFrameSpec {
  requestId: number;
  /** Session output positions in the order the frame carries them (the plan's server.outputs). */
  outputOrder: readonly number[];
  /** The plan's server.outputs, in the frame's order: the shapes the worker lays the frame out for. */
  outputs: readonly TensorShape[];
  /** When the request was accepted (ms since the epoch): the frame's queueMs runs from here to the run's start. */
  acceptedAtEpochMs: number;
}

/** Main thread -> worker. */
export type WorkerRequest =
  | { kind: 'run'; id: number; tensors: WireTensor[]; deadlineEpochMs?: number; resultFrame?: ResultFrameSpec }
  | { kind: 'cancel'; id: number }
  | { kind: 'close' };

/** Worker -> main thread. */
export type WorkerReply =
  | { kind: 'ready'; inputNames: string[]; outputNames: string[] }
  | { kind: 'open-failed'; code: ErrorCode; message: string }
  | { kind: 'done'; id: number; tensors: WireTensor[]; frame?: Uint8Array; runMs: number; startedAtEpochMs: number }
  | { kind: 'failed'; id: number; code: ErrorCode; message: string }
  | { kind: 'expired'; id: number }
  | { kind: 'cancelled'; id: number };

/** A run the worker finished: outputs, the session's own run time, and when it started (ms since the epoch). */
export interface WorkerRun {
  /** The outputs in session order; empty when they come as `frame`. */
  tensors: WireTensor[];
  /** The encoded result frame, when the run was submitted with a ResultFrameSpec. */
  frame?: Uint8Array;
  runMs: number;
  startedAtEpochMs: number;
}

/** A request handed to a worker: its outcome, and a way to take it back before it starts. */
export interface WorkerTicket {
  /** Rejects with ERR_DEADLINE_EXCEEDED when the worker reached it after `deadlineEpochMs`, ERR_CONNECTION_LOST when cancelled in time, or ERR_INFERENCE_FAILED. */
  result: Promise<WorkerRun>;
  /** Ask the worker to drop the request if it has not started it (then `result` rejects with ERR_CONNECTION_LOST). */
  cancel(): void;
}

/** A RunSession in a worker thread. The worker runs what it is given in order, so a caller may hand it the next request before the current one ends. */
export interface WorkerSession extends RunSession {
  /**
   * Hand tensors to the worker. With `owned`, the buffers under the tensors' data belong to this
   * request alone: they are moved to the worker without copying and are empty (detached) here
   * afterwards. Otherwise the tensors are copied. With `resultFrame`, the outputs come back as the
   * encoded result frame (WorkerRun.frame).
   */
  submit(tensors: readonly WireTensor[], deadlineEpochMs?: number, owned?: boolean, resultFrame?: ResultFrameSpec): WorkerTicket;
  /** False once the worker thread has exited, whether closed or not. */
  readonly alive: boolean;
  /** Resolves with the exit code when the worker thread exits. */
  readonly exited: Promise<number>;
}

// NOTE: the worker is started from a small ESM bootstrap that registers the TypeScript loader
// first, so it works both under `node --import tsx` and under bin/edgesplit.js (which registers
// tsx in the main thread only).
const TSX_API = import.meta.resolve('tsx/esm/api');
const WORKER_ENTRY = new URL('./worker.ts', import.meta.url).href;
const BOOTSTRAP = `import(${JSON.stringify(TSX_API)}).then((m) => { m.register(); return import(${JSON.stringify(WORKER_ENTRY)}); });`;

/** The distinct ArrayBuffers under the tensors' data, to move to a worker. */
function buffersOf(tensors: readonly WireTensor[]): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const t of tensors) if (t.data.buffer instanceof ArrayBuffer) buffers.add(t.data.buffer);
  return [...buffers];
}

/**
 * The tensors copied into one new buffer, each at a multiple of TENSOR_DATA_ALIGN_BYTES, and that
 * buffer to move to the worker.
 * NOTE: one buffer, not one per tensor: a frame's tensors are usually a view into a larger buffer
 * (a received message shared with other data), and structured cloning such a view would copy the
 * whole buffer; aligned so the session views the bytes in place (see tensorView).
 */
function copied(tensors: readonly WireTensor[]): { moved: WireTensor[]; transfer: ArrayBuffer[] } {
  const align = (n: number): number => Math.ceil(n / TENSOR_DATA_ALIGN_BYTES) * TENSOR_DATA_ALIGN_BYTES;
  const buffer = new ArrayBuffer(tensors.reduce((sum, t) => sum + align(t.data.byteLength), 0));
  let offset = 0;
  const moved = tensors.map((t) => {
    const data = new Uint8Array(buffer, offset, t.data.byteLength);
    data.set(t.data);
    offset += align(t.data.byteLength);
    return { name: t.name, dtype: t.dtype, dims: [...t.dims], data };
  });
  return { moved, transfer: [buffer] };
}

/**
 * Start a worker thread holding one ONNX Runtime session (one intra-op thread) on `modelBytes`.
 * Resolves once the session is loaded; rejects with the worker's error code (ERR_SESSION) otherwise.
 */
export function openWorkerSession(modelBytes: Uint8Array): Promise<WorkerSession> {
  const worker = new Worker(BOOTSTRAP, { eval: true, workerData: modelBytes });
  const pending = new Map<number, { resolve: (r: WorkerRun) => void; reject: (e: EdgesplitError) => void }>();
  let nextId = 0;
  let exited = false;
  const exitCode = new Promise<number>((resolve) => worker.once('exit', resolve));

  const failAll = (message: string): void => {
    for (const p of pending.values()) p.reject(new EdgesplitError('ERR_INFERENCE_FAILED', message));
    pending.clear();
  };
  const settle = (id: number): { resolve: (r: WorkerRun) => void; reject: (e: EdgesplitError) => void } | undefined => {
    const p = pending.get(id);
    pending.delete(id);
    return p;
  };

  return new Promise((resolve, reject) => {
    worker.on('error', (e) => {
      const message = `the session worker failed: ${e.message}`;
      reject(new EdgesplitError('ERR_SESSION', message, { cause: e }));
      failAll(message);
    });
    worker.on('exit', (code) => {
      exited = true;
      const message = `the session worker exited (code ${code})`;
      reject(new EdgesplitError('ERR_SESSION', message));
      failAll(message);
    });
    // NOTE: messages come from our own worker (worker.ts) in this process, not off the wire.
    worker.on('message', (reply: WorkerReply) => {
      switch (reply.kind) {
        case 'ready': {
          const session: WorkerSession = {
            inputNames: reply.inputNames,
            outputNames: reply.outputNames,
            get alive() {
              return !exited;
            },
            exited: exitCode,
            submit(tensors, deadlineEpochMs, owned = false, resultFrame) {
              const id = nextId++;
              if (exited) return { result: Promise.reject(new EdgesplitError('ERR_INFERENCE_FAILED', 'the session worker has exited')), cancel: () => undefined };
              const { moved, transfer } = owned ? { moved: tensors.map((t) => ({ ...t, dims: [...t.dims] })), transfer: buffersOf(tensors) } : copied(tensors);
              const result = new Promise<WorkerRun>((res, rej) => pending.set(id, { resolve: res, reject: rej }));
              const request: WorkerRequest = { kind: 'run', id, tensors: moved, ...(deadlineEpochMs !== undefined ? { deadlineEpochMs } : {}), ...(resultFrame ? { resultFrame } : {}) };
              worker.postMessage(request, transfer);
              return {
                result,
                cancel: () => {
                  if (!pending.has(id) || exited) return;
                  const cancel: WorkerRequest = { kind: 'cancel', id };
                  worker.postMessage(cancel);
                },
              };
            },
            async run(tensors) {
              return (await this.submit(tensors).result).tensors;
            },
            async close() {
              if (exited) return;
              const request: WorkerRequest = { kind: 'close' };
              worker.postMessage(request);
              await exitCode;
            },
          };
          resolve(session);
          break;
        }
        case 'open-failed':
          reject(new EdgesplitError(reply.code, reply.message));
          void worker.terminate();
          break;
        case 'done':
          settle(reply.id)?.resolve({ tensors: reply.tensors, ...(reply.frame ? { frame: reply.frame } : {}), runMs: reply.runMs, startedAtEpochMs: reply.startedAtEpochMs });
          break;
        case 'failed':
          settle(reply.id)?.reject(new EdgesplitError(reply.code, reply.message));
          break;
        case 'expired':
          settle(reply.id)?.reject(new EdgesplitError('ERR_DEADLINE_EXCEEDED', 'the deadline passed before the session reached the request'));
          break;
        case 'cancelled':
          settle(reply.id)?.reject(new EdgesplitError('ERR_CONNECTION_LOST', 'the request was taken back before it ran'));
          break;
      }
    });
  });
}
