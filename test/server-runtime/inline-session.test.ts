// Tests of the session on the server's main thread (`--workers 0`): the WorkerSession contract the
// pool relies on (session-contract.ts), and closing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openInlineSession } from '../../server-runtime/inline-session.ts';
import { encodeModel } from '../../planner/onnx/model.ts';
import { slowServer, slowFilled } from './fixtures.ts';
import { rejection } from '../assert-errors.ts';
import { sessionContract } from './session-contract.ts';

sessionContract('main-thread session', openInlineSession);

test('main-thread session: close refuses the requests not started; the session is then not alive and reports its exit', async () => {
  const own = await openInlineSession(encodeModel(slowServer()));
  const running = own.submit([slowFilled(0.1)]);
  const waiting = own.submit([slowFilled(0.2)]);
  await running.result;
  await own.close();
  assert.equal((await rejection(waiting.result)).code, 'ERR_INFERENCE_FAILED');
  assert.equal(own.alive, false);
  assert.equal(await own.exited, 0);
  assert.equal((await rejection(own.submit([slowFilled(0.3)]).result)).code, 'ERR_INFERENCE_FAILED');
});
