// What the runtime benchmarks share: a plan directory for a zoo model split at a given depth, and
// `edgesplit serve` in a child process (a process of its own, as in production) on a free port.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ZooModel, loadZooModel } from '../planner/zoo/index.ts';
import { type CutPoint, type ModelAnalysis, analyzeModel } from '../planner/onnx/analyze.ts';
import { splitModel } from '../planner/onnx/split.ts';
import { encodeModel } from '../planner/onnx/model.ts';
import { PLAN_SCHEMA_VERSION, type PlanManifest, type TensorSpec } from '../shared/plan.ts';

/** A zoo model split at one cut, written as a plan directory (plan.json, device.onnx, server.onnx). */
export interface SplitPlan {
  zoo: ZooModel;
  analysis: ModelAnalysis;
  cut: CutPoint;
  /** e.g. 'ppocr-rec at p92 (30% of 307 cuts)' */
  label: string;
  planDir: string;
  plan: PlanManifest;
  head: Uint8Array;
  tail: Uint8Array;
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const spec = (t: TensorSpec): TensorSpec => ({ name: t.name, dtype: t.dtype, dims: [...t.dims] });

/** Split zoo model `id` at `depth` (0..1) of its cut points and write a plan directory in a temp dir. */
export async function writeSplitPlan(id: string, depth: number): Promise<SplitPlan> {
  const zoo = await loadZooModel(id);
  const analysis = await analyzeModel(zoo.model, { inputShapes: zoo.inputShapes, source: id });
  const cut = analysis.cuts[Math.round(depth * (analysis.cuts.length - 1))]!;
  const { head, tail, crossing } = splitModel(zoo.model, cut, analysis);
  const headBytes = encodeModel(head);
  const tailBytes = encodeModel(tail);
  const plan: PlanManifest = {
    schemaVersion: PLAN_SCHEMA_VERSION, planId: `${id}-${cut.id}`, model: { id },
    split: { cutIndex: cut.index, cutId: cut.id, crossing: crossing.map(spec) },
    device: { file: 'device.onnx', sha256: sha256(headBytes), inputs: analysis.inputs.map(spec) },
    server: { file: 'server.onnx', sha256: sha256(tailBytes), outputs: analysis.outputs.map(spec) },
  };
  const planDir = await mkdtemp(join(tmpdir(), `edgesplit-bench-${plan.planId}-`));
  await writeFile(join(planDir, 'device.onnx'), headBytes);
  await writeFile(join(planDir, 'server.onnx'), tailBytes);
  await writeFile(join(planDir, 'plan.json'), JSON.stringify(plan, null, 2));
  return { zoo, analysis, cut, label: `${id} at ${cut.id} (${Math.round(depth * 100)}% of ${analysis.cuts.length} cuts)`, planDir, plan, head: headBytes, tail: tailBytes };
}

/** A running server child (`edgesplit serve` or the floor server): its URL, its pid, and a stop that sends SIGTERM and waits for exit. */
export interface ServeChild {
  url: string;
  pid: number | undefined;
  stop(): Promise<void>;
}

/**
 * Start `edgesplit serve --port 0 --json` with `args` (plans, workers, queue) in a child process;
 * with `cpus` (a CPU list such as '0' or '0-2'), on those CPUs only (Linux taskset).
 */
export function startServeChild(args: readonly string[], cpus?: string): Promise<ServeChild> {
  return startChild([...binNodeFlags(), BIN, 'serve', ...args, '--port', '0', '--json'], cpus);
}

const BIN = fileURLToPath(new URL('../bin/edgesplit.js', import.meta.url));

/** The node flags on bin/edgesplit.js's first line (`#!/usr/bin/env -S node FLAGS`), which the installed `edgesplit` runs with. */
export function binNodeFlags(): string[] {
  const shebang = readFileSync(BIN, 'utf8').split('\n')[0] ?? '';
  const words = shebang.split(/\s+/);
  return words.slice(words.indexOf('node') + 1);
}

/** Start bench/floor-server.ts on the plan directory in a child process, with the same node flags as `edgesplit`: the bare WebSocket split the runtimes are measured against. */
export function startFloorChild(planDir: string, cpus?: string): Promise<ServeChild> {
  return startChild([...binNodeFlags(), '--import', 'tsx', fileURLToPath(new URL('./floor-server.ts', import.meta.url)), planDir], cpus);
}

/** Start node with `args`, on the CPU list `cpus` if given; resolves once it prints its URL as a JSON line. */
async function startChild(args: readonly string[], cpus?: string): Promise<ServeChild> {
  const command = [process.execPath, ...args];
  const child = cpus === undefined ? spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] }) : spawn('taskset', ['-c', cpus, ...command], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) {
        const parsed: unknown = JSON.parse(line);
        if (typeof parsed === 'object' && parsed !== null && 'url' in parsed && typeof parsed.url === 'string') resolve(parsed.url);
        else reject(new Error(`unexpected first line from ${args.join(' ')}: ${line}`));
      }
    });
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`)));
  });
  return {
    url,
    pid: child.pid,
    stop: () => new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    }),
  };
}

/**
 * The machine's CPUs split between a server (every CPU but the last) and the devices that load it
 * (the last), when there are at least 2 and Linux taskset can pin threads; undefined otherwise.
 * NOTE: on one machine, devices that share the server's cores take their CPU time from it; real
 * devices bring their own CPUs.
 */
export function splitCpus(): { server: string; serverCount: number; devices: string } | undefined {
  const n = availableParallelism();
  if (n < 2 || process.platform !== 'linux' || spawnSync('taskset', ['-p', String(process.pid)]).status !== 0) return undefined;
  return { server: n === 2 ? '0' : `0-${n - 2}`, serverCount: n - 1, devices: String(n - 1) };
}

/** Pin thread or process `id` (every thread of it with `allThreads`) to the CPU list `cpus`. */
export function pin(id: number, cpus: string, allThreads = false): void {
  const r = spawnSync('taskset', [...(allThreads ? ['-a'] : []), '-p', '-c', cpus, String(id)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`taskset could not pin ${id} to CPUs ${cpus}: ${r.stderr}`);
}
