// `edgesplit profile MODEL --out PROFILE.json`: measure the model's head and tail latencies at a spread of
// cut points and pruning ratios in ONNX Runtime on this machine, for `edgesplit plan --profile`.
import { type CommandSpec, type Io, numberOption, requireOption, runCommand } from '../args.ts';
import { inputShapesFromArgs, parseRatios } from './plan.ts';
import { formatSi, parseQuantity } from '../../planner/profiles/units.ts';
import { loadPlanSource } from '../../planner/plan/source.ts';
import { type MeasuredProfileFile, calibrate, DEFAULT_MEASURED_CUTS, DEFAULT_RATIOS, writeMeasuredProfile } from '../../planner/plan/calibrate.ts';

export const spec = {
  name: 'profile',
  summary: 'Measure the head and tail latency of a model at a spread of cut points and pruning ratios in ONNX Runtime on this machine, and write a measured latency profile for edgesplit plan --profile.',
  positionals: ['MODEL'],
  options: {
    'input-shape': { type: 'string', multiple: true, value: 'NAME=D,D,...', help: 'shape of an input, e.g. x=1,3,48,320 (repeatable; NAME= may be left out for a one-input model)' },
    ratios: { type: 'string', value: 'R,R,...', help: 'pruning ratios to measure (structured pruning of the whole model)', default: DEFAULT_RATIOS.join(',') },
    cuts: { type: 'string', value: 'N|all', help: 'how many cut points to measure, spread over the depth (both ends always)', default: String(DEFAULT_MEASURED_CUTS) },
    runs: { type: 'string', value: 'N', help: 'timed runs per segment (the median is kept)', default: '10' },
    threads: { type: 'string', value: 'N', help: 'ONNX Runtime intra-op threads (the device runtime uses 1)', default: '1' },
    'round-to': { type: 'string', value: 'N', help: 'keep a multiple of N channels per pruned group, as edgesplit plan --round-to will', default: '1' },
    freq: { type: 'string', value: 'FREQ', help: 'the CPU clock during the measurement, e.g. 1.5GHz; default read from cpufreq or /proc/cpuinfo' },
    out: { type: 'string', value: 'FILE', help: 'the measured profile to write (JSON)' },
  },
  epilog: [
    'Run it on the device (and, for --server-profile, on the server) with the model you will plan.',
    'Example: edgesplit profile ppocr-rec --cuts 8 --out rpi4-ppocr.json, then edgesplit plan ppocr-rec --device rpi4 --profile rpi4-ppocr.json ...',
    'The planner scales the measured head times to the planned frequency f as T = T_measured x f_measured / f, and',
    'interpolates seconds per FLOP between measured cuts for the cuts in between.',
  ].join('\n'),
} satisfies CommandSpec;

function summary(f: MeasuredProfileFile, path: string): string {
  const m = f.machine;
  const full = f.measuredLatency.points.filter((p) => p.cut === f.settings.cuts.at(-1));
  return [
    `measured ${f.measuredLatency.points.length} head and tail pairs of ${f.model.id} (${f.settings.cuts.length} cuts x ${f.settings.ratios.length} ratio${f.settings.ratios.length === 1 ? '' : 's'}) on ${m.cpuModel}, ${m.cores} cores at ${formatSi(m.freqHz, 'Hz')} (${m.freqSource}), Node ${m.nodeVersion}, onnxruntime-node ${m.onnxruntimeVersion}, ${f.settings.threads} thread(s)`,
    `whole model on this machine: ${full.map((p) => `ratio ${p.ratio}: ${p.head}`).join(', ')}`,
    `wrote ${path}`,
  ].join('\n') + '\n';
}

/** Run `edgesplit profile` with argv (after the command name); returns the exit code. */
export async function run(argv: string[], io: Io): Promise<number> {
  return runCommand(spec, argv, io, async ({ values, positionals }) => {
    const modelArg = positionals[0]!;
    const out = requireOption(spec, 'out', values.out);
    const cutsText = values.cuts ?? String(DEFAULT_MEASURED_CUTS);
    const cuts = cutsText === 'all' ? Infinity : numberOption(spec, 'cuts', cutsText, DEFAULT_MEASURED_CUTS, (n) => Number.isInteger(n) && n >= 2, "an integer >= 2 or 'all'");
    const runs = numberOption(spec, 'runs', values.runs, 10, (n) => Number.isInteger(n) && n >= 1, 'an integer >= 1');
    const threads = numberOption(spec, 'threads', values.threads, 1, (n) => Number.isInteger(n) && n >= 1, 'an integer >= 1');
    const roundTo = numberOption(spec, 'round-to', values['round-to'], 1, (n) => Number.isInteger(n) && n >= 1, 'an integer >= 1');
    const freqHz = values.freq === undefined ? undefined : parseQuantity(values.freq, '--freq', 'frequency');
    const ratios = parseRatios(spec.name, values.ratios ?? DEFAULT_RATIOS.join(','));
    const source = await loadPlanSource(modelArg, await inputShapesFromArgs(spec.name, modelArg, values['input-shape'] ?? []));
    const file = await calibrate(source, {
      ratios, cuts, runs, threads, roundTo, ...(freqHz !== undefined ? { freqHz } : {}),
      onProgress: (m) => io.err(`edgesplit profile: ${m}\n`),
    });
    await writeMeasuredProfile(file, out);
    return { json: file, text: summary(file, out) };
  });
}
