// What a scenario is, and the study configuration: which scenarios run with which knobs, validated
// against each scenario's defaults so that a typo or a wrong type is caught before hours are spent.
import { EdgesplitError } from '../shared/errors.ts';
import type { Progress } from './progress.ts';
import type { Column, Presentation, Row, ScenarioResult } from './types.ts';

/** A knob of a scenario's configuration. */
export type ConfigValue = number | string | boolean | number[] | string[];

/** A scenario's configuration: named knobs, all with defaults. */
export type ScenarioConfig = Record<string, ConfigValue>;

/** What a scenario run gets besides its configuration. */
export interface RunContext {
  /** The small version of the study (for CI); the defaults already reflect it. */
  quick: boolean;
  /** Seed of every random draw; the same seed gives the same rows (measured wall times aside). */
  seed: number;
  progress: Progress;
}

/** One simulation study: the question it answers, how to compute its points and how to show them. */
export interface Scenario<C extends ScenarioConfig = ScenarioConfig> {
  /** Stable name used on the command line and for file names. */
  name: string;
  /** Its number in the issue's list, for ordering the report. */
  number: number;
  title: string;
  /** The user's question the scenario answers, one sentence. */
  question: string;
  /** The columns of its CSV. */
  columns: Column[];
  /** The configuration used when none is given; `quick` gives the small CI version. */
  defaults(quick: boolean): C;
  /** Compute every point. Deterministic for a seed, except where a column says it is a measured time. */
  simulate(config: C, ctx: RunContext): Promise<Row[]>;
  /** Plots and paragraphs from the rows alone (so `edgesplit report` rebuilds them from the CSV). */
  present(rows: Row[], config: C): Presentation;
}

/** Run a scenario: its points, then its plots and paragraphs. */
export async function runScenario<C extends ScenarioConfig>(scenario: Scenario<C>, config: C, ctx: RunContext): Promise<ScenarioResult> {
  const rows = await scenario.simulate(config, ctx);
  return { rows, ...scenario.present(rows, config) };
}

function typeName(v: unknown): string {
  if (Array.isArray(v)) return v.every((x) => typeof x === 'number') ? 'number[]' : v.every((x) => typeof x === 'string') ? 'string[]' : 'mixed array';
  return v === null ? 'null' : typeof v;
}

/**
 * A scenario's defaults with `overrides` laid over them. Every key must be a known knob and keep the
 * default's type (numbers finite, arrays non-empty); otherwise ERR_CONFIG_INVALID names the knob,
 * the expected type and what came. `where` names the place in the config file.
 */
export function mergeConfig<C extends ScenarioConfig>(defaults: C, overrides: unknown, where: string): C {
  if (overrides === undefined) return defaults;
  if (typeof overrides !== 'object' || overrides === null || Array.isArray(overrides)) {
    throw new EdgesplitError('ERR_CONFIG_INVALID', `${where}: expected an object of knobs, got ${typeName(overrides)}. Known knobs: ${Object.keys(defaults).join(', ')}.`, { details: { where } });
  }
  const out: ScenarioConfig = { ...defaults };
  for (const [key, value] of Object.entries(overrides)) {
    if (!(key in defaults)) {
      throw new EdgesplitError('ERR_CONFIG_INVALID', `${where}: unknown knob '${key}'. Should be one of: ${Object.keys(defaults).join(', ')}.`, { details: { where, key } });
    }
    const expected = typeName(defaults[key]);
    const got = typeName(value);
    const badNumber = typeof value === 'number' && !Number.isFinite(value);
    const badArray = Array.isArray(value) && (value.length === 0 || value.some((x) => typeof x === 'number' && !Number.isFinite(x)));
    if (expected !== got || badNumber || badArray) {
      throw new EdgesplitError('ERR_CONFIG_INVALID', `${where}.${key}: expected ${expected === 'number[]' || expected === 'string[]' ? `a non-empty ${expected}` : `a finite ${expected}`} like ${JSON.stringify(defaults[key])}, got ${JSON.stringify(value)}. Fix the config file.`, { details: { where, key, expected, got } });
    }
    out[key] = value as ConfigValue;
  }
  return out as C;
}
