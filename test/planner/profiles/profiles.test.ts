import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EdgesplitError } from '../../../shared/errors.ts';
import { builtinProfileNames, loadProfile, parseProfile } from '../../../planner/profiles/profiles.ts';
import { parseBudgets } from '../../../planner/profiles/budgets.ts';

function rejects(fn: () => unknown, code: string, ...fragments: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof EdgesplitError, `expected an EdgesplitError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    for (const f of fragments) assert.ok(e.message.includes(f), `message lacks ${JSON.stringify(f)}: ${e.message}`);
    return true;
  });
}

const goodChannel = { name: 'c', bandwidth: '20 MHz', noiseDensity: '-174 dBm/Hz', pathLoss: '-80 dB', fading: 'none', powerMax: '0.2 W', roundTrip: '2 ms' };

test('the built-in profiles load with their documented numbers', () => {
  assert.deepEqual(builtinProfileNames('device'), ['rpi4', 'rpi5', 'jetson-nano', 'jetson-orin-nano']);
  assert.deepEqual(builtinProfileNames('channel'), ['wifi', 'lte', '5g']);
  const rpi4 = loadProfile('device', 'rpi4');
  assert.equal(rpi4.freqMaxHz, 1.5e9);
  assert.equal(rpi4.freqMinHz, 600e6);
  assert.deepEqual(rpi4.freqStepsHz?.map((f) => Math.round(f / 1e6)), [600, 700, 800, 900, 1000, 1100, 1200, 1300, 1400, 1500]);
  assert.equal(rpi4.memoryBytes, 4 * 2 ** 30);
  assert.equal(loadProfile('device', 'rpi5').freqMaxHz, 2.4e9);
  assert.equal(loadProfile('device', 'jetson-nano').freqMaxHz, 1.43e9);
  assert.equal(loadProfile('device', 'jetson-orin-nano').freqMaxHz, 1.5e9);
  for (const name of builtinProfileNames('device')) {
    const d = loadProfile('device', name);
    assert.ok(d.kappa > 1e-29 && d.kappa < 1e-26, name);
    assert.ok((d.sources?.length ?? 0) >= 2, `${name} cites its sources`);
  }
  const wifi = loadProfile('channel', 'wifi');
  assert.equal(wifi.bandwidthHz, 20e6);
  assert.ok(Math.abs(wifi.powerMaxW - 0.1) < 1e-12);
  assert.ok(Math.abs(wifi.pathLoss - 1e-9) < 1e-21);
  const lte = loadProfile('channel', 'lte');
  assert.equal(lte.bandwidthHz, 10e6);
  assert.ok(Math.abs(lte.powerMaxW - 0.19952623149688797) < 1e-12);
  assert.equal(loadProfile('channel', '5g').bandwidthHz, 100e6);
  assert.equal(loadProfile('server', 'desktop').flopsPerS, 2.2e11);
});

test('a user profile with units parses; a measured latency table is read in seconds', () => {
  const d = parseProfile('device', {
    kind: 'device', name: 'board', freqMin: '400 MHz', freqMax: '1.2 GHz', freqSteps: ['1.2 GHz', '400 MHz'], kappa: 1e-27, cyclesPerFlop: 0.2, memory: '1 GiB',
    measuredLatency: { freq: '1.2 GHz', points: [{ cut: 'block1', ratio: 0, head: '12 ms', tail: '3 ms' }] },
  });
  assert.deepEqual(d.freqStepsHz, [400e6, 1.2e9]);
  assert.deepEqual(d.measuredLatency, { freqHz: 1.2e9, points: [{ cut: 'block1', ratio: 0, headS: 0.012, tailS: 0.003 }] });
});

test('BAD CALL - a profile with several problems lists every one of them', () => {
  rejects(
    () => parseProfile('channel', { name: 'c', bandwidth: '-5 MHz', noiseDensity: '-174 dBm/Hz', fading: 'rician', powerMax: '5 kg', roundTrip: '2 ms', bandwith: '20 MHz' }),
    'ERR_PROFILE_INVALID',
    'bandwidth: expected a frequency > 0 like "20 MHz", got "-5 MHz"',
    'pathLoss: missing: expected a gain',
    'fading: expected "rayleigh" or "none", got "rician"',
    'powerMax: expected a power like',
    'bandwith: unknown field',
    '5 problems',
  );
});

test('BAD CALL - a profile whose only problem is a unit gives ERR_UNIT naming the field', () => {
  rejects(() => parseProfile('channel', { ...goodChannel, bandwidth: '5 kg' }), 'ERR_UNIT', 'bandwidth: expected a frequency like "20 MHz", got "5 kg"');
});

test('BAD CALL - a path loss written as a positive dB figure says how to write it', () => {
  rejects(() => parseProfile('channel', { ...goodChannel, pathLoss: '80 dB' }), 'ERR_PROFILE_INVALID', 'pathLoss: expected a channel gain', '"-80 dB" is the gain 1e-8');
});

test('BAD CALL - a device with freqMin above freqMax and a missing kappa', () => {
  rejects(() => parseProfile('device', { name: 'd', freqMin: '2 GHz', freqMax: '1 GHz', cyclesPerFlop: 0.1, memory: '1 GB' }), 'ERR_PROFILE_INVALID', 'freqMin: expected freqMin <= freqMax', 'kappa: missing: expected a number');
});

test('loadProfile reads a JSON file; unknown names and missing files are told apart', () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgesplit-profile-'));
  const path = join(dir, 'uplink.json');
  writeFileSync(path, JSON.stringify({ kind: 'channel', ...goodChannel }));
  assert.equal(loadProfile('channel', path).bandwidthHz, 20e6);
  rejects(() => loadProfile('device', 'rpi9'), 'ERR_PROFILE_INVALID', "unknown device profile 'rpi9'", 'rpi4, rpi5, jetson-nano, jetson-orin-nano');
  rejects(() => loadProfile('device', join(dir, 'missing.json')), 'ERR_FILE_NOT_FOUND', 'missing.json');
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, '{ "name": ');
  rejects(() => loadProfile('channel', bad), 'ERR_PROFILE_INVALID', 'not valid JSON');
});

test('budgets parse with units', () => {
  assert.deepEqual(parseBudgets({ latency: '300ms', energy: '2J', memory: '256MB' }), { latencyS: 0.3, energyJ: 2, memoryBytes: 256e6 });
  assert.deepEqual(parseBudgets({ latency: 1.4, energy: '1350 mJ' }), { latencyS: 1.4, energyJ: 1.35 });
});

test('BAD CALL - non-positive, malformed and missing budgets are ERR_BUDGET_INVALID, all named at once', () => {
  rejects(() => parseBudgets({ latency: '-300 ms', energy: 'lots', memory: '0 MB' }), 'ERR_BUDGET_INVALID', 'latency: expected a time > 0', 'energy: expected an energy like "2 J", got "lots"', 'memory: expected a size in bytes > 0');
  rejects(() => parseBudgets({ energy: '2 J' }), 'ERR_BUDGET_INVALID', 'latency: missing');
  rejects(() => parseBudgets({ latency: '300 MHz', energy: '2 J' }), 'ERR_BUDGET_INVALID', 'latency: expected a time like "300 ms", got "300 MHz"');
});
