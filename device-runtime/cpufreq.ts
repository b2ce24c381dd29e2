// Applies the plan's CPU frequency through Linux cpufreq sysfs (Node edge of the device runtime).
// Never throws for a machine that does not allow it: every refusal comes back as an ERR_CPUFREQ warning.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EdgesplitError } from '../shared/errors.ts';

/** Where Linux exposes the CPUs; tests point `sysfsRoot` at a temporary directory laid out the same way. */
export const SYSFS_CPU_ROOT = '/sys/devices/system/cpu';

/** Options of `applyCpuFrequency` and `readCpuFrequencies`. */
export interface CpufreqOptions {
  /** The directory holding cpu0, cpu1, ...; default /sys/devices/system/cpu. */
  sysfsRoot?: string;
}

/** How a frequency was set on one CPU. */
export type CpufreqMethod =
  /** governor 'userspace' and scaling_setspeed: the CPU runs at exactly that frequency. */
  | 'userspace'
  /** no userspace governor: scaling_max_freq caps the CPU, the governor may run it slower. */
  | 'max_freq';

/** What a CPU's cpufreq files said before edgesplit wrote to them, so `restoreCpuFrequency` can undo it. */
export interface CpufreqPrevious {
  governor?: string;
  minFreqKHz?: number;
  maxFreqKHz?: number;
}

/** The outcome on one CPU. */
export interface CpuFrequencyOutcome {
  cpu: number;
  applied: boolean;
  /** The frequency written (nearest available to the request), in Hz. */
  freqHz?: number;
  method?: CpufreqMethod;
  previous?: CpufreqPrevious;
  /** Why it was not applied: an ERR_CPUFREQ error with what to do. */
  error?: EdgesplitError;
}

/** The outcome of `applyCpuFrequency`. */
export interface CpufreqResult {
  requestedHz: number;
  /** True when every CPU now runs at (userspace) or below (max_freq) the chosen frequency. */
  applied: boolean;
  cpus: CpuFrequencyOutcome[];
  /** When not applied on every CPU: one ERR_CPUFREQ error summing up why and what to do. */
  warning?: EdgesplitError;
}

/** One CPU's cpufreq state. */
export interface CpuFrequencyInfo {
  cpu: number;
  minHz: number;
  maxHz: number;
  curHz?: number;
  governor?: string;
  governors: string[];
  /** scaling_available_frequencies, ascending; empty when the driver does not list them. */
  availableHz: number[];
}

const KHZ = 1000;

async function readText(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

async function readKHz(path: string): Promise<number | undefined> {
  const text = await readText(path);
  if (text === undefined || !/^\d+$/.test(text)) return undefined;
  return Number(text);
}

/** The CPU numbers under `root` (cpu0, cpu1, ...), ascending. */
async function listCpus(root: string): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return [];
  }
  return names.map((n) => /^cpu(\d+)$/.exec(n)).filter((m): m is RegExpExecArray => m !== null).map((m) => Number(m[1])).sort((a, b) => a - b);
}

/** Read every CPU's cpufreq state; CPUs without a cpufreq directory are left out. */
export async function readCpuFrequencies(options: CpufreqOptions = {}): Promise<CpuFrequencyInfo[]> {
  const root = options.sysfsRoot ?? SYSFS_CPU_ROOT;
  const infos: CpuFrequencyInfo[] = [];
  for (const cpu of await listCpus(root)) {
    const dir = join(root, `cpu${cpu}`, 'cpufreq');
    const minKHz = await readKHz(join(dir, 'cpuinfo_min_freq'));
    const maxKHz = await readKHz(join(dir, 'cpuinfo_max_freq'));
    if (minKHz === undefined || maxKHz === undefined) continue;
    const curKHz = await readKHz(join(dir, 'scaling_cur_freq'));
    const governor = await readText(join(dir, 'scaling_governor'));
    const governors = (await readText(join(dir, 'scaling_available_governors')))?.split(/\s+/).filter(Boolean) ?? [];
    const available = (await readText(join(dir, 'scaling_available_frequencies')))?.split(/\s+/).filter((s) => /^\d+$/.test(s)).map((s) => Number(s) * KHZ) ?? [];
    infos.push({
      cpu, minHz: minKHz * KHZ, maxHz: maxKHz * KHZ, governors, availableHz: available.sort((a, b) => a - b),
      ...(curKHz !== undefined ? { curHz: curKHz * KHZ } : {}), ...(governor !== undefined ? { governor } : {}),
    });
  }
  return infos;
}

/** The frequency to write for a request: the nearest listed one, or the request clamped to [min, max]. */
export function nearestFrequencyHz(info: Pick<CpuFrequencyInfo, 'minHz' | 'maxHz' | 'availableHz'>, requestedHz: number): number {
  if (info.availableHz.length > 0) {
    let best = info.availableHz[0]!;
    for (const f of info.availableHz) if (Math.abs(f - requestedHz) < Math.abs(best - requestedHz)) best = f;
    return best;
  }
  return Math.round(Math.min(info.maxHz, Math.max(info.minHz, requestedHz)) / KHZ) * KHZ;
}

function permissionHint(path: string, cause: unknown): string {
  const code = (cause as NodeJS.ErrnoException)?.code;
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return `writing ${path} was refused (${code}). Run the device runtime as root, or let its user write the cpufreq files (for example a udev rule or 'chgrp cpufreq ... && chmod g+w ...'), or leave out applyFrequency.`;
  }
  return `writing ${path} failed (${code ?? (cause as Error)?.message ?? String(cause)}). Check that the cpufreq driver accepts this value.`;
}

async function write(path: string, value: string): Promise<void> {
  await writeFile(path, value + '\n');
}

async function applyOne(root: string, cpu: number, requestedHz: number): Promise<CpuFrequencyOutcome> {
  const dir = join(root, `cpu${cpu}`, 'cpufreq');
  const fail = (message: string, details: Record<string, unknown> = {}, cause?: unknown): CpuFrequencyOutcome =>
    ({ cpu, applied: false, error: new EdgesplitError('ERR_CPUFREQ', `cpu${cpu}: ${message}`, { details: { cpu, ...details }, ...(cause !== undefined ? { cause } : {}) }) });
  const [info] = (await readCpuFrequencies({ sysfsRoot: root })).filter((i) => i.cpu === cpu);
  if (!info) return fail(`no cpufreq files in ${dir} (expected cpuinfo_min_freq and cpuinfo_max_freq). The kernel has no cpufreq driver for this CPU, or it runs in a container without /sys; the CPU keeps its own frequency.`, { dir });
  const freqHz = nearestFrequencyHz(info, requestedHz);
  const freqKHz = String(Math.round(freqHz / KHZ));
  const minFreqKHz = await readKHz(join(dir, 'scaling_min_freq'));
  const maxFreqKHz = await readKHz(join(dir, 'scaling_max_freq'));
  const previous: CpufreqPrevious = {
    ...(info.governor !== undefined ? { governor: info.governor } : {}),
    ...(minFreqKHz !== undefined ? { minFreqKHz } : {}),
    ...(maxFreqKHz !== undefined ? { maxFreqKHz } : {}),
  };
  if (info.governors.includes('userspace')) {
    let path = join(dir, 'scaling_governor');
    try {
      if (info.governor !== 'userspace') await write(path, 'userspace');
      path = join(dir, 'scaling_setspeed');
      await write(path, freqKHz);
    } catch (cause) {
      return { ...fail(permissionHint(path, cause), { path }, cause), previous };
    }
    return { cpu, applied: true, freqHz, method: 'userspace', previous };
  }
  const maxPath = join(dir, 'scaling_max_freq');
  const minPath = join(dir, 'scaling_min_freq');
  let path = maxPath;
  try {
    // NOTE: the kernel refuses a scaling_max_freq below scaling_min_freq, so lower the floor first.
    if (previous.minFreqKHz !== undefined && previous.minFreqKHz > Number(freqKHz)) {
      path = minPath;
      await write(minPath, freqKHz);
      path = maxPath;
    }
    await write(maxPath, freqKHz);
  } catch (cause) {
    return { ...fail(permissionHint(path, cause), { path, governors: info.governors }, cause), previous };
  }
  return { cpu, applied: true, freqHz, method: 'max_freq', previous };
}

/**
 * Set every CPU to the available frequency nearest `freqHz`: with the 'userspace' governor and
 * scaling_setspeed when the kernel offers it, else by capping scaling_max_freq. Never throws for a
 * machine that does not allow it (no cpufreq, read-only sysfs, no permission): the result says
 * `applied: false` and `warning` holds an ERR_CPUFREQ error with the reason and what to do.
 * Throws ERR_USAGE only for a `freqHz` that is not a positive number.
 */
export async function applyCpuFrequency(freqHz: number, options: CpufreqOptions = {}): Promise<CpufreqResult> {
  if (!(Number.isFinite(freqHz) && freqHz > 0)) {
    throw new EdgesplitError('ERR_USAGE', `'freqHz' must be a positive number of Hz (e.g. 1.5e9), got ${freqHz}.`, { details: { freqHz } });
  }
  const root = options.sysfsRoot ?? SYSFS_CPU_ROOT;
  const cpus = await listCpus(root);
  if (cpus.length === 0) {
    const warning = new EdgesplitError('ERR_CPUFREQ', `no CPUs found under ${root} (expected cpu0, cpu1, ... directories). This is not Linux, or /sys is not mounted; the CPU keeps its own frequency.`, { details: { sysfsRoot: root } });
    return { requestedHz: freqHz, applied: false, cpus: [], warning };
  }
  const outcomes: CpuFrequencyOutcome[] = [];
  for (const cpu of cpus) outcomes.push(await applyOne(root, cpu, freqHz));
  const failed = outcomes.filter((o) => !o.applied);
  if (failed.length === 0) return { requestedHz: freqHz, applied: true, cpus: outcomes };
  const warning = new EdgesplitError('ERR_CPUFREQ',
    `the planned CPU frequency ${(freqHz / 1e9).toFixed(3)} GHz was not applied on ${failed.length} of ${outcomes.length} CPUs; the measured latency may differ from the plan. First reason: ${failed[0]!.error!.message}`,
    { details: { requestedHz: freqHz, failedCpus: failed.map((o) => o.cpu) } });
  return { requestedHz: freqHz, applied: false, cpus: outcomes, warning };
}

/**
 * Put back what `applyCpuFrequency` changed (governor, scaling_min_freq and scaling_max_freq) on the
 * CPUs where it applied. Returns the ERR_CPUFREQ errors of the writes that failed; never throws.
 */
export async function restoreCpuFrequency(result: CpufreqResult, options: CpufreqOptions = {}): Promise<EdgesplitError[]> {
  const root = options.sysfsRoot ?? SYSFS_CPU_ROOT;
  const errors: EdgesplitError[] = [];
  for (const o of result.cpus) {
    if (!o.applied || !o.previous) continue;
    const dir = join(root, `cpu${o.cpu}`, 'cpufreq');
    const writes: Array<[string, string]> = o.method === 'userspace'
      ? (o.previous.governor !== undefined && o.previous.governor !== 'userspace' ? [['scaling_governor', o.previous.governor]] : [])
      : [
        ...(o.previous.maxFreqKHz !== undefined ? [['scaling_max_freq', String(o.previous.maxFreqKHz)] as [string, string]] : []),
        ...(o.previous.minFreqKHz !== undefined ? [['scaling_min_freq', String(o.previous.minFreqKHz)] as [string, string]] : []),
      ];
    for (const [file, value] of writes) {
      const path = join(dir, file);
      try {
        await write(path, value);
      } catch (cause) {
        errors.push(new EdgesplitError('ERR_CPUFREQ', `cpu${o.cpu}: could not restore ${file} to '${value}': ${permissionHint(path, cause)}`, { cause, details: { cpu: o.cpu, path } }));
      }
    }
  }
  return errors;
}
