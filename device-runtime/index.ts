// The device runtime for Node (Raspberry Pi, Jetson, any Linux host): reads a plan directory, checks its
// files, applies the planned CPU frequency, and runs the shared core over ws. The library's entry point.
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { WebSocket } from 'ws';
import { EdgesplitError } from '../shared/errors.ts';
import { type PlanManifest, maxFrameBytes, validatePlan } from '../shared/plan.ts';
import type { DeviceBackend } from './backend.ts';
import { nodeBackend } from './backend-node.ts';
import { type Connect, type InferResult, type LinkOptions, DeviceCore } from './core.ts';
import { type CpufreqResult, applyCpuFrequency, restoreCpuFrequency } from './cpufreq.ts';
import type { InferInputs } from './tensors.ts';

export type { DeviceBackend, DeviceSession, DeviceTensor, DeviceTensors, TensorData } from './backend.ts';
export type { BackoffPolicy } from './backoff.ts';
export type { DeviceEvent, InferResult, InferTiming, LinkOptions, PredictedLatencyMs, RetryPolicy, SocketLike, Connect } from './core.ts';
export type { CpufreqResult, CpuFrequencyOutcome } from './cpufreq.ts';
export type { InferInput, InferInputs } from './tensors.ts';
export { DEFAULT_BACKOFF } from './backoff.ts';
export { DEFAULT_RETRY } from './core.ts';
export { applyCpuFrequency, readCpuFrequencies, restoreCpuFrequency } from './cpufreq.ts';
export { nodeBackend } from './backend-node.ts';

/** Options of `DeviceRuntime.open`. */
export interface DeviceRuntimeOptions extends LinkOptions {
  /** Apply plan.operatingPoint.freqHz through cpufreq sysfs on open (restored on close). Default false. */
  applyFrequency?: boolean;
  /** The cpufreq sysfs root; default /sys/devices/system/cpu (tests point it elsewhere). */
  sysfsRoot?: string;
  /** Intra-op threads of the device half; default 1. Ignored when `backend` is given. */
  threads?: number;
  /** Another ONNX Runtime backend (default onnxruntime-node). */
  backend?: DeviceBackend;
  /** PEM certificate(s) to trust for wss:// (a self-signed server certificate). */
  ca?: string | Uint8Array;
  /** Random numbers in [0, 1) for jitter; tests pin it. Default Math.random. */
  random?: () => number;
}

async function readPlanFile(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new EdgesplitError('ERR_FILE_NOT_FOUND', `${path} does not exist. Pass the plan directory written by 'edgesplit plan' (it holds plan.json, the device half and the server half).`, { cause, details: { path } });
    throw new EdgesplitError('ERR_FILE_READ', `could not read ${path} (${code ?? String(cause)}). Check its permissions.`, { cause, details: { path } });
  }
}

/** Read and validate plan.json; `planDirOrPlanJson` is the plan directory or the plan.json path. */
export async function loadPlan(planDirOrPlanJson: string): Promise<{ plan: PlanManifest; planDir: string; planPath: string }> {
  const planPath = resolve(planDirOrPlanJson.endsWith('.json') ? planDirOrPlanJson : join(planDirOrPlanJson, 'plan.json'));
  const text = new TextDecoder().decode(await readPlanFile(planPath));
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new EdgesplitError('ERR_PLAN_INVALID', `${planPath} is not valid JSON: ${(cause as Error).message}. Write it again with 'edgesplit plan'.`, { cause, details: { path: planPath } });
  }
  return { plan: validatePlan(json), planDir: dirname(planPath), planPath };
}

/** A ws connection factory for Node, sized for the plan's frames. */
export function nodeConnect(plan: PlanManifest, ca?: string | Uint8Array): Connect {
  const maxPayload = maxFrameBytes(plan);
  return (url) => new WebSocket(url, { perMessageDeflate: false, maxPayload, handshakeTimeout: 10000, ...(ca !== undefined ? { ca: typeof ca === 'string' ? ca : Buffer.from(ca) } : {}) });
}

/** The device runtime on Node: one plan, one server. */
export class DeviceRuntime {
  /** The validated plan. */
  readonly plan: PlanManifest;
  /** The directory holding plan.json and the model files. */
  readonly planDir: string;
  /** What applying the planned frequency did, when `applyFrequency` was set. */
  readonly cpufreq: CpufreqResult | undefined;
  /** Problems that did not stop the runtime (ERR_CPUFREQ): print them. */
  readonly warnings: readonly EdgesplitError[];

  private constructor(private readonly core: DeviceCore, plan: PlanManifest, planDir: string, cpufreq: CpufreqResult | undefined, warnings: EdgesplitError[], private readonly sysfsRoot: string | undefined) {
    this.plan = plan;
    this.planDir = planDir;
    this.cpufreq = cpufreq;
    this.warnings = warnings;
  }

  /**
   * Open a plan directory (or its plan.json): validate the plan, check device.onnx (and, with fallback,
   * server.onnx) against the plan's sha256 (ERR_PLAN_HASH), load the device half on onnxruntime-node,
   * and apply the planned CPU frequency when asked. Connects lazily, on the first `infer` or `connect`.
   */
  static async open(planDirOrPlanJson: string, options: DeviceRuntimeOptions): Promise<DeviceRuntime> {
    const { plan, planDir } = await loadPlan(planDirOrPlanJson);
    const deviceModel = await readPlanFile(join(planDir, plan.device.file));
    const serverModel = options.fallback || plan.split.fullyOnDevice ? await readPlanFile(join(planDir, plan.server.file)) : undefined;
    const core = await DeviceCore.create({
      plan, deviceModel, ...(serverModel ? { serverModel } : {}),
      backend: options.backend ?? nodeBackend({ threads: options.threads ?? 1 }),
      server: options.server, connect: nodeConnect(plan, options.ca),
      ...pick(options, ['token', 'deviceId', 'fallback', 'backoff', 'retry', 'requestTimeoutMs', 'deadlineMs', 'helloTimeoutMs', 'heartbeatMs', 'random', 'onEvent']),
    });
    const warnings: EdgesplitError[] = [];
    let cpufreq: CpufreqResult | undefined;
    if (options.applyFrequency) {
      const freqHz = plan.operatingPoint?.freqHz;
      if (freqHz === undefined) {
        warnings.push(new EdgesplitError('ERR_CPUFREQ', `plan '${plan.planId}' has no operatingPoint.freqHz, so there is no frequency to apply. Plan with a device profile, or leave out applyFrequency.`));
      } else {
        cpufreq = await applyCpuFrequency(freqHz, options.sysfsRoot !== undefined ? { sysfsRoot: options.sysfsRoot } : {});
        if (cpufreq.warning) warnings.push(cpufreq.warning);
      }
    }
    return new DeviceRuntime(core, plan, planDir, cpufreq, warnings, options.sysfsRoot);
  }

  /** 'onnxruntime-node' or the given backend's name. */
  get backendName(): string {
    return this.core.backendName;
  }

  /** The id this device sends in its hello. */
  get deviceId(): string {
    return this.core.deviceId;
  }

  /** Whether the server accepted the hello and the link is up now. */
  get connected(): boolean {
    return this.core.connected;
  }

  /** Connect now instead of on the first request; rejects with the server's refusal or ERR_SERVER_UNREACHABLE. */
  connect(): Promise<void> {
    return this.core.connect();
  }

  /**
   * One inference through the split model. `inputs` maps each plan input name to a TypedArray of its
   * dtype (shape from the plan) or `{ dims, data }`. Resolves to `{ outputs, timing, fallback, predicted }`.
   */
  infer(inputs: InferInputs): Promise<InferResult> {
    return this.core.infer(inputs);
  }

  /** Close the link, release the sessions and put back the CPU frequency settings changed on open. */
  async close(): Promise<void> {
    try {
      await this.core.close();
    } finally {
      if (this.cpufreq?.cpus.some((c) => c.applied)) await restoreCpuFrequency(this.cpufreq, this.sysfsRoot !== undefined ? { sysfsRoot: this.sysfsRoot } : {});
    }
  }
}

function pick<T extends object, K extends keyof T>(obj: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (obj[k] !== undefined) out[k] = obj[k];
  return out;
}
