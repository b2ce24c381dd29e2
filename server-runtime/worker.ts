// Entry of one session worker thread: opens an ONNX Runtime session on the server half it is given
// and runs the requests posted by server-runtime/worker-session.ts one at a time, in order.
import { parentPort, workerData } from 'node:worker_threads';
import { EdgesplitError, isEdgesplitError } from '../shared/errors.ts';
import { type TensorShape, type WireTensor, encodeFrame, layoutResultFrame } from '../shared/protocol.ts';
import { openOrtSession } from './session.ts';
import type { WorkerReply, WorkerRequest } from './worker-session.ts';

function reply(message: WorkerReply, transfer: ArrayBuffer[] = []): void {
  parentPort?.postMessage(message, transfer);
}

function failure(e: unknown): { code: EdgesplitError['code']; message: string } {
  return isEdgesplitError(e) ? { code: e.code, message: e.message } : { code: 'ERR_INFERENCE_FAILED', message: e instanceof Error ? e.message : String(e) };
}

/** Whether an output has the dtype and dims the result frame is laid out for. */
function sameShape(t: WireTensor, shape: TensorShape | undefined): boolean {
  return shape !== undefined && t.dtype === shape.dtype && t.dims.length === shape.dims.length && t.dims.every((d, i) => d === shape.dims[i]);
}

/** Milliseconds since the epoch, comparable across threads (each thread has its own performance.now origin). */
const epochMs = (): number => performance.timeOrigin + performance.now();

const modelBytes: unknown = workerData;
if (!(modelBytes instanceof Uint8Array)) throw new EdgesplitError('ERR_INTERNAL', 'a session worker needs the model bytes as workerData');
try {
  const session = await openOrtSession(modelBytes, { intraOpThreads: 1 });
  const waiting: Array<Extract<WorkerRequest, { kind: 'run' }>> = [];
  let busy = false;
  // NOTE: undefined until the first run encoded as a result frame: the model's output shapes may be
  // symbolic, so ONNX Runtime writes into a pre-laid-out frame only once a run has shown that the
  // outputs have the shapes the plan gives (the inputs are checked against the plan's exact shapes).
  let preallocate: boolean | undefined;

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
    const spec = request.resultFrame;
    if (spec && !spec.outputOrder.every((i) => i >= 0 && i < session.outputNames.length)) {
      reply({ kind: 'failed', id: request.id, code: 'ERR_INFERENCE_FAILED', message: `the result frame asks for outputs [${spec.outputOrder.join(', ')}] of a session with ${session.outputNames.length} outputs` });
      pump();
      return;
    }
    busy = true;
    // The result frame laid out before the run, for ONNX Runtime to write the outputs into (once the
    // first run has shown that the outputs have the plan's shapes).
    const layout = spec && preallocate ? layoutResultFrame(spec.requestId, spec.outputs) : undefined;
    const into: Array<WireTensor | undefined> = [];
    if (layout && spec) for (const [k, i] of spec.outputOrder.entries()) into[i] = { ...spec.outputs[k]!, dims: [...spec.outputs[k]!.dims], data: layout.tensorData[k]! };
    const t0 = performance.now();
    session.run(request.tensors, layout ? into : undefined).then((tensors) => {
      const runMs = performance.now() - t0;
      if (layout && spec) {
        layout.setTiming({ queueMs: Math.max(0, startedAtEpochMs - spec.acceptedAtEpochMs), runMs });
        reply({ kind: 'done', id: request.id, tensors: [], frame: layout.bytes, runMs, startedAtEpochMs }, layout.bytes.buffer instanceof ArrayBuffer ? [layout.bytes.buffer] : []);
        return;
      }
      if (spec) {
        // NOTE: the result frame is encoded here, beside the session, not on the main thread that
        // serves every device's socket: the copy of the outputs into the frame runs in parallel
        // with other requests, and the main thread gets one buffer to send instead of the outputs
        // plus a frame of the same size to allocate and fill.
        const outputs = spec.outputOrder.map((i) => tensors[i]!);
        preallocate ??= outputs.every((t, k) => sameShape(t, spec.outputs[k]));
        const frame = encodeFrame({ type: 'result', requestId: spec.requestId, tensors: outputs, timing: { queueMs: Math.max(0, startedAtEpochMs - spec.acceptedAtEpochMs), runMs } });
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
