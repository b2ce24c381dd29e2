// Device, channel and server profiles: their types (SI numbers), their JSON form (quantities with
// units as strings), validation that collects every problem, and loading by built-in name or path.
import { readFileSync } from 'node:fs';
import { EdgesplitError } from '../../shared/errors.ts';
import { BUILTIN_CHANNELS, BUILTIN_DEVICES, BUILTIN_SERVERS } from './builtin.ts';
import { DIMENSIONS, type Dimension, type Issue, readQuantity, throwIssues } from './units.ts';

/**
 * Latencies measured by `edgesplit profile` on one machine: per cut and pruning ratio, the seconds
 * the head (device half) and the tail (server half) took there, at CPU frequency `freqHz`.
 * On a device profile the planner uses `headS` (scaled as headS * freqHz / f); on a server
 * profile it uses `tailS` as the server's compute time.
 */
export interface MeasuredLatencyTable {
  freqHz: number;
  points: ReadonlyArray<{ cut: string; ratio: number; headS: number; tailS: number }>;
}

/** A device's CPU, in SI units. Energy per inference is kappa * cycles * f^2, time is cycles / f. */
export interface DeviceProfile {
  kind: 'device';
  name: string;
  description: string;
  freqMinHz: number;
  freqMaxHz: number;
  /** The frequencies the CPU can be set to (cpufreq steps), ascending; absent means any in [min, max]. */
  freqStepsHz?: readonly number[];
  /** Effective switched capacitance of the whole CPU, in J / (cycle * Hz^2). */
  kappa: number;
  /** CPU cycles per FLOP of the whole CPU (all cores used), for FLOP counts without a measurement. */
  cyclesPerFlop: number;
  memoryBytes: number;
  measuredLatency?: MeasuredLatencyTable;
  sources?: readonly string[];
}

/** An uplink, in SI units. Rate r(p) = B log2(1 + p g / (N0 B)), g = pathLoss * fading draw. */
export interface ChannelProfile {
  kind: 'channel';
  name: string;
  description: string;
  bandwidthHz: number;
  noiseDensityWPerHz: number;
  /** Path loss as a linear power gain below 1 (1e-8 = -80 dB). */
  pathLoss: number;
  fading: 'rayleigh' | 'none';
  powerMaxW: number;
  /** Fixed round-trip time: the result's way back, framing and scheduling. */
  roundTripS: number;
  sources?: readonly string[];
}

/** The server, in SI units: T_srv = tailFlops / flopsPerS + overheadS (or a measured tail time). */
export interface ServerProfile {
  kind: 'server';
  name: string;
  description: string;
  flopsPerS: number;
  overheadS: number;
  measuredLatency?: MeasuredLatencyTable;
  sources?: readonly string[];
}

/** Any profile; `kind` tells them apart. */
export type Profile = DeviceProfile | ChannelProfile | ServerProfile;
/** 'device', 'channel' or 'server'. */
export type ProfileKind = Profile['kind'];

/** A reader of untyped JSON that records every problem instead of stopping at the first. */
export class FieldReader {
  readonly issues: Issue[] = [];
  constructor(readonly invalidCode: Exclude<Issue['code'], 'ERR_UNIT'>) {}

  /** Record a problem with `field` (its message is prefixed with the field). */
  problem(field: string, message: string): void {
    this.issues.push({ code: this.invalidCode, field, message: `${field}: ${message}` });
  }

  /** The object at `field`, or undefined after recording a problem. */
  object(value: unknown, field: string): Record<string, unknown> | undefined {
    if (isRecord(value)) return value;
    this.problem(field, `expected an object, got ${describe(value)}`);
    return undefined;
  }

  /** The array at `field`, or undefined after recording a problem. */
  array(value: unknown, field: string): unknown[] | undefined {
    if (Array.isArray(value)) return value;
    this.problem(field, `expected an array, got ${describe(value)}`);
    return undefined;
  }

  /** A non-empty string (or undefined when `optional` and absent), recording a problem otherwise. */
  string(value: unknown, field: string, optional = false): string | undefined {
    if (typeof value === 'string' && value.trim() !== '') return value;
    if (optional && value === undefined) return undefined;
    this.problem(field, value === undefined ? 'missing: expected a string' : `expected a non-empty string, got ${describe(value)}`);
    return undefined;
  }

  /** A plain finite number in [min, max] (inclusive unless `exclusiveMin`). */
  number(value: unknown, field: string, opts: { min?: number; max?: number; exclusiveMin?: boolean; example?: string; optional?: boolean } = {}): number | undefined {
    if (value === undefined && opts.optional) return undefined;
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      this.problem(field, `${value === undefined ? 'missing: expected' : 'expected'} a number${opts.example ? ` like ${opts.example}` : ''}${value === undefined ? '' : `, got ${describe(value)}`}`);
      return undefined;
    }
    return this.range(value, value, field, opts);
  }

  /** A quantity with a unit (see units.ts), checked against [min, max]; `positive` is the usual check. */
  quantity(value: unknown, field: string, dim: Dimension, opts: { min?: number; max?: number; exclusiveMin?: boolean; optional?: boolean } = {}): number | undefined {
    if (value === undefined) {
      if (!opts.optional) this.problem(field, `missing: expected ${dimensionWords(dim)}`);
      return undefined;
    }
    const r = readQuantity(value, field, dim);
    if (!r.ok) {
      this.issues.push(r.issue);
      return undefined;
    }
    const d = DIMENSIONS[dim];
    const hint = dim === 'gain' ? ' (a path loss is negative in dB: "-80 dB" is the gain 1e-8)' : '';
    return this.range(r.value, value, field, { ...opts, noun: d.noun, example: d.example, hint });
  }

  private range(n: number, raw: unknown, field: string, opts: { min?: number; max?: number; exclusiveMin?: boolean; example?: string; noun?: string; hint?: string }): number | undefined {
    const lo = opts.min;
    const noun = opts.noun ?? 'a value';
    const like = opts.example ? ` like ${opts.example}` : '';
    if (lo !== undefined && (opts.exclusiveMin ? !(n > lo) : !(n >= lo))) {
      this.problem(field, `expected ${noun} ${opts.exclusiveMin ? '>' : '>='} ${lo}${like}, got ${describe(raw)}`);
      return undefined;
    }
    if (opts.max !== undefined && n > opts.max) {
      this.problem(field, `expected ${noun} <= ${opts.max}${opts.hint ?? like}, got ${describe(raw)}`);
      return undefined;
    }
    return n;
  }

  /** Flag keys of `obj` that are not in `known` (typos are the usual cause of a missing field). */
  unknownKeys(obj: Record<string, unknown>, known: readonly string[], field: string): void {
    for (const k of Object.keys(obj)) {
      if (!known.includes(k)) this.problem(field ? `${field}.${k}` : k, `unknown field; expected one of ${known.join(', ')}`);
    }
  }
}

/** True for a plain JSON object. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return String(value);
}

function dimensionWords(dim: Dimension): string {
  const words: Record<Dimension, string> = {
    frequency: 'a frequency like "1.5 GHz"', power: 'a power like "0.2 W" or "23 dBm"', powerDensity: 'a noise density like "-174 dBm/Hz"',
    time: 'a time like "300 ms"', energy: 'an energy like "2 J"', bytes: 'a size like "256 MB"', gain: 'a gain like "-80 dB" or 1e-8',
  };
  return words[dim];
}

const POSITIVE = { min: 0, exclusiveMin: true } as const;

function readMeasured(r: FieldReader, value: unknown, field: string): MeasuredLatencyTable | undefined {
  if (value === undefined) return undefined;
  const o = r.object(value, field);
  if (!o) return undefined;
  r.unknownKeys(o, ['freq', 'points'], field);
  const freqHz = r.quantity(o.freq, `${field}.freq`, 'frequency', POSITIVE);
  const raw = r.array(o.points, `${field}.points`);
  const points: Array<{ cut: string; ratio: number; headS: number; tailS: number }> = [];
  raw?.forEach((p, i) => {
    const f = `${field}.points[${i}]`;
    const po = r.object(p, f);
    if (!po) return;
    r.unknownKeys(po, ['cut', 'ratio', 'head', 'tail'], f);
    const cut = r.string(po.cut, `${f}.cut`);
    const ratio = r.number(po.ratio, `${f}.ratio`, { min: 0, max: 0.999, example: '0.3' });
    const headS = r.quantity(po.head, `${f}.head`, 'time', { min: 0 });
    const tailS = r.quantity(po.tail, `${f}.tail`, 'time', { min: 0 });
    if (cut !== undefined && ratio !== undefined && headS !== undefined && tailS !== undefined) points.push({ cut, ratio, headS, tailS });
  });
  return freqHz === undefined || !raw ? undefined : { freqHz, points };
}

function readSources(r: FieldReader, value: unknown, field: string): string[] | undefined {
  if (value === undefined) return undefined;
  const arr = r.array(value, field);
  return arr?.flatMap((s, i) => {
    const v = r.string(s, `${field}[${i}]`);
    return v === undefined ? [] : [v];
  });
}

/** Read a device profile from JSON into `r`; undefined if anything was wrong (the problems are in `r.issues`). */
export function readDeviceProfile(r: FieldReader, json: unknown, field: string): DeviceProfile | undefined {
  const o = r.object(json, field || 'device profile');
  if (!o) return undefined;
  const at = (k: string): string => (field ? `${field}.${k}` : k);
  r.unknownKeys(o, ['kind', 'name', 'description', 'freqMin', 'freqMax', 'freqSteps', 'kappa', 'cyclesPerFlop', 'memory', 'measuredLatency', 'sources'], field);
  if (o.kind !== undefined && o.kind !== 'device') r.problem(at('kind'), `expected "device", got ${describe(o.kind)}`);
  const issuesBefore = r.issues.length;
  const name = r.string(o.name, at('name'));
  const description = r.string(o.description, at('description'), true) ?? '';
  const freqMinHz = r.quantity(o.freqMin, at('freqMin'), 'frequency', POSITIVE);
  const freqMaxHz = r.quantity(o.freqMax, at('freqMax'), 'frequency', POSITIVE);
  if (freqMinHz !== undefined && freqMaxHz !== undefined && freqMinHz > freqMaxHz) r.problem(at('freqMin'), `expected freqMin <= freqMax, got ${o.freqMin} > ${o.freqMax}`);
  let freqStepsHz: number[] | undefined;
  if (o.freqSteps !== undefined) {
    const arr = r.array(o.freqSteps, at('freqSteps'));
    freqStepsHz = arr?.flatMap((v, i) => {
      const n = r.quantity(v, `${at('freqSteps')}[${i}]`, 'frequency', POSITIVE);
      return n === undefined ? [] : [n];
    }).sort((a, b) => a - b);
    if (freqStepsHz && freqStepsHz.length === 0) r.problem(at('freqSteps'), 'expected at least one frequency, got an empty array');
    if (freqStepsHz && freqMinHz !== undefined && freqMaxHz !== undefined && freqStepsHz.some((f) => f < freqMinHz * (1 - 1e-9) || f > freqMaxHz * (1 + 1e-9))) {
      r.problem(at('freqSteps'), `expected every step within [freqMin, freqMax] = [${o.freqMin}, ${o.freqMax}]`);
    }
  }
  const kappa = r.number(o.kappa, at('kappa'), { ...POSITIVE, example: '1e-27 (J per cycle per Hz^2)' });
  const cyclesPerFlop = r.number(o.cyclesPerFlop, at('cyclesPerFlop'), { ...POSITIVE, example: '0.125' });
  const memoryBytes = r.quantity(o.memory, at('memory'), 'bytes', POSITIVE);
  const measuredLatency = readMeasured(r, o.measuredLatency, at('measuredLatency'));
  const sources = readSources(r, o.sources, at('sources'));
  if (r.issues.length > issuesBefore || name === undefined || freqMinHz === undefined || freqMaxHz === undefined || kappa === undefined || cyclesPerFlop === undefined || memoryBytes === undefined) return undefined;
  return {
    kind: 'device', name, description, freqMinHz, freqMaxHz, ...(freqStepsHz ? { freqStepsHz } : {}), kappa, cyclesPerFlop, memoryBytes,
    ...(measuredLatency ? { measuredLatency } : {}), ...(sources ? { sources } : {}),
  };
}

/** Read a channel profile from JSON into `r`; undefined if anything was wrong. */
export function readChannelProfile(r: FieldReader, json: unknown, field: string): ChannelProfile | undefined {
  const o = r.object(json, field || 'channel profile');
  if (!o) return undefined;
  const at = (k: string): string => (field ? `${field}.${k}` : k);
  r.unknownKeys(o, ['kind', 'name', 'description', 'bandwidth', 'noiseDensity', 'pathLoss', 'fading', 'powerMax', 'roundTrip', 'sources'], field);
  if (o.kind !== undefined && o.kind !== 'channel') r.problem(at('kind'), `expected "channel", got ${describe(o.kind)}`);
  const issuesBefore = r.issues.length;
  const name = r.string(o.name, at('name'));
  const description = r.string(o.description, at('description'), true) ?? '';
  const bandwidthHz = r.quantity(o.bandwidth, at('bandwidth'), 'frequency', POSITIVE);
  const noiseDensityWPerHz = r.quantity(o.noiseDensity, at('noiseDensity'), 'powerDensity', POSITIVE);
  const pathLoss = r.quantity(o.pathLoss, at('pathLoss'), 'gain', { ...POSITIVE, max: 1 });
  let fading: 'rayleigh' | 'none' | undefined;
  if (o.fading === 'rayleigh' || o.fading === 'none') fading = o.fading;
  else r.problem(at('fading'), `expected "rayleigh" or "none", got ${describe(o.fading)}`);
  const powerMaxW = r.quantity(o.powerMax, at('powerMax'), 'power', POSITIVE);
  const roundTripS = r.quantity(o.roundTrip, at('roundTrip'), 'time', { min: 0 });
  const sources = readSources(r, o.sources, at('sources'));
  if (r.issues.length > issuesBefore || name === undefined || bandwidthHz === undefined || noiseDensityWPerHz === undefined || pathLoss === undefined || fading === undefined || powerMaxW === undefined || roundTripS === undefined) return undefined;
  return { kind: 'channel', name, description, bandwidthHz, noiseDensityWPerHz, pathLoss, fading, powerMaxW, roundTripS, ...(sources ? { sources } : {}) };
}

/** Read a server profile from JSON into `r`; undefined if anything was wrong. */
export function readServerProfile(r: FieldReader, json: unknown, field: string): ServerProfile | undefined {
  const o = r.object(json, field || 'server profile');
  if (!o) return undefined;
  const at = (k: string): string => (field ? `${field}.${k}` : k);
  r.unknownKeys(o, ['kind', 'name', 'description', 'flopsPerS', 'overhead', 'measuredLatency', 'sources'], field);
  if (o.kind !== undefined && o.kind !== 'server') r.problem(at('kind'), `expected "server", got ${describe(o.kind)}`);
  const issuesBefore = r.issues.length;
  const name = r.string(o.name, at('name'));
  const description = r.string(o.description, at('description'), true) ?? '';
  const flopsPerS = r.number(o.flopsPerS, at('flopsPerS'), { ...POSITIVE, example: '2e11 (FLOP per second)' });
  const overheadS = r.quantity(o.overhead, at('overhead'), 'time', { min: 0 });
  const measuredLatency = readMeasured(r, o.measuredLatency, at('measuredLatency'));
  const sources = readSources(r, o.sources, at('sources'));
  if (r.issues.length > issuesBefore || name === undefined || flopsPerS === undefined || overheadS === undefined) return undefined;
  return { kind: 'server', name, description, flopsPerS, overheadS, ...(measuredLatency ? { measuredLatency } : {}), ...(sources ? { sources } : {}) };
}

/** Validate a profile given as JSON; throws ERR_PROFILE_INVALID (or ERR_UNIT) listing every problem. */
export function parseProfile(kind: 'device', json: unknown, source?: string): DeviceProfile;
export function parseProfile(kind: 'channel', json: unknown, source?: string): ChannelProfile;
export function parseProfile(kind: 'server', json: unknown, source?: string): ServerProfile;
export function parseProfile(kind: ProfileKind, json: unknown, source?: string): Profile;
export function parseProfile(kind: ProfileKind, json: unknown, source = `${kind} profile`): Profile {
  const r = new FieldReader('ERR_PROFILE_INVALID');
  const p = kind === 'device' ? readDeviceProfile(r, json, '') : kind === 'channel' ? readChannelProfile(r, json, '') : readServerProfile(r, json, '');
  throwIssues(r.issues, 'ERR_PROFILE_INVALID', source);
  if (!p) throw new EdgesplitError('ERR_PROFILE_INVALID', `${source}: not a valid ${kind} profile`);
  return p;
}

const BUILTINS: Record<ProfileKind, Readonly<Record<string, unknown>>> = { device: BUILTIN_DEVICES, channel: BUILTIN_CHANNELS, server: BUILTIN_SERVERS };

/** The names of the built-in profiles of a kind. */
export function builtinProfileNames(kind: ProfileKind): string[] {
  return Object.keys(BUILTINS[kind]);
}

/** A built-in profile by name, or undefined. */
export function builtinProfile(kind: 'device', name: string): DeviceProfile | undefined;
export function builtinProfile(kind: 'channel', name: string): ChannelProfile | undefined;
export function builtinProfile(kind: 'server', name: string): ServerProfile | undefined;
export function builtinProfile(kind: ProfileKind, name: string): Profile | undefined;
export function builtinProfile(kind: ProfileKind, name: string): Profile | undefined {
  const json = Object.hasOwn(BUILTINS[kind], name) ? BUILTINS[kind][name] : undefined;
  return json === undefined ? undefined : parseProfile(kind, json, `built-in ${kind} profile '${name}'`);
}

/**
 * A profile by built-in name ("rpi4", "wifi", "desktop") or by the path of a JSON file.
 * Throws ERR_FILE_NOT_FOUND for a name that is neither, ERR_PROFILE_INVALID / ERR_UNIT for a bad file.
 */
export function loadProfile(kind: 'device', nameOrPath: string): DeviceProfile;
export function loadProfile(kind: 'channel', nameOrPath: string): ChannelProfile;
export function loadProfile(kind: 'server', nameOrPath: string): ServerProfile;
export function loadProfile(kind: ProfileKind, nameOrPath: string): Profile;
export function loadProfile(kind: ProfileKind, nameOrPath: string): Profile {
  const builtin = builtinProfile(kind, nameOrPath);
  if (builtin) return builtin;
  let text: string;
  try {
    text = readFileSync(nameOrPath, 'utf8');
  } catch (cause) {
    const looksLikePath = /[/\\.]/.test(nameOrPath);
    throw new EdgesplitError(looksLikePath ? 'ERR_FILE_NOT_FOUND' : 'ERR_PROFILE_INVALID',
      looksLikePath
        ? `${kind} profile file '${nameOrPath}' could not be read. Give a JSON file or a built-in ${kind} profile: ${builtinProfileNames(kind).join(', ')}.`
        : `unknown ${kind} profile '${nameOrPath}'. Should be one of: ${builtinProfileNames(kind).join(', ')}, or the path of a JSON profile.`,
      { cause });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new EdgesplitError('ERR_PROFILE_INVALID', `${kind} profile '${nameOrPath}' is not valid JSON: ${(cause as Error).message}`, { cause });
  }
  return parseProfile(kind, json, `${kind} profile '${nameOrPath}'`);
}
