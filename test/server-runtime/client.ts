// A raw WebSocket client for the server runtime's tests: sends frames built with encodeFrame (or
// raw bytes) and collects every decoded frame and the close code.
import { WebSocket, type ClientOptions } from 'ws';
import { type Frame, type HelloFrame, PROTOCOL_VERSION, decodeFrame, encodeFrame } from '../../shared/protocol.ts';

export class TestClient {
  readonly frames: Frame[] = [];
  /** Frames before this index were returned by `next` or `waitFrames`. */
  private cursor = 0;
  private waiters: Array<() => void> = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      this.frames.push(decodeFrame(data));
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f();
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => {
      resolve({ code, reason: reason.toString() });
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f();
    }));
  }

  /** Connect to `url`; resolves once open. */
  static connect(url: string, options: ClientOptions = {}): Promise<TestClient> {
    const ws = new WebSocket(url, options);
    const client = new TestClient(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(client));
      ws.once('error', reject);
    });
  }

  send(frame: Frame): void {
    this.ws.send(encodeFrame(frame));
  }

  sendRaw(bytes: Uint8Array | string): void {
    this.ws.send(bytes);
  }

  /** Wait until `n` frames have arrived in total (or the socket closed); returns them all and marks them read. */
  async waitFrames(n: number, timeoutMs = 10_000): Promise<Frame[]> {
    const until = Date.now() + timeoutMs;
    while (this.frames.length < n && this.ws.readyState !== WebSocket.CLOSED) {
      if (Date.now() > until) throw new Error(`timed out waiting for ${n} frames, got ${this.frames.length}: ${JSON.stringify(this.frames.map((f) => f.type))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    this.cursor = Math.max(this.cursor, Math.min(n, this.frames.length));
    return this.frames;
  }

  /** The next frame not yet read, waiting for it if needed. */
  async next(timeoutMs?: number): Promise<Frame> {
    const n = this.cursor;
    const frames = await this.waitFrames(n + 1, timeoutMs);
    const f = frames[n];
    if (!f) throw new Error('the socket closed before the next frame');
    return f;
  }

  /** Send a hello and return the answer. */
  async hello(fields: Partial<HelloFrame> & { planId: string; serverSha256: string }): Promise<Frame> {
    this.send({ type: 'hello', protocolVersion: PROTOCOL_VERSION, deviceId: 'test-device', ...fields });
    return this.next();
  }

  /** The close code and reason, once the socket has closed; fails after `timeoutMs`. */
  async closedWithin(timeoutMs = 10_000): Promise<{ code: number; reason: string }> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the socket did not close within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([this.closed, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Close and wait for the close to finish. */
  async close(): Promise<void> {
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.close();
    await this.closed;
  }
}

/** Poll `condition` every 5 ms; fail with `what` (and the last state `describe` gives) after `timeoutMs`. */
export async function waitUntil(condition: () => boolean, what: string, describe: () => unknown = () => '', timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}: ${JSON.stringify(describe())}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

