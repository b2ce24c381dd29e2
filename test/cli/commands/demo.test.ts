// The main job (`npm start` = `edgesplit demo`): a real plan, a real server on 127.0.0.1 and a real device
// runtime; the split model answers like the original and the report holds predicted beside measured latency.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { demo, run } from '../../../cli/commands/demo.ts';

function capture(): { io: { out: (t: string) => void; err: (t: string) => void }; out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return { io: { out: (t) => void (out += t), err: (t) => void (err += t) }, out: () => out, err: () => err };
}

test('demo plans mnist-mlp, serves it on loopback and matches the original model', async () => {
  const logs: string[] = [];
  const { result } = await demo({ model: 'mnist-mlp', device: 'rpi4', channel: 'wifi', latency: '300ms', energy: '2J', requests: 40, log: (l) => logs.push(l) });
  assert.equal(result.requests, 40);
  assert.match(result.server, /^ws:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(result.metric, 'top1-accuracy');
  // The trained model is about 94% accurate; a plan within the budgets must not lose much of it.
  assert.ok(result.accuracy.original > 0.85, `original accuracy ${result.accuracy.original}`);
  assert.ok(result.accuracy.split >= result.accuracy.original - 0.05, `split ${result.accuracy.split} vs original ${result.accuracy.original}`);
  if (result.plan.pruning.ratio === 0) assert.equal(result.agreement, 1);
  for (const [k, v] of Object.entries(result.measuredMs)) assert.ok(Number.isFinite(v) && v >= 0, `measured ${k} = ${v}`);
  assert.ok(result.measuredMs.total >= result.measuredMs.device);
  assert.ok(result.predictedMs.total > 0 && result.predictedMs.total <= 300 + 1e-6, `predicted total ${result.predictedMs.total} ms within the 300 ms budget`);
  assert.ok(logs.some((l) => l.includes('server listening on ws://127.0.0.1:')));
});

test('demo --json prints the measured result; BAD CALL - a model without labels is a usage error', async () => {
  const ok = capture();
  assert.equal(await run(['--requests', '5', '--json'], ok.io), 0);
  const json: unknown = JSON.parse(ok.out());
  assert.ok(typeof json === 'object' && json !== null && 'measuredMs' in json && 'accuracy' in json && 'plan' in json);

  const bad = capture();
  assert.equal(await run(['--model', 'mlp'], bad.io), 2);
  assert.match(bad.err(), /ERR_USAGE: the demo needs a zoo model with labelled data, got 'mlp'/);

  const badN = capture();
  assert.equal(await run(['--requests', '0'], badN.io), 2);
  assert.match(badN.err(), /--requests expects an integer >= 1, got '0'/);
});
