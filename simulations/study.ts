// A study: resolve which scenarios run with which configuration, run them, and write the output
// directory (CSV per scenario, SVG per plot, report.md, report.html, config.json); or rebuild the
// report of an existing directory from its CSVs and config.json alone.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EdgesplitError } from '../shared/errors.ts';
import { fromCsv, toCsv } from './csv.ts';
import { SILENT_PROGRESS, type Progress } from './progress.ts';
import { buildReport, type ReportSection } from './report.ts';
import { mergeConfig, type Scenario, type ScenarioConfig } from './scenario.ts';

/** The exact configuration of a study, as written to config.json. */
export interface StudyConfig {
  seed: number;
  quick: boolean;
  /** Scenario name -> its full configuration, in the order they run. */
  scenarios: Record<string, ScenarioConfig>;
}

/** What a study run hands back: where it wrote, and how long each scenario took. */
export interface StudySummary {
  outDir: string;
  files: string[];
  scenarios: Array<{ name: string; points: number; wallS: number }>;
}

/** The default seed of every study. */
export const DEFAULT_SEED = 1;

function lookup(registry: readonly Scenario[], name: string): Scenario {
  const s = registry.find((x) => x.name === name);
  if (!s) {
    throw new EdgesplitError('ERR_SCENARIO_UNKNOWN', `unknown scenario '${name}'. Should be one of: ${registry.map((x) => x.name).join(', ')}.`, { details: { name } });
  }
  return s;
}

/**
 * Resolve a study's configuration. `file` is a parsed config file:
 * `{ "seed"?: number, "quick"?: boolean, "scenarios": { NAME: { knob: value } } }`. Explicit `seed`
 * and `quick` win over the file's. With `names` (or `all`) and a file, the file's knobs apply to the
 * named scenarios that it lists.
 */
export function resolveStudy(registry: readonly Scenario[], options: { names?: string[]; all?: boolean; file?: unknown; fileName?: string; quick?: boolean; seed?: number }): StudyConfig {
  const where = options.fileName ?? 'config';
  let fileScenarios: Record<string, unknown> = {};
  let fileSeed: number | undefined;
  let fileQuick: boolean | undefined;
  if (options.file !== undefined) {
    const f = options.file;
    if (typeof f !== 'object' || f === null || Array.isArray(f)) {
      throw new EdgesplitError('ERR_CONFIG_INVALID', `${where}: expected a JSON object { "seed"?, "quick"?, "scenarios": { NAME: { knobs } } }, got ${Array.isArray(f) ? 'an array' : typeof f}. See docs/simulations.md.`, { details: { where } });
    }
    const obj = f as Record<string, unknown>;
    for (const key of Object.keys(obj)) {
      if (!['seed', 'quick', 'scenarios'].includes(key)) {
        throw new EdgesplitError('ERR_CONFIG_INVALID', `${where}: unknown key '${key}'. Should be one of: seed, quick, scenarios.`, { details: { where, key } });
      }
    }
    if (obj.seed !== undefined && (typeof obj.seed !== 'number' || !Number.isInteger(obj.seed))) {
      throw new EdgesplitError('ERR_CONFIG_INVALID', `${where}.seed: expected an integer, got ${JSON.stringify(obj.seed)}.`, { details: { where, key: 'seed' } });
    }
    if (obj.quick !== undefined && typeof obj.quick !== 'boolean') {
      throw new EdgesplitError('ERR_CONFIG_INVALID', `${where}.quick: expected true or false, got ${JSON.stringify(obj.quick)}.`, { details: { where, key: 'quick' } });
    }
    if (typeof obj.scenarios !== 'object' || obj.scenarios === null || Array.isArray(obj.scenarios)) {
      throw new EdgesplitError('ERR_CONFIG_INVALID', `${where}.scenarios: expected an object mapping scenario names to knobs, got ${JSON.stringify(obj.scenarios) ?? 'nothing'}. Scenarios: ${registry.map((x) => x.name).join(', ')}.`, { details: { where, key: 'scenarios' } });
    }
    fileScenarios = obj.scenarios as Record<string, unknown>;
    fileSeed = obj.seed as number | undefined;
    fileQuick = obj.quick as boolean | undefined;
    for (const name of Object.keys(fileScenarios)) {
      if (!registry.some((x) => x.name === name)) {
        throw new EdgesplitError('ERR_SCENARIO_UNKNOWN', `${where}: unknown scenario '${name}'. Should be one of: ${registry.map((x) => x.name).join(', ')}.`, { details: { where, name } });
      }
    }
  }
  const quick = options.quick ?? fileQuick ?? false;
  const seed = options.seed ?? fileSeed ?? DEFAULT_SEED;
  let names: string[];
  if (options.all) names = registry.map((x) => x.name);
  else if (options.names && options.names.length > 0) names = options.names;
  else names = Object.keys(fileScenarios);
  if (names.length === 0) {
    throw new EdgesplitError('ERR_USAGE', `no scenario to run. Pass --scenario NAME, --all or --config FILE; scenarios: ${registry.map((x) => x.name).join(', ')}.`);
  }
  const scenarios: Record<string, ScenarioConfig> = {};
  for (const name of names) {
    const s = lookup(registry, name);
    scenarios[name] = mergeConfig(s.defaults(quick), fileScenarios[name], `${where}.scenarios.${name}`);
  }
  return { seed, quick, scenarios };
}

async function writeOut(path: string, data: string): Promise<void> {
  try {
    await writeFile(path, data);
  } catch (cause) {
    throw new EdgesplitError('ERR_FILE_WRITE', `could not write ${path}: ${(cause as Error).message}. Check that the directory is writable.`, { cause, details: { path } });
  }
}

async function writeReport(dir: string, study: StudyConfig, sections: ReportSection[]): Promise<string[]> {
  const built = await buildReport({ seed: study.seed, quick: study.quick }, sections);
  const files: string[] = [];
  for (const { file, svg } of built.svgs) {
    await writeOut(join(dir, file), svg);
    files.push(file);
  }
  await writeOut(join(dir, 'report.md'), built.markdown);
  await writeOut(join(dir, 'report.html'), built.html);
  return [...files, 'report.md', 'report.html'];
}

/**
 * Run a study and write its directory. Rows go through the CSV and back before they are presented,
 * so that `rebuildReport` on the same directory gives byte-identical reports.
 */
export async function runStudy(registry: readonly Scenario[], study: StudyConfig, outDir: string, options: { progress?: Progress; log?: (line: string) => void } = {}): Promise<StudySummary> {
  const progress = options.progress ?? SILENT_PROGRESS;
  try {
    await mkdir(outDir, { recursive: true });
  } catch (cause) {
    throw new EdgesplitError('ERR_FILE_WRITE', `could not create the output directory ${outDir}: ${(cause as Error).message}.`, { cause, details: { path: outDir } });
  }
  await writeOut(join(outDir, 'config.json'), JSON.stringify(study, null, 2) + '\n');
  const files = ['config.json'];
  const sections: ReportSection[] = [];
  const summary: StudySummary['scenarios'] = [];
  for (const [name, config] of Object.entries(study.scenarios)) {
    const scenario = lookup(registry, name);
    const t0 = performance.now();
    const rows = await scenario.simulate(config, { quick: study.quick, seed: study.seed, progress });
    progress.stop();
    const wallS = (performance.now() - t0) / 1000;
    const csv = toCsv(rows, scenario.columns);
    await writeOut(join(outDir, `${name}.csv`), csv);
    files.push(`${name}.csv`);
    const readBack = fromCsv(csv, scenario.columns, `${name}.csv`);
    sections.push({ scenario, config, rows: readBack, presentation: scenario.present(readBack, config) });
    summary.push({ name, points: rows.length, wallS });
    options.log?.(`${name}: ${rows.length} points in ${wallS.toFixed(1)} s`);
  }
  files.push(...(await writeReport(outDir, study, sections)));
  return { outDir, files, scenarios: summary };
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new EdgesplitError(code === 'ENOENT' ? 'ERR_FILE_NOT_FOUND' : 'ERR_FILE_READ', `${what} ${path} could not be read (${code ?? (cause as Error).message}). Expected a directory written by 'edgesplit simulate --out DIR'.`, { cause, details: { path } });
  }
}

/** Rebuild report.md, report.html and the SVGs of a study directory from its CSVs and config.json. */
export async function rebuildReport(registry: readonly Scenario[], dir: string): Promise<{ files: string[] }> {
  const configPath = join(dir, 'config.json');
  let parsed: unknown;
  const text = await readText(configPath, 'the study configuration');
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new EdgesplitError('ERR_CONFIG_INVALID', `${configPath}: not valid JSON (${(cause as Error).message}). Re-run 'edgesplit simulate'.`, { cause, details: { path: configPath } });
  }
  const study = resolveStudy(registry, { file: parsed, fileName: configPath });
  const sections: ReportSection[] = [];
  for (const [name, config] of Object.entries(study.scenarios)) {
    const scenario = lookup(registry, name);
    const csvPath = join(dir, `${name}.csv`);
    const rows = fromCsv(await readText(csvPath, 'the scenario data'), scenario.columns, csvPath);
    sections.push({ scenario, config, rows, presentation: scenario.present(rows, config) });
  }
  return { files: await writeReport(dir, study, sections) };
}
