// `edgesplit plan MODEL --device D --channel C --latency T --energy E --out DIR`: choose the split, pruning
// ratio, transmit power and CPU frequency, and write DIR/device.onnx, DIR/server.onnx and DIR/plan.json.
import { type CommandSpec, type Io, numberOption, requireOption, runCommand } from '../args.ts';
import { parseInputShapes, resolveModel } from './inspect.ts';
import { realInputs } from '../../planner/onnx/model.ts';
import { modelGraph } from '../../planner/onnx/graph.ts';
import { formatBytes, formatSi } from '../../planner/profiles/units.ts';
import type { PlanResult as OptimizerResult } from '../../planner/optimize/optimizer.ts';
import { type PlanConfig, type PlanResult, DEFAULT_LEVELS, plan } from '../../planner/plan/index.ts';
import { EdgesplitError } from '../../shared/errors.ts';

export { plan } from '../../planner/plan/index.ts';
export type { PlanConfig, PlanResult } from '../../planner/plan/index.ts';

export const spec = {
  name: 'plan',
  summary: 'Choose the split point, pruning ratio, transmit power and CPU frequency that minimise the distortion bound under latency, energy and memory budgets; write DIR/device.onnx, DIR/server.onnx and DIR/plan.json.',
  positionals: ['MODEL'],
  options: {
    device: { type: 'string', value: 'NAME|FILE', help: 'device profile: rpi4, rpi5, jetson-nano, jetson-orin-nano, or a JSON file' },
    channel: { type: 'string', value: 'NAME|FILE', help: 'uplink channel profile: wifi, lte, 5g, or a JSON file' },
    server: { type: 'string', value: 'NAME|FILE', help: 'server profile: desktop, or a JSON file', default: 'desktop' },
    latency: { type: 'string', value: 'TIME', help: 'latency budget per inference, e.g. 300ms' },
    energy: { type: 'string', value: 'ENERGY', help: 'device energy budget per inference, e.g. 2J or 150mJ' },
    memory: { type: 'string', value: 'SIZE', help: 'device memory budget for the device half (weights + peak activations), e.g. 256MB; default the device\'s memory' },
    profile: { type: 'string', value: 'FILE', help: "measured latencies from 'edgesplit profile' run on the device: replaces FLOPs x cycles per FLOP" },
    'server-profile': { type: 'string', value: 'FILE', help: "measured latencies from 'edgesplit profile' run on the server: replaces FLOPs / throughput for the server half" },
    'input-shape': { type: 'string', multiple: true, value: 'NAME=D,D,...', help: 'shape of an input, e.g. x=1,3,48,320 (repeatable; NAME= may be left out for a one-input model)' },
    ratios: { type: 'string', value: 'R,R,...', help: 'pruning levels to build real pruned models for', default: DEFAULT_LEVELS.join(',') },
    'round-to': { type: 'string', value: 'N', help: 'keep a multiple of N channels per pruned group (8 suits ONNX Runtime\'s CPU kernels)', default: '1' },
    refit: { type: 'string', value: 'N', help: 're-fit each pruned level by least squares on N calibration inputs (slower; often far more accurate)' },
    calib: { type: 'string', value: 'N', help: 'calibration inputs for Gamma and for verifying the emitted halves (and held-out labelled inputs for --min-accuracy)', default: '32' },
    'min-accuracy': { type: 'string', value: 'F', help: 'the least task score (top-1 accuracy or characters correct) a pruning level must keep on held-out labelled data, as a fraction, e.g. 0.9; a level below it is not planned' },
    out: { type: 'string', value: 'DIR', help: 'plan directory to write' },
  },
  epilog: [
    'MODEL is an .onnx file or a zoo id (see edgesplit models). Quantities take units: 300ms, 1.5s, 2J, 150mJ, 256MB, 1GiB.',
    'Example: edgesplit plan mnist-mlp --device rpi4 --channel wifi --latency 300ms --energy 2J --out plans/mnist',
    'Exit codes: 0 plan written; 1 failure (ERR_INFEASIBLE names the budget that cannot be met); 2 usage.',
  ].join('\n'),
} satisfies CommandSpec;

/** Parse a comma-separated list of pruning ratios; ERR_USAGE names a bad entry. */
export function parseRatios(command: string, text: string): number[] {
  const parts = text.split(',').map((s) => s.trim());
  const ratios = parts.map(Number);
  const bad = parts.find((p, i) => p === '' || !Number.isFinite(ratios[i]!) || ratios[i]! < 0 || ratios[i]! >= 1);
  if (bad !== undefined) {
    throw new EdgesplitError('ERR_USAGE', `--ratios expects comma-separated ratios in [0, 1), e.g. 0,0.25,0.5,0.75, got '${bad}' in '${text}'. Run 'edgesplit ${command} --help'.`, { details: { ratios: text } });
  }
  return ratios;
}

/** Input names of MODEL (a file or zoo id), for --input-shape without NAME=. */
export async function inputShapesFromArgs(command: string, modelArg: string, values: readonly string[]): Promise<Record<string, number[]>> {
  if (values.length === 0) return {};
  const { model } = await resolveModel(modelArg);
  return parseInputShapes(command, values, realInputs(modelGraph(model, modelArg)).map((i) => i.name));
}

/** The typed config of `edgesplit plan` from its parsed options. */
export async function configFromArgs(values: Record<string, string | string[] | boolean | undefined>, modelArg: string, io: Io): Promise<PlanConfig> {
  const str = (k: string): string | undefined => (typeof values[k] === 'string' ? values[k] : undefined);
  const memory = str('memory');
  const profile = str('profile');
  const serverProfile = str('server-profile');
  const shapes = values['input-shape'];
  return {
    model: modelArg,
    inputShapes: await inputShapesFromArgs(spec.name, modelArg, Array.isArray(shapes) ? shapes : []),
    device: requireOption(spec, 'device', str('device')),
    channel: requireOption(spec, 'channel', str('channel')),
    server: str('server') ?? 'desktop',
    budgets: { latency: requireOption(spec, 'latency', str('latency')), energy: requireOption(spec, 'energy', str('energy')), ...(memory !== undefined ? { memory } : {}) },
    ...(profile !== undefined ? { profile } : {}),
    ...(serverProfile !== undefined ? { serverProfile } : {}),
    ratios: parseRatios(spec.name, str('ratios') ?? DEFAULT_LEVELS.join(',')),
    roundTo: numberOption(spec, 'round-to', str('round-to'), 1, (n) => Number.isInteger(n) && n >= 1, 'an integer >= 1'),
    ...(str('refit') !== undefined ? { refit: numberOption(spec, 'refit', str('refit'), 0, (n) => Number.isInteger(n) && n >= 1, 'an integer >= 1 (calibration inputs)') } : {}),
    calibrationInputs: numberOption(spec, 'calib', str('calib'), 32, (n) => Number.isInteger(n) && n >= 1, 'an integer >= 1'),
    ...(str('min-accuracy') !== undefined ? { minTaskScore: numberOption(spec, 'min-accuracy', str('min-accuracy'), 0, (n) => n >= 0 && n <= 1, 'a fraction in [0, 1], e.g. 0.9') } : {}),
    out: requireOption(spec, 'out', str('out')),
    onProgress: (m) => io.err(`edgesplit plan: ${m}\n`),
  };
}

function num(x: number): string {
  return x === 0 ? '0' : x.toPrecision(4);
}

function ms(s: number): string {
  return formatSi(s, 's');
}

function baselineLine(name: string, r: OptimizerResult): string {
  if (!r.feasible) return `  ${name.padEnd(12)} infeasible (${r.infeasibility.violated.join(' and ')})`;
  const b = r.breakdown;
  return `  ${name.padEnd(12)} cut ${b.cutId}, ratio ${b.ratio}: bound ${b.distortion.toPrecision(3)}, latency ${ms(b.latency.totalS)}, energy ${formatSi(b.energy.totalJ, 'J')}`;
}

/** Loss of task accuracy (in points) or top-1 agreement below which the summary warns. */
const WARN_ACCURACY_LOSS = 0.05;
const WARN_AGREEMENT = 0.9;

/** A warning line when the pruning the budgets force costs real accuracy, which the bound alone does not show. */
function qualityWarning(r: PlanResult): string[] {
  const d = r.plan.distortion;
  const loss = d.accuracy ? d.accuracy.unpruned - d.accuracy.plan : undefined;
  if ((loss === undefined || loss <= WARN_ACCURACY_LOSS) && d.top1Agreement >= WARN_AGREEMENT) return [];
  const what = loss !== undefined && loss > WARN_ACCURACY_LOSS ? `loses ${(loss * 100).toFixed(1)} points of ${d.accuracy!.metric}` : `agrees with the unpruned model on only ${(d.top1Agreement * 100).toFixed(1)}% of top-1 answers`;
  const remedies = [...(r.plan.pruning.refit ? [] : ['re-fit the pruned levels (--refit 64)']), 'plan with finer levels (--ratios 0,0.05,0.1,...)', 'or loosen the budgets'];
  return [`  warning    pruning at ${r.plan.pruning.ratio} ${what}: ${remedies.join(', ')}`];
}

/** The human summary of a plan: the decision with units, the predicted breakdown, the distortion figures and the files. */
export function formatPlan(r: PlanResult): string {
  const p = r.plan;
  const b = r.breakdown;
  const d = p.distortion;
  const cut = r.problem.problem.cuts[r.decision.cutIndex]!;
  const crossing = p.split.crossing.map((c) => `${c.name} ${c.dtype}[${c.dims.join(',')}]`).join(', ');
  const lines = [
    `plan ${p.planId}: ${p.model.name} on ${p.operatingPoint.deviceProfile} over ${p.operatingPoint.channelProfile} to ${p.operatingPoint.serverProfile}`,
    `decision`,
    `  split      cut ${cut.id} (${r.decision.cutIndex} of ${r.problem.problem.cuts.length - 1}); crossing ${crossing}: ${formatBytes(b.crossingBytes)}`,
    `  pruning    ratio ${p.pruning.ratio} (${p.pruning.method}; ${(p.pruning.achievedRatio * 100).toFixed(1)}% of prunable weights removed; levels ${p.pruning.levels.join(', ')}${p.pruning.roundTo > 1 ? `; channels in multiples of ${p.pruning.roundTo}` : ''}${p.pruning.refit ? `; ${p.pruning.refit.layers} layers re-fitted on ${p.pruning.refit.inputs} inputs` : ''})`,
    ...(p.pruning.minAccuracy ? [`  floor      ${p.pruning.minAccuracy.metric} >= ${p.pruning.minAccuracy.minTaskScore} on ${p.pruning.minAccuracy.inputs} held-out labelled inputs: ${p.pruning.minAccuracy.scores.map((x) => `ratio ${x.ratio} ${(x.taskScore * 100).toFixed(1)}%`).join(', ')}`] : []),
    ...(p.pruning.dropped ? [`  dropped    ratio ${p.pruning.dropped.map((l) => `${l.ratio} (${(l.taskScore * 100).toFixed(1)}%)`).join(', ')}: ${p.pruning.dropped[0]!.reason}`] : []),
    ...(p.pruning.skipped ? [`  skipped    no pruned model at ratio ${p.pruning.skipped.map((l) => l.ratio).join(', ')} (${[...new Set(p.pruning.skipped.map((l) => l.code))].join(', ')})`] : []),
    `  power      ${formatSi(r.decision.powerW, 'W')} (uplink ${formatSi(b.rateBitPerS, 'bit/s')})`,
    `  frequency  ${formatSi(r.decision.freqHz, 'Hz')}`,
    `predicted, priced on the emitted halves (device time from ${p.predicted.deviceLatencyFrom})`,
    `  latency    ${ms(b.latency.totalS)} = device ${ms(b.latency.deviceS)} + transmit ${ms(b.latency.transmitS)} + server ${ms(b.latency.serverS)} + round trip ${ms(b.latency.roundTripS)}   (budget ${ms(b.budgets.latencyS)})`,
    `  energy     ${formatSi(b.energy.totalJ, 'J')} = device ${formatSi(b.energy.deviceJ, 'J')} + transmit ${formatSi(b.energy.transmitJ, 'J')}   (budget ${formatSi(b.budgets.energyJ, 'J')})`,
    `  memory     ${formatBytes(b.memory.totalBytes)} = weights ${formatBytes(b.memory.paramBytes)} + peak activations ${formatBytes(b.memory.activationBytes)}   (limit ${formatBytes(b.memory.limitBytes)})`,
    `distortion`,
    `  bound      ${num(d.bound)} = Gamma ${d.gamma.toPrecision(4)} x parameter distortion ${num(d.parameter)}${d.gammaSource.startsWith('1:') ? ' (Gamma 1: no Lipschitz factor for this model)' : ''}`,
    `  measured   on ${d.calibrationInputs} calibration inputs: output distortion ${num(d.measuredOutput)}, top-1 agreement ${(d.top1Agreement * 100).toFixed(1)}% vs the unpruned model`,
    ...(d.accuracy ? [`  task       ${d.accuracy.metric} ${(d.accuracy.plan * 100).toFixed(1)}% on ${d.accuracy.inputs} held-out labelled inputs (unpruned ${(d.accuracy.unpruned * 100).toFixed(1)}%)`] : []),
    `  split      head then tail equals the pruned model: max abs diff ${d.composeMaxAbsDiff.toExponential(2)} (graph optimisation off), ${d.composeMaxAbsDiffOptimized.toExponential(2)} as the runtimes run it`,
    ...qualityWarning(r),
    `baselines (same problem)`,
    baselineLine('on-device', r.baselines.onDevice),
    baselineLine('on-server', r.baselines.onServer),
    baselineLine('split-only', r.baselines.splitOnly),
    `files`,
    `  ${r.files.plan}`,
    `  ${r.files.device}  sha256 ${p.device.sha256}`,
    `  ${r.files.server}  sha256 ${p.server.sha256}`,
    `timings    load ${r.timingsMs.load.toFixed(0)} ms, analyse ${r.timingsMs.analyse.toFixed(0)} ms, prune ${r.timingsMs.prune.toFixed(0)} ms, ${r.timingsMs.score > 0 ? `score ${r.timingsMs.score.toFixed(0)} ms, ` : ''}optimise ${r.timingsMs.optimise.toFixed(0)} ms, emit ${r.timingsMs.emit.toFixed(0)} ms, verify ${r.timingsMs.verify.toFixed(0)} ms`,
  ];
  return lines.join('\n') + '\n';
}

/** Run `edgesplit plan` with argv (after the command name); returns the exit code. */
export async function run(argv: string[], io: Io): Promise<number> {
  return runCommand(spec, argv, io, async ({ values, positionals }) => {
    const config = await configFromArgs(values, positionals[0]!, io);
    const result = await plan(config);
    return { json: result.plan, text: formatPlan(result) };
  });
}
