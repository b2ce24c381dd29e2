// `edgesplit demo` (`npm start`): the main job end to end on loopback. Plan a real zoo model, start the
// server runtime on 127.0.0.1, run held-out inputs through a device runtime, and print the plan, the
// predicted against the measured latency, and the accuracy of the split model beside the original.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type CommandSpec, type Io, numberOption, runCommand } from '../args.ts';
import { formatPlan } from './plan.ts';
import { type PlanResult, plan } from '../../planner/plan/index.ts';
import { loadZooModel } from '../../planner/zoo/index.ts';
import { createSession } from '../../planner/onnx/session.ts';
import { startServer } from '../../server-runtime/server.ts';
import { DeviceRuntime } from '../../device-runtime/index.ts';
import { EdgesplitError } from '../../shared/errors.ts';

export const spec = {
  name: 'demo',
  summary: 'The main job on the built-in default: plan a real model from the zoo, serve its server half on loopback, run held-out inputs through a device runtime, and report predicted against measured latency and accuracy.',
  positionals: [],
  options: {
    model: { type: 'string', value: 'ZOO_ID', help: 'a zoo model with labelled data (mnist-mlp, ppocr-rec)', default: 'mnist-mlp' },
    device: { type: 'string', value: 'NAME|FILE', help: 'device profile the plan is made for', default: 'rpi4' },
    channel: { type: 'string', value: 'NAME|FILE', help: 'uplink channel profile', default: 'wifi' },
    latency: { type: 'string', value: 'TIME', help: 'latency budget per inference', default: '300ms' },
    energy: { type: 'string', value: 'ENERGY', help: 'device energy budget per inference', default: '2J' },
    requests: { type: 'string', value: 'N', help: 'held-out inputs to run end to end', default: '200' },
    out: { type: 'string', value: 'DIR', help: 'where to keep the plan directory (default: a temporary directory, removed afterwards)' },
  },
  epilog: 'Everything runs on this machine: the server binds 127.0.0.1 on a free port. Measured times are this machine\'s over loopback; predicted times are for the planned device and channel.',
} satisfies CommandSpec;

/** What the demo measured, for --json and for tests. */
export interface DemoResult {
  plan: PlanResult['plan'];
  server: string;
  requests: number;
  metric: string;
  /** The task metric of the original (unpruned, unsplit) model and of the split plan over the WebSocket. */
  accuracy: { original: number; split: number };
  /** Share of requests whose answer (class or text) equals the original model's. */
  agreement: number;
  /** Medians over the requests, in ms, measured on this machine over loopback. */
  measuredMs: { device: number; encode: number; networkAndServer: number; serverRun: number; decode: number; total: number };
  /** The plan's prediction for the planned device and channel, in ms. */
  predictedMs: { device: number; transmit: number; server: number; roundTrip: number; total: number };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)]!;
}

/** Run the demo: plan, serve, run `requests` labelled inputs end to end, and measure. */
export async function demo(options: { model: string; device: string; channel: string; latency: string; energy: string; requests: number; out?: string; log: (line: string) => void }): Promise<{ result: DemoResult; planResult: PlanResult }> {
  const zoo = await loadZooModel(options.model);
  if (!zoo.labelled || !zoo.taskMetric) {
    throw new EdgesplitError('ERR_USAGE', `the demo needs a zoo model with labelled data, got '${options.model}'. Use mnist-mlp or ppocr-rec.`);
  }
  const metric = zoo.taskMetric;
  const dir = options.out !== undefined ? resolve(options.out) : await mkdtemp(join(tmpdir(), 'edgesplit-demo-'));
  try {
    options.log(`planning ${options.model} for ${options.device} over ${options.channel} (latency ${options.latency}, energy ${options.energy})`);
    const planResult = await plan({
      model: options.model, device: options.device, channel: options.channel,
      budgets: { latency: options.latency, energy: options.energy }, out: dir,
      onProgress: (m) => options.log(`  ${m}`),
    });
    const { inputs, labels } = await zoo.labelled(options.requests, 1);

    options.log(`running the original model on ${inputs.length} held-out inputs`);
    const original = await createSession(zoo.model);
    const originalAnswers: Array<number | string> = [];
    let originalScore = 0;
    for (let i = 0; i < inputs.length; i++) {
      const out = await original.run(inputs[i]!);
      originalAnswers.push(metric.decode(out));
      originalScore += metric.score(out, labels[i]!);
    }
    await original.release();

    const server = await startServer({ plans: [dir], host: '127.0.0.1', port: 0, workers: 1, log: (l) => options.log(`  server: ${l}`) });
    options.log(`server listening on ${server.url}; running ${inputs.length} requests through the device runtime`);
    const device = await DeviceRuntime.open(dir, { server: server.url, deviceId: 'demo-device' });
    const timings: Array<{ device: number; encode: number; network: number; serverRun: number; decode: number; total: number }> = [];
    let splitScore = 0;
    let agree = 0;
    try {
      for (let i = 0; i < inputs.length; i++) {
        const feeds = inputs[i]!;
        const r = await device.infer(Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, { dims: t.dims, data: t.data }])));
        const outputs = Object.fromEntries(Object.entries(r.outputs).map(([k, t]) => [k, { dtype: t.dtype, dims: [...t.dims], data: t.data }]));
        splitScore += metric.score(outputs as Parameters<typeof metric.score>[0], labels[i]!);
        if (metric.decode(outputs as Parameters<typeof metric.decode>[0]) === originalAnswers[i]) agree++;
        timings.push({ device: r.timing.deviceMs, encode: r.timing.encodeMs, network: r.timing.networkMs, serverRun: r.timing.serverRunMs ?? NaN, decode: r.timing.decodeMs, total: r.timing.totalMs });
      }
    } finally {
      await device.close();
      await server.close();
    }
    const p = planResult.plan.predicted.latencyMs;
    const result: DemoResult = {
      plan: planResult.plan, server: server.url, requests: inputs.length, metric: metric.name,
      accuracy: { original: originalScore / inputs.length, split: splitScore / inputs.length },
      agreement: agree / inputs.length,
      measuredMs: {
        device: median(timings.map((t) => t.device)), encode: median(timings.map((t) => t.encode)),
        networkAndServer: median(timings.map((t) => t.network)), serverRun: median(timings.map((t) => t.serverRun)),
        decode: median(timings.map((t) => t.decode)), total: median(timings.map((t) => t.total)),
      },
      predictedMs: { device: p.device, transmit: p.transmit, server: p.server, roundTrip: p.roundTrip, total: p.total },
    };
    return { result, planResult };
  } finally {
    if (options.out === undefined) await rm(dir, { recursive: true, force: true });
  }
}

function formatDemo(r: DemoResult, planText: string): string {
  const f = (ms: number): string => (Number.isFinite(ms) ? `${ms.toFixed(2)} ms` : '-');
  const m = r.measuredMs;
  const p = r.predictedMs;
  const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
  const budgetMs = r.plan.budgets?.latencyMs;
  return [
    planText.trimEnd(),
    '',
    `end to end: ${r.requests} held-out inputs through the device runtime and the server runtime (${r.server})`,
    `  latency (median)     measured here, loopback    predicted for ${r.plan.operatingPoint.deviceProfile} over ${r.plan.operatingPoint.channelProfile}`,
    `    device half        ${f(m.device).padEnd(26)} ${f(p.device)}`,
    `    encode + decode    ${f(m.encode + m.decode).padEnd(26)} -`,
    `    network + server   ${f(m.networkAndServer).padEnd(26)} ${f(p.transmit + p.server + p.roundTrip)} (transmit ${f(p.transmit)}, server ${f(p.server)}, round trip ${f(p.roundTrip)})`,
    `      of which server  ${f(m.serverRun).padEnd(26)} ${f(p.server)}`,
    `    total              ${f(m.total).padEnd(26)} ${f(p.total)}`,
    `  ${r.metric}: split plan ${pct(r.accuracy.split)}, original model ${pct(r.accuracy.original)}; same answer as the original on ${pct(r.agreement)} of inputs`,
    ...(budgetMs !== undefined && p.total >= 0.99 * budgetMs
      ? [`  note: the prediction fills the ${f(budgetMs)} budget on purpose: at equal distortion the planner takes the least device energy, here by sending at low power over the whole budget`]
      : []),
  ].join('\n') + '\n';
}

/** Run `edgesplit demo` with argv (after the command name); returns the exit code. */
export async function run(argv: string[], io: Io): Promise<number> {
  return runCommand(spec, argv, io, async ({ values }) => {
    const requests = numberOption(spec, 'requests', values.requests, 200, (n) => Number.isInteger(n) && n >= 1, 'an integer >= 1');
    const { result, planResult } = await demo({
      model: values.model ?? 'mnist-mlp', device: values.device ?? 'rpi4', channel: values.channel ?? 'wifi',
      latency: values.latency ?? '300ms', energy: values.energy ?? '2J', requests,
      ...(values.out !== undefined ? { out: values.out } : {}),
      log: (l) => io.err(`edgesplit demo: ${l}\n`),
    });
    return { json: result, text: formatDemo(result, formatPlan(planResult)) };
  });
}
