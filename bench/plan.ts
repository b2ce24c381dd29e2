// Benchmark of `edgesplit plan` on the PP-OCRv4 recogniser: the whole process's wall time (median of a few
// runs) and the time of each phase of `plan(config)`. Writes the 'plan' section of docs/benchmarks.md.
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, table, writeSection } from './results.ts';
import { plan, type PlanResult } from '../planner/plan/index.ts';

const RUNS = Number(process.env.BENCH_PLAN_RUNS ?? 3);
const MODEL = 'ppocr-rec';
// NOTE: budgets under which the plan really splits (late, at p411) and prunes (0.5), so that every
// phase does its full work; docs/plan.md shows this plan.
const ARGS = ['--device', 'jetson-orin-nano', '--channel', 'lte', '--latency', '150ms', '--energy', '2mJ'];
const BIN = fileURLToPath(new URL('../bin/edgesplit.js', import.meta.url));

const loadBefore = loadavg()[0]!;
const dir = await mkdtemp(join(tmpdir(), 'edgesplit-bench-plan-'));
const wallMs: number[] = [];
for (let i = 0; i < RUNS; i++) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [BIN, 'plan', MODEL, ...ARGS, '--out', join(dir, `cli-${i}`), '--json'], { encoding: 'utf8' });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`edgesplit plan exited ${r.status}: ${r.stderr}`);
  wallMs.push(ms);
  process.stderr.write(`bench plan: process run ${i + 1}/${RUNS}: ${(ms / 1e3).toFixed(1)} s\n`);
}

const results: PlanResult[] = [];
for (let i = 0; i < RUNS; i++) {
  results.push(await plan({ model: MODEL, device: 'jetson-orin-nano', channel: 'lte', budgets: { latency: '150ms', energy: '2mJ' }, out: join(dir, `api-${i}`) }));
  process.stderr.write(`bench plan: in-process run ${i + 1}/${RUNS}: ${(results.at(-1)!.timingsMs.total / 1e3).toFixed(1)} s\n`);
}
await rm(dir, { recursive: true, force: true });

const last = results.at(-1)!;
const phases: Array<[string, keyof PlanResult['timingsMs'], string]> = [
  ['load', 'load', 'read the model, profiles; Lipschitz Gamma (chain models only)'],
  ['analyse', 'analyse', `shapes, FLOPs and ${last.problem.problem.cuts.length} cut points of the unpruned model`],
  ['prune levels', 'prune', `structured pruning at ${last.problem.levels.slice(1).map((l) => l.ratio).join(', ')} and re-analysis of each`],
  ['optimise', 'optimise', `${last.problem.problem.cuts.length} cuts x ${last.problem.levels.length} levels, bisection and convex inner problem`],
  ['emit', 'emit', 'split the pruned model, analyse both halves, reprice'],
  ['verify', 'verify', `head + tail against the pruned and unpruned model on 32 inputs, and accuracy on 32 labelled lines`],
  ['total', 'total', 'plan(config) in process'],
];
const rows = phases.map(([name, key, what]) => [name, (median(results.map((r) => r.timingsMs[key])) / 1e3).toFixed(2), (Math.min(...results.map((r) => r.timingsMs[key])) / 1e3).toFixed(2), what]);
const md = [
  `\`edgesplit plan ${MODEL} ${ARGS.join(' ')} --out DIR\` on the PP-OCRv4 recogniser (${last.problem.problem.cuts.length} cut points, levels ${last.problem.levels.map((l) => l.ratio).join(', ')}).`,
  '',
  `Whole process (node bin/edgesplit.js, ONNX Runtime start-up included): median **${(median(wallMs) / 1e3).toFixed(1)} s** over ${RUNS} runs (${wallMs.map((m) => (m / 1e3).toFixed(1)).join(', ')} s; fastest ${(Math.min(...wallMs) / 1e3).toFixed(1)} s).`,
  '',
  `Phases of \`plan(config)\` in process, median of ${RUNS} runs:`,
  '',
  table(['phase', 'median s', 'fastest s', 'what it does'], rows),
  '',
  `Decision: cut ${last.plan.split.cutId}, ratio ${last.decision.ratio}, ${(last.decision.powerW * 1e3).toPrecision(3)} mW, ${(last.decision.freqHz / 1e6).toPrecision(3)} MHz; predicted ${last.plan.predicted.latencyMs.total} ms and ${(last.plan.predicted.energyJ.total * 1e3).toPrecision(3)} mJ; characters correct ${last.plan.distortion.accuracy ? `${(last.plan.distortion.accuracy.plan * 100).toFixed(1)}% (unpruned ${(last.plan.distortion.accuracy.unpruned * 100).toFixed(1)}%)` : 'n/a'}.`,
  `The machine's 1-minute load average was ${loadBefore.toFixed(1)} before and ${loadavg()[0]!.toFixed(1)} after the runs (2 cores): other work on the same cores stretches every phase.`,
  'Run with `npm run bench:plan` (BENCH_PLAN_RUNS sets the number of runs).',
].join('\n');
await writeSection('plan', md);
process.stdout.write(md + '\n');
