// The device runtime for browsers: fetches a plan directory over HTTP, checks its files, runs the device
// half in onnxruntime-web (wasm) and speaks the same protocol over the browser's WebSocket. Bundled by build-browser.ts.
import { EdgesplitError } from '../shared/errors.ts';
import { validatePlan } from '../shared/plan.ts';
import { webBackend } from './backend-web.ts';
import { type Connect, type LinkOptions, DeviceCore } from './core.ts';

export { DeviceCore } from './core.ts';
export type { DeviceEvent, InferResult, InferTiming, PredictedLatencyMs, RetryPolicy } from './core.ts';
export type { DeviceTensor, DeviceTensors, TensorData } from './backend.ts';
export type { InferInput, InferInputs } from './tensors.ts';

/** Options of `openBrowserRuntime`. */
export interface BrowserRuntimeOptions extends Omit<LinkOptions, 'server'> {
  /** ws:// or wss:// URL of `edgesplit serve` (a page served over https needs wss://). */
  server: string;
  /**
   * URL prefix (ending in '/') of onnxruntime-web's wasm files (`ort-wasm-simd-threaded.wasm`);
   * default: next to the bundle, where build-browser.ts copies them.
   */
  wasmPaths?: string;
  /** WebAssembly threads; default 1 (more need a cross-origin isolated page). */
  numThreads?: number;
}

async function fetchBytes(url: URL): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (cause) {
    throw new EdgesplitError('ERR_FILE_READ', `could not fetch ${url.href}: ${(cause as Error).message}. Check that the plan directory is served at that URL.`, { cause, details: { url: url.href } });
  }
  if (response.status === 404) throw new EdgesplitError('ERR_FILE_NOT_FOUND', `${url.href} answered 404. Serve the whole plan directory (plan.json and the .onnx files) at that URL.`, { details: { url: url.href } });
  if (!response.ok) throw new EdgesplitError('ERR_FILE_READ', `${url.href} answered ${response.status} ${response.statusText}. Check the web server.`, { details: { url: url.href, status: response.status } });
  return new Uint8Array(await response.arrayBuffer());
}

/** A connection factory on the browser's WebSocket, receiving binary frames as ArrayBuffers. */
export const browserConnect: Connect = (url) => {
  const socket = new WebSocket(url);
  socket.binaryType = 'arraybuffer';
  return socket;
};

/**
 * Open a plan served over HTTP: `planUrl` is plan.json's URL or its directory's (ending in '/').
 * Fetches and validates plan.json, fetches device.onnx (and server.onnx for fallback) next to it,
 * checks their sha256 (ERR_PLAN_HASH) and loads the device half in onnxruntime-web. The result's
 * `infer`, `connect` and `close` work as in Node (docs/device.md).
 */
export async function openBrowserRuntime(planUrl: string | URL, options: BrowserRuntimeOptions): Promise<DeviceCore> {
  const base = typeof planUrl === 'string' ? new URL(planUrl, globalThis.location?.href) : planUrl;
  const planJsonUrl = base.pathname.endsWith('/') ? new URL('plan.json', base) : base;
  const text = new TextDecoder().decode(await fetchBytes(planJsonUrl));
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new EdgesplitError('ERR_PLAN_INVALID', `${planJsonUrl.href} is not valid JSON: ${(cause as Error).message}.`, { cause });
  }
  const plan = validatePlan(json);
  const deviceModel = await fetchBytes(new URL(plan.device.file, planJsonUrl));
  const serverModel = options.fallback || plan.split.fullyOnDevice ? await fetchBytes(new URL(plan.server.file, planJsonUrl)) : undefined;
  const { wasmPaths, numThreads, server, ...rest } = options;
  return DeviceCore.create({
    ...rest, plan, deviceModel, ...(serverModel ? { serverModel } : {}), server, connect: browserConnect,
    backend: webBackend({ ...(wasmPaths !== undefined ? { wasmPaths } : {}), ...(numThreads !== undefined ? { numThreads } : {}) }),
  });
}
