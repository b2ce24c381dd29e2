// A small WebSocket peer for the device runtime's fault tests: it speaks shared/protocol.ts and runs the
// plan's real server half in onnxruntime-node, but each infer can be answered, refused, dropped or ignored
// on cue, so every fault the device must survive happens exactly when the test says.
import { WebSocketServer } from 'ws';
import type { AddressInfo } from 'node:net';
import { createSession, type Feeds, type PlannerSession } from '../../planner/onnx/session.ts';
import { type InferFrame, type HelloFrame, PROTOCOL_VERSION, decodeFrame, encodeFrame, tensorView, wireTensor } from '../../shared/protocol.ts';
import type { PlanFixture } from '../e2e/fixtures.ts';

/** What to do with one infer frame. */
export type Reply =
  | 'answer'
  /** a retryable ERR_OVERLOADED error frame */
  | 'overload'
  /** a non-retryable error frame with this code */
  | { error: 'ERR_INFERENCE_FAILED' | 'ERR_TENSOR_SHAPE' }
  /** terminate the TCP connection */
  | 'drop'
  /** never answer, and stop answering pings */
  | 'silent'
  /** a result frame with garbage bytes */
  | 'garbage';

export interface ScriptedServerOptions {
  /** Called for each infer frame (n counts from 0 over the server's life). Default: always 'answer'. */
  onInfer?(frame: InferFrame, n: number): Reply;
  /** When set, the hello must carry this token. */
  token?: string;
  /** Answer results in reverse order once this many requests are waiting. */
  reverseBatch?: number;
  /** Port to listen on (0: any). */
  port?: number;
}

export interface ScriptedServer {
  url: string;
  port: number;
  hellos: HelloFrame[];
  /** Infer frames seen, with their requestIds. */
  requestIds: number[];
  /** Close every connection (the device sees a drop) and keep listening. */
  kickAll(): void;
  close(): Promise<void>;
}

/** Start a scripted peer on 127.0.0.1 for the plan in `fixture`. */
export async function startScriptedServer(fixture: PlanFixture, options: ScriptedServerOptions = {}): Promise<ScriptedServer> {
  const session: PlannerSession = await createSession(fixture.serverBytes);
  const wss = new WebSocketServer({ host: '127.0.0.1', port: options.port ?? 0, perMessageDeflate: false });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const port = (wss.address() as AddressInfo).port;
  const hellos: HelloFrame[] = [];
  const requestIds: number[] = [];
  let n = 0;
  const answer = async (frame: InferFrame): Promise<Uint8Array> => {
    const feeds: Feeds = {};
    for (const t of frame.tensors) feeds[t.name] = { dtype: t.dtype, dims: t.dims, data: tensorView(t) as Feeds[string]['data'] };
    const t0 = performance.now();
    const out = await session.run(feeds);
    const runMs = performance.now() - t0;
    return encodeFrame({ type: 'result', requestId: frame.requestId, tensors: Object.entries(out).map(([name, t]) => wireTensor(name, t.dtype, t.dims, t.data)), timing: { queueMs: 0, runMs } });
  };
  wss.on('connection', (ws) => {
    let silent = false;
    let held: InferFrame[] = [];
    ws.on('message', (data: Buffer) => {
      const frame = decodeFrame(data);
      if (frame.type === 'hello') {
        hellos.push(frame);
        if (options.token !== undefined && frame.token !== options.token) {
          ws.send(encodeFrame({ type: 'error', code: 'ERR_UNAUTHORIZED', message: `device '${frame.deviceId}' sent ${frame.token === undefined ? 'no token' : 'a wrong token'}. Pass the token the server was started with.`, retryable: false }));
          ws.close(1008, 'ERR_UNAUTHORIZED');
          return;
        }
        if (frame.serverSha256 !== fixture.plan.server.sha256) {
          ws.send(encodeFrame({ type: 'error', code: 'ERR_HASH_MISMATCH', message: 'server half differs', retryable: false }));
          ws.close(1008, 'ERR_HASH_MISMATCH');
          return;
        }
        ws.send(encodeFrame({ type: 'hello-ok', protocolVersion: PROTOCOL_VERSION, planId: frame.planId, serverVersion: 'scripted', maxFrameBytes: 1 << 26, workers: 1, queue: 8 }));
        return;
      }
      if (frame.type === 'ping') {
        if (!silent) ws.send(encodeFrame({ type: 'pong', t: frame.t }));
        return;
      }
      if (frame.type !== 'infer') return;
      requestIds.push(frame.requestId);
      const reply = options.onInfer ? options.onInfer(frame, n++) : 'answer';
      if (reply === 'drop') {
        ws.terminate();
      } else if (reply === 'silent') {
        silent = true;
      } else if (reply === 'overload') {
        ws.send(encodeFrame({ type: 'error', requestId: frame.requestId, code: 'ERR_OVERLOADED', message: 'the queue of plan is full (1 running, 0 waiting). Retry after a backoff.', retryable: true }));
      } else if (reply === 'garbage') {
        ws.send(new Uint8Array([0x93, 0x01, 0x02]));
      } else if (typeof reply === 'object') {
        ws.send(encodeFrame({ type: 'error', requestId: frame.requestId, code: reply.error, message: `scripted ${reply.error}`, retryable: false }));
      } else if (options.reverseBatch !== undefined) {
        held.push(frame);
        if (held.length === options.reverseBatch) {
          const batch = held.reverse();
          held = [];
          void (async () => {
            for (const f of batch) ws.send(await answer(f));
          })();
        }
      } else {
        void answer(frame).then((bytes) => ws.send(bytes));
      }
    });
  });
  return {
    url: `ws://127.0.0.1:${port}`, port, hellos, requestIds,
    kickAll: () => {
      for (const c of wss.clients) c.terminate();
    },
    close: async () => {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await session.release();
    },
  };
}
