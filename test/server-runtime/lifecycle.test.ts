// Tests of the server runtime's life cycle and security: plans refused at load, graceful shutdown
// (in-flight work finished, 1001), restart on the same port (1012, then a new client is served),
// bearer tokens in hello, and wss with a self-signed certificate.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../../server-runtime/server.ts';
import { loadTokens } from '../../server-runtime/auth.ts';
import { CLOSE_CODES, wireTensor } from '../../shared/protocol.ts';
import { EdgesplitError } from '../../shared/errors.ts';
import { TestClient, waitUntil } from './client.ts';
import { type PlanDir, mlpHalves, slowHalves, bigHalves, writePlanDir, removeDirs, SLOW_DIMS, BIG_ELEMENTS } from './fixtures.ts';

let mlp: PlanDir;
let slow: PlanDir;
let scratch: string;

before(async () => {
  mlp = await writePlanDir('mlp', mlpHalves());
  // NOTE: about 0.2 s a run, so that the shutdown test's checks land while the two requests drain
  // (at the default 25 ms a run they sometimes drained first and the listener was already gone).
  slow = await writePlanDir('slow', slowHalves(1280));
  scratch = await mkdtemp(join(tmpdir(), 'edgesplit-lifecycle-'));
});

after(async () => {
  await removeDirs(mlp, slow);
  await rm(scratch, { recursive: true, force: true });
});

const slowInput = (): ReturnType<typeof wireTensor> => wireTensor('h', 'float32', [...SLOW_DIMS], new Float32Array(SLOW_DIMS[0] * SLOW_DIMS[1]).fill(0.25));
const mlpInput = (): ReturnType<typeof wireTensor> => wireTensor('h', 'float32', [1, 16], new Float32Array(16).fill(0.5));

async function refusal(p: Promise<unknown>): Promise<EdgesplitError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof EdgesplitError, `expected an EdgesplitError, got ${String(e)}`);
    return e;
  }
  assert.fail('the server started');
}

test('BAD CALL - a server half whose sha256 differs from plan.json is ERR_PLAN_HASH at start', async () => {
  const bad = await writePlanDir('mlp', mlpHalves());
  const plan = JSON.parse(readFileSync(bad.planPath, 'utf8'));
  plan.server.sha256 = '0'.repeat(64);
  await writeFile(bad.planPath, JSON.stringify(plan));
  const e = await refusal(startServer({ plans: [bad.dir], port: 0, workers: 1 }));
  assert.equal(e.code, 'ERR_PLAN_HASH');
  assert.equal(e.message, `${join(bad.dir, 'server.onnx')} has sha256 ${bad.serverSha256}, but plan.json of plan 'mlp' says ${'0'.repeat(64)}. The file was changed or belongs to another plan: copy the whole plan directory again.`);
  await removeDirs(bad);
});

test('BAD CALL - invalid plans, missing plans and duplicate plan ids are refused at start', async () => {
  const invalidPath = join(scratch, 'plan.json');
  await writeFile(invalidPath, JSON.stringify({ schemaVersion: 1, planId: 'x' }));
  const invalid = await refusal(startServer({ plans: [invalidPath], port: 0 }));
  assert.equal(invalid.code, 'ERR_PLAN_INVALID');
  assert.match(invalid.message, /plan\.json of plan 'x' does not follow plan schema 1 \(3 problems\): split: missing \(expected an object\); device: missing \(expected an object\); server: missing \(expected an object\)/);
  const missing = await refusal(startServer({ plans: [join(scratch, 'nowhere')], port: 0 }));
  assert.equal(missing.code, 'ERR_FILE_NOT_FOUND');
  const twice = await refusal(startServer({ plans: [mlp.dir, mlp.planPath], port: 0 }));
  assert.equal(twice.code, 'ERR_USAGE');
  assert.match(twice.message, /^plan id 'mlp' is given twice/);
});

test('BAD CALL - a plan whose crossing does not match the server graph is ERR_PLAN_INVALID', async () => {
  const halves = mlpHalves();
  const wrong = await writePlanDir('wrong', { ...halves, crossing: [{ name: 'z', dtype: 'float32', dims: [1, 16] }] });
  const e = await refusal(startServer({ plans: [wrong.dir], port: 0, workers: 1 }));
  assert.equal(e.code, 'ERR_PLAN_INVALID');
  assert.match(e.message, /server half of plan 'wrong' does not match plan\.json: its graph inputs are \[h\] and split\.crossing lists \[z\]/);
  await removeDirs(wrong);
});

test('graceful shutdown: in-flight and queued work finishes, new work is refused, sockets close with 1001, then restart on the same port', async () => {
  const server = await startServer({ plans: [slow.dir], port: 0, workers: 1, queue: 4 });
  const c = await TestClient.connect(server.url);
  await c.hello({ planId: 'slow', serverSha256: slow.serverSha256 });
  c.send({ type: 'infer', requestId: 1, tensors: [slowInput()] });
  c.send({ type: 'infer', requestId: 2, tensors: [slowInput()] });
  // Both requests must be accepted (running, handed to the session ahead, queued or done) before close.
  await waitUntil(() => { const m = server.metrics(); return (m.inFlight.slow ?? 0) + (m.queueDepth.slow ?? 0) + (m.requests.slow?.ok ?? 0) >= 2; }, 'requests 1 and 2 are accepted', () => server.metrics());
  const closing = server.close();
  const ready = await fetch(`http://127.0.0.1:${server.port}/health/ready`);
  assert.equal(ready.status, 503, 'not ready while shutting down');
  assert.deepEqual(await ready.json(), { status: 'shutting down' });
  await assert.rejects(TestClient.connect(server.url), /Unexpected server response: 503/, 'no new connections while shutting down');
  c.send({ type: 'infer', requestId: 3, tensors: [slowInput()] });
  const frames = (await c.waitFrames(4, 30_000)).slice(1);
  const byId = new Map(frames.map((f) => [f.type === 'result' || f.type === 'error' ? f.requestId : -1, f]));
  assert.equal(byId.get(1)?.type, 'result');
  assert.equal(byId.get(2)?.type, 'result');
  const refused = byId.get(3);
  assert.ok(refused?.type === 'error' && refused.code === 'ERR_SHUTTING_DOWN' && refused.retryable, JSON.stringify(refused));
  assert.deepEqual(await c.closedWithin(), { code: CLOSE_CODES.GOING_AWAY, reason: 'going away' });
  await closing;

  const again = await startServer({ plans: [slow.dir, mlp.dir], port: server.port, workers: 1 });
  assert.equal(again.port, server.port);
  const d = await TestClient.connect(again.url);
  await d.hello({ planId: 'mlp', serverSha256: mlp.serverSha256 });
  d.send({ type: 'infer', requestId: 1, tensors: [mlpInput()] });
  assert.equal((await d.next()).type, 'result', 'a new client is served after the restart');
  await again.close({ restart: true });
  assert.deepEqual(await d.closedWithin(), { code: CLOSE_CODES.SERVICE_RESTART, reason: 'service restart' });
});

test('bearer tokens: per-device and shared tokens in hello; missing or wrong tokens are ERR_UNAUTHORIZED', async () => {
  const tokensPath = join(scratch, 'tokens.json');
  await writeFile(tokensPath, JSON.stringify({ devices: { 'pi-1': 'pi-1-secret-token' }, shared: 'shared-secret-token' }));
  const tokens = await loadTokens(tokensPath);
  const server = await startServer({ plans: [mlp.dir], port: 0, workers: 1, tokens });
  try {
    const cases: Array<[string, string | undefined, string | undefined]> = [
      ['pi-1', 'pi-1-secret-token', undefined],
      ['pi-2', 'shared-secret-token', undefined],
      ['pi-1', undefined, "device 'pi-1' sent no token, and this server requires one. Put the device's token in its hello (device runtime option token)."],
      ['pi-1', 'shared-secret-token', "wrong token for device 'pi-1'. Check the token the device was given against the server's --tokens file."],
      ['pi-2', 'pi-1-secret-token', "wrong token for device 'pi-2'. Check the token the device was given against the server's --tokens file."],
    ];
    for (const [deviceId, token, refusedWith] of cases) {
      const c = await TestClient.connect(server.url);
      const answer = await c.hello({ planId: 'mlp', serverSha256: mlp.serverSha256, deviceId, ...(token === undefined ? {} : { token }) });
      if (refusedWith === undefined) {
        assert.equal(answer.type, 'hello-ok', `${deviceId}: ${JSON.stringify(answer)}`);
        await c.close();
      } else {
        assert.deepEqual(answer, { type: 'error', code: 'ERR_UNAUTHORIZED', message: refusedWith, retryable: false });
        assert.equal((await c.closedWithin()).code, CLOSE_CODES.POLICY_VIOLATION);
      }
    }
  } finally {
    await server.close();
  }
  await writeFile(tokensPath, JSON.stringify({ devices: { 'pi-1': 'short' } }));
  await assert.rejects(loadTokens(tokensPath), { code: 'ERR_USAGE', message: `tokens file ${tokensPath}: the token of device "pi-1" must be a string of at least 8 characters. Expected { "devices": { "<deviceId>": "<token>" }, "shared": "<token>" }.` });
});

test('wss: TLS from a certificate and key, checked by the client against that certificate', { skip: !existsSync('/usr/bin/openssl') && 'openssl is not installed' }, async () => {
  const certPath = join(scratch, 'cert.pem');
  const keyPath = join(scratch, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyPath, '-out', certPath], { stdio: 'ignore' });
  const cert = readFileSync(certPath);
  const server = await startServer({ plans: [mlp.dir], port: 0, workers: 1, tls: { cert, key: readFileSync(keyPath) } });
  try {
    assert.match(server.url, /^wss:\/\/127\.0\.0\.1:\d+$/);
    const c = await TestClient.connect(server.url, { ca: cert });
    assert.equal((await c.hello({ planId: 'mlp', serverSha256: mlp.serverSha256 })).type, 'hello-ok');
    c.send({ type: 'infer', requestId: 1, tensors: [mlpInput()] });
    assert.equal((await c.next()).type, 'result');
    await c.close();
    await assert.rejects(TestClient.connect(server.url), /self-signed certificate/, 'a client that does not trust the certificate is refused');
  } finally {
    await server.close();
  }
});

test('a device that does not read its answers gets retryable ERR_OVERLOADED for new requests instead of filling server memory', async () => {
  const big = await writePlanDir('big', bigHalves());
  const server = await startServer({ plans: [big.dir], port: 0, workers: 1, queue: 64, maxUnreadBytes: 1024 * 1024 });
  try {
    const c = await TestClient.connect(server.url);
    await c.hello({ planId: 'big', serverSha256: big.serverSha256 });
    c.ws.pause();
    const tensor = wireTensor('h', 'float32', [1, BIG_ELEMENTS], new Float32Array(BIG_ELEMENTS).fill(1));
    const n = 48;
    for (let i = 0; i < n; i++) {
      c.send({ type: 'infer', requestId: i, tensors: [tensor] });
      await new Promise((r) => setTimeout(r, 5));
    }
    await waitUntil(() => (server.metrics().requests.big?.ok ?? 0) + (server.metrics().requests.big?.ERR_OVERLOADED ?? 0) >= n, `${n} requests are answered`, () => server.metrics());
    c.ws.resume();
    const frames = (await c.waitFrames(n + 1, 30_000)).slice(1);
    const refused = frames.filter((f) => f.type === 'error');
    assert.ok(refused.length > 0 && refused.length < n, `expected some refusals, got ${refused.length} of ${n}`);
    for (const f of refused) {
      assert.ok(f.type === 'error' && f.code === 'ERR_OVERLOADED' && f.retryable, JSON.stringify(f));
      assert.match(f.type === 'error' ? f.message : '', /^the device is not reading its answers: \d+ bytes wait to be sent on this connection \(limit 1048576\)\. Read results before sending more requests\.$/);
    }
    c.send({ type: 'infer', requestId: n, tensors: [tensor] });
    assert.equal((await c.next()).type, 'result', 'once the device reads again, its requests are served');
    await c.close();
  } finally {
    await server.close();
    await removeDirs(big);
  }
});
