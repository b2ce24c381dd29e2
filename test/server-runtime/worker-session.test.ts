// Tests of the session worker threads: the WorkerSession contract (session-contract.ts), sessions in
// two workers run at the same time, a pool replaces a worker that exits, and owned tensors move.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { openWorkerSession, type WorkerSession } from '../../server-runtime/worker-session.ts';
import { openOrtSession } from '../../server-runtime/session.ts';
import { SessionPool } from '../../server-runtime/pool.ts';
import { encodeModel } from '../../planner/onnx/model.ts';
import { wireTensor, tensorView, decodeFrame } from '../../shared/protocol.ts';
import { slowServer, slowFilled, SLOW_DIMS, SLOW_OUTPUTS } from './fixtures.ts';
import { sessionContract } from './session-contract.ts';
import { waitUntil } from './client.ts';

const model = encodeModel(slowServer());
const input = slowFilled;
let sessions: WorkerSession[];
const OUTPUTS = SLOW_OUTPUTS;

sessionContract('worker session', openWorkerSession);

before(async () => {
  sessions = await Promise.all([openWorkerSession(model), openWorkerSession(model)]);
});

after(async () => {
  await Promise.all(sessions.map((s) => s.close()));
});

test('two worker sessions run at the same time (their runs overlap), and give what ONNX Runtime gives in this thread', async () => {
  const [a, b] = await Promise.all(sessions.map((s, i) => s.submit([input(0.1 * (i + 1))]).result));
  const overlapMs = Math.min(a!.startedAtEpochMs + a!.runMs, b!.startedAtEpochMs + b!.runMs) - Math.max(a!.startedAtEpochMs, b!.startedAtEpochMs);
  assert.ok(overlapMs > 0, `runs did not overlap: ${JSON.stringify({ a: [a!.startedAtEpochMs, a!.runMs], b: [b!.startedAtEpochMs, b!.runMs] })}`);
  const local = await openOrtSession(model);
  try {
    const direct = await local.run([input(0.1)]);
    assert.deepEqual([...tensorView({ dtype: 'float32', data: a!.tensors[0]!.data })], [...tensorView({ dtype: 'float32', data: direct[0]!.data })]);
  } finally {
    await local.close();
  }
});

test('a pool replaces a session whose worker exits and keeps serving on the others meanwhile', async () => {
  const own = await Promise.all([openWorkerSession(model), openWorkerSession(model)]);
  const logs: string[] = [];
  let reopened = 0;
  const pool = new SessionPool('slow', own, 4, async () => {
    reopened++;
    return openWorkerSession(model);
  }, (line) => logs.push(line));
  try {
    await own[0]!.close();
    assert.equal(pool.liveSessions, 1);
    const results = await Promise.all([0, 1, 2].map((i) => pool.submit([input(0.1 * i)])));
    assert.equal(results.length, 3, 'every request is served by the live session');
    await waitUntil(() => pool.liveSessions >= 2, 'the pool has two live sessions again', () => pool.liveSessions);
    assert.equal(reopened, 1);
    assert.deepEqual(logs, ["a session worker of plan 'slow' exited (code 0); starting a new one"]);
  } finally {
    await pool.close();
  }
  assert.equal(pool.liveSessions, 0);
});

test('owned tensors move to the worker without a copy (their buffer is detached here); others are copied and stay readable', async () => {
  const s = sessions[0]!;
  const frame = new Uint8Array(8 + SLOW_DIMS[0] * SLOW_DIMS[1] * 4);
  const values = new Float32Array(frame.buffer, 8, SLOW_DIMS[0] * SLOW_DIMS[1]).fill(0.3);
  const moved = wireTensor('h', 'float32', [...SLOW_DIMS], values);
  const movedRun = await s.submit([moved], undefined, true).result;
  assert.equal(frame.buffer.byteLength, 0, 'the owned buffer was transferred, not cloned');
  const kept = input(0.3);
  const keptRun = await s.submit([kept]).result;
  assert.equal(kept.data.byteLength, SLOW_DIMS[0] * SLOW_DIMS[1] * 4, 'a tensor not owned stays readable');
  assert.deepEqual([...tensorView({ dtype: 'float32', data: movedRun.tensors[0]!.data })], [...tensorView({ dtype: 'float32', data: keptRun.tensors[0]!.data })]);
});

test('with a ResultFrameSpec the worker sends back the encoded result frame: request id, outputs and timing', async () => {
  const s = sessions[1]!;
  const acceptedAtEpochMs = performance.timeOrigin + performance.now() - 5;
  const run = await s.submit([input(0.3)], undefined, false, { requestId: 41, outputOrder: [0], outputs: OUTPUTS, acceptedAtEpochMs }).result;
  assert.equal(run.tensors.length, 0);
  assert.ok(run.frame, 'a frame came back');
  const frame = decodeFrame(run.frame);
  assert.equal(frame.type, 'result');
  if (frame.type !== 'result') return;
  assert.equal(frame.requestId, 41);
  assert.equal(frame.timing.runMs, run.runMs);
  assert.equal(frame.timing.queueMs, run.startedAtEpochMs - acceptedAtEpochMs);
  assert.ok(frame.timing.queueMs >= 5);
  const plain = await s.submit([input(0.3)]).result;
  assert.deepEqual(frame.tensors.map((t) => t.name), [plain.tensors[0]!.name]);
  assert.deepEqual([...tensorView({ dtype: 'float32', data: frame.tensors[0]!.data })], [...tensorView({ dtype: 'float32', data: plain.tensors[0]!.data })]);
});

