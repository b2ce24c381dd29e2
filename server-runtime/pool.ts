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
  /** Whose request this is (a device's connection): dropOwner(owner) drops the owner's requests that have not started. */
  owner?: object;
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
  /** The request's tensors until a session takes them (then empty: see handOver). */
  tensors: readonly WireTensor[];
  owned: boolean;
  resultFrame: Omit<ResultFrameSpec, 'acceptedAtEpochMs'> | undefined;
  enqueuedAt: number;
  deadlineAt: number | undefined;
  settled: boolean;
  /** The submit promise's own resolve and reject: settle through resolveEntry/rejectEntry. */
  resolve: (r: PoolResult) => void;
  reject: (e: EdgesplitError) => void;
  /** Takes the request back from its session, once handed over. */
  cancel: (() => void) | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
  owner: object | undefined;
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
  /** Requests handed to a session and not yet settled. */
  private readonly running = new Set<Entry>();
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
    let resolve: (r: PoolResult) => void = () => undefined;
    let reject: (e: EdgesplitError) => void = () => undefined;
    const promise = new Promise<PoolResult>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const entry: Entry = {
      tensors, owned: options.owned ?? false, resultFrame: options.resultFrame, enqueuedAt: performance.now(), deadlineAt: options.deadlineAt, settled: false,
      resolve, reject, cancel: undefined, timer: undefined, owner: options.owner,
    };
    this.watchDeadline(entry);
    this.waiting.push(entry);
    this.dispatch();
    return promise;
  }

  /**
   * The entry's deadline timer.
   * NOTE: in a method of its own, so that this closure (and the promise's) hold the entry and not the
   * request's tensors, which the entry drops once a session takes them. A closure or entry that lives
   * into old space while its request waits or runs would otherwise keep the received message's
   * buffer from the young-generation collector long after the request is answered, and such
   * buffers pile up until a full collection. For the same reason a device's requests are dropped
   * through dropOwner rather than an AbortSignal listener per request: with either, the server ran
   * about 3 times as many mark-compacts per PP-OCR request as a bare ws server (bench/floor-server.ts).
   */
  private watchDeadline(entry: Entry): void {
    if (entry.deadlineAt === undefined) return;
    entry.timer = setTimeout(() => {
      if (this.removeWaiting(entry)) this.rejectEntry(entry, this.deadlineError(entry));
    }, Math.max(0, entry.deadlineAt - performance.now()));
  }

  /**
   * Drop the requests of `owner` (a device that went away): those still waiting are refused at once
   * with ERR_CONNECTION_LOST; those handed to a session are taken back if it has not started them
   * (they then reject with ERR_CONNECTION_LOST), else they run to the end.
   */
  dropOwner(owner: object): void {
    for (const entry of this.waiting.filter((e) => e.owner === owner)) {
      this.removeWaiting(entry);
      this.rejectEntry(entry, new EdgesplitError('ERR_CONNECTION_LOST', `the device disconnected while its request waited for plan '${this.planId}'; the request was dropped`));
    }
    for (const entry of this.running) if (entry.owner === owner) entry.cancel?.();
  }

  private settleEntry(entry: Entry): boolean {
    if (entry.settled) return false;
    entry.settled = true;
    entry.tensors = [];
    entry.cancel = undefined;
    this.running.delete(entry);
    if (entry.timer !== undefined) clearTimeout(entry.timer);
    return true;
  }

  private resolveEntry(entry: Entry, r: PoolResult): void {
    if (this.settleEntry(entry)) entry.resolve(r);
  }

  private rejectEntry(entry: Entry, e: EdgesplitError): void {
    if (this.settleEntry(entry)) entry.reject(e);
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
        this.rejectEntry(entry, this.deadlineError(entry));
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
    // The session holds the tensors now; the entry lets go of them (see watchDeadline).
    entry.tensors = [];
    entry.cancel = ticket.cancel;
    this.running.add(entry);
    ticket.result.then((r) => {
      this.resolveEntry(entry, { tensors: r.tensors, ...(r.frame ? { frame: r.frame } : {}), queueMs: Math.max(0, r.startedAtEpochMs - toEpochMs(entry.enqueuedAt)), runMs: r.runMs });
    }, (e: unknown) => {
      this.rejectEntry(entry, e instanceof EdgesplitError && e.code === 'ERR_DEADLINE_EXCEEDED' ? this.deadlineError(entry) : e instanceof EdgesplitError ? e : new EdgesplitError('ERR_INFERENCE_FAILED', String(e)));
    }).finally(() => {
      slot.assigned--;
      this.handedOver--;
      this.dispatch();
    });
  }

  /** Refuse everything not yet handed to a session with `error` (used when a shutdown's grace period ends). */
  rejectWaiting(error: EdgesplitError): void {
    for (const entry of this.waiting.splice(0)) this.rejectEntry(entry, error);
  }

  /** Close every session; call once no request is pending, so no run is cut short. */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.slots.map((s) => s.session.close()));
  }
}
