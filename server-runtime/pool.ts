// Bounded concurrency for one plan: N sessions, a FIFO queue of bounded length in front of them,
// deadlines that expire queued work, and cancellation of work whose device went away.
import { EdgesplitError } from '../shared/errors.ts';
import type { WireTensor } from '../shared/protocol.ts';
import type { WorkerSession } from './worker-session.ts';

/** What a finished request gives back. */
export interface PoolResult {
  tensors: WireTensor[];
  /** Time from `submit` until a session took the request. */
  queueMs: number;
  /** Time the session took to run it. */
  runMs: number;
}

/** Options of one submission. */
export interface SubmitOptions {
  /** `performance.now()` after which queued work is answered with ERR_DEADLINE_EXCEEDED instead of run. */
  deadlineAt?: number;
  /** Aborting drops the request if it is still queued (the promise rejects with ERR_CONNECTION_LOST). */
  signal?: AbortSignal;
}

interface Waiting {
  tensors: readonly WireTensor[];
  enqueuedAt: number;
  deadlineAt: number | undefined;
  resolve: (r: PoolResult) => void;
  reject: (e: EdgesplitError) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
  detach: () => void;
}

/**
 * Sessions of one plan and the queue in front of them. A request runs at once on an idle session,
 * else waits in the queue; when `queueLimit` requests already wait it is refused at once with the
 * retryable ERR_OVERLOADED, so exactly the overflow is refused.
 */
export class SessionPool {
  private readonly idle: WorkerSession[];
  private readonly waiting: Waiting[] = [];
  private running = 0;

  constructor(readonly planId: string, private readonly sessions: readonly WorkerSession[], readonly queueLimit: number) {
    this.idle = [...sessions];
  }

  /** Sessions (the most requests that run at once). */
  get workers(): number {
    return this.sessions.length;
  }

  /** Requests running now. */
  get inFlight(): number {
    return this.running;
  }

  /** Requests waiting for a session. */
  get queueDepth(): number {
    return this.waiting.length;
  }

  /** Run tensors on the next free session. Rejects with ERR_OVERLOADED, ERR_DEADLINE_EXCEEDED, ERR_CONNECTION_LOST or ERR_INFERENCE_FAILED. */
  submit(tensors: readonly WireTensor[], options: SubmitOptions = {}): Promise<PoolResult> {
    const enqueuedAt = performance.now();
    const session = this.idle.pop();
    if (session) return this.start(session, tensors, enqueuedAt);
    if (this.waiting.length >= this.queueLimit) {
      return Promise.reject(new EdgesplitError('ERR_OVERLOADED',
        `server is overloaded: plan '${this.planId}' has all ${this.sessions.length} sessions busy and all ${this.queueLimit} queue slots taken. Retry after a back-off, or start the server with more --workers or a longer --queue.`,
        { retryable: true, details: { workers: this.sessions.length, queue: this.queueLimit } }));
    }
    return new Promise<PoolResult>((resolve, reject) => {
      const entry: Waiting = { tensors, enqueuedAt, deadlineAt: options.deadlineAt, resolve, reject, timer: undefined, detach: () => undefined };
      const remove = (): boolean => {
        const i = this.waiting.indexOf(entry);
        if (i < 0) return false;
        this.waiting.splice(i, 1);
        entry.detach();
        return true;
      };
      if (options.deadlineAt !== undefined) {
        entry.timer = setTimeout(() => {
          if (remove()) reject(this.deadlineError(entry));
        }, Math.max(0, options.deadlineAt - performance.now()));
      }
      const signal = options.signal;
      if (signal) {
        const onAbort = (): void => {
          if (remove()) reject(new EdgesplitError('ERR_CONNECTION_LOST', `the device disconnected while its request waited for plan '${this.planId}'; the request was dropped`));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        entry.detach = () => {
          if (entry.timer !== undefined) clearTimeout(entry.timer);
          signal.removeEventListener('abort', onAbort);
        };
      } else {
        entry.detach = () => {
          if (entry.timer !== undefined) clearTimeout(entry.timer);
        };
      }
      this.waiting.push(entry);
    });
  }

  private deadlineError(entry: Waiting): EdgesplitError {
    const waitedMs = performance.now() - entry.enqueuedAt;
    return new EdgesplitError('ERR_DEADLINE_EXCEEDED', `the request's deadline passed after ${waitedMs.toFixed(1)} ms in the queue of plan '${this.planId}', before a session was free; it was not run. Give a longer deadlineMs or send less work at once.`, { details: { queueMs: waitedMs } });
  }

  private async start(session: WorkerSession, tensors: readonly WireTensor[], enqueuedAt: number): Promise<PoolResult> {
    this.running++;
    const queueMs = performance.now() - enqueuedAt;
    try {
      const r = await session.runTimed(tensors);
      return { tensors: r.tensors, queueMs, runMs: r.runMs };
    } finally {
      this.running--;
      this.release(session);
    }
  }

  /** A session is free: hand it the oldest waiting request whose deadline has not passed. */
  private release(session: WorkerSession): void {
    let next = this.waiting.shift();
    while (next && next.deadlineAt !== undefined && performance.now() >= next.deadlineAt) {
      next.detach();
      next.reject(this.deadlineError(next));
      next = this.waiting.shift();
    }
    if (!next) {
      this.idle.push(session);
      return;
    }
    next.detach();
    this.start(session, next.tensors, next.enqueuedAt).then(next.resolve, next.reject);
  }

  /** Refuse everything still waiting with `error` (used when a shutdown's grace period ends). */
  rejectWaiting(error: EdgesplitError): void {
    for (const w of this.waiting.splice(0)) {
      w.detach();
      w.reject(error);
    }
  }

  /** Close every session; call once no request is running, so no run is cut short. */
  async close(): Promise<void> {
    await Promise.all(this.sessions.map((s) => s.close()));
  }
}
