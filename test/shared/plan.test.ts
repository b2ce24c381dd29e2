// Tests of the plan manifest schema: a minimal hand-written plan, a full planner plan, and every
// problem named in one ERR_PLAN_INVALID.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PLAN_SCHEMA_VERSION, validatePlan, maxFrameBytes, tensorSpecsBytes, dimsMatch, FRAME_HEADROOM_BYTES, DYNAMIC_FRAME_LIMIT_BYTES } from '../../shared/plan.ts';
import { EdgesplitError } from '../../shared/errors.ts';

const SHA_A = 'a'.repeat(64);
const SHA_B = 'b'.repeat(64);

function minimal(): Record<string, unknown> {
  return {
    schemaVersion: 1,
    planId: 'mlp-cut2',
    split: { crossing: [{ name: 'h1', dtype: 'float32', dims: [1, 128] }] },
    device: { file: 'device.onnx', sha256: SHA_A, inputs: [{ name: 'x', dtype: 'float32', dims: [1, 64] }] },
    server: { file: 'server.onnx', sha256: SHA_B, outputs: [{ name: 'y', dtype: 'float32', dims: [1, 10] }] },
  };
}

function full(): Record<string, unknown> {
  return {
    ...minimal(),
    createdAt: '2026-11-30T06:00:00.000Z',
    model: { id: 'mlp', name: 'MLP 64-128-128-10', sha256: SHA_A },
    split: { cutIndex: 2, cutId: 'h1', crossing: [{ name: 'h1', dtype: 'float32', dims: [1, 128] }] },
    pruning: { ratio: 0.25, method: 'structured', ratioDevice: 0.25, ratioServer: 0 },
    operatingPoint: { powerW: 0.2, freqHz: 1.5e9, deviceProfile: 'rpi4', channelProfile: 'wifi' },
    predicted: { latencyMs: { device: 1, transmit: 2, server: 0.5, roundTrip: 3, total: 6.5 }, energyJ: { device: 0.01, transmit: 0.02, total: 0.03 }, memoryBytes: 1e6 },
    distortion: { bound: 0.1, parameter: 0.05, measuredOutput: 0.01, top1Agreement: 0.99 },
    budgets: { latencyMs: 300, energyJ: 2, memoryBytes: 256e6 },
    limits: { maxFrameBytes: 100000 },
  };
}

function planError(json: unknown): EdgesplitError {
  try {
    validatePlan(json);
  } catch (e) {
    assert.ok(e instanceof EdgesplitError, `expected an EdgesplitError, got ${String(e)}`);
    return e;
  }
  assert.fail('validatePlan accepted an invalid plan');
}

test('a minimal hand-written plan validates and keeps exactly its fields', () => {
  const plan = validatePlan(minimal());
  assert.deepEqual(plan, minimal());
  assert.equal(plan.schemaVersion, PLAN_SCHEMA_VERSION);
});

test('a full planner plan round-trips through JSON and validation unchanged', () => {
  const plan = validatePlan(JSON.parse(JSON.stringify(full())));
  assert.deepEqual(plan, full());
});

test('unknown fields are dropped, not refused', () => {
  const plan = validatePlan({ ...minimal(), notes: 'hand-written' });
  assert.equal(Object.hasOwn(plan, 'notes'), false);
});

test('BAD CALL - every missing required field is named in one ERR_PLAN_INVALID', () => {
  const e = planError({});
  assert.equal(e.code, 'ERR_PLAN_INVALID');
  for (const f of ['schemaVersion: missing', 'planId: missing', 'split: missing', 'device: missing', 'server: missing']) assert.match(e.message, new RegExp(f));
  assert.match(e.message, /\(5 problems\)/);
});

test('BAD CALL - wrong types deep inside are each named with expected and got', () => {
  const bad = full();
  bad.split = { crossing: [{ name: 'h1', dtype: 'float33', dims: [1, 0] }, { name: 'h1', dtype: 'int64', dims: [2] }] };
  bad.device = { file: '../device.onnx', sha256: 'ABC', inputs: [] };
  bad.pruning = { ratio: 1, method: 'magic' };
  bad.predicted = { latencyMs: { device: 1 }, energyJ: { device: 1, transmit: 1, total: 2 }, memoryBytes: -1 };
  bad.limits = { maxFrameBytes: 1.5 };
  const e = planError(bad);
  assert.equal(e.code, 'ERR_PLAN_INVALID');
  const expected = [
    'split.crossing[0].dtype: expected one of float32, uint8',
    'split.crossing[0].dims: expected an array of positive integers or -1, got [1,0]',
    'split.crossing[1].name: duplicate tensor name "h1"',
    'device.file: expected a file name inside the plan directory such as "device.onnx", got "../device.onnx"',
    'device.sha256: expected 64 lower-case hex digits, got "ABC"',
    'device.inputs: expected at least one tensor, got an empty array',
    'pruning.ratio: expected a number < 1, got 1',
    'pruning.method: expected one of none, structured, unstructured, got "magic"',
    'predicted.latencyMs.transmit: missing',
    'predicted.memoryBytes: expected a number >= 0, got -1',
    'limits.maxFrameBytes: expected an integer, got 1.5',
  ];
  for (const s of expected) assert.ok(e.message.includes(s), `message lacks '${s}':\n${e.message}`);
  assert.match(e.message, /^plan\.json of plan 'mlp-cut2' does not follow plan schema 1 \(14 problems\)/);
  assert.equal((e.details?.problems as string[]).length, 14);
});

test('BAD CALL - a frame limit below the tensor bytes is named: no frame could carry them', () => {
  const e = planError({ ...minimal(), limits: { maxFrameBytes: 100 } });
  assert.equal(e.code, 'ERR_PLAN_INVALID');
  assert.match(e.message, /\(1 problem\): limits\.maxFrameBytes: 100 is less than the 512 bytes of the split\.crossing tensors, so no frame could carry them; leave it out or raise it above 66048\. Fix these fields/);
  assert.equal(validatePlan({ ...minimal(), limits: { maxFrameBytes: 4096 } }).limits?.maxFrameBytes, 4096);
});

test('BAD CALL - a newer or unknown schemaVersion is ERR_PLAN_VERSION, not a list of field problems', () => {
  const newer = planError({ ...minimal(), schemaVersion: 2 });
  assert.equal(newer.code, 'ERR_PLAN_VERSION');
  assert.match(newer.message, /^plan schemaVersion number 2 is not supported: this edgesplit reads version 1\. Upgrade edgesplit/);
  const weird = planError({ ...minimal(), schemaVersion: '1' });
  assert.equal(weird.code, 'ERR_PLAN_VERSION');
  assert.match(weird.message, /Re-run edgesplit plan/);
});

test('BAD CALL - a plan that is not an object is ERR_PLAN_INVALID', () => {
  const e = planError([1, 2]);
  assert.equal(e.code, 'ERR_PLAN_INVALID');
  assert.match(e.message, /must hold a JSON object, got an array/);
});

test('maxFrameBytes: the plan limit when set, else tensor bytes plus headroom, else the dynamic limit', () => {
  assert.equal(maxFrameBytes(validatePlan(full())), 100000);
  assert.equal(maxFrameBytes(validatePlan(minimal())), 128 * 4 + FRAME_HEADROOM_BYTES);
  const dyn = minimal();
  dyn.split = { crossing: [{ name: 'h1', dtype: 'float32', dims: [-1, 128] }] };
  const plan = validatePlan(dyn);
  assert.equal(tensorSpecsBytes(plan.split.crossing), undefined);
  assert.equal(maxFrameBytes(plan), DYNAMIC_FRAME_LIMIT_BYTES);
});

test('dimsMatch: -1 matches any size, rank must agree', () => {
  assert.equal(dimsMatch([-1, 16], [3, 16]), true);
  assert.equal(dimsMatch([1, 16], [1, 15]), false);
  assert.equal(dimsMatch([1, 16], [1, 16, 1]), false);
});
