// Assertions about EdgesplitError shared by the tests.
import assert from 'node:assert/strict';
import { EdgesplitError } from '../shared/errors.ts';

/** A predicate for assert.throws/rejects: the error is an EdgesplitError with `code` (and a message matching `message`). */
export function isCode(code: string, message?: RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof EdgesplitError, `expected an EdgesplitError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    return true;
  };
}

/** The EdgesplitError `p` rejects with; fails the test when it resolves or rejects with something else. */
export async function rejection(p: Promise<unknown>): Promise<EdgesplitError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof EdgesplitError, String(e));
    return e;
  }
  assert.fail('the request succeeded');
}
