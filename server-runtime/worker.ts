// Entry of one session worker thread: opens an ONNX Runtime session on the server half it is given
// and runs requests posted by server-runtime/worker-session.ts, one at a time.
import { parentPort, workerData } from 'node:worker_threads';
import { EdgesplitError, isEdgesplitError } from '../shared/errors.ts';
import { openOrtSession } from './session.ts';
import type { WorkerReply, WorkerRequest } from './worker-session.ts';

function reply(message: WorkerReply, transfer: ArrayBuffer[] = []): void {
  parentPort?.postMessage(message, transfer);
}

function failure(e: unknown): { code: EdgesplitError['code']; message: string } {
  return isEdgesplitError(e) ? { code: e.code, message: e.message } : { code: 'ERR_INFERENCE_FAILED', message: e instanceof Error ? e.message : String(e) };
}

const modelBytes: unknown = workerData;
if (!(modelBytes instanceof Uint8Array)) throw new EdgesplitError('ERR_INTERNAL', 'a session worker needs the model bytes as workerData');
try {
  const session = await openOrtSession(modelBytes, { intraOpThreads: 1 });
  parentPort?.on('message', (request: WorkerRequest) => {
    if (request.kind === 'close') {
      void session.close().finally(() => parentPort?.close());
      return;
    }
    const t0 = performance.now();
    session.run(request.tensors).then((tensors) => {
      const runMs = performance.now() - t0;
      // Outputs own their buffers unless ONNX Runtime handed out views; copy those so transfer is safe.
      const owned = tensors.map((t) => (t.data.byteOffset === 0 && t.data.byteLength === t.data.buffer.byteLength ? t : { ...t, data: new Uint8Array(t.data) }));
      const transfer = owned.flatMap((t) => (t.data.buffer instanceof ArrayBuffer ? [t.data.buffer] : []));
      reply({ kind: 'done', id: request.id, tensors: owned, runMs }, transfer);
    }, (e: unknown) => reply({ kind: 'failed', id: request.id, ...failure(e) }));
  });
  reply({ kind: 'ready', inputNames: [...session.inputNames], outputNames: [...session.outputNames] });
} catch (e) {
  reply({ kind: 'open-failed', ...failure(e) });
}
