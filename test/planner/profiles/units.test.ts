import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EdgesplitError } from '../../../shared/errors.ts';
import { formatSi, parseQuantity } from '../../../planner/profiles/units.ts';

function close(actual: number, expected: number, rel = 1e-9): void {
  assert.ok(Math.abs(actual - expected) <= rel * Math.abs(expected), `expected ${expected}, got ${actual}`);
}

test('quantities convert to SI units', () => {
  close(parseQuantity('20 MHz', 'f', 'frequency'), 20e6);
  close(parseQuantity('1.5 GHz', 'f', 'frequency'), 1.5e9);
  close(parseQuantity('0.2 W', 'p', 'power'), 0.2);
  close(parseQuantity('200 mW', 'p', 'power'), 0.2);
  close(parseQuantity('300 ms', 't', 'time'), 0.3);
  close(parseQuantity('300ms', 't', 'time'), 0.3);
  close(parseQuantity('1.4 s', 't', 'time'), 1.4);
  close(parseQuantity('2 J', 'e', 'energy'), 2);
  close(parseQuantity('256 MB', 'm', 'bytes'), 256e6);
  close(parseQuantity('1 GiB', 'm', 'bytes'), 2 ** 30);
  close(parseQuantity('2e-19 W/Hz', 'n', 'powerDensity'), 2e-19);
});

test('decibels: dBm to watts, dBm/Hz to W/Hz, dB to a linear gain', () => {
  close(parseQuantity('23 dBm', 'p', 'power'), 0.19952623149688797);
  close(parseQuantity('30 dBm', 'p', 'power'), 1);
  close(parseQuantity('-174 dBm/Hz', 'n', 'powerDensity'), 3.981071705534973e-21);
  close(parseQuantity('-80 dB', 'g', 'gain'), 1e-8);
  close(parseQuantity('-3 dB', 'g', 'gain'), 0.501187233627272);
  close(parseQuantity(1e-8, 'g', 'gain'), 1e-8);
  close(parseQuantity('1e-5', 'g', 'gain'), 1e-5);
});

test('plain numbers are read in the SI unit of the field', () => {
  assert.equal(parseQuantity(20e6, 'f', 'frequency'), 20e6);
  assert.equal(parseQuantity('0.3', 't', 'time'), 0.3);
});

test('BAD CALL - a quantity with the wrong dimension names the field, the dimension and an example', () => {
  assert.throws(() => parseQuantity('5 kg', 'channel.bandwidth', 'frequency'), (e: unknown) => {
    assert.ok(e instanceof EdgesplitError);
    assert.equal(e.code, 'ERR_UNIT');
    assert.equal(e.message, 'channel.bandwidth: expected a frequency like "20 MHz", got "5 kg"');
    return true;
  });
});

test('BAD CALL - decibels where they do not belong, words and non-numbers are unit errors', () => {
  for (const [value, dim] of [['23 dBm', 'frequency'], ['-80 dB', 'power'], ['-174 dBm/Hz', 'power'], ['fast', 'time'], [null, 'energy'], [Number.NaN, 'bytes'], ['', 'time']] as const) {
    assert.throws(() => parseQuantity(value, 'x', dim), (e: unknown) => e instanceof EdgesplitError && e.code === 'ERR_UNIT' && e.message.startsWith('x: expected '), `${String(value)} as ${dim}`);
  }
});

test('formatSi picks a prefix', () => {
  assert.equal(formatSi(2.4e9, 'Hz'), '2.4 GHz');
  assert.equal(formatSi(0.0123, 's'), '12.3 ms');
  assert.equal(formatSi(0, 'J'), '0 J');
});
