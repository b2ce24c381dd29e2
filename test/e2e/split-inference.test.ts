// End to end on loopback with real sessions: the device runtime runs the head in onnxruntime-node, the
// server runtime runs the tail, and the composed outputs equal the full model's within 1e-5 of their scale.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeviceRuntime } from '../../device-runtime/index.ts';
import { plan } from '../../planner/plan/index.ts';
import { createSession } from '../../planner/onnx/session.ts';
import { startServer, type EdgesplitServer } from '../../server-runtime/server.ts';
import { compare, makePlanDirs, referenceOutputs, type PlanFixture } from './fixtures.ts';

/** Zoo models and where to cut them (fractions of each model's inner cut points). */
const CASES: Array<{ id: string; cuts: number[]; samples: number }> = [
  { id: 'mlp', cuts: [0.2, 0.5, 0.9], samples: 3 },
  { id: 'cnn', cuts: [0.2, 0.5, 0.9], samples: 2 },
  { id: 'transformer', cuts: [0.2, 0.5, 0.9], samples: 2 },
  { id: 'mnist-mlp', cuts: [0.2, 0.5, 0.9], samples: 3 },
  { id: 'ppocr-rec', cuts: [0.3, 0.7], samples: 1 },
];

let fixtures: PlanFixture[] = [];
let server: EdgesplitServer;

before(async () => {
  for (const c of CASES) fixtures.push(...await makePlanDirs(c.id, c.cuts));
  server = await startServer({ plans: fixtures.map((f) => f.dir), port: 0, workers: 1 });
});

after(async () => {
  await server?.close();
  for (const f of fixtures) await f.remove();
  fixtures = [];
});

for (const c of CASES) {
  test(`${c.id}: device half + server half over WebSocket equals the full model at ${c.cuts.length} cuts`, async () => {
    const mine = fixtures.filter((f) => f.zoo.id === c.id);
    assert.equal(mine.length, c.cuts.length);
    assert.equal(new Set(mine.map((f) => f.plan.planId)).size, mine.length, 'the cuts are distinct');
    const inputs = await mine[0]!.zoo.sampleInputs(c.samples, 11);
    const reference = await referenceOutputs(mine[0]!.full, inputs);
    for (const f of mine) {
      const rt = await DeviceRuntime.open(f.dir, { server: server.url, deviceId: `test-${f.plan.planId}` });
      try {
        // Each input twice: from its second request on, the server's session writes the outputs
        // straight into the result frame laid out ahead.
        for (const [i, feeds] of [...inputs.entries(), ...inputs.entries()]) {
          const r = await rt.infer(Object.fromEntries(Object.entries(feeds).map(([name, t]) => [name, { dims: t.dims, data: t.data }])));
          assert.equal(r.fallback, false);
          for (const spec of f.plan.server.outputs) {
            const got = r.outputs[spec.name]!;
            const want = reference[i]![spec.name]!;
            assert.deepEqual(got.dims, want.dims);
            if (got.data.byteLength > 65_536) assert.ok(got.data.buffer.byteLength > got.data.byteLength, 'a large output is a view into the received message, not a copy');
            const { maxDiff, scale } = compare(got.data as Float32Array, want.data as Float32Array);
            assert.ok(scale > 0, 'a non-trivial output');
            assert.ok(maxDiff <= 1e-5 * scale, `${f.plan.planId} sample ${i} '${spec.name}': max difference ${maxDiff} over scale ${scale}`);
          }
          assert.ok(r.timing.serverRunMs! > 0 && r.timing.networkMs >= r.timing.serverRunMs!, JSON.stringify(r.timing));
        }
      } finally {
        await rt.close();
      }
    }
  });
}

test('mnist-mlp: the composed model keeps the full model\'s answers on held-out digits', async () => {
  const f = fixtures.find((x) => x.zoo.id === 'mnist-mlp')!;
  const { inputs, labels } = await f.zoo.labelled!(40, 3);
  const reference = await referenceOutputs(f.full, inputs);
  const rt = await DeviceRuntime.open(f.dir, { server: server.url });
  try {
    const results = await Promise.all(inputs.map((feeds) => rt.infer({ x: feeds.x!.data as Float32Array })));
    const metric = f.zoo.taskMetric!;
    const composed = results.map((r) => metric.decode({ [metric.output]: { dtype: 'float32', dims: r.outputs[metric.output]!.dims, data: r.outputs[metric.output]!.data as Float32Array } }));
    assert.deepEqual(composed, reference.map((o) => metric.decode(o)));
    const correct = composed.filter((d, i) => d === labels[i]).length;
    assert.ok(correct >= 30, `${correct} of 40 digits right`);
  } finally {
    await rt.close();
  }
});

test('a plan written by the planner (edgesplit plan) runs through the runtimes and equals its own halves composed locally', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'edgesplit-planned-'));
  let planned: EdgesplitServer | undefined;
  try {
    const result = await plan({ model: 'mnist-mlp', device: 'rpi4', channel: 'wifi', budgets: { latency: '50ms', energy: '1J' }, out: dir, calibrationInputs: 8 });
    planned = await startServer({ plans: [dir], port: 0, workers: 1 });
    const zoo = fixtures.find((f) => f.zoo.id === 'mnist-mlp')!.zoo;
    const { inputs } = await zoo.labelled!(5, 4);
    const head = await createSession(await readFile(join(dir, result.plan.device.file)));
    const tail = await createSession(await readFile(join(dir, result.plan.server.file)));
    const rt = await DeviceRuntime.open(join(dir, 'plan.json'), { server: planned.url });
    try {
      for (const feeds of inputs) {
        const r = await rt.infer({ x: feeds.x!.data as Float32Array });
        assert.deepEqual(r.predicted, result.plan.predicted!.latencyMs);
        const want = await tail.run(await head.run(feeds));
        const { maxDiff, scale } = compare(r.outputs.logits!.data as Float32Array, want.logits!.data as Float32Array);
        assert.ok(maxDiff <= 1e-5 * scale, `difference ${maxDiff} over scale ${scale}`);
      }
    } finally {
      await rt.close();
      await head.release();
      await tail.release();
    }
  } finally {
    await planned?.close();
    await rm(dir, { recursive: true, force: true });
  }
});
