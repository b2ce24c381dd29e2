// The device runtime's core, written once for Node and browsers: run the device half, send the crossing
// tensors to the server, match results to requests, reconnect, retry and fall back. No node: modules:
// the edges (index.ts for Node, browser.ts for browsers) hand in the backend, the model bytes and the socket.
import { EdgesplitError, isEdgesplitError, type ErrorCode } from '../shared/errors.ts';
import { type PlanManifest, dimsMatch, maxFrameBytes, validatePlan } from '../shared/plan.ts';
import { type Frame, type ResultFrame, CLOSE_CODES, HELLO_MAX_FRAME_BYTES, PROTOCOL_VERSION, decodeFrame, encodeFrame, errorFromFrame, tensorView, wireTensor } from '../shared/protocol.ts';
import type { DeviceBackend, DeviceSession, DeviceTensor, DeviceTensors } from './backend.ts';
import { type BackoffPolicy, backoffDelayMs, resolveBackoff } from './backoff.ts';
import { type InferInputs, checkInputs } from './tensors.ts';

/** What a socket event carries; browsers and ws fill in different subsets. */
export interface SocketEvent {
  data?: unknown;
  code?: number;
  reason?: string;
  message?: string;
}

/**
 * The part of a WebSocket the core uses. Both the browser's `WebSocket` and ws's `WebSocket`
 * satisfy it as they are.
 * NOTE: the handlers take `never` so that both classes' own event types fit; the core reads events
 * as `SocketEvent` and checks every field it uses.
 */
export interface SocketLike {
  readonly readyState: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  /** ws only: drop the TCP connection at once (a dead peer never answers a close handshake). */
  terminate?(): void;
  onopen: ((event: never) => unknown) | null;
  onmessage: ((event: never) => unknown) | null;
  onclose: ((event: never) => unknown) | null;
  onerror: ((event: never) => unknown) | null;
}

/** Opens a socket to a ws:// or wss:// URL. Browser sockets should use binaryType 'arraybuffer'. */
export type Connect = (url: string) => SocketLike;

const OPEN = 1;

/** How often a request is sent again. */
export interface RetryPolicy {
  /** Times a request in flight when the link drops is sent again after reconnecting (inference is idempotent). Default 1. */
  connectionLost: number;
  /** Times a request refused with a retryable error (ERR_OVERLOADED, ERR_SHUTTING_DOWN) is sent again, after a backoff. Default 3. */
  overloaded: number;
}

export const DEFAULT_RETRY: Readonly<RetryPolicy> = Object.freeze({ connectionLost: 1, overloaded: 3 });

/** Something the runtime did that a caller may log; none of these is an error of a request. */
export type DeviceEvent =
  | { type: 'connected'; url: string; attempt: number; serverVersion: string }
  | { type: 'disconnected'; url: string; code: number; reason: string; inFlight: number }
  | { type: 'reconnect-wait'; url: string; attempt: number; delayMs: number; error: EdgesplitError }
  | { type: 'retry'; requestId: number; code: ErrorCode; delayMs: number }
  | { type: 'fallback'; requestId: number; code: ErrorCode }
  | { type: 'protocol-error'; error: EdgesplitError };

/**
 * The link and request options every edge (Node, browser) passes through to the core unchanged; their
 * meanings and defaults are documented once, on DeviceCoreOptions.
 */
export type LinkOptions = Pick<DeviceCoreOptions, 'server' | 'token' | 'deviceId' | 'fallback' | 'backoff' | 'retry' | 'requestTimeoutMs' | 'deadlineMs' | 'helloTimeoutMs' | 'heartbeatMs' | 'onEvent'>;

/** Options of `DeviceCore.create`. */
export interface DeviceCoreOptions {
  /** plan.json's contents (parsed JSON); validated here with shared/plan.ts. */
  plan: unknown;
  backend: DeviceBackend;
  /** The bytes of the plan's device half (device.onnx); checked against plan.device.sha256. */
  deviceModel: Uint8Array;
  /** The bytes of the plan's server half (server.onnx), for local fallback; checked against plan.server.sha256. */
  serverModel?: Uint8Array;
  /** ws:// or wss:// URL of `edgesplit serve`. */
  server: string;
  connect: Connect;
  /** Bearer token the server requires, sent in the hello. */
  token?: string;
  /** Sent in the hello and shown in the server's logs; default 'device-' and 8 random hex digits. */
  deviceId?: string;
  /** Run the server half locally when the server cannot be reached (needs `serverModel`). Default false. */
  fallback?: boolean;
  backoff?: Partial<BackoffPolicy>;
  retry?: Partial<RetryPolicy>;
  /** A request without a result this long after `infer` was called fails with ERR_DEADLINE_EXCEEDED. Default 30000. */
  requestTimeoutMs?: number;
  /** Sent with each infer frame: the server drops work still queued after this many ms. Default: none. */
  deadlineMs?: number;
  /** No hello-ok this long after the socket opened counts as a failed attempt. Default 5000. */
  helloTimeoutMs?: number;
  /** Ping period while connected; no frame for twice this long drops the link. 0 disables. Default 5000. */
  heartbeatMs?: number;
  /** Random numbers in [0, 1) for jitter; tests pin it. Default Math.random. */
  random?: () => number;
  /** Sees connects, disconnects, waits, retries and fallbacks. */
  onEvent?: (event: DeviceEvent) => void;
}

/** Where one request's time went, in ms. */
export interface InferTiming {
  /** The device half in ONNX Runtime. */
  deviceMs: number;
  /** Building and msgpack-encoding the infer frame. */
  encodeMs: number;
  /** Network plus server: from the (last) send of the infer frame to the result frame's arrival. 0 on fallback. */
  networkMs: number;
  /** Decoding the result frame and checking its tensors. */
  decodeMs: number;
  /** From `infer` being called to its result, including waits for a connection and retries. */
  totalMs: number;
  /** The server's own account (result frame): queue wait and session run. Absent on fallback. */
  serverQueueMs?: number;
  serverRunMs?: number;
  /** The server half run locally, on fallback. */
  fallbackMs?: number;
  /** The server half (an Identity) run locally, for a fully on-device plan. */
  localServerHalfMs?: number;
  /** Times the infer frame was sent (1 without retries; 0 on fallback before any send). */
  attempts: number;
}

/** The plan's predicted latency, beside which the measured timing is shown. */
export type PredictedLatencyMs = NonNullable<PlanManifest['predicted']>['latencyMs'];

/** What `infer` resolves to. */
export interface InferResult {
  requestId: number;
  /** The model's outputs, as plan.server.outputs lists them. */
  outputs: DeviceTensors;
  timing: InferTiming;
  /** True when the server half ran on this device because the server could not be reached. */
  fallback: boolean;
  /** True when no server took part: a fully on-device plan (split.fullyOnDevice), or a fallback. */
  local: boolean;
  /** With `fallback`: the error that made the runtime fall back. */
  fallbackCode?: ErrorCode;
  /** plan.predicted.latencyMs, when the plan holds a prediction. */
  predicted?: PredictedLatencyMs;
}

interface Pending {
  id: number;
  bytes: Uint8Array;
  crossing: DeviceTensors;
  startedAt: number;
  deviceMs: number;
  encodeMs: number;
  sentAt: number;
  sent: boolean;
  attempts: number;
  lostRetries: number;
  overloadRetries: number;
  timer: ReturnType<typeof setTimeout>;
  retryTimer: ReturnType<typeof setTimeout> | undefined;
  resolve(result: InferResult): void;
  reject(error: EdgesplitError): void;
}

/** Node's TLS errors for a certificate the client does not trust (self-signed, unknown issuer, wrong host). */
const TLS_TRUST_ERROR = /self[- ]signed certificate|unable to verify the first certificate|unable to get local issuer certificate|certificate has expired|Hostname\/IP does not match certificate/i;

const FALLBACK_CODES: ReadonlySet<ErrorCode> = new Set(['ERR_SERVER_UNREACHABLE', 'ERR_CONNECTION_LOST']);

const now = (): number => performance.now();

function hex(bytes: ArrayBuffer): string {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Lower-case hex sha256 of `bytes` with WebCrypto (Node 20 and browsers in a secure context). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) {
    throw new EdgesplitError('ERR_PLAN_HASH', 'cannot check the sha256 of the plan files: crypto.subtle is unavailable (a browser page outside a secure context). Serve the page over https or from localhost.');
  }
  const view: Uint8Array<ArrayBuffer> = bytes.buffer instanceof ArrayBuffer ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : new Uint8Array(bytes);
  return hex(await subtle.digest('SHA-256', view));
}

/** Check a model file's bytes against the sha256 its plan records; ERR_PLAN_HASH says which file and what to do. */
export async function checkSha256(bytes: Uint8Array, expected: string, file: string): Promise<void> {
  const got = await sha256Hex(bytes);
  if (got !== expected) {
    throw new EdgesplitError('ERR_PLAN_HASH', `${file} has sha256 ${got}, but plan.json expects ${expected}. The file does not belong to this plan: copy the whole plan directory again or re-run 'edgesplit plan'.`, { details: { file, expected, got } });
  }
}

function randomId(random: () => number): string {
  return 'device-' + Array.from({ length: 8 }, () => Math.floor(random() * 16).toString(16)).join('');
}

function checkCount(name: string, v: number, min: number): void {
  if (!(Number.isInteger(v) && v >= min)) throw new EdgesplitError('ERR_USAGE', `'${name}' must be an integer >= ${min}, got ${v}.`, { details: { [name]: v } });
}

function toBytes(data: unknown): Uint8Array | undefined {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return undefined;
}

/** The fields of a socket event the core reads, each checked (browsers and ws fill in different ones). */
function asEvent(event: unknown): SocketEvent {
  const out: SocketEvent = {};
  if (typeof event !== 'object' || event === null) return out;
  if ('data' in event) out.data = event.data;
  if ('code' in event && typeof event.code === 'number') out.code = event.code;
  if ('reason' in event && typeof event.reason === 'string') out.reason = event.reason;
  if ('message' in event && typeof event.message === 'string') out.message = event.message;
  return out;
}

/**
 * One device's connection to one server for one plan. Requests are matched by requestId, so any
 * number may be in flight; see docs/device.md for the reconnect, retry and fallback rules.
 */
export class DeviceCore {
  readonly plan: PlanManifest;
  readonly backendName: string;
  readonly deviceId: string;
  private readonly server: string;
  private readonly connectSocket: Connect;
  private readonly token: string | undefined;
  private readonly backoff: BackoffPolicy;
  private readonly retry: RetryPolicy;
  private readonly requestTimeoutMs: number;
  private readonly deadlineMs: number | undefined;
  private readonly helloTimeoutMs: number;
  private readonly heartbeatMs: number;
  private readonly random: () => number;
  private readonly onEvent: (event: DeviceEvent) => void;
  private readonly maxFrameBytes: number;
  private readonly pending = new Map<number, Pending>();
  private readonly sleepers = new Set<() => void>();
  private socket: SocketLike | null = null;
  private connecting: Promise<void> | null = null;
  private unreachable: { until: number; error: EdgesplitError } | null = null;
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private lastHeardAt = 0;
  private nextId = 1;
  private closed = false;

  private constructor(
    plan: PlanManifest,
    private readonly deviceSession: DeviceSession,
    private readonly serverSession: DeviceSession | undefined,
    backendName: string,
    options: DeviceCoreOptions,
  ) {
    this.plan = plan;
    this.backendName = backendName;
    this.server = options.server;
    this.connectSocket = options.connect;
    this.token = options.token;
    this.backoff = resolveBackoff(options.backoff);
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30000;
    this.deadlineMs = options.deadlineMs;
    this.helloTimeoutMs = options.helloTimeoutMs ?? 5000;
    this.heartbeatMs = options.heartbeatMs ?? 5000;
    this.random = options.random ?? Math.random;
    this.onEvent = options.onEvent ?? (() => undefined);
    this.deviceId = options.deviceId ?? randomId(this.random);
    this.maxFrameBytes = maxFrameBytes(plan);
  }

  /**
   * Validate the plan, check the model files' sha256 (ERR_PLAN_HASH), load the device half (and, for
   * fallback, the server half) and check their inputs and outputs against the plan. Does not connect:
   * the first `infer` (or `connect`) does.
   */
  static async create(options: DeviceCoreOptions): Promise<DeviceCore> {
    const plan = validatePlan(options.plan);
    if (!/^wss?:\/\/./.test(options.server)) {
      throw new EdgesplitError('ERR_USAGE', `'server' must be a ws:// or wss:// URL such as ws://127.0.0.1:8765, got '${options.server}'.`, { details: { server: options.server } });
    }
    const retry = { ...DEFAULT_RETRY, ...options.retry };
    checkCount('retry.connectionLost', retry.connectionLost, 0);
    checkCount('retry.overloaded', retry.overloaded, 0);
    for (const [name, v, min] of [['requestTimeoutMs', options.requestTimeoutMs, 1], ['helloTimeoutMs', options.helloTimeoutMs, 1], ['heartbeatMs', options.heartbeatMs, 0], ['deadlineMs', options.deadlineMs, 1]] as const) {
      if (v !== undefined && !(Number.isFinite(v) && v >= min)) throw new EdgesplitError('ERR_USAGE', `'${name}' must be a number >= ${min} (ms), got ${v}.`, { details: { [name]: v } });
    }
    resolveBackoff(options.backoff);
    const local = plan.split.fullyOnDevice === true;
    if ((options.fallback || local) && !options.serverModel) {
      throw new EdgesplitError('ERR_USAGE', local
        ? `plan '${plan.planId}' runs fully on the device, which needs its server half (${plan.server.file}, an Identity that names the outputs) on the device. Copy it into the plan directory.`
        : `fallback needs the plan's server half (${plan.server.file}) on the device. Copy it into the plan directory, or turn fallback off.`, { details: { file: plan.server.file } });
    }
    await checkSha256(options.deviceModel, plan.device.sha256, plan.device.file);
    if ((options.fallback || local) && options.serverModel) await checkSha256(options.serverModel, plan.server.sha256, plan.server.file);
    const deviceSession = await options.backend.createSession(options.deviceModel);
    let serverSession: DeviceSession | undefined;
    try {
      checkSessionAgainstPlan(plan, deviceSession);
      if ((options.fallback || local) && options.serverModel) {
        serverSession = await options.backend.createSession(options.serverModel);
        const missing = plan.split.crossing.map((c) => c.name).filter((n) => !serverSession!.inputNames.includes(n));
        const missingOut = plan.server.outputs.map((o) => o.name).filter((n) => !serverSession!.outputNames.includes(n));
        if (missing.length > 0 || missingOut.length > 0) {
          throw new EdgesplitError('ERR_PLAN_INVALID', `${plan.server.file} does not fit plan '${plan.planId}': inputs ${JSON.stringify(serverSession.inputNames)}, outputs ${JSON.stringify(serverSession.outputNames)}; the plan expects inputs ${JSON.stringify(plan.split.crossing.map((c) => c.name))} and outputs ${JSON.stringify(plan.server.outputs.map((o) => o.name))}. Re-run 'edgesplit plan'.`);
        }
      }
    } catch (e) {
      await deviceSession.release();
      await serverSession?.release();
      throw e;
    }
    return new DeviceCore(plan, deviceSession, serverSession, options.backend.name, options);
  }

  /** Whether a hello-accepted connection is open now. */
  get connected(): boolean {
    return this.socket !== null;
  }

  /** Requests waiting for a result. */
  get inFlight(): number {
    return this.pending.size;
  }

  /**
   * Connect now (infer connects on its own): resolves once the server accepted the hello. Rejects with
   * the server's refusal (ERR_HASH_MISMATCH, ERR_UNAUTHORIZED, ERR_UNKNOWN_PLAN, ERR_PROTOCOL_VERSION)
   * or ERR_SERVER_UNREACHABLE after the backoff's attempts.
   */
  connect(): Promise<void> {
    // NOTE: a fully on-device plan has nothing to send; it never connects.
    if (this.plan.split.fullyOnDevice) return Promise.resolve();
    return this.ensureConnected();
  }

  /**
   * Run one inference: the device half here, the server half on the server (or here, on fallback).
   * Rejects with an EdgesplitError: the input errors of `checkInputs`, the server's error codes,
   * ERR_CONNECTION_LOST, ERR_SERVER_UNREACHABLE, ERR_DEADLINE_EXCEEDED. Never resolves twice or drops a request silently.
   */
  async infer(inputs: InferInputs): Promise<InferResult> {
    if (this.closed) throw closedError();
    const startedAt = now();
    const feeds = checkInputs(this.plan.device.inputs, inputs);
    const headOut = this.deviceSession.outputNames.length > 0 ? await this.deviceSession.run(feeds) : {};
    const deviceMs = now() - startedAt;
    const crossing = this.crossingTensors(feeds, headOut);
    if (this.plan.split.fullyOnDevice && this.serverSession) {
      const { outputs, ms } = await this.runServerHalfLocally(crossing, this.serverSession);
      return {
        requestId: this.nextId++, outputs, fallback: false, local: true,
        timing: { deviceMs, encodeMs: 0, networkMs: 0, decodeMs: 0, totalMs: now() - startedAt, localServerHalfMs: ms, attempts: 0 },
        ...(this.plan.predicted ? { predicted: this.plan.predicted.latencyMs } : {}),
      };
    }
    const encodeStart = now();
    const id = this.nextId++;
    const bytes = encodeFrame({
      type: 'infer', requestId: id,
      tensors: Object.entries(crossing).map(([name, t]) => wireTensor(name, t.dtype, t.dims, t.data)),
      ...(this.deadlineMs !== undefined ? { deadlineMs: this.deadlineMs } : {}),
      sentAt: Date.now(),
    });
    const encodeMs = now() - encodeStart;
    if (this.closed) throw closedError();
    return new Promise<InferResult>((resolve, reject) => {
      const p: Pending = {
        id, bytes, crossing, startedAt, deviceMs, encodeMs, sentAt: 0, sent: false, attempts: 0, lostRetries: 0, overloadRetries: 0, retryTimer: undefined,
        timer: setTimeout(() => this.settle(p, new EdgesplitError('ERR_DEADLINE_EXCEEDED', `no result for request ${id} within ${this.requestTimeoutMs} ms (sent ${p.attempts} time${p.attempts === 1 ? '' : 's'}, ${this.socket ? 'connected' : 'not connected'} to ${this.server}). Check the server's load and the link, or raise requestTimeoutMs.`, { details: { requestId: id, timeoutMs: this.requestTimeoutMs } })), this.requestTimeoutMs),
        resolve, reject,
      };
      this.pending.set(id, p);
      this.dispatch(p);
    });
  }

  /**
   * Close the connection (code 1000) and release the sessions. Requests still in flight fail with
   * ERR_CONNECTION_LOST saying the runtime was closed. Safe to call twice.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const wake of this.sleepers) wake();
    this.sleepers.clear();
    for (const p of [...this.pending.values()]) this.settle(p, closedError());
    const socket = this.socket;
    this.detach();
    if (socket) await closeSocket(socket, CLOSE_CODES.NORMAL, 'device closing');
    if (this.connecting) await this.connecting.catch(() => undefined);
    await this.deviceSession.release();
    await this.serverSession?.release();
  }

  private crossingTensors(feeds: DeviceTensors, headOut: DeviceTensors): DeviceTensors {
    const crossing: DeviceTensors = {};
    for (const spec of this.plan.split.crossing) {
      const t = headOut[spec.name] ?? feeds[spec.name];
      if (!t || t.dtype !== spec.dtype || !dimsMatch(spec.dims, t.dims)) {
        const got = t ? `${t.dtype} [${t.dims.join(',')}]` : 'nothing';
        throw new EdgesplitError('ERR_PLAN_INVALID', `the device half produced ${got} for crossing tensor '${spec.name}', but plan.json says ${spec.dtype} [${spec.dims.join(',')}]. The plan and ${this.plan.device.file} do not match: re-run 'edgesplit plan'.`, { details: { tensor: spec.name } });
      }
      crossing[spec.name] = t;
    }
    return crossing;
  }

  /** Send `p` now if connected, else connect first. */
  private dispatch(p: Pending): void {
    if (this.socket) {
      this.send(p);
      return;
    }
    this.ensureConnected().then(() => this.flush(), (e: unknown) => this.connectFailed(e));
  }

  private send(p: Pending): void {
    const socket = this.socket;
    if (!socket || socket.readyState !== OPEN || !this.pending.has(p.id)) return;
    p.sent = true;
    p.attempts++;
    p.sentAt = now();
    socket.send(p.bytes);
  }

  /** Send every request that waits for the link (not those waiting out an overload backoff). */
  private flush(): void {
    for (const p of this.pending.values()) if (!p.sent && p.retryTimer === undefined) this.send(p);
  }

  private connectFailed(e: unknown): void {
    const error = isEdgesplitError(e) ? e : new EdgesplitError('ERR_INTERNAL', `connecting failed: ${String(e)}`, { cause: e });
    for (const p of [...this.pending.values()]) if (!p.sent && p.retryTimer === undefined) this.fail(p, error);
  }

  /** Settle `p` with an error, or run it locally when fallback is on and the server is out of reach. */
  private fail(p: Pending, error: EdgesplitError): void {
    if (!this.pending.has(p.id)) return;
    if (this.serverSession && FALLBACK_CODES.has(error.code)) {
      this.pending.delete(p.id);
      clearTimeout(p.timer);
      if (p.retryTimer !== undefined) clearTimeout(p.retryTimer);
      this.onEvent({ type: 'fallback', requestId: p.id, code: error.code });
      this.runFallback(p, error.code, this.serverSession).then(p.resolve, (e: unknown) => p.reject(isEdgesplitError(e) ? e : new EdgesplitError('ERR_INTERNAL', String(e), { cause: e })));
      return;
    }
    this.settle(p, error);
  }

  /** Run the server half on this device (fallback, or a fully on-device plan): the plan's outputs and the time taken. */
  private async runServerHalfLocally(crossing: DeviceTensors, session: DeviceSession): Promise<{ outputs: DeviceTensors; ms: number }> {
    const t0 = now();
    const out = await session.run(crossing);
    const ms = now() - t0;
    const outputs: DeviceTensors = {};
    for (const spec of this.plan.server.outputs) {
      const t = out[spec.name];
      if (!t) throw new EdgesplitError('ERR_TENSOR_NAME', `the local server half gave no output '${spec.name}'; got ${Object.keys(out).join(', ')}. Re-run 'edgesplit plan'.`);
      outputs[spec.name] = t;
    }
    return { outputs, ms };
  }

  private async runFallback(p: Pending, code: ErrorCode, session: DeviceSession): Promise<InferResult> {
    const { outputs, ms: fallbackMs } = await this.runServerHalfLocally(p.crossing, session);
    return {
      requestId: p.id, outputs, fallback: true, fallbackCode: code, local: true,
      timing: { deviceMs: p.deviceMs, encodeMs: p.encodeMs, networkMs: 0, decodeMs: 0, totalMs: now() - p.startedAt, fallbackMs, attempts: p.attempts },
      ...(this.plan.predicted ? { predicted: this.plan.predicted.latencyMs } : {}),
    };
  }

  /** Remove `p` and settle it, exactly once. */
  private settle(p: Pending, outcome: EdgesplitError | InferResult): void {
    if (this.pending.get(p.id) !== p) return;
    this.pending.delete(p.id);
    clearTimeout(p.timer);
    if (p.retryTimer !== undefined) clearTimeout(p.retryTimer);
    if (outcome instanceof EdgesplitError) p.reject(outcome);
    else p.resolve(outcome);
  }

  private ensureConnected(): Promise<void> {
    if (this.closed) return Promise.reject(closedError());
    if (this.socket) return Promise.resolve();
    if (this.connecting) return this.connecting;
    if (this.unreachable && now() < this.unreachable.until) return Promise.reject(this.unreachable.error);
    this.connecting = this.connectLoop().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async connectLoop(): Promise<void> {
    const started = now();
    let last: EdgesplitError | undefined;
    for (let attempt = 0; attempt < this.backoff.maxAttempts; attempt++) {
      if (attempt > 0 && last) {
        const delayMs = backoffDelayMs(this.backoff, attempt - 1, this.random);
        this.onEvent({ type: 'reconnect-wait', url: this.server, attempt, delayMs, error: last });
        await this.sleep(delayMs);
      }
      if (this.closed) throw closedError();
      try {
        const { socket, serverVersion } = await this.openOnce();
        if (this.closed) {
          await closeSocket(socket, CLOSE_CODES.NORMAL, 'device closing');
          throw closedError();
        }
        this.attach(socket);
        this.unreachable = null;
        this.onEvent({ type: 'connected', url: this.server, attempt, serverVersion });
        return;
      } catch (e) {
        if (!isEdgesplitError(e) || !e.retryable || this.closed) throw e;
        last = e;
      }
    }
    const error = new EdgesplitError('ERR_SERVER_UNREACHABLE',
      `could not reach ${this.server} in ${this.backoff.maxAttempts} attempt${this.backoff.maxAttempts === 1 ? '' : 's'} over ${Math.round(now() - started)} ms (last: ${last?.message ?? 'no attempt'}). Check that 'edgesplit serve' runs there and the address is right${this.serverSession ? '' : ', or enable fallback to run the plan on this device'}.`,
      { retryable: true, details: { server: this.server, attempts: this.backoff.maxAttempts } });
    // NOTE: for capMs after giving up, new requests fail (or fall back) at once instead of each
    // waiting out a whole backoff of their own against a server that is down.
    this.unreachable = { until: now() + this.backoff.capMs, error };
    throw error;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.sleepers.add(wake);
    });
  }

  /** One connection attempt: open, hello, hello-ok. Retryable errors for what a retry may fix. */
  private openOnce(): Promise<{ socket: SocketLike; serverVersion: string }> {
    return new Promise((resolve, reject) => {
      let socket: SocketLike;
      try {
        socket = this.connectSocket(this.server);
      } catch (cause) {
        reject(new EdgesplitError('ERR_USAGE', `cannot open a WebSocket to '${this.server}': ${(cause as Error).message}. Pass a ws:// or wss:// URL.`, { cause }));
        return;
      }
      let settled = false;
      let errorText: string | undefined;
      const finish = (outcome: EdgesplitError | { socket: SocketLike; serverVersion: string }): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (outcome instanceof EdgesplitError) {
          socket.onopen = socket.onmessage = null;
          closeSocket(socket, CLOSE_CODES.NORMAL, 'hello failed').catch(() => undefined);
          reject(outcome);
        } else {
          resolve(outcome);
        }
      };
      const timer = setTimeout(() => finish(new EdgesplitError('ERR_SERVER_UNREACHABLE', `${this.server} did not accept the hello within ${this.helloTimeoutMs} ms`, { retryable: true })), this.helloTimeoutMs);
      socket.onopen = () => {
        socket.send(encodeFrame({ type: 'hello', protocolVersion: PROTOCOL_VERSION, deviceId: this.deviceId, planId: this.plan.planId, serverSha256: this.plan.server.sha256, ...(this.token !== undefined ? { token: this.token } : {}) }));
      };
      socket.onerror = (event: SocketEvent) => {
        errorText = asEvent(event).message ?? errorText;
      };
      socket.onclose = (event: SocketEvent) => {
        const { code, reason } = asEvent(event);
        const why = errorText ?? `the connection closed with code ${code ?? 'unknown'}${reason ? ` (${reason})` : ''} before the hello was accepted`;
        // NOTE: an untrusted TLS certificate will not become trusted by retrying, so it ends the attempts.
        if (errorText !== undefined && TLS_TRUST_ERROR.test(errorText)) {
          finish(new EdgesplitError('ERR_SERVER_UNREACHABLE', `${this.server}: ${errorText}. The server's TLS certificate is not trusted: give the device its certificate (option ca, PEM) or use a certificate from a trusted authority.`, { details: { code, reason } }));
          return;
        }
        finish(new EdgesplitError('ERR_SERVER_UNREACHABLE', `${this.server}: ${why}`, { retryable: code !== CLOSE_CODES.POLICY_VIOLATION, details: { code, reason } }));
      };
      socket.onmessage = (event: SocketEvent) => {
        const bytes = toBytes(asEvent(event).data);
        let frame: Frame;
        try {
          if (!bytes) throw new EdgesplitError('ERR_FRAME_MALFORMED', 'the server sent a text frame; edgesplit frames are binary msgpack');
          frame = decodeFrame(bytes, { maxFrameBytes: HELLO_MAX_FRAME_BYTES });
        } catch (e) {
          finish(isEdgesplitError(e) ? e : new EdgesplitError('ERR_FRAME_MALFORMED', String(e)));
          return;
        }
        if (frame.type === 'hello-ok') {
          if (frame.planId !== this.plan.planId || frame.protocolVersion !== PROTOCOL_VERSION) {
            finish(new EdgesplitError('ERR_PROTOCOL_VERSION', `the server answered for plan '${frame.planId}' protocol ${frame.protocolVersion}; expected plan '${this.plan.planId}' protocol ${PROTOCOL_VERSION}. Run matching edgesplit versions on both sides.`));
            return;
          }
          finish({ socket, serverVersion: frame.serverVersion });
        } else if (frame.type === 'error') {
          finish(errorFromFrame(frame));
        } else if (frame.type === 'ping') {
          socket.send(encodeFrame({ type: 'pong', t: frame.t }));
        } else {
          finish(new EdgesplitError('ERR_FRAME_MALFORMED', `the server sent a ${frame.type} frame before hello-ok. Run matching edgesplit versions on both sides.`));
        }
      };
    });
  }

  /** Make `socket` the connection: route its frames, watch it with a heartbeat. */
  private attach(socket: SocketLike): void {
    this.socket = socket;
    this.lastHeardAt = now();
    socket.onopen = null;
    socket.onerror = () => undefined;
    socket.onmessage = (event: SocketEvent) => this.onMessage(socket, asEvent(event).data);
    socket.onclose = (event: SocketEvent) => {
      const { code, reason } = asEvent(event);
      this.linkLost(socket, code ?? 1006, reason ?? '');
    };
    if (this.heartbeatMs > 0) {
      this.heartbeat = setInterval(() => {
        if (now() - this.lastHeardAt > 2 * this.heartbeatMs) {
          this.dropLink(socket, `no frame from the server for ${2 * this.heartbeatMs} ms`);
          return;
        }
        if (socket.readyState === OPEN) socket.send(encodeFrame({ type: 'ping', t: Date.now() }));
      }, this.heartbeatMs);
      (this.heartbeat as { unref?: () => void }).unref?.();
    }
  }

  private detach(): void {
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onmessage = null;
      socket.onclose = null;
      socket.onerror = () => undefined;
    }
  }

  /** Give up on a link that is open but dead (heartbeat) or broken (malformed frames). */
  private dropLink(socket: SocketLike, reason: string): void {
    if (socket.terminate) socket.terminate();
    else socket.close(4000, reason.slice(0, 120));
    this.linkLost(socket, 4000, reason);
  }

  /** The link closed: requests in flight are sent again on reconnect (once, by default) or fail. */
  private linkLost(socket: SocketLike, code: number, reason: string): void {
    if (this.socket !== socket) return;
    this.detach();
    this.onEvent({ type: 'disconnected', url: this.server, code, reason, inFlight: this.pending.size });
    if (this.closed) return;
    for (const p of [...this.pending.values()]) {
      if (!p.sent) continue;
      p.sent = false;
      if (p.lostRetries < this.retry.connectionLost) {
        p.lostRetries++;
      } else {
        this.fail(p, new EdgesplitError('ERR_CONNECTION_LOST', `the connection to ${this.server} closed (code ${code}${reason ? `, ${reason}` : ''}) while request ${p.id} was in flight, and it was already sent ${p.attempts} time${p.attempts === 1 ? '' : 's'}. Send it again when the server is back.`, { retryable: true, details: { requestId: p.id, code } }));
      }
    }
    if (this.pending.size > 0) this.ensureConnected().then(() => this.flush(), (e: unknown) => this.connectFailed(e));
  }

  private onMessage(socket: SocketLike, data: unknown): void {
    this.lastHeardAt = now();
    const decodeStart = now();
    const bytes = toBytes(data);
    let frame: Frame;
    try {
      if (!bytes) throw new EdgesplitError('ERR_FRAME_MALFORMED', 'the server sent a text frame; edgesplit frames are binary msgpack. Run matching edgesplit versions on both sides.');
      frame = decodeFrame(bytes, { maxFrameBytes: this.maxFrameBytes });
    } catch (e) {
      const error = isEdgesplitError(e) ? e : new EdgesplitError('ERR_FRAME_MALFORMED', String(e));
      const requestId = error.details?.requestId;
      const p = typeof requestId === 'number' ? this.pending.get(requestId) : undefined;
      if (p) {
        this.settle(p, error);
      } else {
        this.onEvent({ type: 'protocol-error', error });
        this.dropLink(socket, `malformed frame from the server: ${error.code}`);
      }
      return;
    }
    const decodeMs = now() - decodeStart;
    switch (frame.type) {
      case 'result':
        this.onResult(frame, decodeMs, bytes !== undefined && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength);
        return;
      case 'error': {
        const p = frame.requestId === undefined ? undefined : this.pending.get(frame.requestId);
        if (!p) {
          this.onEvent({ type: 'protocol-error', error: errorFromFrame(frame) });
          return;
        }
        this.onRequestError(p, errorFromFrame(frame));
        return;
      }
      case 'ping':
        if (socket.readyState === OPEN) socket.send(encodeFrame({ type: 'pong', t: frame.t }));
        return;
      case 'pong':
        return;
      default:
        this.onEvent({ type: 'protocol-error', error: new EdgesplitError('ERR_FRAME_MALFORMED', `unexpected ${frame.type} frame from the server after hello-ok`) });
    }
  }

  private onRequestError(p: Pending, error: EdgesplitError): void {
    p.sent = false;
    if (error.retryable && p.overloadRetries < this.retry.overloaded) {
      const delayMs = backoffDelayMs(this.backoff, p.overloadRetries, this.random);
      p.overloadRetries++;
      this.onEvent({ type: 'retry', requestId: p.id, code: error.code, delayMs });
      p.retryTimer = setTimeout(() => {
        p.retryTimer = undefined;
        this.dispatch(p);
      }, delayMs);
      return;
    }
    const message = error.retryable ? `${error.message} (still refused after ${p.overloadRetries} retr${p.overloadRetries === 1 ? 'y' : 'ies'}; send fewer requests at once or add server workers)` : error.message;
    this.settle(p, new EdgesplitError(error.code, message, { retryable: error.retryable, details: { ...error.details, requestId: p.id, retries: p.overloadRetries } }));
  }

  /** `ownsBuffer`: the frame's bytes are the whole of their ArrayBuffer, which no one else holds. */
  private onResult(frame: ResultFrame, frameDecodeMs: number, ownsBuffer: boolean): void {
    const receivedAt = now();
    const p = this.pending.get(frame.requestId);
    if (!p) return;
    const outputs: DeviceTensors = {};
    const problems: string[] = [];
    for (const spec of this.plan.server.outputs) {
      const t = frame.tensors.find((w) => w.name === spec.name);
      if (!t) problems.push(`no tensor '${spec.name}'`);
      else if (t.dtype !== spec.dtype || !dimsMatch(spec.dims, t.dims)) problems.push(`'${spec.name}' is ${t.dtype} [${t.dims.join(',')}], expected ${spec.dtype} [${spec.dims.join(',')}]`);
      else {
        // NOTE: a message that is its whole buffer belongs to this frame alone (ws concatenates a large
        // message into a buffer of its own, a browser hands over an ArrayBuffer), so the outputs are
        // views into it, aligned by the protocol. Otherwise (a small message in a buffer the socket
        // shares) they are copied, so that callers own them; `new Uint8Array(view)` copies, where a
        // Node Buffer's slice() would not.
        const data = tensorView({ dtype: t.dtype, data: ownsBuffer ? t.data : new Uint8Array(t.data) });
        outputs[spec.name] = { dtype: t.dtype, dims: t.dims, data } satisfies DeviceTensor;
      }
    }
    if (problems.length > 0) {
      this.settle(p, new EdgesplitError('ERR_TENSOR_NAME', `the result of request ${p.id} does not fit plan '${this.plan.planId}': ${problems.join('; ')}. Serve the same plan directory as the device holds.`, { details: { requestId: p.id, problems } }));
      return;
    }
    const decodeMs = frameDecodeMs + (now() - receivedAt);
    this.settle(p, {
      requestId: p.id, outputs, fallback: false, local: false,
      timing: {
        deviceMs: p.deviceMs, encodeMs: p.encodeMs, networkMs: receivedAt - frameDecodeMs - p.sentAt, decodeMs, totalMs: now() - p.startedAt,
        serverQueueMs: frame.timing.queueMs, serverRunMs: frame.timing.runMs, attempts: p.attempts,
      },
      ...(this.plan.predicted ? { predicted: this.plan.predicted.latencyMs } : {}),
    });
  }
}

function closedError(): EdgesplitError {
  return new EdgesplitError('ERR_CONNECTION_LOST', 'the device runtime was closed while the request was in flight (or before it was sent). Open a new runtime to send more requests.');
}

/** Close a socket and wait (at most 1 s) for the close to finish; then drop it. */
function closeSocket(socket: SocketLike, code: number, reason: string): Promise<void> {
  return new Promise((resolve) => {
    if (socket.readyState === 3) {
      resolve();
      return;
    }
    const timer = setTimeout(() => {
      socket.terminate?.();
      resolve();
    }, 1000);
    socket.onclose = () => {
      clearTimeout(timer);
      resolve();
    };
    socket.onerror = () => undefined;
    try {
      socket.close(code, reason);
    } catch {
      clearTimeout(timer);
      socket.terminate?.();
      resolve();
    }
  });
}

/** Check that a device session's inputs and outputs are the plan's. */
function checkSessionAgainstPlan(plan: PlanManifest, session: DeviceSession): void {
  const want = plan.device.inputs.map((i) => i.name);
  const missing = want.filter((n) => !session.inputNames.includes(n));
  const extra = session.inputNames.filter((n) => !want.includes(n));
  const notProduced = plan.split.crossing.map((c) => c.name).filter((n) => !session.outputNames.includes(n) && !want.includes(n));
  if (missing.length > 0 || extra.length > 0 || notProduced.length > 0) {
    throw new EdgesplitError('ERR_PLAN_INVALID', `${plan.device.file} does not fit plan '${plan.planId}': its inputs are ${JSON.stringify(session.inputNames)} and outputs ${JSON.stringify(session.outputNames)}; the plan expects inputs ${JSON.stringify(want)} and crossing tensors ${JSON.stringify(plan.split.crossing.map((c) => c.name))}. Re-run 'edgesplit plan'.`, { details: { missing, extra, notProduced } });
  }
}
