// Entry of one session worker thread: opens an ONNX Runtime session on the server half it is given
// and runs the requests posted by server-runtime/worker-session.ts one at a time, in order.
import { parentPort, workerData } from 'node:worker_threads';
import { EdgesplitError, isEdgesplitError } from '../shared/errors.ts';
import { openOrtSession } from './session.ts';
import { FrameRunner } from './frame-runner.ts';
import type { WorkerReply, WorkerRequest } from './worker-session.ts';

function reply(message: WorkerReply, transfer: ArrayBuffer[] = []): void {
  parentPort?.postMessage(message, transfer);
}

function failure(e: unknown): { code: EdgesplitError['code']; message: string } {
  return isEdgesplitError(e) ? { code: e.code, message: e.message } : { code: 'ERR_INFERENCE_FAILED', message: e instanceof Error ? e.message : String(e) };
}

/** Milliseconds since the epoch, comparable across threads (each thread has its own performance.now origin). */
const epochMs = (): number => performance.timeOrigin + performance.now();

const modelBytes: unknown = workerData;
if (!(modelBytes instanceof Uint8Array)) throw new EdgesplitError('ERR_INTERNAL', 'a session worker needs the model bytes as workerData');
try {
  const session = await openOrtSession(modelBytes, { intraOpThreads: 1 });
  const waiting: Array<Extract<WorkerRequest, { kind: 'run' }>> = [];
  let busy = false;
  const runner = new FrameRunner(session);

  const pump = (): void => {
    if (busy) return;
    const request = waiting.shift();
    if (!request) return;
    const startedAtEpochMs = epochMs();
    if (request.deadlineEpochMs !== undefined && startedAtEpochMs >= request.deadlineEpochMs) {
      reply({ kind: 'expired', id: request.id });
      pump();
      return;
    }
    const misfit = runner.misfit(request.resultFrame);
    if (misfit) {
      reply({ kind: 'failed', id: request.id, ...failure(misfit) });
      pump();
      return;
    }
    busy = true;
    const inputs = request.tensors;
    // The run holds the tensors now; the request (which the closures below keep) lets go of them, so
    // that they die young (see SessionPool.watchDeadline).
    request.tensors = [];
    runner.run(inputs, request.resultFrame, startedAtEpochMs).then(({ tensors, frame, runMs }) => {
      if (frame) {
        // NOTE: the result frame is made here, beside the session, not on the main thread that serves
        // every device's socket: the main thread gets one buffer to send.
        reply({ kind: 'done', id: request.id, tensors: [], frame, runMs, startedAtEpochMs }, frame.buffer instanceof ArrayBuffer ? [frame.buffer] : []);
        return;
      }
      // Outputs own their buffers unless ONNX Runtime handed out views; copy those so transfer is safe.
      const owned = tensors.map((t) => (t.data.byteOffset === 0 && t.data.byteLength === t.data.buffer.byteLength ? t : { ...t, data: new Uint8Array(t.data) }));
      const transfer = owned.flatMap((t) => (t.data.buffer instanceof ArrayBuffer ? [t.data.buffer] : []));
      reply({ kind: 'done', id: request.id, tensors: owned, runMs, startedAtEpochMs }, transfer);
    }, (e: unknown) => reply({ kind: 'failed', id: request.id, ...failure(e) })).finally(() => {
      busy = false;
      // NOTE: the next request is taken on the next turn of the event loop, after messages that
      // came in during the run: a 'cancel' for it must win over starting it.
      setImmediate(pump);
    });
  };

  parentPort?.on('message', (request: WorkerRequest) => {
    switch (request.kind) {
      case 'run':
        waiting.push(request);
        pump();
        return;
      case 'cancel': {
        const i = waiting.findIndex((r) => r.id === request.id);
        if (i >= 0) {
          waiting.splice(i, 1);
          reply({ kind: 'cancelled', id: request.id });
        }
        return;
      }
      case 'close':
        void session.close().finally(() => parentPort?.close());
    }
  });
  reply({ kind: 'ready', inputNames: [...session.inputNames], outputNames: [...session.outputNames] });
} catch (e) {
  reply({ kind: 'open-failed', ...failure(e) });
}
