// Tests of the `edgesplit` executable itself: it runs through its first line, as an installed bin
// does, with the node flags written there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';

const BIN = fileURLToPath(new URL('../../bin/edgesplit.js', import.meta.url));

test('bin/edgesplit.js runs as an executable through its #! line, and this node accepts the flags there', () => {
  const firstLine = readFileSync(BIN, 'utf8').split('\n')[0]!;
  assert.equal(firstLine, '#!/usr/bin/env -S node --initial-old-space-size=64');
  const nodeFlags = firstLine.split(' ').slice(3);
  const r = spawnSync(BIN, ['--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^Usage: edgesplit <command> \[options\]/);
  const flags = spawnSync(process.execPath, [...nodeFlags, '-e', 'process.exit(0)'], { encoding: 'utf8' });
  assert.equal(flags.status, 0, flags.stderr);
});
