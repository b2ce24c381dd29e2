// `edgesplit prune MODEL --ratio R --out OUT.onnx`: prune a model (structured, which really shrinks its
// layers, or unstructured), optionally re-fit it, write it, and report what it costs and what it changed.
import { stat } from 'node:fs/promises';
import { type CommandSpec, type Io, numberOption, requireOption, runCommand } from '../args.ts';
import { MODEL_OPTIONS, formatCount, formatFlops, parseInputShapes, resolveModel } from './inspect.ts';
import { saveModel } from '../../planner/onnx/model.ts';
import { ZOO_IDS, loadZooModel } from '../../planner/zoo/index.ts';
import { calibrationInputs } from '../../planner/prune/study.ts';
import { runPruneJob, type PruneResult } from '../../planner/prune/pipeline.ts';
import { EdgesplitError } from '../../shared/errors.ts';

const spec = {
  name: 'prune',
  summary: 'Prune a model and write it: structured pruning removes whole neurons and channels (the layers really shrink and run faster); unstructured pruning zeroes the smallest weights (same size, no faster on dense runtimes). Prints params, FLOPs, distortion, agreement or accuracy, and ONNX Runtime latency before and after.',
  positionals: ['MODEL'],
  options: {
    ratio: { type: 'string', value: 'R', help: 'share of the prunable weights to remove, in [0, 1)' },
    structured: { type: 'boolean', help: 'remove whole neurons and channels (the default)' },
    unstructured: { type: 'boolean', help: 'zero the smallest weights of each layer instead' },
    global: { type: 'boolean', help: 'rank channels (or weights) across layers instead of the same ratio per layer' },
    refit: { type: 'boolean', help: 'after structured pruning, re-fit the layers that read removed channels by least squares on calibration inputs' },
    calib: { type: 'string', value: 'N', help: 'calibration inputs for --refit', default: '256' },
    norm: { type: 'string', value: 'l1|l2', help: 'magnitude measure of a channel', default: 'l2' },
    'round-to': { type: 'string', value: 'N', help: 'keep a multiple of N channels per layer (8 suits ONNX Runtime\'s CPU kernels best)', default: '1' },
    eval: { type: 'string', value: 'N', help: 'held-out inputs to measure distortion, agreement and accuracy on', default: '200' },
    runs: { type: 'string', value: 'N', help: 'timed runs of each model for the median latency (0 skips it)', default: '200' },
    out: { type: 'string', value: 'OUT.onnx', help: 'where to write the pruned model' },
    'input-shape': MODEL_OPTIONS['input-shape'],
  },
  epilog: [
    'MODEL is an .onnx file or a zoo id (see edgesplit models). Zoo models are calibrated and scored on',
    'their own data (MNIST digits, lines of digits); a file on seeded uniform [0, 1) inputs.',
    '',
    'Examples:',
    '  edgesplit prune mnist-mlp --ratio 0.5 --refit --out out/mnist-pruned.onnx',
    '  edgesplit prune model.onnx --ratio 0.3 --unstructured --out out/sparse.onnx --json',
    '  edgesplit prune rec.onnx --input-shape x=1,3,48,320 --ratio 0.1 --round-to 8 --refit --out out/rec.onnx',
  ].join('\n'),
} satisfies CommandSpec;

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

function formatResult(source: string, out: string, r: PruneResult): string {
  const lines = [
    `${r.mode} pruning of ${source}: ratio ${r.ratio} requested, ${r.achievedRatio.toFixed(4)} of the prunable weights removed -> ${out}`,
    `params   ${formatCount(r.params.before)} -> ${formatCount(r.params.after)} (${pct(1 - r.params.after / r.params.before)} fewer)`,
    `FLOPs    ${formatFlops(r.flops.before)} -> ${formatFlops(r.flops.after)} (${pct(1 - r.flops.after / r.flops.before)} fewer)`,
  ];
  if (r.latencyMs) lines.push(`latency  ${r.latencyMs.before.toFixed(3)} ms -> ${r.latencyMs.after.toFixed(3)} ms median (x${r.latencyMs.speedup.toFixed(2)} speed-up, median of paired runs; ONNX Runtime, 1 thread)`);
  lines.push(
    `parameter distortion  ${r.parameterDistortion.changed.toFixed(4)} over the pruned layers, ${r.parameterDistortion.total.toFixed(4)} over all layers`,
    `output distortion     ${r.output.outputDistortion.toFixed(4)} on ${r.output.inputs} held-out inputs; top-1 agreement ${pct(r.output.top1Agreement)}`,
  );
  if (r.taskScore) lines.push(`${r.taskMetric}  ${pct(r.taskScore.before)} -> ${pct(r.taskScore.after)}`);
  if (r.plan) {
    lines.push(`groups   ${r.groupsPruned} of ${r.plan.groups.length} pruned: ${r.plan.groups.filter((g) => g.kept.length < g.channels).map((g) => `${g.id.replace(/^channels:/, '')} ${g.channels}->${g.kept.length}`).join(', ')}`);
    if (r.skipped.length > 0) {
      lines.push(`left whole (${r.skipped.length}):`);
      for (const s of r.skipped) lines.push(`  ${s.producers.slice(0, 3).join(', ')}${s.producers.length > 3 ? `, +${s.producers.length - 3}` : ''} (${s.channels} ch): ${s.reason}`);
    }
  }
  for (const l of r.refitSkipped) lines.push(`re-fit   ${l.node}: left as pruned (${l.reason})`);
  if (r.refit) for (const l of r.refit) lines.push(`re-fit   ${l.node}: relative output error ${l.errorBefore.toFixed(4)} -> ${l.errorAfter.toFixed(4)} (${l.rows} rows, ${l.unknowns} unknowns)`);
  return lines.join('\n') + '\n';
}

/** Entry point of `edgesplit prune`. */
export async function run(argv: string[], io: Io): Promise<number> {
  return runCommand(spec, argv, io, async ({ values, positionals }) => {
    const ratioText = requireOption(spec, 'ratio', values.ratio);
    const ratio = numberOption(spec, 'ratio', ratioText, 0);
    const out = requireOption(spec, 'out', values.out);
    if (values.structured && values.unstructured) throw new EdgesplitError('ERR_USAGE', `give --structured or --unstructured, not both. Run 'edgesplit prune --help'.`);
    const mode = values.unstructured ? 'unstructured' : 'structured';
    if (values.refit && mode === 'unstructured') throw new EdgesplitError('ERR_USAGE', `--refit works with structured pruning only (unstructured pruning removes no channel to re-fit for). Run 'edgesplit prune --help'.`);
    const norm = values.norm ?? 'l2';
    if (norm !== 'l1' && norm !== 'l2') throw new EdgesplitError('ERR_USAGE', `--norm expects 'l1' or 'l2', got '${norm}'. Run 'edgesplit prune --help'.`);
    const count = (name: 'calib' | 'eval' | 'runs' | 'round-to', v: string | undefined, min: number): number => numberOption(spec, name, v, Number(spec.options[name].default), (n) => Number.isInteger(n) && n >= min, `an integer >= ${min}`);
    const calib = count('calib', values.calib, 1);
    const evalN = count('eval', values.eval, 1);
    const runs = count('runs', values.runs, 0);
    const roundTo = count('round-to', values['round-to'], 1);
    const arg = positionals[0]!;
    const zoo = !(await isFile(arg)) && ZOO_IDS.includes(arg) ? await loadZooModel(arg) : undefined;
    const loaded = zoo ? { model: zoo.model, source: arg } : await resolveModel(arg);
    const inits = new Set(loaded.model.graph?.initializer?.map((t) => t.name) ?? []);
    const inputNames = (loaded.model.graph?.input ?? []).map((i) => i.name ?? '').filter((n) => !inits.has(n));
    const shapes = parseInputShapes('prune', values['input-shape'] ?? [], inputNames);
    if (zoo && Object.keys(shapes).length > 0) throw new EdgesplitError('ERR_USAGE', `--input-shape is for model files; zoo model '${arg}' brings its own inputs. Run 'edgesplit prune --help'.`);
    const calibration = values.refit ? (zoo ? await zoo.sampleInputs(calib, 0) : calibrationInputs(loaded.model, calib, 0, loaded.source, shapes)) : [];
    const evalInputs = zoo ? await zoo.sampleInputs(evalN, 1) : calibrationInputs(loaded.model, evalN, 1, loaded.source, shapes);
    const labelled = zoo?.labelled && zoo.taskMetric ? await zoo.labelled(evalN, 0) : undefined;
    const result = await runPruneJob(loaded.model, {
      ratio, mode, norm, roundTo, scope: values.global ? 'global' : 'uniform', refit: values.refit === true,
      calibration, evalInputs, ...(labelled ? { labelled, metric: zoo!.taskMetric! } : {}), latencyRuns: runs, source: loaded.source,
      progress: (line) => io.err(`edgesplit prune: ${line}\n`),
    });
    const bytes = await saveModel(result.model, out);
    const { model: _written, plan, ...rest } = result;
    const json = { source: loaded.source, out, bytes: bytes.length, ...rest, plan: plan ? { ...plan, groups: plan.groups.map((g) => ({ id: g.id, channels: g.channels, kept: g.kept })) } : undefined };
    return { json, text: formatResult(loaded.source, out, result) };
  });
}
