// The machine a measurement ran on: CPU model, cores, clock, Node and ONNX Runtime versions. Written
// into measured profiles and benchmark notes, so a latency table always says where it came from.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { arch, cpus, hostname, platform, totalmem } from 'node:os';

/** Where the recorded CPU frequency was read. */
export type FreqSource = 'cpufreq scaling_max_freq' | '/proc/cpuinfo cpu MHz' | 'os.cpus speed' | 'given';

/** A description of this machine. */
export interface MachineInfo {
  hostname: string;
  platform: string;
  arch: string;
  cpuModel: string;
  cores: number;
  memoryBytes: number;
  /** The CPU frequency the measurement is taken to have run at. */
  freqHz: number;
  freqSource: FreqSource;
  nodeVersion: string;
  onnxruntimeVersion: string;
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * The clock the CPU runs at under load. NOTE: cpufreq's scaling_max_freq is read rather than
 * scaling_cur_freq: an idle reading under the ondemand or schedutil governor shows the lowest step,
 * while the measurement itself keeps the core busy at the policy's maximum.
 */
async function cpuFreq(): Promise<{ freqHz: number; freqSource: FreqSource } | undefined> {
  const khz = Number((await readText('/sys/devices/system/cpu/cpu0/cpufreq/scaling_max_freq'))?.trim());
  if (Number.isFinite(khz) && khz > 0) return { freqHz: khz * 1e3, freqSource: 'cpufreq scaling_max_freq' };
  const mhz = Number(/^cpu MHz\s*:\s*([\d.]+)/m.exec((await readText('/proc/cpuinfo')) ?? '')?.[1]);
  if (Number.isFinite(mhz) && mhz > 0) return { freqHz: mhz * 1e6, freqSource: '/proc/cpuinfo cpu MHz' };
  const speed = cpus()[0]?.speed ?? 0;
  if (speed > 0) return { freqHz: speed * 1e6, freqSource: 'os.cpus speed' };
  return undefined;
}

function onnxruntimeVersion(): string {
  const require = createRequire(import.meta.url);
  const pkg: unknown = require('onnxruntime-node/package.json');
  return typeof pkg === 'object' && pkg !== null && 'version' in pkg && typeof pkg.version === 'string' ? pkg.version : 'unknown';
}

/**
 * Describe this machine. `freqHz` overrides the clock read from the system (on a device whose
 * frequency the system does not expose); undefined is returned for the clock only when nothing
 * gives one, and the caller must then ask for it.
 */
export async function machineInfo(freqHz?: number): Promise<Omit<MachineInfo, 'freqHz' | 'freqSource'> & Partial<Pick<MachineInfo, 'freqHz' | 'freqSource'>>> {
  const cpu = cpus();
  const clock = freqHz !== undefined ? { freqHz, freqSource: 'given' as const } : await cpuFreq();
  return {
    hostname: hostname(),
    platform: platform(),
    arch: arch(),
    cpuModel: cpu[0]?.model.trim() ?? 'unknown CPU',
    cores: cpu.length,
    memoryBytes: totalmem(),
    ...(clock ?? {}),
    nodeVersion: process.version,
    onnxruntimeVersion: onnxruntimeVersion(),
  };
}
