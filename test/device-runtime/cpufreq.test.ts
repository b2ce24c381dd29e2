// Tests of device-runtime/cpufreq.ts against temporary directories laid out like Linux cpufreq sysfs,
// including the cases users hit: no cpufreq, no userspace governor, read-only files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, writeFile, readFile, rm, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { applyCpuFrequency, nearestFrequencyHz, readCpuFrequencies, restoreCpuFrequency } from '../../device-runtime/cpufreq.ts';
import { EdgesplitError } from '../../shared/errors.ts';

interface FakeCpu {
  governors: string;
  governor: string;
  available?: string;
  minKHz?: number;
  maxKHz?: number;
}

/** Lay out cpu0..cpuN-1 with cpufreq files like a Raspberry Pi 4 (600 MHz - 1.5 GHz). */
async function fakeSysfs(cpus: FakeCpu[]): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'edgesplit-sysfs-'));
  for (const [i, c] of cpus.entries()) {
    const dir = join(root, `cpu${i}`, 'cpufreq');
    await mkdir(dir, { recursive: true });
    const files: Record<string, string> = {
      cpuinfo_min_freq: String(c.minKHz ?? 600000),
      cpuinfo_max_freq: String(c.maxKHz ?? 1500000),
      scaling_min_freq: String(c.minKHz ?? 600000),
      scaling_max_freq: String(c.maxKHz ?? 1500000),
      scaling_cur_freq: String(c.maxKHz ?? 1500000),
      scaling_available_governors: c.governors,
      scaling_governor: c.governor,
      scaling_setspeed: '<unsupported>',
    };
    if (c.available !== undefined) files.scaling_available_frequencies = c.available;
    for (const [name, value] of Object.entries(files)) await writeFile(join(dir, name), value + '\n');
  }
  await mkdir(join(root, 'cpufreq'));
  return root;
}

const PI4: FakeCpu = { governors: 'conservative ondemand userspace powersave performance schedutil', governor: 'ondemand', available: '600000 700000 800000 900000 1000000 1100000 1200000 1300000 1400000 1500000' };

const read = async (root: string, cpu: number, file: string): Promise<string> => (await readFile(join(root, `cpu${cpu}`, 'cpufreq', file), 'utf8')).trim();

test('userspace governor: sets the governor and the nearest available frequency on every CPU, and restores', async () => {
  const root = await fakeSysfs([PI4, PI4]);
  try {
    const r = await applyCpuFrequency(1.234e9, { sysfsRoot: root });
    assert.equal(r.applied, true);
    assert.equal(r.warning, undefined);
    assert.deepEqual(r.cpus.map((c) => [c.cpu, c.applied, c.method, c.freqHz]), [[0, true, 'userspace', 1.2e9], [1, true, 'userspace', 1.2e9]]);
    for (const cpu of [0, 1]) {
      assert.equal(await read(root, cpu, 'scaling_governor'), 'userspace');
      assert.equal(await read(root, cpu, 'scaling_setspeed'), '1200000');
    }
    assert.deepEqual(await restoreCpuFrequency(r, { sysfsRoot: root }), []);
    assert.equal(await read(root, 0, 'scaling_governor'), 'ondemand');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('no userspace governor: caps scaling_max_freq (lowering scaling_min_freq first when needed), and restores', async () => {
  const root = await fakeSysfs([{ governors: 'ondemand performance', governor: 'performance', minKHz: 1000000, maxKHz: 2400000 }]);
  try {
    const r = await applyCpuFrequency(8e8, { sysfsRoot: root });
    assert.equal(r.applied, true);
    // without scaling_available_frequencies the request is clamped to cpuinfo_min_freq
    assert.deepEqual(r.cpus.map((c) => [c.method, c.freqHz]), [['max_freq', 1e9]]);
    assert.equal(await read(root, 0, 'scaling_max_freq'), '1000000');
    assert.equal(await read(root, 0, 'scaling_governor'), 'performance');
    const r2 = await applyCpuFrequency(1.8e9, { sysfsRoot: root });
    assert.deepEqual(r2.cpus.map((c) => [c.method, c.freqHz]), [['max_freq', 1.8e9]]);
    assert.deepEqual(await restoreCpuFrequency(r2, { sysfsRoot: root }), []);
    assert.equal(await read(root, 0, 'scaling_max_freq'), '1000000');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('nearestFrequencyHz picks the closest listed frequency, else clamps to the hardware range', () => {
  const info = { minHz: 6e8, maxHz: 1.5e9, availableHz: [6e8, 1e9, 1.5e9] };
  assert.equal(nearestFrequencyHz(info, 1.3e9), 1.5e9);
  assert.equal(nearestFrequencyHz(info, 7e8), 6e8);
  assert.equal(nearestFrequencyHz({ ...info, availableHz: [] }, 3e9), 1.5e9);
  assert.equal(nearestFrequencyHz({ ...info, availableHz: [] }, 1.2345678e9), 1.234568e9);
});

test('readCpuFrequencies reports each CPU in Hz and skips CPUs without cpufreq', async () => {
  const root = await fakeSysfs([PI4]);
  try {
    await mkdir(join(root, 'cpu1'));
    const infos = await readCpuFrequencies({ sysfsRoot: root });
    assert.equal(infos.length, 1);
    assert.deepEqual({ ...infos[0], availableHz: infos[0]!.availableHz.length }, { cpu: 0, minHz: 6e8, maxHz: 1.5e9, curHz: 1.5e9, governor: 'ondemand', governors: PI4.governors.split(' '), availableHz: 10 });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('BAD CALL - no cpufreq directory: a warning with ERR_CPUFREQ, not a crash', async () => {
  const root = await mkdtemp(join(tmpdir(), 'edgesplit-sysfs-'));
  try {
    await mkdir(join(root, 'cpu0'));
    const r = await applyCpuFrequency(1e9, { sysfsRoot: root });
    assert.equal(r.applied, false);
    assert.ok(r.warning instanceof EdgesplitError);
    assert.equal(r.warning.code, 'ERR_CPUFREQ');
    assert.match(r.warning.message, /not applied on 1 of 1 CPUs.*cpu0: no cpufreq files in .*cpu0\/cpufreq \(expected cpuinfo_min_freq and cpuinfo_max_freq\)/);
    const none = await applyCpuFrequency(1e9, { sysfsRoot: join(root, 'missing') });
    assert.equal(none.applied, false);
    assert.equal(none.warning?.code, 'ERR_CPUFREQ');
    assert.match(none.warning!.message, /no CPUs found under .*missing \(expected cpu0, cpu1, \.\.\. directories\)/);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('BAD CALL - freqHz not a positive number is ERR_USAGE', async () => {
  await assert.rejects(applyCpuFrequency(0), (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_USAGE' && /'freqHz' must be a positive number of Hz \(e\.g\. 1\.5e9\), got 0\./.test(e.message));
  await assert.rejects(applyCpuFrequency(Number.NaN), (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_USAGE');
});

const CHILD = `
import { applyCpuFrequency } from ${JSON.stringify(fileURLToPath(new URL('../../device-runtime/cpufreq.ts', import.meta.url)))};
const r = await applyCpuFrequency(1e9, { sysfsRoot: process.argv[1] });
process.stdout.write(JSON.stringify({ applied: r.applied, code: r.warning?.code, message: r.warning?.message }));
`;

/** Run applyCpuFrequency as an unprivileged user (root ignores file modes, so drop to 'nobody' when root). */
async function applyUnprivileged(root: string): Promise<{ applied: boolean; code?: string; message?: string }> {
  const asRoot = process.getuid?.() === 0;
  if (!asRoot) {
    const { applyCpuFrequency: apply } = await import('../../device-runtime/cpufreq.ts');
    const r = await apply(1e9, { sysfsRoot: root });
    return { applied: r.applied, ...(r.warning ? { code: r.warning.code, message: r.warning.message } : {}) };
  }
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD, root], { uid: 65534, gid: 65534, cwd: fileURLToPath(new URL('../../', import.meta.url)), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0, `the unprivileged child failed: ${err}`);
  return JSON.parse(out) as { applied: boolean; code?: string; message?: string };
}

test('BAD CALL - read-only cpufreq files (EACCES): a warning saying how to grant access, files unchanged', async () => {
  const root = await fakeSysfs([PI4]);
  try {
    const dir = join(root, 'cpu0', 'cpufreq');
    for (const f of ['scaling_governor', 'scaling_setspeed', 'scaling_max_freq', 'scaling_min_freq']) await chmod(join(dir, f), 0o444);
    for (const d of [root, join(root, 'cpu0'), dir]) await chmod(d, 0o755);
    const r = await applyUnprivileged(root);
    assert.equal(r.applied, false);
    assert.equal(r.code, 'ERR_CPUFREQ');
    assert.match(r.message!, /not applied on 1 of 1 CPUs.*cpu0: writing .*scaling_governor was refused \(EACCES\)\. Run the device runtime as root/);
    assert.equal(await read(root, 0, 'scaling_governor'), 'ondemand');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
