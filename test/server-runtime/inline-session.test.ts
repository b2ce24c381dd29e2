// Tests of the session on the server's main thread (`--workers 0`): the WorkerSession contract the
// pool relies on, as worker-session.test.ts tests it for worker threads: order, taking back,
// deadlines, result frames and closing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { openInlineSession } from '../../server-runtime/inline-session.ts';
import { openOrtSession } from '../../server-runtime/session.ts';
import type { WorkerSession } from '../../server-runtime/worker-session.ts';
import { encodeModel } from '../../planner/onnx/model.ts';
import { wireTensor, tensorView, decodeFrame, encodeFrame } from '../../shared/protocol.ts';
import { EdgesplitError } from '../../shared/errors.ts';
import { slowServer, SLOW_DIMS } from './fixtures.ts';

const model = encodeModel(slowServer());
const input = (v: number): ReturnType<typeof wireTensor> => wireTensor('h', 'float32', [...SLOW_DIMS], new Float32Array(SLOW_DIMS[0] * SLOW_DIMS[1]).fill(v));
const OUTPUTS = [{ name: 'y', dtype: 'float32', dims: [...SLOW_DIMS] }] as const;
let s: WorkerSession;

before(async () => {
  s = await openInlineSession(model);
});

after(async () => {
  await s.close();
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

test('runs give what ONNX Runtime gives directly, one after the other in the order submitted; a request taken back or past its deadline before it starts never runs', async () => {
  const first = s.submit([input(0.2)]);
  const second = s.submit([input(0.25)]);
  const takenBack = s.submit([input(0.3)]);
  takenBack.cancel();
  const expired = s.submit([input(0.4)], performance.timeOrigin + performance.now() + 1);
  const last = s.submit([input(0.5)]);
  const [e3, e4] = await Promise.all([rejection(takenBack.result), rejection(expired.result)]);
  assert.equal(e3.code, 'ERR_CONNECTION_LOST');
  assert.equal(e4.code, 'ERR_DEADLINE_EXCEEDED');
  const [r1, r2, r5] = await Promise.all([first.result, second.result, last.result]);
  assert.ok(r2!.startedAtEpochMs >= r1!.startedAtEpochMs + r1!.runMs && r5!.startedAtEpochMs >= r2!.startedAtEpochMs + r2!.runMs, 'runs follow each other in the order submitted');
  const direct = await openOrtSession(model);
  try {
    const expected = await direct.run([input(0.2)]);
    assert.deepEqual([...tensorView({ dtype: 'float32', data: r1!.tensors[0]!.data })], [...tensorView({ dtype: 'float32', data: expected[0]!.data })]);
  } finally {
    await direct.close();
  }
});

test('with a ResultFrameSpec the result comes as the frame to send, the same bytes run after run as encoding the outputs', async () => {
  const plain = await s.submit([input(0.3)]).result;
  for (let i = 0; i < 3; i++) {
    const acceptedAtEpochMs = performance.timeOrigin + performance.now();
    const run = await s.submit([input(0.3)], undefined, false, { requestId: 40 + i, outputOrder: [0], outputs: OUTPUTS, acceptedAtEpochMs }).result;
    assert.equal(run.tensors.length, 0);
    assert.ok(run.frame);
    const timing = { queueMs: run.startedAtEpochMs - acceptedAtEpochMs, runMs: run.runMs };
    assert.ok(Buffer.from(run.frame).equals(Buffer.from(encodeFrame({ type: 'result', requestId: 40 + i, tensors: [{ ...plain.tensors[0]!, name: 'y' }], timing }))), `frame ${i}`);
    const frame = decodeFrame(run.frame);
    assert.ok(frame.type === 'result' && frame.requestId === 40 + i);
  }
});

test('BAD CALL - a ResultFrameSpec naming an output the session does not have is ERR_INFERENCE_FAILED', async () => {
  const e = await rejection(s.submit([input(0.3)], undefined, false, { requestId: 1, outputOrder: [0, 3], outputs: [...OUTPUTS, ...OUTPUTS], acceptedAtEpochMs: 0 }).result);
  assert.equal(e.code, 'ERR_INFERENCE_FAILED');
  assert.equal(e.message, 'the result frame asks for outputs [0, 3] of a session with 1 outputs');
});

test('close: requests not started are refused, the session is no longer alive and reports its exit', async () => {
  const own = await openInlineSession(model);
  const running = own.submit([input(0.1)]);
  const waiting = own.submit([input(0.2)]);
  await running.result;
  await own.close();
  assert.equal((await rejection(waiting.result)).code, 'ERR_INFERENCE_FAILED');
  assert.equal(own.alive, false);
  assert.equal(await own.exited, 0);
  assert.equal((await rejection(own.submit([input(0.3)]).result)).code, 'ERR_INFERENCE_FAILED');
});
