// `edgesplit device --plan DIR/plan.json --server ws://HOST:PORT`: run a plan's device half against a
// server, print each stage's measured time (median over --repeat) beside the plan's prediction, and the outputs.
import { type CommandSpec, type Io, numberOption, requireOption, runCommand } from '../args.ts';
import { DeviceRuntime, type DeviceEvent, type InferResult, type InferTiming } from '../../device-runtime/index.ts';
import { readInputFiles, seededInputs } from '../../device-runtime/input-files.ts';
import type { DeviceTensor, DeviceTensors } from '../../device-runtime/backend.ts';
import { EdgesplitError } from '../../shared/errors.ts';
import { type PlanManifest, tensorSpecsBytes } from '../../shared/plan.ts';

export const SPEC = {
  name: 'device',
  summary: "Run the device half of a plan against 'edgesplit serve' and measure each request beside the plan's prediction.",
  positionals: [],
  options: {
    plan: { type: 'string', value: 'DIR/plan.json', help: 'the plan directory or its plan.json (holds device.onnx; server.onnx too for --fallback)' },
    server: { type: 'string', value: 'URL', help: 'the server, ws://HOST:PORT or wss://HOST:PORT', default: 'ws://127.0.0.1:8765' },
    input: { type: 'string', multiple: true, value: '[NAME=]FILE', help: 'an input from a .json, .npy or .bin file (repeatable; NAME= needed with several inputs). Default: seeded normal noise of the plan\'s input shapes' },
    seed: { type: 'string', value: 'N', help: 'seed of the made-up input when no --input is given', default: '0' },
    repeat: { type: 'string', value: 'N', help: 'requests to send one after another; times are medians over them', default: '1' },
    token: { type: 'string', value: 'TOKEN', help: 'bearer token the server requires for this device' },
    'device-id': { type: 'string', value: 'ID', help: "this device's id in the hello (default: random)" },
    'apply-frequency': { type: 'boolean', help: "set the plan's CPU frequency through cpufreq sysfs first (needs write access; restored on exit and on the first Ctrl-C)" },
    fallback: { type: 'boolean', help: 'run the server half on this device when the server cannot be reached' },
    'timeout-ms': { type: 'string', value: 'MS', help: 'fail a request with no result after this long', default: '30000' },
  },
  epilog: [
    'Input files: .json holds { "NAME": [numbers] } or { "NAME": { "dims": [..], "data": [..] } } (nested arrays are',
    'flattened; a bare array for a one-input plan); .npy is a NumPy array (numpy.save, little-endian, C order);',
    '.bin/.raw is raw little-endian bytes of the plan\'s dtype and shape.',
    '',
    'Examples:',
    '  edgesplit device --plan out/plan/plan.json --server ws://192.168.1.20:8765 --repeat 50',
    '  edgesplit device --plan out/plan --input x=digit.npy --fallback --json',
  ].join('\n'),
} as const satisfies CommandSpec;

/** What `runDevice` needs: the parsed command line as a typed object. */
export interface DeviceConfig {
  plan: string;
  server: string;
  inputFiles: string[];
  seed: number;
  repeat: number;
  token?: string;
  deviceId?: string;
  applyFrequency: boolean;
  fallback: boolean;
  timeoutMs: number;
  /** Progress lines (reconnects, fallbacks, warnings); the CLI sends them to stderr. */
  log?: (line: string) => void;
  /** Stop sending after the request in flight (the report covers the requests done). */
  signal?: AbortSignal;
}

/** Median, 90th percentile, min and max of one timing field over the requests, in ms. */
export interface Spread {
  median: number;
  p90: number;
  min: number;
  max: number;
}

/** One output, summed up. */
export interface OutputSummary {
  name: string;
  dtype: string;
  dims: number[];
  min: number;
  max: number;
  mean: number;
  /** For one row of scores ([C] or [1, C]): the index and value of the largest. */
  top1?: { index: number; value: number };
}

/** The report of `runDevice` (the --json output). */
export interface DeviceReport {
  planId: string;
  server: string;
  backend: string;
  requests: number;
  /** Requests the server half ran for locally (fallback). */
  fallbacks: number;
  /** Medians and spreads over the requests, in ms. */
  timingMs: Record<'deviceMs' | 'encodeMs' | 'networkMs' | 'decodeMs' | 'totalMs' | 'serverRunMs' | 'serverQueueMs', Spread | null>;
  predictedMs: NonNullable<PlanManifest['predicted']>['latencyMs'] | null;
  /** Bytes of the crossing tensors each request sends (raw, before framing). */
  crossingBytes: number | null;
  /** The outputs of the last request. */
  outputs: OutputSummary[];
  cpufreq: { requestedHz: number; applied: boolean; freqHz: number | null } | null;
  warnings: Array<{ code: string; message: string }>;
}

function spread(values: number[]): Spread | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  const m = Math.floor(s.length / 2);
  return { median: s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2, p90: at(0.9), min: s[0]!, max: s[s.length - 1]! };
}

function summarize(name: string, t: DeviceTensor): OutputSummary {
  const values = Array.from(t.data as ArrayLike<number | bigint>, Number);
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let best = 0;
  values.forEach((v, i) => {
    min = Math.min(min, v);
    max = Math.max(max, v);
    sum += v;
    if (v > values[best]!) best = i;
  });
  const oneRow = t.dims.length === 1 || (t.dims.length === 2 && t.dims[0] === 1);
  return {
    name, dtype: t.dtype, dims: t.dims, min, max, mean: values.length ? sum / values.length : 0,
    ...(oneRow && values.length > 1 ? { top1: { index: best, value: values[best]! } } : {}),
  };
}

function describeEvent(e: DeviceEvent): string {
  switch (e.type) {
    case 'connected':
      return `connected to ${e.url} (server ${e.serverVersion})${e.attempt > 0 ? ` after ${e.attempt + 1} attempts` : ''}`;
    case 'disconnected':
      return `disconnected from ${e.url} (code ${e.code}${e.reason ? `, ${e.reason}` : ''}); ${e.inFlight} request(s) in flight`;
    case 'reconnect-wait':
      return `attempt ${e.attempt} failed (${e.error.message}); retrying in ${e.delayMs.toFixed(0)} ms`;
    case 'retry':
      return `request ${e.requestId} refused with ${e.code}; sending again in ${e.delayMs.toFixed(0)} ms`;
    case 'fallback':
      return `request ${e.requestId}: ${e.code}, running the server half on this device`;
    case 'protocol-error':
      return `protocol error: ${e.error.code}: ${e.error.message}`;
  }
}

/**
 * Open the plan, send `repeat` requests one after another, and report the timing spreads, the
 * prediction, and the last request's outputs. Throws the first failed request's error.
 */
export async function runDevice(config: DeviceConfig): Promise<DeviceReport> {
  const log = config.log ?? ((): void => undefined);
  const rt = await DeviceRuntime.open(config.plan, {
    server: config.server, applyFrequency: config.applyFrequency, fallback: config.fallback, requestTimeoutMs: config.timeoutMs,
    ...(config.token !== undefined ? { token: config.token } : {}), ...(config.deviceId !== undefined ? { deviceId: config.deviceId } : {}),
    onEvent: (e) => log(describeEvent(e)),
  });
  try {
    for (const w of rt.warnings) log(`warning: ${w.code}: ${w.message}`);
    const inputs: DeviceTensors = config.inputFiles.length > 0 ? await readInputFiles(rt.plan.device.inputs, config.inputFiles) : seededInputs(rt.plan.device.inputs, config.seed);
    const results: InferResult[] = [];
    for (let i = 0; i < config.repeat && (i === 0 || !config.signal?.aborted); i++) results.push(await rt.infer(inputs));
    if (results.length < config.repeat) log(`interrupted after ${results.length} of ${config.repeat} requests`);
    const field = (k: keyof InferTiming): number[] => results.map((r) => r.timing[k]).filter((v): v is number => typeof v === 'number');
    const last = results[results.length - 1]!;
    const crossingBytes = tensorSpecsBytes(rt.plan.split.crossing) ?? null;
    const applied = rt.cpufreq?.cpus.find((c) => c.applied);
    return {
      planId: rt.plan.planId, server: config.server, backend: rt.backendName, requests: results.length,
      fallbacks: results.filter((r) => r.fallback).length,
      timingMs: {
        deviceMs: spread(field('deviceMs')), encodeMs: spread(field('encodeMs')), networkMs: spread(results.filter((r) => !r.fallback).map((r) => r.timing.networkMs)),
        decodeMs: spread(field('decodeMs')), totalMs: spread(field('totalMs')), serverRunMs: spread(field('serverRunMs')), serverQueueMs: spread(field('serverQueueMs')),
      },
      predictedMs: rt.plan.predicted?.latencyMs ?? null,
      crossingBytes,
      outputs: Object.entries(last.outputs).map(([name, t]) => summarize(name, t)),
      cpufreq: rt.cpufreq ? { requestedHz: rt.cpufreq.requestedHz, applied: rt.cpufreq.applied, freqHz: applied?.freqHz ?? null } : null,
      warnings: rt.warnings.map((w) => ({ code: w.code, message: w.message })),
    };
  } finally {
    await rt.close();
  }
}

const ms = (v: number | undefined | null): string => (v === undefined || v === null ? '' : `${v < 10 ? v.toFixed(2) : v.toFixed(1)} ms`);

/** The human-readable report. */
export function formatReport(r: DeviceReport): string {
  const t = r.timingMs;
  const p = r.predictedMs;
  const rows: Array<[string, string, string]> = [
    ['device half', ms(t.deviceMs?.median), ms(p?.device)],
    ['encode', ms(t.encodeMs?.median), ''],
    ['network + server', ms(t.networkMs?.median), p ? `${ms(p.transmit + p.server + p.roundTrip)} (transmit + server + round trip)` : ''],
    ['  server run', ms(t.serverRunMs?.median), ms(p?.server)],
    ['  server queue', ms(t.serverQueueMs?.median), ''],
    ['decode', ms(t.decodeMs?.median), ''],
    ['total', ms(t.totalMs?.median), ms(p?.total)],
  ];
  const w0 = Math.max(...rows.map((x) => x[0].length));
  const w1 = Math.max('measured'.length, ...rows.map((x) => x[1].length));
  const lines = [
    `plan ${r.planId} on ${r.backend} -> ${r.server}: ${r.requests} request${r.requests === 1 ? '' : 's'}${r.requests > 1 ? ' (medians)' : ''}${r.fallbacks ? `, ${r.fallbacks} run locally (fallback)` : ''}`,
    `  ${''.padEnd(w0)}  ${'measured'.padStart(w1)}  predicted`,
    ...rows.map(([a, b, c]) => `  ${a.padEnd(w0)}  ${b.padStart(w1)}  ${c}`.trimEnd()),
  ];
  if (r.crossingBytes !== null) lines.push(`  crossing tensors: ${r.crossingBytes} bytes per request`);
  if (r.cpufreq) lines.push(`  cpu frequency: ${(r.cpufreq.requestedHz / 1e9).toFixed(3)} GHz planned, ${r.cpufreq.applied ? `${((r.cpufreq.freqHz ?? 0) / 1e9).toFixed(3)} GHz applied` : 'not applied (see warning)'}`);
  lines.push('outputs:');
  for (const o of r.outputs) {
    lines.push(`  ${o.name} ${o.dtype} [${o.dims.join(',')}]: ${o.top1 ? `top-1 index ${o.top1.index} (${o.top1.value.toPrecision(4)}), ` : ''}min ${o.min.toPrecision(4)}, max ${o.max.toPrecision(4)}, mean ${o.mean.toPrecision(4)}`);
  }
  return lines.join('\n') + '\n';
}

/** Parse the command line into a DeviceConfig (ERR_USAGE for bad values). */
export function parseDeviceArgs(values: Record<string, unknown>, log: (line: string) => void): DeviceConfig {
  const str = (k: string): string | undefined => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const repeat = numberOption(SPEC, 'repeat', str('repeat'), 1, (n) => Number.isInteger(n) && n >= 1, 'an integer >= 1');
  const seed = numberOption(SPEC, 'seed', str('seed'), 0, (n) => Number.isInteger(n) && n >= 0, 'an integer >= 0');
  const timeoutMs = numberOption(SPEC, 'timeout-ms', str('timeout-ms'), 30000, (n) => n > 0, 'a number of ms > 0');
  const server = str('server') ?? 'ws://127.0.0.1:8765';
  if (!/^wss?:\/\/./.test(server)) throw new EdgesplitError('ERR_USAGE', `--server expects ws://HOST:PORT or wss://HOST:PORT, got '${server}'. Run 'edgesplit device --help'.`);
  const token = str('token');
  const deviceId = str('device-id');
  return {
    plan: requireOption(SPEC, 'plan', str('plan')), server, repeat, seed, timeoutMs,
    inputFiles: Array.isArray(values.input) ? values.input.map(String) : [],
    applyFrequency: values['apply-frequency'] === true, fallback: values.fallback === true,
    ...(token !== undefined ? { token } : {}), ...(deviceId !== undefined ? { deviceId } : {}),
    log,
  };
}

/** The command's entry point: parse argv, run, print. */
export async function run(argv: string[], io: Io): Promise<number> {
  return runCommand(SPEC, argv, io, async (args) => {
    const config = parseDeviceArgs(args.values, (line) => io.err(`edgesplit device: ${line}\n`));
    // NOTE: the first Ctrl-C ends the run after the request in flight, so the runtime closes and puts
    // back the CPU frequency settings; a second one exits at once (Node's default).
    const interrupt = new AbortController();
    const onSigint = (): void => interrupt.abort();
    process.once('SIGINT', onSigint);
    try {
      const report = await runDevice({ ...config, signal: interrupt.signal });
      return { json: report, text: formatReport(report) };
    } finally {
      process.removeListener('SIGINT', onSigint);
    }
  });
}
