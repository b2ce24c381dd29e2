// Bounded concurrency for one plan: N sessions, a bounded FIFO queue in front of them, deadlines
// that expire queued work, and cancellation of work whose device went away.
import { EdgesplitError } from '../shared/errors.ts';
import type { WireTensor } from '../shared/protocol.ts';
import type { WorkerSession, ResultFrameSpec } from './worker-session.ts';

/** Requests a session holds at once: the one it runs and the next one, handed over ahead of time. */
export const SESSION_DEPTH = 2;

/** What a finished request gives back. */
export interface PoolResult {
  /** The outputs in session order; empty when they come as `frame`. */
  tensors: WireTensor[];
  /** The result frame encoded by the session's thread, when submitted with `resultFrame`. */
  frame?: Uint8Array;
  /** Time from `submit` until a session started the request. */
  queueMs: number;
  /** Time the session took to run it. */
  runMs: number;
}

/** Options of one submission. */
export interface SubmitOptions {
  /** `performance.now()` after which work not yet started is answered with ERR_DEADLINE_EXCEEDED instead of run. */
  deadlineAt?: number;
  /** Aborting drops the request if it has not started (the promise rejects with ERR_CONNECTION_LOST); a started one runs to the end. */
  signal?: AbortSignal;
  /** The buffers under the tensors' data belong to this request alone: they are moved to the session thread, not copied (see WorkerSession.submit). */
  owned?: boolean;
  /** Have the session's thread encode the outputs as this request's result frame (PoolResult.frame); its queueMs counts from `submit`. */
  resultFrame?: Omit<ResultFrameSpec, 'acceptedAtEpochMs'>;
}

interface Slot {
  session: WorkerSession;
  /** Requests handed to this session and not yet answered (at most SESSION_DEPTH). */
  assigned: number;
}

interface Entry {
  tensors: readonly WireTensor[];
  owned: boolean;
  resultFrame: Omit<ResultFrameSpec, 'acceptedAtEpochMs'> | undefined;
  enqueuedAt: number;
  deadlineAt: number | undefined;
  settled: boolean;
  resolve: (r: PoolResult) => void;
  reject: (e: EdgesplitError) => void;
  /** Takes the request back from its session, once handed over. */
  cancel: (() => void) | undefined;
  cleanup: () => void;
}

/** Milliseconds since the epoch for a `performance.now()` of this thread, comparable with a worker's. */
const toEpochMs = (now: number): number => performance.timeOrigin + now;

/**
 * Sessions of one plan and the queue in front of them. Capacity is `workers + queueLimit` requests:
 * one running on each session, the rest waiting. A request beyond capacity is refused at once with
 * the retryable ERR_OVERLOADED, so exactly the overflow is refused.
 * NOTE: each session is handed its next request while it still runs the current one
 * (SESSION_DEPTH), so it starts the next run without waiting for a round trip through this thread.
 * A request handed over ahead counts as waiting; its deadline is checked when the session reaches it.
 */
export class SessionPool {
  private readonly slots: Slot[];
  private readonly waiting: Entry[] = [];
  private handedOver = 0;
  private closing = false;

  /**
   * `reopen` makes a replacement for a session whose worker thread exits while the pool is open
   * (requests it held fail with ERR_INFERENCE_FAILED; the others go to the remaining sessions).
   */
  constructor(readonly planId: string, sessions: readonly WorkerSession[], readonly queueLimit: number, private readonly reopen?: () => Promise<WorkerSession>, private readonly log: (line: string) => void = () => undefined) {
    this.slots = sessions.map((session) => ({ session, assigned: 0 }));
    for (const slot of this.slots) this.watch(slot);
  }

  /** Replace the slot's session when its worker exits unexpectedly. */
  private watch(slot: Slot): void {
    const session = slot.session;
    void session.exited.then(async (code) => {
      if (this.closing || slot.session !== session) return;
      this.log(`a session worker of plan '${this.planId}' exited (code ${code})${this.reopen ? '; starting a new one' : ''}`);
      if (!this.reopen) return;
      try {
        slot.session = await this.reopen();
      } catch (e) {
        this.log(`could not restart a session of plan '${this.planId}': ${e instanceof Error ? e.message : String(e)}`);
        return;
      }
      if (this.closing) {
        await slot.session.close();
        return;
      }
      this.watch(slot);
      this.dispatch();
    });
  }

  /** Sessions whose worker thread is running. */
  get liveSessions(): number {
    return this.slots.filter((s) => s.session.alive).length;
  }

  /** Sessions (the most requests that run at once). */
  get workers(): number {
    return this.slots.length;
  }

  /** Requests running now (sessions with work). */
  get inFlight(): number {
    return this.slots.filter((s) => s.assigned > 0).length;
  }

  /** Requests accepted and not yet running. */
  get queueDepth(): number {
    return this.waiting.length + this.handedOver - this.inFlight;
  }

  /** Run tensors on the next free session. Rejects with ERR_OVERLOADED, ERR_DEADLINE_EXCEEDED, ERR_CONNECTION_LOST or ERR_INFERENCE_FAILED. */
  submit(tensors: readonly WireTensor[], options: SubmitOptions = {}): Promise<PoolResult> {
    if (this.waiting.length + this.handedOver >= this.slots.length + this.queueLimit) {
      return Promise.reject(new EdgesplitError('ERR_OVERLOADED',
        `server is overloaded: plan '${this.planId}' has all ${this.slots.length} sessions busy and all ${this.queueLimit} queue slots taken. Retry after a back-off, or start the server with more --workers or a longer --queue.`,
        { retryable: true, details: { workers: this.slots.length, queue: this.queueLimit } }));
    }
    return new Promise<PoolResult>((resolve, reject) => {
      const entry: Entry = {
        tensors, owned: options.owned ?? false, resultFrame: options.resultFrame, enqueuedAt: performance.now(), deadlineAt: options.deadlineAt, settled: false, cancel: undefined, cleanup: () => undefined,
        resolve: (r) => {
          if (entry.settled) return;
          entry.settled = true;
          entry.cleanup();
          resolve(r);
        },
        reject: (e) => {
          if (entry.settled) return;
          entry.settled = true;
          entry.cleanup();
          reject(e);
        },
      };
      let timer: ReturnType<typeof setTimeout> | undefined;
      if (options.deadlineAt !== undefined) {
        timer = setTimeout(() => {
          if (this.removeWaiting(entry)) entry.reject(this.deadlineError(entry));
        }, Math.max(0, options.deadlineAt - performance.now()));
      }
      const signal = options.signal;
      // A request still here is dropped at once; one handed to a session is taken back if it has
      // not started (its ticket then rejects with ERR_CONNECTION_LOST), else it runs to the end.
      const onAbort = (): void => {
        if (this.removeWaiting(entry)) entry.reject(new EdgesplitError('ERR_CONNECTION_LOST', `the device disconnected while its request waited for plan '${this.planId}'; the request was dropped`));
        else entry.cancel?.();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      entry.cleanup = () => {
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      this.waiting.push(entry);
      this.dispatch();
    });
  }

  private removeWaiting(entry: Entry): boolean {
    const i = this.waiting.indexOf(entry);
    if (i < 0) return false;
    this.waiting.splice(i, 1);
    return true;
  }

  private deadlineError(entry: Entry): EdgesplitError {
    const waitedMs = performance.now() - entry.enqueuedAt;
    return new EdgesplitError('ERR_DEADLINE_EXCEEDED', `the request's deadline passed after ${waitedMs.toFixed(1)} ms in the queue of plan '${this.planId}', before a session was free; it was not run. Give a longer deadlineMs or send less work at once.`, { details: { queueMs: waitedMs } });
  }

  /** Hand waiting requests to the least busy sessions with room, oldest first. */
  private dispatch(): void {
    for (;;) {
      const slot = this.slots.reduce<Slot | undefined>((best, s) => (s.session.alive && s.assigned < SESSION_DEPTH && (!best || s.assigned < best.assigned) ? s : best), undefined);
      if (!slot) return;
      const entry = this.waiting.shift();
      if (!entry) return;
      if (entry.deadlineAt !== undefined && performance.now() >= entry.deadlineAt) {
        entry.reject(this.deadlineError(entry));
        continue;
      }
      this.handOver(slot, entry);
    }
  }

  private handOver(slot: Slot, entry: Entry): void {
    slot.assigned++;
    this.handedOver++;
    const ticket = slot.session.submit(entry.tensors, entry.deadlineAt === undefined ? undefined : toEpochMs(entry.deadlineAt), entry.owned,
      entry.resultFrame && { ...entry.resultFrame, acceptedAtEpochMs: toEpochMs(entry.enqueuedAt) });
    entry.cancel = ticket.cancel;
    ticket.result.then((r) => {
      entry.resolve({ tensors: r.tensors, ...(r.frame ? { frame: r.frame } : {}), queueMs: Math.max(0, r.startedAtEpochMs - toEpochMs(entry.enqueuedAt)), runMs: r.runMs });
    }, (e: unknown) => {
      entry.reject(e instanceof EdgesplitError && e.code === 'ERR_DEADLINE_EXCEEDED' ? this.deadlineError(entry) : e instanceof EdgesplitError ? e : new EdgesplitError('ERR_INFERENCE_FAILED', String(e)));
    }).finally(() => {
      slot.assigned--;
      this.handedOver--;
      this.dispatch();
    });
  }

  /** Refuse everything not yet handed to a session with `error` (used when a shutdown's grace period ends). */
  rejectWaiting(error: EdgesplitError): void {
    for (const entry of this.waiting.splice(0)) entry.reject(error);
  }

  /** Close every session; call once no request is pending, so no run is cut short. */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.slots.map((s) => s.session.close()));
  }
}
