// What the runtime benchmarks share: a plan directory for a zoo model split at a given depth, and
// `edgesplit serve` in a child process (a process of its own, as in production) on a free port.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
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

/** A running `edgesplit serve` child: its URL, its pid, and a stop that sends SIGTERM and waits for exit. */
export interface ServeChild {
  url: string;
  pid: number | undefined;
  stop(): Promise<void>;
}

/** Start `edgesplit serve --port 0 --json` with `args` (plans, workers, queue) in a child process. */
export async function startServeChild(args: readonly string[]): Promise<ServeChild> {
  const bin = fileURLToPath(new URL('../bin/edgesplit.js', import.meta.url));
  const child = spawn(process.execPath, [bin, 'serve', ...args, '--port', '0', '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) {
        const parsed: unknown = JSON.parse(line);
        if (typeof parsed === 'object' && parsed !== null && 'url' in parsed && typeof parsed.url === 'string') resolve(parsed.url);
        else reject(new Error(`unexpected first line from edgesplit serve: ${line}`));
      }
    });
    child.once('exit', (code) => reject(new Error(`edgesplit serve exited with ${code}`)));
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
