// `edgesplit inspect MODEL`: analyse a model (a .onnx file or a zoo id) and list its cut points with the
// tensors that cross, their bytes, and the FLOPs and parameters on each side. Also the model-argument helpers of `split`.
import { stat } from 'node:fs/promises';
import { type CommandSpec, type Io, numberOption, runCommand } from '../args.ts';
import { type ModelProto, loadModel, realInputs } from '../../planner/onnx/model.ts';
import { modelGraph } from '../../planner/onnx/graph.ts';
import { type ModelAnalysis, DEFAULT_MAX_CROSSING, analyzeModel } from '../../planner/onnx/analyze.ts';
import type { InputShapes } from '../../planner/onnx/shapes.ts';
import type { UnknownOpPolicy } from '../../planner/onnx/flops.ts';
import { ZOO_IDS, loadZooModel } from '../../planner/zoo/index.ts';
import { EdgesplitError } from '../../shared/errors.ts';

/** The options `inspect` and `split` share. */
export const MODEL_OPTIONS = {
  'input-shape': { type: 'string', multiple: true, value: 'NAME=D,D,...', help: 'shape of an input, e.g. x=1,3,48,320 (repeatable; NAME= may be left out for a one-input model). A dynamic batch defaults to 1; other dynamic dims must be given' },
  'max-crossing': { type: 'string', value: 'N', help: 'most activation tensors allowed across a cut point', default: String(DEFAULT_MAX_CROSSING) },
  'unknown-ops': { type: 'string', value: 'POLICY', help: "an op whose FLOPs edgesplit does not know: 'error' or 'zero' (count 0 FLOPs, warn)", default: 'error' },
} as const satisfies CommandSpec['options'];

/** A model as the commands take it: its proto, a name for messages, and the zoo's input shapes if it is a zoo model. */
export interface ModelSource {
  model: ModelProto;
  /** The path or zoo id the user gave. */
  source: string;
  /** Input shapes from the zoo (empty for a file). */
  defaultInputShapes: InputShapes;
}

/** Load MODEL: the file if the path exists, else the zoo model of that id; ERR_FILE_NOT_FOUND when neither. */
export async function resolveModel(arg: string): Promise<ModelSource> {
  let isFile: boolean | undefined;
  try {
    isFile = (await stat(arg)).isFile();
  } catch {
    isFile = undefined;
  }
  if (isFile) return { model: await loadModel(arg), source: arg, defaultInputShapes: {} };
  if (ZOO_IDS.includes(arg)) {
    const zoo = await loadZooModel(arg);
    return { model: zoo.model, source: arg, defaultInputShapes: zoo.inputShapes };
  }
  if (isFile === false) {
    throw new EdgesplitError('ERR_FILE_READ', `model '${arg}' is not a regular file (a directory?). Expected an .onnx file or a zoo id.`, { details: { path: arg } });
  }
  throw new EdgesplitError('ERR_FILE_NOT_FOUND', `model not found: '${arg}' is neither a file nor a zoo id. Check the path, or use one of the zoo ids: ${ZOO_IDS.join(', ')} (see 'edgesplit models').`, { details: { path: arg } });
}

/**
 * Parse `--input-shape` values (`NAME=1,3,48,320`, or `1,3,48,320` for a one-input model) into shapes.
 * A malformed value is ERR_USAGE; whether a shape fits the model is checked by the analysis.
 */
export function parseInputShapes(command: string, values: readonly string[], inputNames: readonly string[]): InputShapes {
  const shapes: InputShapes = {};
  for (const value of values) {
    const eq = value.lastIndexOf('=');
    let name = eq >= 0 ? value.slice(0, eq).trim() : '';
    const dimsText = eq >= 0 ? value.slice(eq + 1) : value;
    const dims = dimsText.split(/[,x]/).map((d) => d.trim());
    if (dims.length === 0 || dims.some((d) => !/^\d+$/.test(d) || Number(d) === 0)) {
      throw new EdgesplitError('ERR_USAGE', `--input-shape expects NAME=D,D,... with positive integer dims (e.g. x=1,3,48,320), got '${value}'. Run 'edgesplit ${command} --help'.`, { details: { value } });
    }
    if (name === '') {
      if (inputNames.length !== 1) {
        throw new EdgesplitError('ERR_USAGE', `--input-shape '${value}' names no input, and the model has ${inputNames.length} inputs (${inputNames.join(', ')}); write NAME=${dimsText}. Run 'edgesplit ${command} --help'.`, { details: { value } });
      }
      name = inputNames[0]!;
    }
    shapes[name] = dims.map(Number);
  }
  return shapes;
}

/** Parse the shared options and analyse the model. */
export async function analyzeFromArgs(command: string, spec: CommandSpec, modelArg: string, values: { 'input-shape'?: string[] | undefined; 'max-crossing'?: string | undefined; 'unknown-ops'?: string | undefined }): Promise<{ loaded: ModelSource; analysis: ModelAnalysis }> {
  const maxCrossing = numberOption(spec, 'max-crossing', values['max-crossing'], DEFAULT_MAX_CROSSING, (n) => Number.isInteger(n) && n >= 1, 'an integer >= 1');
  const policyText = values['unknown-ops'] ?? 'error';
  const policy: UnknownOpPolicy | undefined = policyText === 'error' || policyText === 'zero' ? policyText : undefined;
  if (!policy) {
    throw new EdgesplitError('ERR_USAGE', `--unknown-ops expects 'error' or 'zero', got '${policyText}'. Run 'edgesplit ${command} --help'.`);
  }
  const loaded = await resolveModel(modelArg);
  const inputNames = realInputs(modelGraph(loaded.model, loaded.source)).map((i) => i.name);
  const given = parseInputShapes(command, values['input-shape'] ?? [], inputNames);
  const analysis = await analyzeModel(loaded.model, {
    inputShapes: { ...loaded.defaultInputShapes, ...given }, maxCrossing, unknownOps: policy, source: loaded.source,
  });
  return { loaded, analysis };
}

/** Bytes as kB or MB (1 kB = 1000 bytes). */
export function formatBytes(bytes: number): string {
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(2)} MB`;
  return `${(bytes / 1e3).toFixed(1)} kB`;
}

/** A count with k / M suffix. */
export function formatCount(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return String(n);
}

/** FLOPs in MFLOPs (or GFLOPs for large totals). */
export function formatFlops(flops: number): string {
  return flops >= 1e9 ? `${(flops / 1e9).toFixed(2)} GFLOPs` : `${(flops / 1e6).toFixed(2)} MFLOPs`;
}

/** A plain text table with aligned columns; numbers right-aligned, the last column left as is. */
export function textTable(header: string[], rows: string[][], rightAligned: ReadonlySet<number>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : rightAligned.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

/** The human-readable report of an analysis: summary, totals and the table of cut points. */
export function formatAnalysis(source: string, a: ModelAnalysis): string {
  const shapes = Object.entries(a.inputShapes).map(([n, d]) => `${n}=${d.join(',')}`).join(' ');
  const lines = [
    `model      ${source} (opset ${a.opset}, ${a.totals.nodes} compute nodes)`,
    `inputs     ${shapes} (shapes from ${a.shapeSource === 'value_info' ? "the model's value_info" : 'an ONNX Runtime run'})`,
    `totals     ${formatFlops(a.totals.flops)}, ${formatCount(a.totals.params)} params (${formatBytes(a.totals.paramBytes)})`,
    `cut points ${a.cuts.length} with at most ${a.maxCrossing} crossing activation tensor${a.maxCrossing > 1 ? 's' : ''} (the two ends always included)`,
    '',
  ];
  const rows = a.cuts.map((c) => [
    String(c.index), c.id, (c.crossingBytes / 1e3).toFixed(1), (c.headFlops / 1e6).toFixed(2), (c.tailFlops / 1e6).toFixed(2),
    formatCount(c.headParams), formatCount(c.tailParams),
    c.crossing.map((t) => `${t.name} ${t.dtype}[${t.dims.join(',')}]`).join(' + '),
  ]);
  lines.push(textTable(['index', 'id', 'crossing kB', 'head MFLOPs', 'tail MFLOPs', 'head params', 'tail params', 'crossing tensors'], rows, new Set([0, 2, 3, 4, 5, 6])));
  for (const w of a.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n') + '\n';
}

/** The --json form of an analysis: everything but the per-tensor table (each cut and node carries what it needs). */
export function analysisJson(source: string, a: ModelAnalysis): Record<string, unknown> {
  return {
    model: source, name: a.name, irVersion: a.irVersion, opset: a.opset, inputShapes: a.inputShapes, inputs: a.inputs, outputs: a.outputs,
    totals: a.totals, maxCrossing: a.maxCrossing, shapeSource: a.shapeSource, warnings: a.warnings, cuts: a.cuts, nodes: a.nodes,
  };
}

const spec = {
  name: 'inspect',
  summary: 'Analyse a model (an .onnx file or a zoo id) and list its cut points: the tensors crossing each, their bytes, and the FLOPs and parameters before and after it.',
  positionals: ['MODEL'],
  options: MODEL_OPTIONS,
  epilog: [
    'MODEL is a path to an .onnx file, or a zoo id (see edgesplit models) when no such file exists.',
    'A cut point at position p runs the first p compute nodes on the device and the rest on the server;',
    'pass its index or id to edgesplit split --at.',
    '',
    'Examples:',
    '  edgesplit inspect ppocr-rec',
    '  edgesplit inspect rec.onnx --input-shape x=1,3,48,320 --max-crossing 1',
    '  edgesplit inspect cnn --json',
  ].join('\n'),
} satisfies CommandSpec;

/** Entry point of `edgesplit inspect`. */
export async function run(argv: string[], io: Io): Promise<number> {
  return runCommand(spec, argv, io, async ({ values, positionals }) => {
    const { loaded, analysis } = await analyzeFromArgs('inspect', spec, positionals[0]!, values);
    return { json: analysisJson(loaded.source, analysis), text: formatAnalysis(loaded.source, analysis) };
  });
}
