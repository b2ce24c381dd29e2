// A plan made for the last cut runs wholly on the device: the planner marks it split.fullyOnDevice, and the
// device runtime runs both halves itself without a server, answering exactly as the original model does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { plan } from '../../planner/plan/index.ts';
import { loadZooModel } from '../../planner/zoo/index.ts';
import { createSession, maxAbsDiff } from '../../planner/onnx/session.ts';
import { DeviceRuntime } from '../../device-runtime/index.ts';

test('a fully on-device plan runs without a server and equals the original model', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'edgesplit-ondevice-'));
  try {
    // Over LTE (30 ms round trip) with a 100 ms budget, the tiny MNIST model is cheapest kept on the device.
    const r = await plan({ model: 'mnist-mlp', device: 'rpi4', channel: 'lte', budgets: { latency: '100ms', energy: '1mJ' }, out: dir, calibrationInputs: 8 });
    assert.equal(r.decision.cutIndex, r.problem.problem.cuts.length - 1, 'the planner keeps the whole model on the device');
    assert.equal(r.plan.split.fullyOnDevice, true);
    assert.equal(r.plan.predicted.latencyMs.transmit, 0);
    assert.equal(r.plan.predicted.latencyMs.roundTrip, 0);

    const events: string[] = [];
    // Nothing listens on port 1: any attempt to connect would fail the request.
    const rt = await DeviceRuntime.open(dir, { server: 'ws://127.0.0.1:1', onEvent: (e) => events.push(e.type) });
    const zoo = await loadZooModel('mnist-mlp');
    const original = await createSession(zoo.model);
    try {
      await rt.connect();
      for (const feeds of await zoo.sampleInputs(5, 3)) {
        const x = feeds.x!;
        const res = await rt.infer({ x: { dims: x.dims, data: x.data } });
        assert.equal(res.local, true);
        assert.equal(res.fallback, false);
        assert.equal(res.timing.networkMs, 0);
        assert.equal(res.timing.attempts, 0);
        const want = (await original.run(feeds)).logits!;
        const { maxDiff, scale } = maxAbsDiff(res.outputs.logits!.data as Float32Array, want.data as Float32Array);
        assert.ok(maxDiff <= 1e-5 * scale, `max abs diff ${maxDiff} at scale ${scale}`);
      }
      assert.equal(rt.connected, false);
      assert.deepEqual(events, [], 'no connect, retry or fallback event');
    } finally {
      await rt.close();
      await original.release();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
