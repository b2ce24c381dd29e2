// Benchmark of the server runtime: throughput with 8 concurrent devices beside raw session.run
// throughput of the same server half with the same number of sessions, and bytes on the wire per
// request beside the raw tensor bytes. Writes the 'server' section of docs/benchmarks.md.
import { readFile, readdir, rm } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { WebSocket } from 'ws';
import { createSession } from '../planner/onnx/session.ts';
import { type WireTensor, type Frame, PROTOCOL_VERSION, decodeFrame, encodeFrame, wireTensor } from '../shared/protocol.ts';
import { byteLength } from '../shared/dtypes.ts';
import { writeSection, table, median } from './results.ts';
import { type ServeChild, pin, splitCpus, startFloorChild, startServeChild, writeSplitPlan } from './fixtures.ts';

const CLIENTS = 8;
/** The goal: server throughput at least this share of raw session.run throughput. */
const GOAL = 0.9;
/** The server's CPUs and the devices' (this process's), when the machine has CPUs to split. */
const CPUS = splitCpus();
/** Sessions on each side: one per CPU the server has. */
const SESSIONS = CPUS?.serverCount ?? availableParallelism();
/** Raw and server runs alternate this many times; the table gives medians, so load from other processes hits both sides alike. */
const ROUNDS = 7;

/** Models and cuts measured, with how many requests each round makes on each side. */
const CASES = [
  { id: 'mnist-mlp', depth: 0.5, requests: 4000 },
  { id: 'ppocr-rec', depth: 0.3, requests: 96 },
  { id: 'ppocr-rec', depth: 0.7, requests: 96 },
] as const;

interface Prepared {
  label: string;
  planDir: string;
  planId: string;
  serverSha256: string;
  tail: Uint8Array;
  /** Crossing tensors of real inputs, one set per client. */
  inputs: WireTensor[][];
  crossingBytes: number;
  outputBytes: number;
}

/** Split a zoo model at `depth` of its cut points, write a plan directory, and run the head on real inputs. */
async function prepare(id: string, depth: number): Promise<Prepared> {
  const sp = await writeSplitPlan(id, depth);
  const crossing = sp.plan.split.crossing;
  const headSession = await createSession(sp.head);
  const inputs: WireTensor[][] = [];
  for (const feeds of await sp.zoo.sampleInputs(CLIENTS, 1)) {
    const out = await headSession.run(feeds);
    inputs.push(crossing.map((c) => wireTensor(c.name, c.dtype, out[c.name]!.dims, out[c.name]!.data)));
  }
  await headSession.release();
  return {
    label: sp.label, planDir: sp.planDir, planId: sp.plan.planId, serverSha256: sp.plan.server.sha256, tail: sp.tail, inputs,
    crossingBytes: sp.analysis.cuts[sp.cut.index]!.crossing.reduce((a, c) => a + byteLength(c.dtype, c.dims), 0),
    outputBytes: sp.analysis.outputs.reduce((a, o) => a + byteLength(o.dtype, o.dims), 0),
  };
}

// One raw session per thread, looping session.run on its own with no messages in between. It
// reports the CPU time its thread spent in the loop (Linux schedstat, in ns; null elsewhere).
const TSX_API = import.meta.resolve('tsx/esm/api');
const SESSION_MODULE = new URL('../server-runtime/session.ts', import.meta.url).href;
const RAW_WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const { readFileSync, readlinkSync } = require('node:fs');
const tid = () => { try { return Number(readlinkSync('/proc/thread-self').split('/').pop()); } catch { return null; } };
const cpuNs = () => { try { return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]); } catch { return null; } };
import(${JSON.stringify(TSX_API)}).then((m) => { m.register(); return import(${JSON.stringify(SESSION_MODULE)}); }).then(async ({ openOrtSession }) => {
  const session = await openOrtSession(workerData.model, { intraOpThreads: 1 });
  parentPort.postMessage(tid());
  await new Promise((resolve) => parentPort.once('message', resolve));
  for (let i = 0; i < 5; i++) await session.run(workerData.tensors);
  parentPort.postMessage('ready');
  parentPort.once('message', async () => {
    const before = cpuNs();
    for (let i = 0; i < workerData.runs; i++) await session.run(workerData.tensors);
    const after = cpuNs();
    await session.close();
    parentPort.postMessage(before === null || after === null ? null : after - before);
  });
});`;

/** Requests per second of SESSIONS raw sessions in parallel threads, `requests` runs in all, and their CPU time per run in ms (undefined off Linux). */
async function rawThroughput(p: Prepared, requests: number): Promise<{ perSecond: number; cpuMsPerRun: number | undefined }> {
  const per = Math.ceil(requests / SESSIONS);
  const workers = Array.from({ length: SESSIONS }, (_, i) => new Worker(RAW_WORKER, { eval: true, workerData: { model: p.tail, tensors: p.inputs[i % p.inputs.length], runs: per } }));
  // Each session thread goes to the server's CPUs before it runs, as the server's sessions do.
  await Promise.all(workers.map((w) => new Promise<void>((r) => w.once('message', (tid: unknown) => {
    if (CPUS && typeof tid === 'number') pin(tid, CPUS.server);
    w.postMessage('pinned');
    r();
  }))));
  await Promise.all(workers.map((w) => new Promise((r) => w.once('message', r))));
  const t0 = performance.now();
  const done = workers.map((w) => new Promise<unknown>((r) => w.once('message', r)));
  for (const w of workers) w.postMessage('go');
  const cpuNs = await Promise.all(done);
  const seconds = (performance.now() - t0) / 1000;
  await Promise.all(workers.map((w) => w.terminate()));
  const totalNs = cpuNs.reduce<number | undefined>((sum, ns) => (sum === undefined || typeof ns !== 'number' ? undefined : sum + ns), 0);
  return { perSecond: (per * SESSIONS) / seconds, cpuMsPerRun: totalNs === undefined ? undefined : totalNs / 1e6 / (per * SESSIONS) };
}

/** CPU time in ms of every thread of process `pid` so far, and of its main thread (Linux schedstat), or undefined when it cannot be read. */
async function processCpuMs(pid: number | undefined): Promise<{ all: number; main: number } | undefined> {
  if (pid === undefined) return undefined;
  try {
    let all = 0;
    let main = 0;
    for (const tid of await readdir(`/proc/${pid}/task`)) {
      const ns = Number((await readFile(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').catch(() => '0')).split(' ')[0]);
      all += ns;
      if (Number(tid) === pid) main = ns;
    }
    return { all: all / 1e6, main: main / 1e6 };
  } catch {
    return undefined;
  }
}

/**
 * One device: hello, then `count` requests one after the other. Returns bytes sent and received per request.
 * NOTE: the infer frame is encoded once and sent again (one request in flight, so one requestId):
 * real devices encode on their own CPUs, and here they share the server's cores.
 */
async function device(url: string, p: Prepared, tensors: WireTensor[], count: number): Promise<{ sentBytes: number; receivedBytes: number }> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let waiting: ((f: Frame) => void) | undefined;
  let receivedBytes = 0;
  ws.on('message', (data: Buffer) => {
    receivedBytes = data.byteLength;
    waiting?.(decodeFrame(data));
  });
  const next = (): Promise<Frame> => new Promise((resolve) => (waiting = resolve));
  ws.send(encodeFrame({ type: 'hello', protocolVersion: PROTOCOL_VERSION, deviceId: 'bench', planId: p.planId, serverSha256: p.serverSha256 }));
  const ok = await next();
  if (ok.type !== 'hello-ok') throw new Error(`hello refused: ${JSON.stringify(ok)}`);
  const frame = encodeFrame({ type: 'infer', requestId: 0, tensors });
  for (let i = 0; i < count; i++) {
    ws.send(frame);
    const r = await next();
    if (r.type !== 'result') throw new Error(`request failed: ${JSON.stringify(r)}`);
  }
  ws.close();
  return { sentBytes: frame.byteLength, receivedBytes };
}

/**
 * Requests per second through the server with CLIENTS devices, each with one request in flight;
 * the server's CPU time per request (all its threads: socket thread, sessions, garbage collector;
 * and its main thread, which serves the sockets) and the devices' (this process), in ms.
 */
async function serverThroughput(server: { url: string; pid: number | undefined }, p: Prepared, requests: number): Promise<{ perSecond: number; serverCpuMs: { all: number; main: number } | undefined; deviceCpuMs: number; sentBytes: number; receivedBytes: number }> {
  const per = Math.ceil(requests / CLIENTS);
  const cpu0 = await processCpuMs(server.pid);
  const device0 = process.cpuUsage();
  const t0 = performance.now();
  const bytes = await Promise.all(p.inputs.map((t) => device(server.url, p, t, per)));
  const seconds = (performance.now() - t0) / 1000;
  const deviceUs = process.cpuUsage(device0);
  const cpu1 = await processCpuMs(server.pid);
  const n = per * CLIENTS;
  return {
    perSecond: n / seconds,
    serverCpuMs: cpu0 === undefined || cpu1 === undefined ? undefined : { all: (cpu1.all - cpu0.all) / n, main: (cpu1.main - cpu0.main) / n },
    deviceCpuMs: (deviceUs.user + deviceUs.system) / 1000 / n,
    sentBytes: bytes[0]!.sentBytes, receivedBytes: bytes[0]!.receivedBytes,
  };
}

/** One floor device: the crossing tensors' raw bytes back to back, `count` times one after the other, over a bare ws. */
async function floorDevice(url: string, tensors: readonly WireTensor[], count: number): Promise<void> {
  const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 1 << 30 });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const bytes = tensors.length === 1 ? tensors[0]!.data : Buffer.concat(tensors.map((t) => t.data));
  for (let i = 0; i < count; i++) {
    await new Promise<void>((resolve) => {
      ws.once('message', () => resolve());
      ws.send(bytes);
    });
  }
  ws.close();
}

/**
 * Requests per second through the floor: SESSIONS floor servers (bench/floor-server.ts, each one
 * session on its main thread and nothing else), the CLIENTS devices spread over them, and the floor
 * servers' CPU time per request in ms.
 */
async function floorThroughput(servers: readonly ServeChild[], p: Prepared, requests: number): Promise<{ perSecond: number; cpuMs: number | undefined }> {
  const per = Math.ceil(requests / CLIENTS);
  const cpu = async (): Promise<number | undefined> => {
    const each = await Promise.all(servers.map((s) => processCpuMs(s.pid)));
    return each.every((c) => c !== undefined) ? each.reduce((sum, c) => sum + c!.all, 0) : undefined;
  };
  const cpu0 = await cpu();
  const t0 = performance.now();
  await Promise.all(p.inputs.map((t, i) => floorDevice(servers[i % servers.length]!.url, t, per)));
  const seconds = (performance.now() - t0) / 1000;
  const cpu1 = await cpu();
  const n = per * CLIENTS;
  return { perSecond: n / seconds, cpuMs: cpu0 === undefined || cpu1 === undefined ? undefined : (cpu1 - cpu0) / n };
}

/** WebSocket framing bytes of a client (masked) or server message of `n` payload bytes. */
function wsHeaderBytes(n: number, masked: boolean): number {
  return (n < 126 ? 2 : n < 65536 ? 4 : 10) + (masked ? 4 : 0);
}

// The devices (this process) keep to their own CPU, off the server's.
if (CPUS) pin(process.pid, CPUS.devices, true);
const loadBefore = loadavg()[0]!;
const rows: Array<Array<string | number>> = [];
const cpuRows: Array<Array<string | number>> = [];
const goalLines: string[] = [];
const wireRows: Array<Array<string | number>> = [];
const ms = (v: number | undefined): string => (v === undefined ? '-' : v.toFixed(3));
for (const c of CASES) {
  process.stderr.write(`bench:server ${c.id} at ${c.depth * 100}% ...\n`);
  const p = await prepare(c.id, c.depth);
  const server = await startServeChild(['--plan', p.planDir, '--workers', String(SESSIONS), '--queue', String(CLIENTS * 2)], CPUS?.server);
  const floors = await Promise.all(Array.from({ length: SESSIONS }, () => startFloorChild(p.planDir, CPUS?.server)));
  try {
    await Promise.all(p.inputs.map((t) => device(server.url, p, t, Math.max(3, Math.ceil(c.requests / CLIENTS / 4)))));
    await floorThroughput(floors, p, Math.max(CLIENTS * 3, Math.ceil(c.requests / 4)));
    const raws: number[] = [];
    const servers: number[] = [];
    const ratios: number[] = [];
    const rawCpu: number[] = [];
    const serverCpu: number[] = [];
    const mainCpu: number[] = [];
    const deviceCpu: number[] = [];
    const floorRates: number[] = [];
    const floorRatios: number[] = [];
    const floorCpu: number[] = [];
    let srv = { sentBytes: 0, receivedBytes: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      const raw = await rawThroughput(p, c.requests);
      const run = await serverThroughput(server, p, c.requests);
      const floor = await floorThroughput(floors, p, c.requests);
      floorRates.push(floor.perSecond);
      floorRatios.push(floor.perSecond / raw.perSecond);
      if (floor.cpuMs !== undefined) floorCpu.push(floor.cpuMs);
      srv = run;
      raws.push(raw.perSecond);
      servers.push(run.perSecond);
      ratios.push(run.perSecond / raw.perSecond);
      if (raw.cpuMsPerRun !== undefined) rawCpu.push(raw.cpuMsPerRun);
      if (run.serverCpuMs !== undefined) {
        serverCpu.push(run.serverCpuMs.all);
        mainCpu.push(run.serverCpuMs.main);
      }
      deviceCpu.push(run.deviceCpuMs);
      process.stderr.write(`  round ${round + 1}: raw ${raw.perSecond.toFixed(1)} req/s (${ms(raw.cpuMsPerRun)} ms CPU a run), server ${run.perSecond.toFixed(1)} req/s (${ms(run.serverCpuMs?.all)} ms CPU a request, ${ms(run.serverCpuMs?.main)} on its main thread; devices ${ms(run.deviceCpuMs)}), floor ${floor.perSecond.toFixed(1)} req/s (${ms(floor.cpuMs)} ms CPU a request)\n`);
    }
    rows.push([p.label, SESSIONS, CLIENTS, median(raws).toFixed(1), median(servers).toFixed(1), `**${median(ratios).toFixed(2)}**`, ratios.map((r) => r.toFixed(2)).join(', '), median(floorRates).toFixed(1), median(floorRatios).toFixed(2)]);
    const rawMs = rawCpu.length === ROUNDS ? median(rawCpu) : undefined;
    const serverMs = serverCpu.length === ROUNDS ? median(serverCpu) : undefined;
    const deviceMs = median(deviceCpu);
    const floorMs = floorCpu.length === ROUNDS ? median(floorCpu) : undefined;
    goalLines.push(`- ${p.label}: ${median(ratios).toFixed(2)} of raw \`session.run\`: ${median(ratios) >= GOAL ? 'met' : 'not met'}. The floor reaches ${median(floorRatios).toFixed(2)}${median(floorRatios) < GOAL ? ', below the goal by itself' : ''}.`
      + (rawMs === undefined || serverMs === undefined || floorMs === undefined ? '' : ` Beyond the run, the server spends ${ms(serverMs - rawMs)} ms of CPU a request and the floor ${ms(floorMs - rawMs)} ms.`));
    cpuRows.push([
      p.label, ms(rawMs), ms(serverMs),
      rawMs === undefined || serverMs === undefined ? '-' : `${ms(serverMs - rawMs)} (${(((serverMs - rawMs) / rawMs) * 100).toFixed(1)}%)`,
      ms(mainCpu.length === ROUNDS ? median(mainCpu) : undefined),
      rawMs === undefined || floorMs === undefined ? '-' : `${ms(floorMs - rawMs)} (${(((floorMs - rawMs) / rawMs) * 100).toFixed(1)}%)`,
      ms(deviceMs),
      rawMs === undefined || serverMs === undefined ? '-' : (rawMs / (CPUS ? serverMs : serverMs + deviceMs)).toFixed(2),
      rawMs === undefined || floorMs === undefined ? '-' : (rawMs / (CPUS ? floorMs : floorMs + deviceMs)).toFixed(2),
    ]);
    const rawBytes = p.crossingBytes + p.outputBytes;
    const wire = srv.sentBytes + wsHeaderBytes(srv.sentBytes, true) + srv.receivedBytes + wsHeaderBytes(srv.receivedBytes, false);
    wireRows.push([p.label, p.crossingBytes, p.outputBytes, srv.sentBytes, srv.receivedBytes, wire, `${(((wire - rawBytes) / rawBytes) * 100).toFixed(2)}%`]);
  } finally {
    await server.stop();
    for (const f of floors) await f.stop();
    await rm(p.planDir, { recursive: true, force: true });
  }
}

const placement = CPUS
  ? `The devices run in this process on CPU ${CPUS.devices}, and the server, the floor and the raw sessions on CPU${CPUS.serverCount > 1 ? 's' : ''} ${CPUS.server} (Linux taskset), as real devices bring their own CPUs: the ratio compares what the server's CPUs do with and without the server around the sessions.`
  : 'The devices, the server and the raw sessions share the same cores (taskset is not available or there is one core), so the devices take CPU time from both sides.';
const markdown = [
  '## Server runtime',
  '',
  `Throughput of \`edgesplit serve\` (a child process, ${SESSIONS} session${SESSIONS > 1 ? 's' : ''}, each in a worker thread) with ${CLIENTS} concurrent devices on loopback, each a raw ws client with one request in flight sending the crossing tensors of real inputs as a pre-encoded frame (encoding belongs to the device), beside ${SESSIONS} raw ONNX Runtime session${SESSIONS > 1 ? 's' : ''} of the same server half looping \`session.run\` (one per thread, one intra-op thread each, as the server's). Goal: ratio at least ${GOAL}. ${placement} Beside them, the floor: ${SESSIONS} \`bench/floor-server.ts\` process${SESSIONS > 1 ? 'es' : ''} on the same CPUs, each a bare ws server running one session on its main thread on raw bytes, with the same ${CLIENTS} devices sending raw bytes. Raw, server and floor runs alternate ${ROUNDS} times; medians.`,
  '',
  table(['plan (model at cut)', 'sessions', 'devices', 'raw session.run (req/s)', 'server (req/s)', 'server / raw (median)', `server / raw, the ${ROUNDS} rounds`, 'floor (req/s)', 'floor / raw (median)'], rows),
  '',
  `The machine's 1-minute load average was ${loadBefore.toFixed(1)} before and ${loadavg()[0]!.toFixed(1)} after the run.`,
  '',
  `CPU time per request, which other work on the machine disturbs far less than wall time (Linux schedstat of every thread; medians of the ${ROUNDS} rounds): a raw \`session.run\` of the server half; the server process for one request (socket thread, session threads, garbage collection), what it spends beyond the run and the part of that on the socket (main) thread; the same beyond the run for the floor; and the ${CLIENTS} devices. With the server's CPUs kept busy, the throughput ratio is bound by raw / server CPU${CPUS ? '' : ' (plus the devices\', which share the cores)'}: the last two columns.`,
  '',
  table(['plan (model at cut)', 'raw session.run (ms CPU)', 'server (ms CPU per request)', 'server beyond the run (ms)', 'of it, socket thread (ms)', 'floor beyond the run (ms)', 'devices (ms CPU per request)', 'bound: raw / server', 'bound: raw / floor'], cpuRows),
  '',
  `Against the goal of at least ${GOAL}:`,
  '',
  goalLines.join('\n'),
  '',
  'For a server half that runs in microseconds (the MNIST MLP), the fixed cost of each request over a WebSocket (socket reads and writes, waking a thread) is many times the run, for the floor as for the server: no server on a socket comes near a bare `session.run` loop there. For the PP-OCR recogniser every request moves about 2 MB (the crossing tensor up, the 6,625-class output down): copying those bytes through the socket and unmasking them cost the floor as well; what the server spends beyond the floor is its protocol, checks and queue, the hand-over to the session thread and back, and more garbage collection.',
  '',
  'Bytes on the wire per request: the infer frame up and the result frame down (msgpack), and with WebSocket framing, beside the raw tensor bytes.',
  '',
  table(['plan (model at cut)', 'crossing tensor bytes', 'output tensor bytes', 'infer frame bytes', 'result frame bytes', 'on the wire (with ws framing)', 'overhead'], wireRows),
  '',
  'Run: `npm run bench:server`.',
].join('\n');
await writeSection('server', markdown);
process.stdout.write(markdown + '\n');
