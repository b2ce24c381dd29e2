import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERROR_CODES, EdgesplitError, isEdgesplitError } from '../../shared/errors.ts';

test('every error code is listed in docs/errors.md, and nothing else is', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const documented = [...doc.matchAll(/^\| `(ERR_[A-Z_]+)` \|/gm)].map((m) => m[1]);
  assert.deepEqual(documented.sort(), Object.keys(ERROR_CODES).sort());
});

test('EdgesplitError carries code, retryable and details into JSON', () => {
  const e = new EdgesplitError('ERR_OVERLOADED', 'queue full', { retryable: true, details: { queue: 8 } });
  assert.ok(isEdgesplitError(e, 'ERR_OVERLOADED'));
  assert.ok(!isEdgesplitError(e, 'ERR_USAGE'));
  assert.deepEqual(e.toJSON(), { code: 'ERR_OVERLOADED', message: 'queue full', retryable: true, details: { queue: 8 } });
});
