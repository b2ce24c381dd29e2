// Tests of the session worker threads: sessions in two workers run at the same time, a worker runs
// what it is handed in order, and takes back or expires requests it has not started.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { openWorkerSession, type WorkerSession } from '../../server-runtime/worker-session.ts';
import { openOrtSession } from '../../server-runtime/session.ts';
import { SessionPool } from '../../server-runtime/pool.ts';
import { encodeModel } from '../../planner/onnx/model.ts';
import { wireTensor, tensorView, decodeFrame, encodeFrame } from '../../shared/protocol.ts';
import { EdgesplitError } from '../../shared/errors.ts';
import { slowServer, SLOW_DIMS } from './fixtures.ts';
import { waitUntil } from './client.ts';

const model = encodeModel(slowServer());
const input = (v: number): ReturnType<typeof wireTensor> => wireTensor('h', 'float32', [...SLOW_DIMS], new Float32Array(SLOW_DIMS[0] * SLOW_DIMS[1]).fill(v));
let sessions: WorkerSession[];
/** The slow server's one output, as a plan's server.outputs gives it. */
const OUTPUTS = [{ name: 'y', dtype: 'float32', dims: [...SLOW_DIMS] }] as const;

before(async () => {
  sessions = await Promise.all([openWorkerSession(model), openWorkerSession(model)]);
});

after(async () => {
  await Promise.all(sessions.map((s) => s.close()));
});

async function rejection(p: Promise<unknown>): Promise<EdgesplitError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof EdgesplitError, String(e));
    return e;
  }
  assert.fail('the request succeeded');
}

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

test('a worker runs what it is handed in order; a request taken back or past its deadline before it starts never runs', async () => {
  const s = sessions[0]!;
  // Two runs ahead of them keep the worker busy while the cancel and the deadline come due.
  const ahead = [s.submit([input(0.2)]), s.submit([input(0.25)])];
  const takenBack = s.submit([input(0.3)]);
  takenBack.cancel();
  const expired = s.submit([input(0.4)], performance.timeOrigin + performance.now() + 1);
  const last = s.submit([input(0.5)]);
  const [e3, e4] = await Promise.all([rejection(takenBack.result), rejection(expired.result)]);
  assert.equal(e3.code, 'ERR_CONNECTION_LOST');
  assert.equal(e4.code, 'ERR_DEADLINE_EXCEEDED');
  const [r1, r2, r5] = await Promise.all([...ahead.map((t) => t.result), last.result]);
  assert.ok(r2!.startedAtEpochMs >= r1!.startedAtEpochMs + r1!.runMs && r5!.startedAtEpochMs >= r2!.startedAtEpochMs + r2!.runMs, 'runs follow each other in the order handed over');
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

test('BAD CALL - a ResultFrameSpec naming an output the session does not have is ERR_INFERENCE_FAILED', async () => {
  const e = await rejection(sessions[1]!.submit([input(0.3)], undefined, false, { requestId: 1, outputOrder: [0, 3], outputs: [...OUTPUTS, ...OUTPUTS], acceptedAtEpochMs: 0 }).result);
  assert.equal(e.code, 'ERR_INFERENCE_FAILED');
  assert.equal(e.message, 'the result frame asks for outputs [0, 3] of a session with 1 outputs');
});

test('after the first result frame shows the plan\'s shapes, the worker has ONNX Runtime write into the laid-out frame: the same bytes as encoding the outputs', async () => {
  const s = await openWorkerSession(model);
  try {
    const frames = [];
    for (let i = 0; i < 3; i++) {
      const run = await s.submit([input(0.2)], undefined, false, { requestId: 7, outputOrder: [0], outputs: OUTPUTS, acceptedAtEpochMs: 0 }).result;
      assert.ok(run.frame);
      frames.push({ run, frame: run.frame });
    }
    const plain = await s.submit([input(0.2)]).result;
    for (const { run, frame } of frames) {
      const expected = encodeFrame({ type: 'result', requestId: 7, tensors: [{ ...plain.tensors[0]!, name: 'y' }], timing: { queueMs: run.startedAtEpochMs, runMs: run.runMs } });
      assert.ok(Buffer.from(frame).equals(Buffer.from(expected)), 'the frame is what encodeFrame writes for the outputs');
    }
  } finally {
    await s.close();
  }
});

test('a plan whose output shape is not what the session gives still gets the session\'s real outputs, run after run', async () => {
  const s = await openWorkerSession(model);
  try {
    const wrong = [{ name: 'y', dtype: 'float32' as const, dims: [SLOW_DIMS[0], SLOW_DIMS[1] + 1] }];
    for (let i = 0; i < 3; i++) {
      const run = await s.submit([input(0.2)], undefined, false, { requestId: i, outputOrder: [0], outputs: wrong, acceptedAtEpochMs: 0 }).result;
      const frame = decodeFrame(run.frame!);
      assert.ok(frame.type === 'result');
      if (frame.type !== 'result') return;
      assert.deepEqual(frame.tensors[0]!.dims, [...SLOW_DIMS]);
    }
  } finally {
    await s.close();
  }
});
