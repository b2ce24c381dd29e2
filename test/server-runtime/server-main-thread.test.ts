// Every test of server.test.ts again with `workers: 0`, the session on the server's main thread
// (server-runtime/inline-session.ts) instead of a worker thread, and what that mode does with a burst.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from '../../server-runtime/server.ts';
import { wireTensor } from '../../shared/protocol.ts';
import { TestClient } from './client.ts';
import { slowHalves, writePlanDir, removeDirs, SLOW_DIMS } from './fixtures.ts';

process.env.EDGESPLIT_TEST_WORKERS = '0';
await import('./server.test.ts');

test('main thread: a burst of 10 on 1 session and a queue of 2 gets every request answered once, each a result or a retryable ERR_OVERLOADED, at least 3 results', async () => {
  const slow = await writePlanDir('slow', slowHalves());
  const server = await startServer({ plans: [slow.dir], port: 0, workers: 0, queue: 2 });
  const c = await TestClient.connect(server.url);
  try {
    assert.equal((await c.hello({ planId: 'slow', serverSha256: slow.serverSha256 })).type, 'hello-ok');
    for (let i = 0; i < 10; i++) c.send({ type: 'infer', requestId: i, tensors: [wireTensor('h', 'float32', [...SLOW_DIMS], new Float32Array(SLOW_DIMS[0] * SLOW_DIMS[1]).fill(i / 10))] });
    const frames = (await c.waitFrames(11, 30_000)).slice(1);
    const ids = frames.map((f) => (f.type === 'result' || f.type === 'error' ? f.requestId ?? -1 : -1)).sort((a, b) => a - b);
    assert.deepEqual(ids, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'one answer for each request');
    const results = frames.filter((f) => f.type === 'result').length;
    assert.ok(results >= 3, `${results} results: the session and the two queue slots take the first three`);
    for (const f of frames) if (f.type === 'error') assert.ok(f.code === 'ERR_OVERLOADED' && f.retryable, JSON.stringify(f));
    const m = server.metrics().requests.slow ?? {};
    assert.equal(m.ok, results);
    assert.equal((m.ok ?? 0) + (m.ERR_OVERLOADED ?? 0), 10);
  } finally {
    await c.close();
    await server.close();
    await removeDirs(slow);
  }
});
