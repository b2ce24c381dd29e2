// Tests of the device runtime's core through DeviceRuntime (Node edge) on a real MLP plan with real ORT
// sessions, against a scripted peer on 127.0.0.1 that makes each fault happen on cue.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, readFile, mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { DeviceRuntime, type DeviceEvent, type InferResult } from '../../device-runtime/index.ts';
import { EdgesplitError } from '../../shared/errors.ts';
import type { Feeds } from '../../planner/onnx/session.ts';
import { compare, makePlanDir, referenceOutputs, type PlanFixture } from '../e2e/fixtures.ts';
import { startScriptedServer, type ScriptedServer } from './scripted-server.ts';
import { isCode } from '../assert-errors.ts';

let fixture: PlanFixture;
let inputs: Feeds[];
let reference: Feeds[];

before(async () => {
  fixture = await makePlanDir('mlp', 0.5);
  inputs = await fixture.zoo.sampleInputs(6, 7);
  reference = await referenceOutputs(fixture.full, inputs);
});

after(async () => {
  await fixture.remove();
});

const x = (i: number): Float32Array => inputs[i]!.x!.data as Float32Array;

function assertMatches(result: InferResult, i: number): void {
  const { maxDiff, scale } = compare(result.outputs.logits!.data as Float32Array, reference[i]!.logits!.data as Float32Array);
  assert.ok(maxDiff <= 1e-5 * scale, `output ${i} differs from the full model by ${maxDiff} (scale ${scale})`);
}

/** Open a runtime against `server` with fast, deterministic backoff; always closed by `use`. */
async function use<T>(server: { url: string }, body: (rt: DeviceRuntime, events: DeviceEvent[]) => Promise<T>, options: Partial<Parameters<typeof DeviceRuntime.open>[1]> = {}): Promise<T> {
  const events: DeviceEvent[] = [];
  const rt = await DeviceRuntime.open(fixture.dir, { server: server.url, backoff: { baseMs: 10, capMs: 40, maxAttempts: 4 }, random: () => 0.5, heartbeatMs: 0, onEvent: (e) => events.push(e), ...options });
  try {
    return await body(rt, events);
  } finally {
    await rt.close();
  }
}

async function withServer<T>(options: Parameters<typeof startScriptedServer>[1], body: (server: ScriptedServer) => Promise<T>): Promise<T> {
  const server = await startScriptedServer(fixture, options);
  try {
    return await body(server);
  } finally {
    await server.close();
  }
}

/** A loopback port with nothing listening. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

test('infer: composed output equals the full model; timing adds up; prediction and hello carried', async () => {
  await withServer({}, (server) => use(server, async (rt) => {
    for (let i = 0; i < 3; i++) {
      const r = await rt.infer({ x: x(i) });
      assertMatches(r, i);
      assert.equal(r.fallback, false);
      assert.equal(r.timing.attempts, 1);
      const t = r.timing;
      for (const k of ['deviceMs', 'encodeMs', 'networkMs', 'decodeMs', 'totalMs', 'serverRunMs'] as const) assert.ok(t[k]! >= 0, `${k} = ${t[k]}`);
      assert.ok(t.totalMs + 1e-6 >= t.deviceMs + t.encodeMs + t.networkMs + t.decodeMs, JSON.stringify(t));
      assert.ok(t.networkMs >= t.serverRunMs!, 'network + server time includes the server run');
      assert.deepEqual(r.predicted, fixture.plan.predicted!.latencyMs);
    }
    assert.equal(server.hellos.length, 1);
    assert.deepEqual(server.hellos[0], { type: 'hello', protocolVersion: 1, deviceId: 'pi-1', planId: fixture.plan.planId, serverSha256: fixture.plan.server.sha256, token: 'secret' });
  }, { token: 'secret', deviceId: 'pi-1' }));
});

test('several requests in flight are matched by requestId when results come back in reverse order', async () => {
  await withServer({ reverseBatch: 5 }, (server) => use(server, async (rt) => {
    const results = await Promise.all([0, 1, 2, 3, 4].map((i) => rt.infer({ x: x(i) })));
    results.forEach((r, i) => assertMatches(r, i));
    assert.deepEqual(new Set(results.map((r) => r.requestId)).size, 5);
    assert.deepEqual(server.requestIds, results.map((r) => r.requestId));
  }));
});

test('link drop mid-request: the device reconnects with backoff and sends the request again once', async () => {
  await withServer({ onInfer: (_f, n) => (n === 0 ? 'drop' : 'answer') }, (server) => use(server, async (rt, events) => {
    const r = await rt.infer({ x: x(0) });
    assertMatches(r, 0);
    assert.equal(r.timing.attempts, 2);
    assert.deepEqual(server.requestIds, [r.requestId, r.requestId]);
    assert.equal(server.hellos.length, 2);
    const kinds = events.map((e) => e.type);
    assert.deepEqual(kinds, ['connected', 'disconnected', 'connected']);
    const lost = events[1] as Extract<DeviceEvent, { type: 'disconnected' }>;
    assert.equal(lost.inFlight, 1);
    assert.equal(lost.code, 1006);
    // later requests use the new link
    assertMatches(await rt.infer({ x: x(1) }), 1);
  }));
});

test('link drops twice for one request: ERR_CONNECTION_LOST once the retry budget is spent; other requests unaffected', async () => {
  await withServer({ onInfer: (f) => (f.requestId === 1 ? 'drop' : 'answer') }, (server) => use(server, async (rt) => {
    await assert.rejects(rt.infer({ x: x(0) }), isCode('ERR_CONNECTION_LOST', /closed \(code 1006\) while request 1 was in flight, and it was already sent 2 times\. Send it again when the server is back\./));
    assert.deepEqual(server.requestIds, [1, 1]);
    assertMatches(await rt.infer({ x: x(1) }), 1);
  }));
});

test('retry budget 0: a request in flight when the link drops fails at once with ERR_CONNECTION_LOST', async () => {
  await withServer({ onInfer: (_f, n) => (n === 0 ? 'drop' : 'answer') }, (server) => use(server, async (rt) => {
    await assert.rejects(rt.infer({ x: x(0) }), (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_CONNECTION_LOST' && e.retryable);
    assert.equal(server.requestIds.length, 1);
  }, { retry: { connectionLost: 0 } }));
});

test('overload: retryable refusals are retried after a backoff, and surface with the code once the limit is reached', async () => {
  await withServer({ onInfer: (_f, n) => (n < 2 ? 'overload' : 'answer') }, (server) => use(server, async (rt, events) => {
    const r = await rt.infer({ x: x(2) });
    assertMatches(r, 2);
    assert.equal(r.timing.attempts, 3);
    // full jitter with random() = 0.5: half of min(capMs, baseMs * 2^k)
    assert.deepEqual(events.filter((e) => e.type === 'retry').map((e) => (e as { delayMs: number }).delayMs), [5, 10]);
  }));
  await withServer({ onInfer: () => 'overload' }, (server) => use(server, async (rt) => {
    await assert.rejects(rt.infer({ x: x(2) }), isCode('ERR_OVERLOADED', /queue of plan is full .*\(still refused after 3 retries; send fewer requests at once or add server workers\)/));
    assert.equal(server.requestIds.length, 4);
  }));
});

test('a non-retryable error frame rejects that request with its code and message; the link stays usable', async () => {
  await withServer({ onInfer: (_f, n) => (n === 0 ? { error: 'ERR_INFERENCE_FAILED' } : 'answer') }, (server) => use(server, async (rt) => {
    await assert.rejects(rt.infer({ x: x(0) }), isCode('ERR_INFERENCE_FAILED', /^scripted ERR_INFERENCE_FAILED$/));
    assertMatches(await rt.infer({ x: x(1) }), 1);
    assert.equal(server.hellos.length, 1);
  }));
});

test('a malformed result frame: the link is dropped and the request sent again on a new one', async () => {
  await withServer({ onInfer: (_f, n) => (n === 0 ? 'garbage' : 'answer') }, (server) => use(server, async (rt, events) => {
    const r = await rt.infer({ x: x(3) });
    assertMatches(r, 3);
    assert.equal(r.timing.attempts, 2);
    const protocolErrors = events.filter((e) => e.type === 'protocol-error');
    assert.equal(protocolErrors.length, 1);
    assert.equal((protocolErrors[0] as { error: EdgesplitError }).error.code, 'ERR_FRAME_MALFORMED');
    assert.equal(server.hellos.length, 2);
  }));
});

test('heartbeat: a server that stops answering pings is dropped, and the request goes to a new connection', async () => {
  await withServer({ onInfer: (_f, n) => (n === 0 ? 'silent' : 'answer') }, (server) => use(server, async (rt, events) => {
    const r = await rt.infer({ x: x(4) });
    assertMatches(r, 4);
    const lost = events.find((e) => e.type === 'disconnected') as Extract<DeviceEvent, { type: 'disconnected' }>;
    assert.match(lost.reason, /no frame from the server for 200 ms/);
    assert.equal(server.hellos.length, 2);
  }, { heartbeatMs: 100 }));
});

test('server restart: requests before and after succeed, none is lost', async () => {
  let server = await startScriptedServer(fixture);
  const port = server.port;
  try {
    await use(server, async (rt, events) => {
      assertMatches(await rt.infer({ x: x(0) }), 0);
      await server.close();
      const during = rt.infer({ x: x(1) });
      await new Promise((r) => setTimeout(r, 150));
      server = await startScriptedServer(fixture, { port });
      assertMatches(await during, 1);
      assertMatches(await rt.infer({ x: x(2) }), 2);
      assert.ok(events.some((e) => e.type === 'reconnect-wait'), 'waited with backoff while the server was down');
    }, { backoff: { baseMs: 20, capMs: 200, maxAttempts: 10 } });
  } finally {
    await server.close();
  }
});

test('server unreachable: ERR_SERVER_UNREACHABLE after maxAttempts with capped, jittered waits; then fails fast', async () => {
  const port = await closedPort();
  await use({ url: `ws://127.0.0.1:${port}` }, async (rt, events) => {
    await assert.rejects(rt.infer({ x: x(0) }), isCode('ERR_SERVER_UNREACHABLE', new RegExp(`could not reach ws://127\\.0\\.0\\.1:${port} in 4 attempts over \\d+ ms \\(last: .*ECONNREFUSED.*\\)\\. Check that 'edgesplit serve' runs there and the address is right, or enable fallback to run the plan on this device\\.`)));
    assert.deepEqual(events.filter((e) => e.type === 'reconnect-wait').map((e) => (e as { delayMs: number }).delayMs), [5, 10, 20]);
    const t0 = performance.now();
    await assert.rejects(rt.infer({ x: x(0) }), isCode('ERR_SERVER_UNREACHABLE'));
    assert.equal(events.filter((e) => e.type === 'reconnect-wait').length, 3, 'no new attempts within capMs of giving up');
    assert.ok(performance.now() - t0 < 1000);
  });
});

test('fallback: with the server unreachable the plan runs on the device, reports fallback, and equals the full model', async () => {
  const port = await closedPort();
  await use({ url: `ws://127.0.0.1:${port}` }, async (rt, events) => {
    for (const i of [0, 1]) {
      const r = await rt.infer({ x: x(i) });
      assert.equal(r.fallback, true);
      assert.equal(r.fallbackCode, 'ERR_SERVER_UNREACHABLE');
      assert.equal(r.timing.networkMs, 0);
      assert.ok(r.timing.fallbackMs! >= 0);
      assertMatches(r, i);
    }
    assert.equal(events.filter((e) => e.type === 'fallback').length, 2);
  }, { fallback: true });
});

test('fallback: a request whose link drops twice also runs locally', async () => {
  await withServer({ onInfer: () => 'drop' }, (server) => use(server, async (rt) => {
    const r = await rt.infer({ x: x(5) });
    assert.equal(r.fallback, true);
    assert.equal(r.fallbackCode, 'ERR_CONNECTION_LOST');
    assertMatches(r, 5);
  }, { fallback: true }));
});

test('BAD CALL - wrong token: the hello is refused with ERR_UNAUTHORIZED at once, without retries', async () => {
  await withServer({ token: 'right' }, (server) => use(server, async (rt) => {
    await assert.rejects(rt.infer({ x: x(0) }), isCode('ERR_UNAUTHORIZED', /sent a wrong token\. Pass the token the server was started with\./));
    assert.equal(server.hellos.length, 1);
    await assert.rejects(rt.connect(), isCode('ERR_UNAUTHORIZED'));
  }, { token: 'wrong' }));
});

test('BAD CALL - device.onnx that does not match the plan: ERR_PLAN_HASH naming the file and both hashes', async () => {
  const other = await makePlanDir('mlp', 0.5);
  try {
    const bytes = await readFile(join(other.dir, 'device.onnx'));
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 1;
    await writeFile(join(other.dir, 'device.onnx'), bytes);
    await assert.rejects(DeviceRuntime.open(other.dir, { server: 'ws://127.0.0.1:1' }),
      isCode('ERR_PLAN_HASH', new RegExp(`^device\\.onnx has sha256 [0-9a-f]{64}, but plan\\.json expects ${other.plan.device.sha256}\\. The file does not belong to this plan`)));
  } finally {
    await other.remove();
  }
});

test('BAD CALL - fallback without server.onnx in the plan directory: ERR_FILE_NOT_FOUND', async () => {
  const other = await makePlanDir('mlp', 0.5);
  try {
    await rm(join(other.dir, 'server.onnx'));
    await assert.rejects(DeviceRuntime.open(other.planPath, { server: 'ws://127.0.0.1:1', fallback: true }), isCode('ERR_FILE_NOT_FOUND', /server\.onnx does not exist\. Pass the plan directory written by 'edgesplit plan'/));
    await assert.rejects(DeviceRuntime.open(join(other.dir, 'nope'), { server: 'ws://127.0.0.1:1' }), isCode('ERR_FILE_NOT_FOUND', /nope\/plan\.json does not exist/));
  } finally {
    await other.remove();
  }
});

test('BAD CALL - options: server URL, retry counts and timeouts are checked', async () => {
  await assert.rejects(DeviceRuntime.open(fixture.dir, { server: 'http://x' }), isCode('ERR_USAGE', /^'server' must be a ws:\/\/ or wss:\/\/ URL such as ws:\/\/127\.0\.0\.1:8765, got 'http:\/\/x'\.$/));
  await assert.rejects(DeviceRuntime.open(fixture.dir, { server: 'ws://x', retry: { overloaded: -1 } }), isCode('ERR_USAGE', /^'retry\.overloaded' must be an integer >= 0, got -1\.$/));
  await assert.rejects(DeviceRuntime.open(fixture.dir, { server: 'ws://x', backoff: { baseMs: 100, capMs: 10 } }), isCode('ERR_USAGE', /^'backoff\.capMs' must be a number >= baseMs \(100\), got 10\.$/));
  await assert.rejects(DeviceRuntime.open(fixture.dir, { server: 'ws://x', requestTimeoutMs: 0 }), isCode('ERR_USAGE', /^'requestTimeoutMs' must be a number >= 1 \(ms\), got 0\.$/));
});

test('BAD CALL - inputs: every missing and unexpected name in one message; wrong dtype, shape and length', async () => {
  await withServer({}, (server) => use(server, async (rt) => {
    await assert.rejects(rt.infer({ y: x(0) }), isCode('ERR_TENSOR_NAME', /^inputs: missing 'x'; unexpected 'y'\. The plan's device half takes exactly: 'x' float32 \[1,64\]\.$/));
    await assert.rejects(rt.infer({ x: new Float64Array(64) }), isCode('ERR_TENSOR_DTYPE', /'x' is a Float64Array, expected a Float32Array \(float32\)/));
    await assert.rejects(rt.infer({ x: { dims: [1, 32], data: new Float32Array(32) } }), isCode('ERR_TENSOR_SHAPE', /'x' has dims \[1,32\], expected \[1,64\]/));
    await assert.rejects(rt.infer({ x: new Float32Array(63) }), isCode('ERR_TENSOR_BYTES', /'x' has 63 elements, expected 64 for \[1,64\]/));
    assert.equal(server.requestIds.length, 0, 'nothing was sent');
  }));
});

test('request timeout: no result within requestTimeoutMs is ERR_DEADLINE_EXCEEDED; close() fails what is still in flight', async () => {
  await withServer({ onInfer: () => 'silent' }, (server) => use(server, async (rt) => {
      await assert.rejects(rt.infer({ x: x(0) }), isCode('ERR_DEADLINE_EXCEEDED', /^no result for request 1 within 150 ms \(sent 1 time, connected to ws:\/\/127\.0\.0\.1:\d+\)\. Check the server's load and the link, or raise requestTimeoutMs\.$/));
      const pending = assert.rejects(rt.infer({ x: x(1) }), isCode('ERR_CONNECTION_LOST', /the device runtime was closed/));
      await new Promise((r) => setTimeout(r, 20));
      await rt.close();
      await pending;
      await assert.rejects(rt.infer({ x: x(1) }), isCode('ERR_CONNECTION_LOST'));
  }, { requestTimeoutMs: 150 }));
});

test('applyFrequency: the plan\'s frequency is applied through cpufreq on open and restored on close; refusals are warnings', async () => {
  const root = await mkdtemp(join(tmpdir(), 'edgesplit-sysfs-'));
  const dir = join(root, 'cpu0', 'cpufreq');
  await mkdir(dir, { recursive: true });
  const files = { cpuinfo_min_freq: '600000', cpuinfo_max_freq: '1800000', scaling_available_governors: 'ondemand userspace', scaling_governor: 'ondemand', scaling_setspeed: '<unsupported>', scaling_available_frequencies: '600000 1000000 1400000 1800000' };
  for (const [name, value] of Object.entries(files)) await writeFile(join(dir, name), value + '\n');
  try {
    await withServer({}, async (server) => {
      const rt = await DeviceRuntime.open(fixture.dir, { server: server.url, applyFrequency: true, sysfsRoot: root, heartbeatMs: 0 });
      try {
        assert.equal(rt.cpufreq?.applied, true);
        assert.deepEqual(rt.warnings, []);
        assert.equal((await readFile(join(dir, 'scaling_governor'), 'utf8')).trim(), 'userspace');
        assert.equal((await readFile(join(dir, 'scaling_setspeed'), 'utf8')).trim(), '1400000', 'nearest to the plan\'s 1.5 GHz');
        assertMatches(await rt.infer({ x: x(0) }), 0);
      } finally {
        await rt.close();
      }
      assert.equal((await readFile(join(dir, 'scaling_governor'), 'utf8')).trim(), 'ondemand');
      const none = await DeviceRuntime.open(fixture.dir, { server: server.url, applyFrequency: true, sysfsRoot: join(root, 'absent') });
      try {
        assert.equal(none.cpufreq?.applied, false);
        assert.deepEqual(none.warnings.map((w) => w.code), ['ERR_CPUFREQ']);
        assertMatches(await none.infer({ x: x(1) }), 1);
      } finally {
        await none.close();
      }
    });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
