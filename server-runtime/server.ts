// The server runtime: serves the server halves of plans over WebSocket (ws) and HTTP on one port:
// hello handshake, validated infer requests on pooled sessions, health, metrics, graceful shutdown.
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import { EdgesplitError, isEdgesplitError } from '../shared/errors.ts';
import type { PlanManifest } from '../shared/plan.ts';
import { type Frame, type InferFrame, type HelloFrame, CLOSE_CODES, HELLO_MAX_FRAME_BYTES, PROTOCOL_VERSION, decodeFrame, encodeFrame, errorFrame } from '../shared/protocol.ts';
import { type LoadedPlan, loadPlan } from './plans.ts';
import { type TokenConfig, checkToken } from './auth.ts';
import { ServerMetrics, type MetricsSnapshot } from './metrics.ts';
import { SessionPool } from './pool.ts';
import { openWorkerSession, type WorkerSession } from './worker-session.ts';
import { openInlineSession } from './inline-session.ts';
import { checkCrossing } from './validate.ts';

/** The edgesplit version the server reports in hello-ok. */
export const SERVER_VERSION: string = ((): string => {
  const pkg: unknown = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  return typeof pkg === 'object' && pkg !== null && 'version' in pkg && typeof pkg.version === 'string' ? pkg.version : 'unknown';
})();

/**
 * Whether ws unmasks the frames devices send with its native helper `bufferutil`: ws loads it from
 * its own location unless WS_NO_BUFFER_UTIL is set, and otherwise unmasks in JavaScript, about a
 * millisecond of CPU per megabyte received (against some 20 microseconds natively).
 */
export function nativeUnmask(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.WS_NO_BUFFER_UTIL) return false;
  try {
    createRequire(createRequire(import.meta.url).resolve('ws'))('bufferutil');
    return true;
  } catch {
    return false;
  }
}

/** Defaults of `startServer`. */
export const SERVER_DEFAULTS = Object.freeze({
  host: '127.0.0.1',
  port: 8765,
  /** Requests that may wait per plan beyond the running ones. */
  queue: 32,
  heartbeatMs: 30_000,
  shutdownGraceMs: 10_000,
  /** Bytes of answers a connection may leave unread before its new requests are refused. */
  maxUnreadBytes: 64 * 1024 * 1024,
});

/** Options of `startServer`. */
export interface ServerOptions {
  /** Plan directories or plan.json paths; each plan is served under its planId. */
  plans: readonly string[];
  host?: string;
  /** 0 picks a free port (read it from the result). */
  port?: number;
  /** Sessions per plan, each in its own worker thread with one ONNX Runtime thread; 0 runs one session on the main thread (see inline-session.ts). Default: the number of cores. */
  workers?: number;
  /** Requests per plan that may wait for a session; one more is refused with ERR_OVERLOADED. */
  queue?: number;
  /** Require a bearer token in each hello. */
  tokens?: TokenConfig;
  /** Serve wss:// with this PEM certificate and key. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Interval of WebSocket pings; a peer that has not answered the previous ping is terminated. */
  heartbeatMs?: number;
  /** How long `close()` waits for requests in flight before refusing the rest with ERR_SHUTTING_DOWN. */
  shutdownGraceMs?: number;
  /**
   * When more than this many bytes of answers wait to be written to a device (it does not read
   * them), its new requests are refused with the retryable ERR_OVERLOADED, so one slow reader
   * cannot fill the server's memory.
   */
  maxUnreadBytes?: number;
  /** Where log lines go (the CLI sends them to stderr). */
  log?: (line: string) => void;
}

/** Options of `close()`. */
export interface CloseOptions {
  /** Close sockets with 1012 'service restart' (come back soon) instead of 1001 'going away'. */
  restart?: boolean;
}

/** A running server. */
export interface EdgesplitServer {
  readonly host: string;
  readonly port: number;
  /** ws://host:port or wss://host:port. */
  readonly url: string;
  readonly plans: readonly PlanManifest[];
  /** Stop accepting, finish requests in flight, close sockets with 1001 (or 1012), release sessions. */
  close(options?: CloseOptions): Promise<void>;
  metrics(): MetricsSnapshot;
}

interface Served {
  plan: LoadedPlan;
  pool: SessionPool;
  /** Output positions in the session's output list, in the plan's server.outputs order. */
  outputIndex: number[];
}

interface Connection {
  ws: WebSocket;
  remote: string;
  served: Served | undefined;
  deviceId: string | undefined;
  alive: boolean;
  inFlight: Set<number>;
}

function positiveInt(name: string, value: number | undefined, dflt: number, min: number): number {
  if (value === undefined) return dflt;
  if (!Number.isSafeInteger(value) || value < min) throw new EdgesplitError('ERR_USAGE', `${name} must be an integer >= ${min}, got ${value}.`);
  return value;
}

function rawBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data;
}

/**
 * Whether a received message's bytes span their whole ArrayBuffer.
 * NOTE: then nothing else can view that memory: ws hands each message over and keeps no reference,
 * so the tensors inside can be moved to a session thread without a copy. ws gives a large message
 * a buffer of its own (it gathers the socket's chunks into one); a small one is often a slice of a
 * chunk shared with other frames, and is copied (cheaply).
 */
function ownsBuffer(bytes: Uint8Array): boolean {
  return bytes.buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
}

/** `workers` sessions in worker threads, or with 0 one session on this thread. */
async function openServed(plan: LoadedPlan, workers: number, queue: number, log: (line: string) => void): Promise<Served> {
  const open = (): Promise<WorkerSession> => (workers === 0 ? openInlineSession(plan.serverModel) : openWorkerSession(plan.serverModel));
  const settled = await Promise.allSettled(Array.from({ length: Math.max(1, workers) }, open));
  const sessions = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  const closeAll = (): Promise<void[]> => Promise.all(sessions.map((s) => s.close()));
  if (failed) {
    await closeAll();
    const reason: unknown = failed.reason;
    throw isEdgesplitError(reason) ? new EdgesplitError(reason.code, `plan '${plan.manifest.planId}' (${plan.planPath}): ${reason.message}`, { cause: reason }) : reason;
  }
  const first: WorkerSession | undefined = sessions[0];
  const m = plan.manifest;
  if (first) {
    const inputs = [...first.inputNames].sort();
    const crossing = m.split.crossing.map((c) => c.name).sort();
    const missing = m.server.outputs.filter((o) => !first.outputNames.includes(o.name)).map((o) => o.name);
    if (inputs.join('\0') !== crossing.join('\0') || missing.length > 0) {
      await closeAll();
      throw new EdgesplitError('ERR_PLAN_INVALID', `${plan.planPath}: server half of plan '${m.planId}' does not match plan.json: its graph inputs are [${inputs.join(', ')}] and split.crossing lists [${crossing.join(', ')}]${missing.length ? `; server.outputs names [${missing.join(', ')}], which the graph does not output` : ''}. Write the plan again with 'edgesplit plan'.`);
    }
  }
  const outputIndex = m.server.outputs.map((o) => first?.outputNames.indexOf(o.name) ?? -1);
  return { plan, pool: new SessionPool(m.planId, sessions, queue, open, log), outputIndex };
}

/**
 * Load the plans, open `workers` sessions for each, and serve them on one port:
 * WebSocket for devices, and HTTP GET /health/live, /health/ready and /metrics.
 * Listens before the sessions are loaded (/health/ready answers 503 until then) and resolves once
 * every plan is ready; rejects with the plan's error code (ERR_PLAN_INVALID, ERR_PLAN_HASH, ...)
 * after releasing everything.
 */
export async function startServer(options: ServerOptions): Promise<EdgesplitServer> {
  if (options.plans.length === 0) throw new EdgesplitError('ERR_USAGE', 'no plan to serve. Pass at least one plan directory or plan.json.');
  const host = options.host ?? SERVER_DEFAULTS.host;
  const workers = positiveInt('workers', options.workers, availableParallelism(), 0);
  const queue = positiveInt('queue', options.queue, SERVER_DEFAULTS.queue, 0);
  const heartbeatMs = positiveInt('heartbeatMs', options.heartbeatMs, SERVER_DEFAULTS.heartbeatMs, 1);
  const shutdownGraceMs = positiveInt('shutdownGraceMs', options.shutdownGraceMs, SERVER_DEFAULTS.shutdownGraceMs, 0);
  const maxUnreadBytes = positiveInt('maxUnreadBytes', options.maxUnreadBytes, SERVER_DEFAULTS.maxUnreadBytes, 1);
  const port = positiveInt('port', options.port, SERVER_DEFAULTS.port, 0);
  const log = options.log ?? ((): void => undefined);

  const loaded = await Promise.all(options.plans.map((p) => loadPlan(p)));
  const seen = new Map<string, string>();
  for (const p of loaded) {
    const other = seen.get(p.manifest.planId);
    if (other !== undefined) throw new EdgesplitError('ERR_USAGE', `plan id '${p.manifest.planId}' is given twice (${other} and ${p.planPath}). Serve each plan once.`);
    seen.set(p.manifest.planId, p.planPath);
  }
  const served = new Map<string, Served>();
  const connections = new Set<Connection>();
  let ready = false;
  let shuttingDown = false;
  let pendingRequests = 0;
  let idleWaiters: Array<() => void> = [];
  const metrics = new ServerMetrics(() => [...served.values()].map((s) => ({ planId: s.plan.manifest.planId, inFlight: s.pool.inFlight, queueDepth: s.pool.queueDepth, workers: s.pool.workers, queueLimit: s.pool.queueLimit })));

  const maxPayload = Math.max(HELLO_MAX_FRAME_BYTES, ...loaded.map((p) => p.maxFrameBytes));
  const wss = new WebSocketServer({ noServer: true, maxPayload, perMessageDeflate: false, clientTracking: false });

  const onHttp = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0];
    const json = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body) + '\n');
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(405, { error: `method ${req.method} not allowed; use GET` });
    if (path === '/health/live') return json(200, { status: 'live' });
    if (path === '/health/ready') {
      const down = [...served.values()].filter((s) => s.pool.liveSessions === 0).map((s) => s.plan.manifest.planId);
      if (ready && !shuttingDown && down.length === 0) return json(200, { status: 'ready', plans: [...served.keys()] });
      return json(503, shuttingDown ? { status: 'shutting down' } : !ready ? { status: 'loading' } : { status: 'no live session', plans: down });
    }
    if (path === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(metrics.prometheus());
      return;
    }
    json(404, { error: `no such path ${path}; try /health/live, /health/ready, /metrics, or a WebSocket upgrade` });
  };
  const http: HttpServer = options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, onHttp) : createHttpServer(onHttp);

  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (!ready || shuttingDown) {
      socket.on('error', () => socket.destroy());
      socket.end(`HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${shuttingDown ? 'shutting down' : 'loading plans'}\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, req));
  });

  /** Send a frame, or the bytes of one already encoded (a result frame from a session's thread). */
  function send(conn: Connection, frame: Frame | Uint8Array): void {
    if (conn.ws.readyState !== WebSocket.OPEN) return;
    const bytes = frame instanceof Uint8Array ? frame : encodeFrame(frame);
    metrics.sentBytes += bytes.byteLength;
    conn.ws.send(bytes);
  }

  function requestDone(): void {
    pendingRequests--;
    if (pendingRequests === 0) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  function refuseHello(conn: Connection, err: EdgesplitError): void {
    metrics.frameRejected(err.code);
    log(`refused hello from ${conn.remote}: ${err.code}: ${err.message}`);
    send(conn, errorFrame(err));
    conn.ws.close(CLOSE_CODES.POLICY_VIOLATION, err.code);
  }

  function onHello(conn: Connection, hello: HelloFrame): void {
    if (conn.served) {
      send(conn, errorFrame(new EdgesplitError('ERR_FRAME_MALFORMED', `this connection already said hello for plan '${conn.served.plan.manifest.planId}'. Open a new connection for another plan.`)));
      return;
    }
    if (shuttingDown) {
      send(conn, errorFrame(new EdgesplitError('ERR_SHUTTING_DOWN', 'the server is shutting down. Connect again after a back-off.', { retryable: true })));
      return;
    }
    if (options.tokens) {
      try {
        checkToken(options.tokens, hello.deviceId, hello.token);
      } catch (e) {
        if (isEdgesplitError(e)) return refuseHello(conn, e);
        throw e;
      }
    }
    const s = served.get(hello.planId);
    if (!s) {
      return refuseHello(conn, new EdgesplitError('ERR_UNKNOWN_PLAN', `unknown plan '${hello.planId}'. This server serves: ${[...served.keys()].map((k) => `'${k}'`).join(', ')}. Start the server with --plan for the device's plan directory.`));
    }
    if (hello.serverSha256 !== s.plan.manifest.server.sha256) {
      return refuseHello(conn, new EdgesplitError('ERR_HASH_MISMATCH', `plan '${hello.planId}': the device expects a server half with sha256 ${hello.serverSha256}, this server has ${s.plan.manifest.server.sha256}. Copy the same plan directory to the device and the server.`));
    }
    conn.served = s;
    conn.deviceId = hello.deviceId;
    log(`device '${hello.deviceId}' (${conn.remote}) connected to plan '${hello.planId}'`);
    send(conn, { type: 'hello-ok', protocolVersion: PROTOCOL_VERSION, planId: hello.planId, serverVersion: SERVER_VERSION, maxFrameBytes: s.plan.maxFrameBytes, workers: s.pool.workers, queue: s.pool.queueLimit });
  }

  /** `owned`: the frame's bytes are the whole buffer of a message no one else holds, so its tensors may be moved to a session thread. */
  function onInfer(conn: Connection, frame: InferFrame, receivedAt: number, owned: boolean): void {
    const s = conn.served;
    // NOTE: the closures below hold the request id, never the frame: a closure that lives into old
    // space while its request runs would keep the received message's buffer from the young-generation
    // collector long after the request is answered (see SessionPool.watchEntry).
    const requestId = frame.requestId;
    const fail = (err: EdgesplitError, planId: string): void => {
      metrics.request(planId, err.code);
      send(conn, errorFrame(err, requestId));
    };
    if (!s) return fail(new EdgesplitError('ERR_NO_HELLO', `infer request ${requestId} came before a successful hello. Send a hello frame first and wait for hello-ok.`), '');
    const planId = s.plan.manifest.planId;
    if (shuttingDown) return fail(new EdgesplitError('ERR_SHUTTING_DOWN', 'the server is shutting down and takes no new requests. Retry on a new connection after a back-off.', { retryable: true }), planId);
    if (conn.ws.bufferedAmount > maxUnreadBytes) {
      return fail(new EdgesplitError('ERR_OVERLOADED', `the device is not reading its answers: ${conn.ws.bufferedAmount} bytes wait to be sent on this connection (limit ${maxUnreadBytes}). Read results before sending more requests.`, { retryable: true }), planId);
    }
    if (conn.inFlight.has(requestId)) return fail(new EdgesplitError('ERR_FRAME_MALFORMED', `requestId ${requestId} is already in flight on this connection. Use a new requestId for each request.`), planId);
    let tensors;
    try {
      tensors = checkCrossing(s.plan.manifest, frame.tensors);
    } catch (e) {
      if (isEdgesplitError(e)) return fail(e, planId);
      throw e;
    }
    conn.inFlight.add(requestId);
    pendingRequests++;
    const deadlineAt = frame.deadlineMs === undefined ? undefined : receivedAt + frame.deadlineMs;
    s.pool.submit(tensors, { ...(deadlineAt !== undefined ? { deadlineAt } : {}), owner: conn, owned, resultFrame: { requestId, outputOrder: s.outputIndex, outputs: s.plan.manifest.server.outputs } }).then((r) => {
      metrics.timing(planId, r.queueMs, r.runMs);
      if (conn.ws.readyState !== WebSocket.OPEN) {
        metrics.request(planId, 'ERR_CONNECTION_LOST');
        return;
      }
      if (!r.frame) {
        metrics.request(planId, 'ERR_INTERNAL');
        send(conn, errorFrame(new EdgesplitError('ERR_INTERNAL', `the session of plan '${planId}' returned no result frame for request ${requestId}. Please report this.`), requestId));
        return;
      }
      metrics.request(planId, 'ok');
      send(conn, r.frame);
    }, (e: unknown) => {
      const err = isEdgesplitError(e) ? e : new EdgesplitError('ERR_INFERENCE_FAILED', `running plan '${planId}' failed: ${e instanceof Error ? e.message : String(e)}`);
      metrics.request(planId, err.code);
      if (err.code !== 'ERR_CONNECTION_LOST') send(conn, errorFrame(err, requestId));
    }).finally(() => {
      conn.inFlight.delete(requestId);
      requestDone();
    });
  }

  function onMessage(conn: Connection, data: RawData, isBinary: boolean): void {
    const receivedAt = performance.now();
    const bytes = rawBytes(data);
    metrics.receivedBytes += bytes.byteLength;
    const planId = conn.served?.plan.manifest.planId;
    let frame: Frame;
    try {
      if (!isBinary) throw new EdgesplitError('ERR_FRAME_MALFORMED', 'got a text WebSocket message; edgesplit frames are binary msgpack. Send frames built with encodeFrame.');
      frame = decodeFrame(bytes, { maxFrameBytes: conn.served?.plan.maxFrameBytes ?? HELLO_MAX_FRAME_BYTES });
    } catch (e) {
      if (!isEdgesplitError(e)) throw e;
      if (e.code === 'ERR_PROTOCOL_VERSION') return refuseHello(conn, e);
      const requestId = typeof e.details?.requestId === 'number' ? e.details.requestId : undefined;
      if (requestId !== undefined && planId !== undefined) metrics.request(planId, e.code);
      else metrics.frameRejected(e.code);
      send(conn, errorFrame(e, requestId));
      return;
    }
    switch (frame.type) {
      case 'hello':
        return onHello(conn, frame);
      case 'infer':
        return onInfer(conn, frame, receivedAt, ownsBuffer(bytes));
      case 'ping':
        return send(conn, { type: 'pong', t: frame.t });
      case 'pong':
        return;
      case 'error':
        log(`device ${conn.deviceId ?? conn.remote} reported ${frame.code}: ${frame.message}`);
        return;
      case 'hello-ok':
      case 'result':
        metrics.frameRejected('ERR_FRAME_MALFORMED');
        send(conn, errorFrame(new EdgesplitError('ERR_FRAME_MALFORMED', `a device may not send '${frame.type}' frames; devices send hello, infer, ping and pong.`)));
    }
  }

  function onConnection(ws: WebSocket, req: IncomingMessage): void {
    const conn: Connection = { ws, remote: `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`, served: undefined, deviceId: undefined, alive: true, inFlight: new Set() };
    connections.add(conn);
    metrics.connections++;
    ws.on('pong', () => {
      conn.alive = true;
    });
    ws.on('message', (data, isBinary) => onMessage(conn, data, isBinary));
    ws.on('error', (e: Error & { code?: string }) => {
      // NOTE: ws reports a message over maxPayload as this error and closes the socket with 1009.
      if (e.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') metrics.frameRejected('ERR_FRAME_TOO_LARGE');
      log(`connection ${conn.deviceId ?? conn.remote}: ${e.message}`);
    });
    ws.on('close', (code) => {
      connections.delete(conn);
      metrics.connections--;
      conn.served?.pool.dropOwner(conn);
      log(`connection ${conn.deviceId ?? conn.remote} closed (${code}); ${conn.inFlight.size} request(s) in flight dropped`);
    });
  }

  const heartbeat = setInterval(() => {
    for (const conn of connections) {
      if (!conn.alive) {
        log(`connection ${conn.deviceId ?? conn.remote} missed a heartbeat; terminating it`);
        conn.ws.terminate();
        continue;
      }
      conn.alive = false;
      conn.ws.ping();
    }
  }, heartbeatMs);

  await new Promise<void>((resolve, reject) => {
    http.once('error', (e: NodeJS.ErrnoException) => reject(new EdgesplitError('ERR_USAGE', `cannot listen on ${host}:${port}: ${e.code === 'EADDRINUSE' ? 'the port is in use; pick another --port' : e.message}`, { cause: e })));
    http.listen(port, host, () => resolve());
  }).catch((e: unknown) => {
    clearInterval(heartbeat);
    throw e;
  });
  const address = http.address();
  const boundPort = typeof address === 'object' && address !== null ? address.port : port;
  const url = `${options.tls ? 'wss' : 'ws'}://${host.includes(':') ? `[${host}]` : host}:${boundPort}`;

  let closing: Promise<void> | undefined;
  const close = (closeOptions: CloseOptions = {}): Promise<void> => {
    closing ??= (async () => {
      shuttingDown = true;
      log(`shutting down: finishing ${pendingRequests} request(s) in flight`);
      clearInterval(heartbeat);
      // NOTE: the listener stays open while requests drain, so health probes see /health/ready
      // answer 503 and new WebSocket upgrades are refused with 503 rather than a reset.
      if (pendingRequests > 0) {
        const idle = new Promise<void>((resolve) => idleWaiters.push(resolve));
        const graceOver = Symbol('grace');
        let timer: ReturnType<typeof setTimeout> | undefined;
        const outcome = await Promise.race([idle, new Promise<symbol>((resolve) => { timer = setTimeout(() => resolve(graceOver), shutdownGraceMs); })]);
        clearTimeout(timer);
        if (outcome === graceOver) {
          log(`grace period of ${shutdownGraceMs} ms over: refusing requests still queued`);
          for (const s of served.values()) s.pool.rejectWaiting(new EdgesplitError('ERR_SHUTTING_DOWN', 'the server shut down before this queued request could run. Retry on another connection after a back-off.', { retryable: true }));
          await idle;
        }
      }
      const stopped = new Promise<void>((resolve) => http.close(() => resolve()));
      const [code, reason] = closeOptions.restart ? [CLOSE_CODES.SERVICE_RESTART, 'service restart'] : [CLOSE_CODES.GOING_AWAY, 'going away'];
      await Promise.all([...connections].map((conn) => new Promise<void>((resolve) => {
        const timer = setTimeout(() => conn.ws.terminate(), 2000);
        conn.ws.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
        conn.ws.close(code, reason);
      })));
      http.closeAllConnections();
      await stopped;
      await Promise.all([...served.values()].map((s) => s.pool.close()));
      log('server stopped');
    })();
    return closing;
  };

  try {
    for (const plan of loaded) served.set(plan.manifest.planId, await openServed(plan, workers, queue, log));
  } catch (e) {
    await close();
    throw e;
  }
  ready = true;
  if (!nativeUnmask()) log('ws unmasks received frames in JavaScript (its optional native helper bufferutil is missing, or WS_NO_BUFFER_UTIL is set): each megabyte a device sends costs about 1 ms of CPU more. Install bufferutil next to ws for native unmasking.');
  log(`serving ${[...served.keys()].map((k) => `'${k}'`).join(', ')} on ${url} (${workers === 0 ? '1 session on the main thread' : `${workers} session(s)`} and a queue of ${queue} per plan)`);
  return { host, port: boundPort, url, plans: loaded.map((p) => p.manifest), close, metrics: () => metrics.snapshot() };
}
