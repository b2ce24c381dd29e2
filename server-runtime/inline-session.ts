// A session that runs on the server's main thread, for `--workers 0`: no hand-over to a worker thread
// and back, so one device waits the least, at the price of a main thread that serves no socket while a
// run is in progress (health checks, metrics and overload answers wait for the run to end).
import { EdgesplitError } from '../shared/errors.ts';
import type { WireTensor } from '../shared/protocol.ts';
import { openOrtSession } from './session.ts';
import { FrameRunner } from './frame-runner.ts';
import type { ResultFrameSpec, WorkerRun, WorkerSession } from './worker-session.ts';

interface Job {
  /** The request's tensors until its run starts. */
  tensors: readonly WireTensor[];
  deadlineEpochMs: number | undefined;
  resultFrame: ResultFrameSpec | undefined;
  resolve: (r: WorkerRun) => void;
  reject: (e: EdgesplitError) => void;
}

/** Milliseconds since the epoch, the clock of deadlines and ResultFrameSpec.acceptedAtEpochMs. */
const epochMs = (): number => performance.timeOrigin + performance.now();

/**
 * Open an ONNX Runtime session (one intra-op thread) on `modelBytes` in this thread, behind the
 * WorkerSession interface: requests run one at a time in the order submitted, and a request not yet
 * started can be taken back or expire, as in a worker. Tensors are never copied or moved (`owned` is moot).
 */
export async function openInlineSession(modelBytes: Uint8Array): Promise<WorkerSession> {
  const session = await openOrtSession(modelBytes, { intraOpThreads: 1 });
  const runner = new FrameRunner(session);
  const waiting: Job[] = [];
  let busy = false;
  let closed = false;
  let exit: (code: number) => void = () => undefined;
  const exited = new Promise<number>((resolve) => (exit = resolve));

  const pump = (): void => {
    if (busy || closed) return;
    const job = waiting.shift();
    if (!job) return;
    const startedAtEpochMs = epochMs();
    const refusal = job.deadlineEpochMs !== undefined && startedAtEpochMs >= job.deadlineEpochMs
      ? new EdgesplitError('ERR_DEADLINE_EXCEEDED', 'the deadline passed before the session reached the request')
      : runner.misfit(job.resultFrame);
    if (refusal) {
      job.reject(refusal);
      pump();
      return;
    }
    busy = true;
    const tensors = job.tensors;
    // The run holds the tensors now; the job (which a taken-back ticket still reaches) lets go of them.
    job.tensors = [];
    runner.run(tensors, job.resultFrame, startedAtEpochMs).then((r) => job.resolve({ ...r, startedAtEpochMs }), (e: unknown) => {
      job.reject(e instanceof EdgesplitError ? e : new EdgesplitError('ERR_INFERENCE_FAILED', e instanceof Error ? e.message : String(e)));
    }).finally(() => {
      busy = false;
      // NOTE: the next request starts on the next turn of the event loop, after the socket events
      // that came in during the run (a device that went away takes its request back first).
      setImmediate(pump);
    });
  };

  const inline: WorkerSession = {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    get alive() {
      return !closed;
    },
    exited,
    submit(tensors, deadlineEpochMs, _owned, resultFrame) {
      if (closed) return { result: Promise.reject(new EdgesplitError('ERR_INFERENCE_FAILED', 'the session is closed')), cancel: () => undefined };
      let job: Job | undefined;
      const result = new Promise<WorkerRun>((resolve, reject) => {
        job = { tensors, deadlineEpochMs, resultFrame, resolve, reject };
      });
      waiting.push(job!);
      pump();
      return {
        result,
        cancel: () => {
          const i = job ? waiting.indexOf(job) : -1;
          if (i < 0) return;
          waiting.splice(i, 1);
          job!.reject(new EdgesplitError('ERR_CONNECTION_LOST', 'the request was taken back before it ran'));
        },
      };
    },
    async run(tensors) {
      return (await this.submit(tensors).result).tensors;
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const job of waiting.splice(0)) job.reject(new EdgesplitError('ERR_INFERENCE_FAILED', 'the session was closed before it ran the request'));
      await session.close();
      exit(0);
    },
  };
  return inline;
}
