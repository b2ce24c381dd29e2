// The import rules of docs/architecture.md, checked on the source: shared/ is browser-safe and imports
// nothing of ours, the runtimes import only shared/, the planner imports no runtime, one module per part
// imports ONNX Runtime, and the device runtime's browser side uses no node: modules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PARTS = ['shared', 'planner', 'server-runtime', 'device-runtime', 'simulations', 'cli', 'bench'] as const;

interface Source { file: string; part: string; imports: string[] }

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** Every import specifier of a file: static imports, re-exports and dynamic import('...'). */
function importsOf(text: string): string[] {
  const found = [...text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+'([^']+)'/gms), ...text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)];
  return found.map((m) => m[1]!);
}

/** The part (top-level folder) an import lands in, for relative imports; undefined for packages. */
function targetPart(file: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  return relative(ROOT, resolve(dirname(file), spec)).split('/')[0];
}

const sources: Source[] = PARTS.flatMap((part) => walk(join(ROOT, part)).map((file) => ({ file, part, imports: importsOf(readFileSync(file, 'utf8')) })));

function violations(check: (s: Source, spec: string) => boolean): string[] {
  return sources.flatMap((s) => s.imports.filter((spec) => check(s, spec)).map((spec) => `${relative(ROOT, s.file)} imports '${spec}'`));
}

test('the source tree was read', () => {
  assert.ok(sources.length > 50, `only ${sources.length} files found under ${PARTS.join(', ')}`);
});

test('shared/ imports nothing of ours outside shared/, no node: module, no ONNX Runtime, no ws', () => {
  assert.deepEqual(violations((s, spec) => s.part === 'shared' && ((targetPart(s.file, spec) ?? 'shared') !== 'shared' || spec.startsWith('node:') || spec.startsWith('onnxruntime') || spec === 'ws')), []);
});

test('the runtimes import only shared/ of ours, and never each other or the planner', () => {
  for (const runtime of ['server-runtime', 'device-runtime']) {
    assert.deepEqual(violations((s, spec) => s.part === runtime && ![runtime, 'shared', undefined].includes(targetPart(s.file, spec))), [], runtime);
  }
});

test('the planner imports no runtime, no simulation and no CLI', () => {
  assert.deepEqual(violations((s, spec) => s.part === 'planner' && !['planner', 'shared', undefined].includes(targetPart(s.file, spec))), []);
});

test('nothing imports the simulations but the CLI', () => {
  assert.deepEqual(violations((s, spec) => !['simulations', 'cli'].includes(s.part) && targetPart(s.file, spec) === 'simulations'), []);
});

test('one module per part imports ONNX Runtime', () => {
  const importers = sources.filter((s) => s.imports.some((spec) => /^onnxruntime-(node|web)/.test(spec))).map((s) => relative(ROOT, s.file)).sort();
  assert.deepEqual(importers, ['device-runtime/backend-node.ts', 'device-runtime/backend-web.ts', 'planner/onnx/session.ts', 'server-runtime/session.ts']);
});

test('the device runtime core and its browser edge use no node: module and no ws', () => {
  const browserSide = new Set(['device-runtime/core.ts', 'device-runtime/backend.ts', 'device-runtime/backend-web.ts', 'device-runtime/backoff.ts', 'device-runtime/tensors.ts', 'device-runtime/browser.ts']);
  assert.deepEqual(violations((s, spec) => browserSide.has(relative(ROOT, s.file)) && (spec.startsWith('node:') || spec === 'ws' || spec === 'onnxruntime-node')), []);
});

test('the simulations import the planner and shared/; only the predicted-vs-measured study also runs the runtimes', () => {
  assert.deepEqual(violations((s, spec) => {
    if (s.part !== 'simulations') return false;
    const target = targetPart(s.file, spec);
    if (target === 'server-runtime' || target === 'device-runtime') return relative(ROOT, s.file) !== 'simulations/scenarios/predicted.ts';
    return !['simulations', 'planner', 'shared', undefined].includes(target);
  }), []);
});
