// Quantities with units for profiles, budgets and problem files: "20 MHz", "23 dBm", "-174 dBm/Hz",
// "-80 dB", "300 ms", "256 MB". mathjs parses the SI forms; decibels are handled here.
import { unit } from 'mathjs';
import { EdgesplitError } from '../../shared/errors.ts';

/** The physical dimensions a field can have, each converted to one SI unit. */
export type Dimension = 'frequency' | 'power' | 'powerDensity' | 'time' | 'energy' | 'bytes' | 'gain';

interface DimensionInfo {
  /** The unit every value is converted to (mathjs syntax). */
  si: string;
  /** How the dimension reads in an error message. */
  noun: string;
  example: string;
}

/** The SI unit, the wording and an example of each dimension; plain numbers are read in `si`. */
export const DIMENSIONS: Readonly<Record<Dimension, DimensionInfo>> = Object.freeze({
  frequency: { si: 'Hz', noun: 'a frequency', example: '"20 MHz"' },
  power: { si: 'W', noun: 'a power', example: '"0.2 W", "200 mW" or "23 dBm"' },
  powerDensity: { si: 'W/Hz', noun: 'a noise power density', example: '"-174 dBm/Hz" or "2e-19 W/Hz"' },
  time: { si: 's', noun: 'a time', example: '"300 ms"' },
  energy: { si: 'J', noun: 'an energy', example: '"2 J"' },
  bytes: { si: 'B', noun: 'a size in bytes', example: '"256 MB" or "1 GiB"' },
  gain: { si: '', noun: 'a channel gain (path loss as a gain below 1)', example: '"-80 dB" or 1e-8' },
});

/** One problem found while reading a quantity or a profile: the field, what was wrong, and its code. */
export interface Issue {
  code: 'ERR_UNIT' | 'ERR_PROFILE_INVALID' | 'ERR_BUDGET_INVALID' | 'ERR_PROBLEM_INVALID';
  field: string;
  message: string;
}

const NUMBER = '[-+]?(?:\\d+\\.?\\d*|\\.\\d+)(?:[eE][-+]?\\d+)?';
const DBM = new RegExp(`^(${NUMBER})\\s*dBm$`);
const DBM_PER_HZ = new RegExp(`^(${NUMBER})\\s*dBm\\s*/\\s*Hz$`);
const DB = new RegExp(`^(${NUMBER})\\s*dB$`);

function show(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : typeof value === 'number' ? String(value) : value === undefined ? 'nothing' : JSON.stringify(value) ?? String(value);
}

function unitIssue(field: string, dim: Dimension, value: unknown): Issue {
  const d = DIMENSIONS[dim];
  return { code: 'ERR_UNIT', field, message: `${field}: expected ${d.noun} like ${d.example}, got ${show(value)}` };
}

/**
 * Read one quantity in the SI unit of `dim` (Hz, W, W/Hz, s, J, bytes, linear gain), or return the
 * issue that names the field, the expected dimension and an example. Plain numbers are taken as
 * already in that SI unit. dBm -> W, dBm/Hz -> W/Hz, dB -> linear gain (only for `gain`).
 */
export function readQuantity(value: unknown, field: string, dim: Dimension): { ok: true; value: number } | { ok: false; issue: Issue } {
  if (typeof value === 'number') {
    return Number.isFinite(value) ? { ok: true, value } : { ok: false, issue: unitIssue(field, dim, value) };
  }
  if (typeof value !== 'string') return { ok: false, issue: unitIssue(field, dim, value) };
  const text = value.trim();
  let m: RegExpExecArray | null;
  if (dim === 'power' && (m = DBM.exec(text))) return { ok: true, value: 10 ** ((Number(m[1]) - 30) / 10) };
  if (dim === 'powerDensity' && (m = DBM_PER_HZ.exec(text))) return { ok: true, value: 10 ** ((Number(m[1]) - 30) / 10) };
  if (dim === 'gain') {
    if ((m = DB.exec(text))) return { ok: true, value: 10 ** (Number(m[1]) / 10) };
    const n = Number(text);
    return text !== '' && Number.isFinite(n) ? { ok: true, value: n } : { ok: false, issue: unitIssue(field, dim, value) };
  }
  const plain = Number(text);
  if (text !== '' && Number.isFinite(plain)) return { ok: true, value: plain };
  try {
    const n = unit(text).toNumber(DIMENSIONS[dim].si);
    return Number.isFinite(n) ? { ok: true, value: n } : { ok: false, issue: unitIssue(field, dim, value) };
  } catch {
    return { ok: false, issue: unitIssue(field, dim, value) };
  }
}

/** Read one quantity or throw ERR_UNIT naming the field; see `readQuantity` for what is accepted. */
export function parseQuantity(value: unknown, field: string, dim: Dimension): number {
  const r = readQuantity(value, field, dim);
  if (!r.ok) throw new EdgesplitError('ERR_UNIT', r.issue.message, { details: { field, dimension: dim } });
  return r.value;
}

/**
 * Throw the issues as one error: ERR_UNIT when every issue is a unit issue, otherwise `code`
 * (the caller's validation code) with every message, one per line.
 */
export function throwIssues(issues: readonly Issue[], code: Exclude<Issue['code'], 'ERR_UNIT'>, what: string): void {
  if (issues.length === 0) return;
  const finalCode = issues.every((i) => i.code === 'ERR_UNIT') ? 'ERR_UNIT' : code;
  const message = issues.length === 1 ? `${what}: ${issues[0]!.message}` : `${what}: ${issues.length} problems:\n  ${issues.map((i) => i.message).join('\n  ')}`;
  throw new EdgesplitError(finalCode, message, { details: { issues: issues.map((i) => ({ code: i.code, field: i.field, message: i.message })) } });
}

/** Format a number with an SI prefix and a unit for people: 2.4e9 Hz -> "2.4 GHz". */
export function formatSi(value: number, unitName: string, digits = 3): string {
  if (!Number.isFinite(value)) return `${value} ${unitName}`;
  if (value === 0) return `0 ${unitName}`;
  const prefixes: Array<[number, string]> = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k'], [1, ''], [1e-3, 'm'], [1e-6, 'µ'], [1e-9, 'n'], [1e-12, 'p']];
  const abs = Math.abs(value);
  const [scale, prefix] = prefixes.find(([s]) => abs >= s) ?? prefixes[prefixes.length - 1]!;
  return `${Number((value / scale).toPrecision(digits))} ${prefix}${unitName}`;
}

/** Format bytes with binary prefixes: 268435456 -> "256 MiB". */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return `${bytes} B`;
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number(v.toPrecision(4))} ${units[i]}`;
}
