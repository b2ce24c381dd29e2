// Faults seen from the device, against the real server runtime on loopback: a restart mid-stream, a server
// that goes away, an overload burst, a hash mismatch, tokens, an unknown plan, and fallback when unreachable.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile, mkdtemp, copyFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DeviceRuntime, type DeviceEvent, type InferResult } from '../../device-runtime/index.ts';
import { startServer, type EdgesplitServer } from '../../server-runtime/server.ts';
import { EdgesplitError } from '../../shared/errors.ts';
import type { Feeds } from '../../planner/onnx/session.ts';
import { compare, makePlanDir, referenceOutputs, type PlanFixture } from './fixtures.ts';
import { isCode } from '../assert-errors.ts';

let mlp: PlanFixture;
let ocr: PlanFixture;
let inputs: Feeds[];
let reference: Feeds[];

before(async () => {
  mlp = await makePlanDir('mlp', 0.5);
  ocr = await makePlanDir('ppocr-rec', 0.1);
  inputs = await mlp.zoo.sampleInputs(8, 5);
  reference = await referenceOutputs(mlp.full, inputs);
});

after(async () => {
  await mlp.remove();
  await ocr.remove();
});

const x = (i: number): Float32Array => inputs[i % inputs.length]!.x!.data as Float32Array;

function assertMatches(r: InferResult, i: number): void {
  const { maxDiff, scale } = compare(r.outputs.logits!.data as Float32Array, reference[i % inputs.length]!.logits!.data as Float32Array);
  assert.ok(maxDiff <= 1e-5 * scale, `request ${i}: difference ${maxDiff} over scale ${scale}`);
}

/** A copy of a plan directory with plan.json edited. */
async function editedCopy(f: PlanFixture, edit: (plan: Record<string, unknown>) => void): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'edgesplit-plan-edit-'));
  for (const file of ['device.onnx', 'server.onnx']) await copyFile(join(f.dir, file), join(dir, file));
  const plan = JSON.parse(await readFile(f.planPath, 'utf8')) as Record<string, unknown>;
  edit(plan);
  await writeFile(join(dir, 'plan.json'), JSON.stringify(plan));
  return dir;
}

test('server restart mid-stream: every request settles; those before and after the restart succeed; none is lost', async () => {
  let server: EdgesplitServer = await startServer({ plans: [mlp.dir], port: 0, workers: 1, shutdownGraceMs: 1000 });
  const port = server.port;
  const events: DeviceEvent[] = [];
  const rt = await DeviceRuntime.open(mlp.dir, { server: server.url, heartbeatMs: 0, backoff: { baseMs: 20, capMs: 200, maxAttempts: 30 }, retry: { overloaded: 6 }, onEvent: (e) => events.push(e) });
  try {
    const before = await Promise.all([0, 1, 2, 3].map((i) => rt.infer({ x: x(i) })));
    before.forEach((r, i) => assertMatches(r, i));
    const closing = server.close({ restart: true });
    const during = [4, 5, 6, 7].map((i) => rt.infer({ x: x(i) }).then((r) => ({ i, r }), (e: unknown) => ({ i, e })));
    await closing;
    await new Promise((r) => setTimeout(r, 150));
    server = await startServer({ plans: [mlp.dir], port, workers: 1 });
    const settled = await Promise.all(during);
    for (const s of settled) {
      if ('r' in s) assertMatches(s.r, s.i);
      else assert.ok(s.e instanceof EdgesplitError && s.e.retryable && ['ERR_SHUTTING_DOWN', 'ERR_CONNECTION_LOST'].includes(s.e.code), `request ${s.i} failed with ${String(s.e)}`);
    }
    const after = await Promise.all([8, 9, 10, 11].map((i) => rt.infer({ x: x(i) })));
    after.forEach((r, i) => assertMatches(r, i + 8));
    const lost = events.find((e) => e.type === 'disconnected') as Extract<DeviceEvent, { type: 'disconnected' }>;
    assert.equal(lost.code, 1012);
    assert.equal(lost.reason, 'service restart');
    assert.equal(events.filter((e) => e.type === 'connected').length, 2);
  } finally {
    await rt.close();
    await server.close();
  }
});

test('server goes away: the device sees the close (1001); without fallback ERR_SERVER_UNREACHABLE, with fallback the plan runs locally', async () => {
  const server = await startServer({ plans: [mlp.dir], port: 0, workers: 1 });
  const url = server.url;
  const events: DeviceEvent[] = [];
  const options = { server: url, heartbeatMs: 0, backoff: { baseMs: 10, capMs: 40, maxAttempts: 3 }, onEvent: (e: DeviceEvent) => events.push(e) };
  const rt = await DeviceRuntime.open(mlp.dir, options);
  const local = await DeviceRuntime.open(mlp.dir, { ...options, fallback: true });
  try {
    assertMatches(await rt.infer({ x: x(0) }), 0);
    const viaServer = await local.infer({ x: x(1) });
    assert.equal(viaServer.fallback, false);
    assert.equal(rt.connected, true);
    await server.close();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(rt.connected, false);
    const gone = events.filter((e) => e.type === 'disconnected') as Array<Extract<DeviceEvent, { type: 'disconnected' }>>;
    assert.deepEqual(gone.map((e) => [e.code, e.reason, e.inFlight]), [[1001, 'going away', 0], [1001, 'going away', 0]]);
    await assert.rejects(rt.infer({ x: x(2) }), isCode('ERR_SERVER_UNREACHABLE', /could not reach ws:\/\/127\.0\.0\.1:\d+ in 3 attempts/));
    const r = await local.infer({ x: x(3) });
    assert.equal(r.fallback, true);
    assert.equal(r.fallbackCode, 'ERR_SERVER_UNREACHABLE');
    assertMatches(r, 3);
  } finally {
    await rt.close();
    await local.close();
  }
});

test('overload burst: refusals surface as ERR_OVERLOADED when retries are off, and are absorbed when they are on', async () => {
  const server = await startServer({ plans: [ocr.dir], port: 0, workers: 1, queue: 0 });
  const ocrInputs = await ocr.zoo.sampleInputs(1, 2);
  const feeds = { x: ocrInputs[0]!.x!.data as Float32Array };
  const [want] = await referenceOutputs(ocr.full, ocrInputs);
  const output = ocr.plan.server.outputs[0]!.name;
  try {
    const strict = await DeviceRuntime.open(ocr.dir, { server: server.url, heartbeatMs: 0, retry: { overloaded: 0 } });
    try {
      await strict.connect();
      const outcomes = await Promise.all(Array.from({ length: 8 }, () => strict.infer(feeds).then((r) => r, (e: unknown) => e)));
      const refused = outcomes.filter((o): o is EdgesplitError => o instanceof EdgesplitError);
      const served = outcomes.filter((o): o is InferResult => !(o instanceof EdgesplitError));
      assert.equal(refused.length + served.length, 8);
      assert.ok(refused.length >= 1, 'a burst of 8 on one worker with no queue is refused in part');
      assert.ok(served.length >= 1, 'the first request of the burst runs');
      for (const e of refused) {
        assert.equal(e.code, 'ERR_OVERLOADED');
        assert.equal(e.retryable, true);
        assert.match(e.message, /\(still refused after 0 retries; send fewer requests at once or add server workers\)$/);
      }
      for (const r of served) {
        const { maxDiff, scale } = compare(r.outputs[output]!.data as Float32Array, want![output]!.data as Float32Array);
        assert.ok(maxDiff <= 1e-5 * scale);
      }
    } finally {
      await strict.close();
    }
    const patient = await DeviceRuntime.open(ocr.dir, { server: server.url, heartbeatMs: 0, backoff: { baseMs: 20, capMs: 400 }, retry: { overloaded: 12 }, random: () => 1 - 1e-9 });
    try {
      await patient.connect();
      const results = await Promise.all(Array.from({ length: 8 }, () => patient.infer(feeds)));
      assert.ok(results.reduce((n, r) => n + r.timing.attempts, 0) > 8, 'some requests were refused and sent again');
      for (const r of results) {
        const { maxDiff, scale } = compare(r.outputs[output]!.data as Float32Array, want![output]!.data as Float32Array);
        assert.ok(maxDiff <= 1e-5 * scale);
      }
    } finally {
      await patient.close();
    }
  } finally {
    await server.close();
  }
});

test('BAD CALL - refusals of the hello: hash mismatch, unknown plan, missing and wrong token', async () => {
  const server = await startServer({ plans: [mlp.dir], port: 0, workers: 1, tokens: { devices: { 'pi-7': 'open sesame' } } });
  const mismatch = await editedCopy(mlp, (p) => {
    (p.server as { sha256: string }).sha256 = '0'.repeat(64);
  });
  const unknown = await editedCopy(mlp, (p) => {
    p.planId = 'not-served';
  });
  const open = (dir: string, token?: string): Promise<DeviceRuntime> => DeviceRuntime.open(dir, { server: server.url, deviceId: 'pi-7', heartbeatMs: 0, ...(token !== undefined ? { token } : {}) });
  const attempt = async (dir: string, token: string | undefined, check: (e: unknown) => boolean): Promise<void> => {
    const rt = await open(dir, token);
    try {
      await assert.rejects(rt.infer({ x: x(0) }), check);
    } finally {
      await rt.close();
    }
  };
  try {
    await attempt(mismatch, 'open sesame', isCode('ERR_HASH_MISMATCH', /the device expects a server half with sha256 0{64}, this server has [0-9a-f]{64}\. Copy the same plan directory to the device and the server\./));
    await attempt(unknown, 'open sesame', isCode('ERR_UNKNOWN_PLAN', /unknown plan 'not-served'\. This server serves: 'mlp-p\d+'/));
    await attempt(mlp.dir, undefined, isCode('ERR_UNAUTHORIZED', /device 'pi-7' sent no token, and this server requires one/));
    await attempt(mlp.dir, 'guess', isCode('ERR_UNAUTHORIZED', /wrong token for device 'pi-7'/));
    const rt = await open(mlp.dir, 'open sesame');
    try {
      assertMatches(await rt.infer({ x: x(1) }), 1);
    } finally {
      await rt.close();
    }
  } finally {
    await server.close();
    await rm(mismatch, { recursive: true, force: true });
    await rm(unknown, { recursive: true, force: true });
  }
});

test('wss: the device trusts a self-signed server certificate given as ca, and refuses it at once otherwise', { skip: !existsSync('/usr/bin/openssl') && 'openssl is not installed (needed to make a test certificate)' }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'edgesplit-tls-'));
  const keyPath = join(dir, 'key.pem');
  const certPath = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyPath, '-out', certPath], { stdio: 'ignore' });
  const cert = await readFile(certPath, 'utf8');
  const server = await startServer({ plans: [mlp.dir], port: 0, workers: 1, tls: { cert, key: await readFile(keyPath) } });
  try {
    assert.match(server.url, /^wss:\/\/127\.0\.0\.1:\d+$/);
    const trusted = await DeviceRuntime.open(mlp.dir, { server: server.url, ca: cert, heartbeatMs: 0 });
    try {
      assertMatches(await trusted.infer({ x: x(0) }), 0);
    } finally {
      await trusted.close();
    }
    const events: DeviceEvent[] = [];
    const untrusted = await DeviceRuntime.open(mlp.dir, { server: server.url, heartbeatMs: 0, onEvent: (e) => events.push(e) });
    try {
      await assert.rejects(untrusted.infer({ x: x(0) }), isCode('ERR_SERVER_UNREACHABLE', /self-signed certificate\. The server's TLS certificate is not trusted: give the device its certificate \(option ca, PEM\)/));
      assert.equal(events.filter((e) => e.type === 'reconnect-wait').length, 0, 'no retries for an untrusted certificate');
    } finally {
      await untrusted.close();
    }
  } finally {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
});
