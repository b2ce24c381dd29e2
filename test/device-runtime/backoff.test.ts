// Tests of the capped exponential backoff with full jitter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_BACKOFF, backoffCeilingMs, backoffDelayMs, resolveBackoff } from '../../device-runtime/backoff.ts';
import { EdgesplitError } from '../../shared/errors.ts';

test('the ceiling doubles from baseMs and stops at capMs', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7, 10, 100].map((a) => backoffCeilingMs(DEFAULT_BACKOFF, a)), [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000]);
});

test('full jitter: the delay is random() times the ceiling, so it spans [0, ceiling)', () => {
  assert.equal(backoffDelayMs(DEFAULT_BACKOFF, 3, () => 0), 0);
  assert.equal(backoffDelayMs(DEFAULT_BACKOFF, 3, () => 0.25), 200);
  assert.equal(backoffDelayMs(DEFAULT_BACKOFF, 9, () => 0.999), 4995);
  const delays = Array.from({ length: 2000 }, () => backoffDelayMs(DEFAULT_BACKOFF, 2));
  assert.ok(Math.min(...delays) >= 0 && Math.max(...delays) < 400);
  assert.ok(Math.min(...delays) < 40 && Math.max(...delays) > 360, 'spread over the whole range');
});

test('BAD CALL - resolveBackoff names the bad field and its allowed range', () => {
  assert.deepEqual(resolveBackoff({ baseMs: 50 }), { baseMs: 50, capMs: 5000, maxAttempts: 8 });
  const bad = (policy: Parameters<typeof resolveBackoff>[0], message: string): void => {
    assert.throws(() => resolveBackoff(policy), (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_USAGE' && e.message === message);
  };
  bad({ baseMs: -1 }, "'backoff.baseMs' must be a number >= 0, got -1.");
  bad({ baseMs: 10, capMs: 5 }, "'backoff.capMs' must be a number >= baseMs (10), got 5.");
  bad({ maxAttempts: 0 }, "'backoff.maxAttempts' must be an integer >= 1, got 0.");
  bad({ maxAttempts: 1.5 }, "'backoff.maxAttempts' must be an integer >= 1, got 1.5.");
});
