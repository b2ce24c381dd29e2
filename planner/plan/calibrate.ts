// Calibration: run a real model's head and tail at chosen cut points and pruning ratios in ONNX Runtime on
// this machine, and write the measured latency table the planner uses instead of FLOPs x cycles per FLOP.
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ModelProto } from '../onnx/model.ts';
import { analyzeModel, type CutPoint, type ModelAnalysis } from '../onnx/analyze.ts';
import { splitModel } from '../onnx/split.ts';
import { createSession, measureLatencyMs, type Feeds } from '../onnx/session.ts';
import { pruneStructured } from '../prune/structured.ts';
import { parseProfile, type DeviceProfile, type MeasuredLatencyTable } from '../profiles/profiles.ts';
import { EdgesplitError } from '../../shared/errors.ts';
import type { PlanSource } from './source.ts';
import { machineInfo, type MachineInfo } from './machine.ts';

/** The `kind` of a measured latency file; the planner refuses a JSON file of another kind as --profile. */
export const MEASURED_PROFILE_KIND = 'measured-latency';

/** Default number of cut points measured: the two ends and evenly spread interior cuts. */
export const DEFAULT_MEASURED_CUTS = 12;

/** Default pruning ratios measured. */
export const DEFAULT_RATIOS: readonly number[] = [0, 0.25, 0.5, 0.75];

/** What `edgesplit profile` writes. `measuredLatency` has the form of a profile's `measuredLatency` field. */
export interface MeasuredProfileFile {
  kind: typeof MEASURED_PROFILE_KIND;
  createdAt: string;
  model: { id: string; sha256: string; inputShapes: Record<string, number[]> };
  machine: MachineInfo;
  settings: { threads: number; runs: number; warmup: number; ratios: number[]; roundTo: number; cuts: string[] };
  /** Times as strings with units, cut ids as `analyzeModel` names them (`p<position>`). */
  measuredLatency: { freq: string; points: Array<{ cut: string; ratio: number; head: string; tail: string }> };
}

/** Options of `calibrate`. */
export interface CalibrateOptions {
  /** Pruning ratios to measure (structured pruning of the whole model); 0 is always measured. */
  ratios?: readonly number[];
  /** How many cut points to measure, spread over the depth (the two ends always); default 12, `Infinity` for all. */
  cuts?: number;
  /** Timed runs per segment (median taken) and untimed warm-up runs. */
  runs?: number;
  warmup?: number;
  /** ONNX Runtime intra-op threads; 1 (default) is what the device runtime uses. */
  threads?: number;
  /** The pruner's channel multiple, as the plan will use it (`--round-to`); default 1. */
  roundTo?: number;
  /** The CPU clock to record, when this system does not expose it. */
  freqHz?: number;
  /** Progress lines (to stderr in the CLI). */
  onProgress?: (message: string) => void;
}

/**
 * `k` cut points spread evenly by index over `cuts` (first and last always included), or all when
 * there are no more than `k`.
 */
export function spreadCuts(cuts: readonly CutPoint[], k: number): CutPoint[] {
  if (cuts.length <= k) return [...cuts];
  const n = Math.max(2, Math.floor(k));
  const picked = new Set<number>();
  for (let i = 0; i < n; i++) picked.add(Math.round((i * (cuts.length - 1)) / (n - 1)));
  return [...picked].sort((a, b) => a - b).map((i) => cuts[i]!);
}

function formatMs(ms: number): string {
  return `${Number(ms.toPrecision(4))} ms`;
}

/** One model (the original or one pruned level) with its analysis. */
interface Level {
  ratio: number;
  model: ModelProto;
  analysis: ModelAnalysis;
}

/**
 * Measure head and tail latency of `source` at the selected cut points and ratios on this machine.
 * Each segment is split from the (pruned) whole model with the ONNX toolkit, loaded in its own
 * ONNX Runtime session and timed on the first calibration input; the tail is fed the head's real
 * outputs. Returns the file `edgesplit profile` writes.
 */
export async function calibrate(source: PlanSource, options: CalibrateOptions = {}): Promise<MeasuredProfileFile> {
  const ratios = [...new Set([0, ...(options.ratios ?? DEFAULT_RATIOS)])].sort((a, b) => a - b);
  const runs = options.runs ?? 10;
  const warmup = options.warmup ?? 2;
  const threads = options.threads ?? 1;
  const roundTo = options.roundTo ?? 1;
  const progress = options.onProgress ?? (() => undefined);
  for (const [name, v, min] of [['runs', runs, 1], ['warmup', warmup, 0], ['threads', threads, 1], ['roundTo', roundTo, 1]] as const) {
    if (!Number.isInteger(v) || v < min) throw new EdgesplitError('ERR_USAGE', `'${name}' must be an integer >= ${min}, got ${v}.`, { details: { [name]: v } });
  }
  const cutCount = options.cuts ?? DEFAULT_MEASURED_CUTS;
  if (!(cutCount >= 2)) throw new EdgesplitError('ERR_USAGE', `'cuts' must be at least 2 (the two ends), got ${cutCount}.`, { details: { cuts: cutCount } });
  const machine = await machineInfo(options.freqHz);
  if (machine.freqHz === undefined || machine.freqSource === undefined) {
    throw new EdgesplitError('ERR_USAGE', 'this system does not expose its CPU clock (no cpufreq, no cpu MHz in /proc/cpuinfo). Give it with --freq, e.g. --freq 1.5GHz.');
  }

  progress(`analysing ${source.name}`);
  const base = await analyzeModel(source.model, { inputShapes: source.inputShapes, source: source.name });
  const selected = spreadCuts(base.cuts, cutCount);
  const [input] = await source.sampleInputs(1, 0);
  if (!input) throw new EdgesplitError('ERR_INTERNAL', `${source.name}: no calibration input was produced`);

  const points: MeasuredProfileFile['measuredLatency']['points'] = [];
  for (const ratio of ratios) {
    const level = await pruneLevel(source, base, ratio, roundTo);
    for (const [i, cut] of selected.entries()) {
      const prunedCut = level.analysis.cuts.find((c) => c.id === cut.id);
      if (!prunedCut) {
        throw new EdgesplitError('ERR_INTERNAL', `${source.name}: cut ${cut.id} of the original model has no counterpart after pruning at ratio ${ratio}`);
      }
      const { headMs, tailMs } = await measureCut(level.model, level.analysis, prunedCut, input, { runs, warmup, threads });
      points.push({ cut: cut.id, ratio, head: formatMs(headMs), tail: formatMs(tailMs) });
      progress(`ratio ${ratio}: cut ${cut.id} (${i + 1}/${selected.length}) head ${formatMs(headMs)}, tail ${formatMs(tailMs)}`);
    }
  }
  return {
    kind: MEASURED_PROFILE_KIND,
    createdAt: new Date().toISOString(),
    model: { id: source.id, sha256: source.sha256, inputShapes: source.inputShapes },
    machine: { ...machine, freqHz: machine.freqHz, freqSource: machine.freqSource },
    settings: { threads, runs, warmup, ratios, roundTo, cuts: selected.map((c) => c.id) },
    measuredLatency: { freq: `${machine.freqHz} Hz`, points },
  };
}

async function pruneLevel(source: PlanSource, base: ModelAnalysis, ratio: number, roundTo: number): Promise<Level> {
  if (ratio === 0) return { ratio, model: source.model, analysis: base };
  const { model } = pruneStructured(source.model, { ratio, roundTo }, source.name);
  const analysis = await analyzeModel(model, { inputShapes: source.inputShapes, source: `${source.name} pruned at ${ratio}` });
  return { ratio, model, analysis };
}

async function measureCut(model: ModelProto, analysis: ModelAnalysis, cut: CutPoint, input: Feeds, o: { runs: number; warmup: number; threads: number }): Promise<{ headMs: number; tailMs: number }> {
  const { head, tail } = splitModel(model, cut, analysis);
  const headSession = await createSession(head, { threads: o.threads });
  let headMs: number;
  let crossing: Feeds;
  try {
    const feeds = Object.fromEntries(headSession.inputNames.map((n) => [n, input[n]!]));
    headMs = await measureLatencyMs(headSession, feeds, o.runs, o.warmup);
    crossing = await headSession.run(feeds);
  } finally {
    await headSession.release();
  }
  const tailSession = await createSession(tail, { threads: o.threads });
  try {
    return { headMs, tailMs: await measureLatencyMs(tailSession, crossing, o.runs, o.warmup) };
  } finally {
    await tailSession.release();
  }
}

/** Write a measured profile as JSON, creating the directory. */
export async function writeMeasuredProfile(file: MeasuredProfileFile, path: string): Promise<void> {
  try {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, JSON.stringify(file, null, 2) + '\n');
  } catch (cause) {
    throw new EdgesplitError('ERR_FILE_WRITE', `cannot write ${path}: ${(cause as Error).message}`, { cause, details: { path } });
  }
}

/**
 * Read a file written by `edgesplit profile` and attach its table to `device`: the table is
 * validated with the profile reader (as a device profile's `measuredLatency`), so a unit or field
 * error names the field. `expect.modelSha256`, when given, must match the model the file was measured
 * on, and `expect.roundTo` the channel multiple its pruned models were made with.
 */
export async function loadMeasuredProfile(path: string, device: DeviceProfile, expect: { modelSha256?: string; roundTo?: number } = {}): Promise<DeviceProfile> {
  const modelSha256 = expect.modelSha256;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'ERR_FILE_NOT_FOUND' : 'ERR_FILE_READ';
    throw new EdgesplitError(code, `measured profile ${path} could not be read: ${(cause as Error).message}. Write one with 'edgesplit profile MODEL --out ${path}'.`, { cause, details: { path } });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new EdgesplitError('ERR_PROFILE_INVALID', `measured profile ${path} is not valid JSON: ${(cause as Error).message}`, { cause, details: { path } });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json) || !('kind' in json) || json.kind !== MEASURED_PROFILE_KIND) {
    const kind = typeof json === 'object' && json !== null && 'kind' in json ? json.kind : undefined;
    throw new EdgesplitError('ERR_PROFILE_INVALID', `measured profile ${path}: expected "kind": "${MEASURED_PROFILE_KIND}" as 'edgesplit profile' writes it, got ${JSON.stringify(kind ?? null)}. A device profile goes to --device instead.`, { details: { path } });
  }
  const record: Record<string, unknown> = json;
  const model = record.model;
  const measuredSha = typeof model === 'object' && model !== null && 'sha256' in model ? model.sha256 : undefined;
  if (modelSha256 !== undefined && measuredSha !== modelSha256) {
    throw new EdgesplitError('ERR_PROFILE_INVALID', `measured profile ${path} was measured on a model with sha256 ${String(measuredSha ?? 'none')}, not on this model (${modelSha256}). Measure this model with 'edgesplit profile'.`, { details: { path, expected: modelSha256, got: measuredSha } });
  }
  const settings = record.settings;
  const measuredRoundTo = typeof settings === 'object' && settings !== null && 'roundTo' in settings && typeof settings.roundTo === 'number' ? settings.roundTo : 1;
  if (expect.roundTo !== undefined && measuredRoundTo !== expect.roundTo) {
    throw new EdgesplitError('ERR_PROFILE_INVALID', `measured profile ${path} timed models pruned with channels in multiples of ${measuredRoundTo}, but this plan prunes in multiples of ${expect.roundTo}: the pruned models differ. Measure again with 'edgesplit profile --round-to ${expect.roundTo}'.`, { details: { path, expected: expect.roundTo, got: measuredRoundTo } });
  }
  // NOTE: the device profile reader validates the table, so the table's rules live in one place.
  const withTable = parseProfile('device', {
    kind: 'device', name: device.name, description: device.description,
    freqMin: device.freqMinHz, freqMax: device.freqMaxHz, ...(device.freqStepsHz ? { freqSteps: [...device.freqStepsHz] } : {}),
    kappa: device.kappa, cyclesPerFlop: device.cyclesPerFlop, memory: device.memoryBytes,
    measuredLatency: record.measuredLatency,
  }, `measured profile ${path}`);
  const table: MeasuredLatencyTable | undefined = withTable.measuredLatency;
  if (!table) throw new EdgesplitError('ERR_PROFILE_INVALID', `measured profile ${path}: missing "measuredLatency" (expected { freq, points }).`, { details: { path } });
  return { ...device, measuredLatency: table };
}
