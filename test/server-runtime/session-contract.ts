// The WorkerSession contract the pool relies on, registered as tests for each kind of session: a
// worker thread's (worker-session.test.ts) and the main thread's (inline-session.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { WorkerSession } from '../../server-runtime/worker-session.ts';
import { openOrtSession } from '../../server-runtime/session.ts';
import { encodeModel } from '../../planner/onnx/model.ts';
import { tensorView, decodeFrame, encodeFrame } from '../../shared/protocol.ts';
import { slowServer, slowFilled, SLOW_DIMS, SLOW_OUTPUTS } from './fixtures.ts';
import { rejection } from '../assert-errors.ts';

/** Register the contract's tests for sessions that `open` starts on model bytes. */
export function sessionContract(kind: string, open: (modelBytes: Uint8Array) => Promise<WorkerSession>): void {
  const model = encodeModel(slowServer());
  const withSession = async (body: (s: WorkerSession) => Promise<void>): Promise<void> => {
    const s = await open(model);
    try {
      await body(s);
    } finally {
      await s.close();
    }
  };

  test(`${kind}: runs give what ONNX Runtime gives directly, one after the other in the order submitted; a request taken back or past its deadline before it starts never runs`, () => withSession(async (s) => {
    // Two runs ahead of them keep the session busy while the cancel and the deadline come due.
    const ahead = [s.submit([slowFilled(0.2)]), s.submit([slowFilled(0.25)])];
    const takenBack = s.submit([slowFilled(0.3)]);
    takenBack.cancel();
    const expired = s.submit([slowFilled(0.4)], performance.timeOrigin + performance.now() + 1);
    const last = s.submit([slowFilled(0.5)]);
    const [e3, e4] = await Promise.all([rejection(takenBack.result), rejection(expired.result)]);
    assert.equal(e3.code, 'ERR_CONNECTION_LOST');
    assert.equal(e4.code, 'ERR_DEADLINE_EXCEEDED');
    const [r1, r2, r5] = await Promise.all([...ahead.map((t) => t.result), last.result]);
    assert.ok(r2!.startedAtEpochMs >= r1!.startedAtEpochMs + r1!.runMs && r5!.startedAtEpochMs >= r2!.startedAtEpochMs + r2!.runMs, 'runs follow each other in the order submitted');
    const direct = await openOrtSession(model);
    try {
      const expected = await direct.run([slowFilled(0.2)]);
      assert.deepEqual([...tensorView({ dtype: 'float32', data: r1!.tensors[0]!.data })], [...tensorView({ dtype: 'float32', data: expected[0]!.data })]);
    } finally {
      await direct.close();
    }
  }));

  test(`${kind}: with a ResultFrameSpec the result comes as the frame to send, the same bytes as encoding the outputs, also once ONNX Runtime writes into the frame laid out ahead`, () => withSession(async (s) => {
    const plain = await s.submit([slowFilled(0.3)]).result;
    for (let i = 0; i < 3; i++) {
      const acceptedAtEpochMs = performance.timeOrigin + performance.now();
      const run = await s.submit([slowFilled(0.3)], undefined, false, { requestId: 40 + i, outputOrder: [0], outputs: SLOW_OUTPUTS, acceptedAtEpochMs }).result;
      assert.equal(run.tensors.length, 0);
      assert.ok(run.frame, 'a frame came back');
      const timing = { queueMs: run.startedAtEpochMs - acceptedAtEpochMs, runMs: run.runMs };
      const expected = encodeFrame({ type: 'result', requestId: 40 + i, tensors: [{ ...plain.tensors[0]!, name: 'y' }], timing });
      assert.ok(Buffer.from(run.frame).equals(Buffer.from(expected)), `frame ${i} is what encodeFrame writes for the outputs`);
    }
  }));

  test(`${kind}: a plan whose output shape is not what the session gives still gets the session's real outputs, run after run`, () => withSession(async (s) => {
    const wrong = [{ name: 'y', dtype: 'float32' as const, dims: [SLOW_DIMS[0], SLOW_DIMS[1] + 1] }];
    for (let i = 0; i < 3; i++) {
      const run = await s.submit([slowFilled(0.2)], undefined, false, { requestId: i, outputOrder: [0], outputs: wrong, acceptedAtEpochMs: 0 }).result;
      const frame = decodeFrame(run.frame!);
      assert.ok(frame.type === 'result');
      if (frame.type !== 'result') return;
      assert.deepEqual(frame.tensors[0]!.dims, [...SLOW_DIMS]);
    }
  }));

  test(`${kind}: BAD CALL - a ResultFrameSpec naming an output the session does not have is ERR_INFERENCE_FAILED`, () => withSession(async (s) => {
    const e = await rejection(s.submit([slowFilled(0.3)], undefined, false, { requestId: 1, outputOrder: [0, 3], outputs: [...SLOW_OUTPUTS, ...SLOW_OUTPUTS], acceptedAtEpochMs: 0 }).result);
    assert.equal(e.code, 'ERR_INFERENCE_FAILED');
    assert.equal(e.message, 'the result frame asks for outputs [0, 3] of a session with 1 outputs');
  }));
}
