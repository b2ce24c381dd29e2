// A RunSession whose ONNX Runtime session lives in its own worker thread, so that several sessions
// of one server run in parallel while the main thread keeps serving sockets.
import { Worker } from 'node:worker_threads';
import { EdgesplitError, type ErrorCode } from '../shared/errors.ts';
import type { WireTensor } from '../shared/protocol.ts';
import type { RunSession } from './session.ts';

/** Main thread -> worker. */
export type WorkerRequest = { kind: 'run'; id: number; tensors: WireTensor[] } | { kind: 'close' };

/** Worker -> main thread. */
export type WorkerReply =
  | { kind: 'ready'; inputNames: string[]; outputNames: string[] }
  | { kind: 'open-failed'; code: ErrorCode; message: string }
  | { kind: 'done'; id: number; tensors: WireTensor[]; runMs: number }
  | { kind: 'failed'; id: number; code: ErrorCode; message: string };

/** A RunSession in a worker thread; `runTimed` also gives the time the session itself took (ms), without the hand-over between threads. */
export interface WorkerSession extends RunSession {
  runTimed(tensors: readonly WireTensor[]): Promise<{ tensors: WireTensor[]; runMs: number }>;
}

// NOTE: the worker is started from a small ESM bootstrap that registers the TypeScript loader
// first, so it works both under `node --import tsx` and under bin/edgesplit.js (which registers
// tsx in the main thread only).
const TSX_API = import.meta.resolve('tsx/esm/api');
const WORKER_ENTRY = new URL('./worker.ts', import.meta.url).href;
const BOOTSTRAP = `import(${JSON.stringify(TSX_API)}).then((m) => { m.register(); return import(${JSON.stringify(WORKER_ENTRY)}); });`;

/**
 * Start a worker thread holding one ONNX Runtime session (one intra-op thread) on `modelBytes`.
 * Resolves once the session is loaded; rejects with the worker's error code (ERR_SESSION) otherwise.
 */
export function openWorkerSession(modelBytes: Uint8Array): Promise<WorkerSession> {
  const worker = new Worker(BOOTSTRAP, { eval: true, workerData: modelBytes });
  const pending = new Map<number, { resolve: (r: { tensors: WireTensor[]; runMs: number }) => void; reject: (e: EdgesplitError) => void }>();
  let nextId = 0;
  let exited = false;
  let closing = false;

  const failAll = (message: string): void => {
    for (const p of pending.values()) p.reject(new EdgesplitError('ERR_INFERENCE_FAILED', message));
    pending.clear();
  };

  return new Promise((resolve, reject) => {
    worker.on('error', (e) => {
      const message = `the session worker failed: ${e.message}`;
      reject(new EdgesplitError('ERR_SESSION', message, { cause: e }));
      failAll(message);
    });
    worker.on('exit', (code) => {
      exited = true;
      const message = `the session worker exited (code ${code})${closing ? ' while closing' : ''}`;
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
            runTimed(tensors) {
              if (exited) return Promise.reject(new EdgesplitError('ERR_INFERENCE_FAILED', 'the session worker has exited'));
              const id = nextId++;
              // Copy each tensor into its own buffer and move that buffer: the received frame's
              // buffer may hold other data (and structured cloning a view would copy all of it).
              const owned = tensors.map((t) => ({ name: t.name, dtype: t.dtype, dims: [...t.dims], data: new Uint8Array(t.data) }));
              return new Promise((res, rej) => {
                pending.set(id, { resolve: res, reject: rej });
                const request: WorkerRequest = { kind: 'run', id, tensors: owned };
                worker.postMessage(request, owned.map((t) => t.data.buffer));
              });
            },
            async run(tensors) {
              return (await this.runTimed(tensors)).tensors;
            },
            async close() {
              if (exited) return;
              closing = true;
              const gone = new Promise<void>((r) => worker.once('exit', () => r()));
              const request: WorkerRequest = { kind: 'close' };
              worker.postMessage(request);
              await gone;
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
        case 'failed': {
          const p = pending.get(reply.id);
          pending.delete(reply.id);
          if (!p) break;
          if (reply.kind === 'done') p.resolve({ tensors: reply.tensors, runMs: reply.runMs });
          else p.reject(new EdgesplitError(reply.code, reply.message));
          break;
        }
      }
    });
  });
}
