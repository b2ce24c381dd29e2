// The browser device runtime end to end in real headless Chromium: a page loads the esbuild bundle, fetches
// the plan and device.onnx from a static server, runs the head in onnxruntime-web (wasm), and the real
// server runtime runs the tail; the result must equal the full model run in onnxruntime-node.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { access, mkdtemp, readFile, rm, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';
import { buildBrowserBundle, ortWasmDir } from '../../device-runtime/build-browser.ts';
import { startServer, type EdgesplitServer } from '../../server-runtime/server.ts';
import { compare, makePlanDir, referenceOutputs, type PlanFixture } from './fixtures.ts';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];

let fixture: PlanFixture;
let bundleDir: string;
let tamperedDir: string;
let http: Server;
let httpUrl: string;
let server: EdgesplitServer;
let browser: Browser | undefined;

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json', '.onnx': 'application/octet-stream' };

/** A static server: / (an empty page), /bundle/* (the build), /ort/* (onnxruntime-web's dist), /plan/* and /tampered/* (plan directories). */
async function startStatic(roots: Record<string, string>): Promise<Server> {
  const s = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>edgesplit device</title>');
      return;
    }
    const [, prefix, ...rest] = path.split('/');
    const root = roots[prefix ?? ''];
    const file = root ? normalize(join(root, ...rest)) : undefined;
    if (!root || !file || !file.startsWith(root)) {
      res.writeHead(404).end();
      return;
    }
    readFile(file).then(
      (body) => res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return s;
}

before(async () => {
  fixture = await makePlanDir('transformer', 0.5);
  bundleDir = await mkdtemp(join(tmpdir(), 'edgesplit-bundle-'));
  await buildBrowserBundle({ outfile: join(bundleDir, 'edgesplit-device.js'), copyWasm: false });
  tamperedDir = await mkdtemp(join(tmpdir(), 'edgesplit-tampered-'));
  for (const f of ['plan.json', 'server.onnx']) await copyFile(join(fixture.dir, f), join(tamperedDir, f));
  const device = new Uint8Array(fixture.deviceBytes);
  device[device.length - 1] = device[device.length - 1]! ^ 0xff;
  await writeFile(join(tamperedDir, 'device.onnx'), device);
  http = await startStatic({ bundle: bundleDir, ort: ortWasmDir(), plan: fixture.dir, tampered: tamperedDir });
  httpUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  server = await startServer({ plans: [fixture.dir], port: 0, workers: 1 });
});

after(async () => {
  await browser?.close();
  await server?.close();
  await new Promise<void>((resolve) => (http ? http.close(() => resolve()) : resolve()));
  await fixture?.remove();
  await rm(bundleDir, { recursive: true, force: true });
  await rm(tamperedDir, { recursive: true, force: true });
});

async function launch(): Promise<Page> {
  try {
    await access(CHROMIUM);
  } catch {
    assert.fail(`Chromium is not installed at ${CHROMIUM}, so the browser build cannot be tested. Install it with 'apt-get install chromium' (.ci/run does this on CI).`);
  }
  browser ??= await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
  const page = await browser.newPage();
  await page.goto(`${httpUrl}/`);
  return page;
}

interface PageResult {
  outputs?: number[];
  dims?: number[];
  fallback?: boolean;
  timing?: Record<string, number>;
  backend?: string;
  error?: { name: string; code: string; message: string };
}

/** Open the plan in the page and run `inputs`; errors come back as { error }. */
async function runInPage(page: Page, planPath: string, serverUrl: string, inputs: number[][], dims: number[], fallback = false): Promise<PageResult[]> {
  // NOTE: no named functions inside the page function: tsx compiles them with a `__name` helper that
  // does not exist in the page. Errors are turned into plain objects inline.
  return page.evaluate(async ({ bundle, planPath, serverUrl, inputs, dims, fallback }) => {
    const m = await import(bundle);
    let rt;
    try {
      rt = await m.openBrowserRuntime(planPath, { server: serverUrl, wasmPaths: '/ort/', fallback, heartbeatMs: 0, backoff: { baseMs: 10, capMs: 40, maxAttempts: 2 } });
    } catch (e) {
      const err = e as { name?: string; code?: string; message?: string };
      return [{ error: { name: String(err.name), code: String(err.code), message: String(err.message) } }];
    }
    const results: PageResult[] = [];
    try {
      for (const values of inputs) {
        try {
          const r = await rt.infer({ x: { dims, data: new Float32Array(values) } });
          results.push({ outputs: Array.from(r.outputs.logits.data as Float32Array), dims: r.outputs.logits.dims, fallback: r.fallback, timing: r.timing, backend: rt.backendName });
        } catch (e) {
          const err = e as { name?: string; code?: string; message?: string };
          results.push({ error: { name: String(err.name), code: String(err.code), message: String(err.message) } });
        }
      }
    } finally {
      await rt.close();
    }
    return results;
  }, { bundle: '/bundle/edgesplit-device.js', planPath, serverUrl, inputs, dims, fallback });
}

test('browser: the head in onnxruntime-web (wasm) + the tail on the server equals the full model in onnxruntime-node', async () => {
  const page = await launch();
  const inputs = await fixture.zoo.sampleInputs(3, 21);
  const reference = await referenceOutputs(fixture.full, inputs);
  const results = await runInPage(page, '/plan/plan.json', server.url, inputs.map((f) => Array.from(f.x!.data as Float32Array)), inputs[0]!.x!.dims);
  assert.equal(results.length, 3);
  results.forEach((r, i) => {
    assert.equal(r.error, undefined, JSON.stringify(r.error));
    assert.equal(r.backend, 'onnxruntime-web (wasm)');
    assert.equal(r.fallback, false);
    assert.deepEqual(r.dims, [1, 10]);
    const { maxDiff, scale } = compare(r.outputs!, reference[i]!.logits!.data as Float32Array);
    assert.ok(maxDiff <= 1e-5 * scale, `sample ${i}: wasm head + native tail differ from the full model by ${maxDiff} (scale ${scale})`);
    assert.ok(r.timing!.networkMs! > 0 && r.timing!.deviceMs! > 0 && r.timing!.attempts === 1, JSON.stringify(r.timing));
  });
  await page.close();
});

test('browser: fallback runs both halves in wasm when the server cannot be reached', async () => {
  const page = await launch();
  const inputs = await fixture.zoo.sampleInputs(1, 22);
  const [want] = await referenceOutputs(fixture.full, inputs);
  const [r] = await runInPage(page, '/plan/', 'ws://127.0.0.1:9', [Array.from(inputs[0]!.x!.data as Float32Array)], inputs[0]!.x!.dims, true);
  assert.equal(r!.error, undefined, JSON.stringify(r!.error));
  assert.equal(r!.fallback, true);
  const { maxDiff, scale } = compare(r!.outputs!, want!.logits!.data as Float32Array);
  assert.ok(maxDiff <= 1e-5 * scale);
  await page.close();
});

test('BAD CALL - browser: a device.onnx that does not match plan.json is ERR_PLAN_HASH; a missing plan is ERR_FILE_NOT_FOUND', async () => {
  const page = await launch();
  const [tampered] = await runInPage(page, '/tampered/plan.json', server.url, [], [1, 16, 48]);
  assert.equal(tampered!.error?.name, 'EdgesplitError');
  assert.equal(tampered!.error?.code, 'ERR_PLAN_HASH');
  assert.match(tampered!.error!.message, new RegExp(`^device\\.onnx has sha256 [0-9a-f]{64}, but plan\\.json expects ${fixture.plan.device.sha256}\\.`));
  const [missing] = await runInPage(page, '/plan/nothing.json', server.url, [], [1, 16, 48]);
  assert.equal(missing!.error?.code, 'ERR_FILE_NOT_FOUND');
  assert.match(missing!.error!.message, /^http:\/\/127\.0\.0\.1:\d+\/plan\/nothing\.json answered 404\./);
  await page.close();
});
