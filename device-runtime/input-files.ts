// Request inputs from files, for `edgesplit device --input` (Node edge): JSON, NumPy .npy and raw
// little-endian .bin, checked against the plan's device inputs. Also seeded random inputs of the plan's shapes.
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { EdgesplitError } from '../shared/errors.ts';
import { DTYPES, type Dtype } from '../shared/dtypes.ts';
import type { TensorSpec } from '../shared/plan.ts';
import type { DeviceTensor, DeviceTensors, TensorData } from './backend.ts';

/** NumPy dtype strings (`descr`) edgesplit reads, little-endian or byte-sized. */
const NPY_DTYPES: Readonly<Record<string, Dtype>> = Object.freeze({
  '<f4': 'float32', '<f8': 'float64', '<f2': 'float16', '|u1': 'uint8', '|i1': 'int8', '<u2': 'uint16', '<i2': 'int16',
  '<i4': 'int32', '<u4': 'uint32', '<i8': 'int64', '<u8': 'uint64', '|b1': 'bool',
});

function fileError(path: string, message: string): EdgesplitError {
  return new EdgesplitError('ERR_USAGE', `input file ${path}: ${message}`, { details: { path } });
}

/** A tensor of `dtype` over a copy of `bytes` (copied so the view is aligned). */
function fromBytes(dtype: Dtype, dims: number[], bytes: Uint8Array): DeviceTensor {
  const { array, bytes: size } = DTYPES[dtype];
  // NOTE: `new Uint8Array(bytes)` copies; a Node Buffer's slice() is a view into a shared pool.
  const copy = new Uint8Array(bytes);
  return { dtype, dims, data: new array(copy.buffer, 0, copy.byteLength / size) };
}

function concreteDims(spec: TensorSpec, path: string): number[] {
  if (spec.dims.some((d) => d < 0)) throw fileError(path, `input '${spec.name}' has a dynamic shape [${spec.dims.join(',')}] in the plan, so a raw .bin file cannot say its shape. Use a .npy or .json file with explicit dims.`);
  return [...spec.dims];
}

/**
 * Parse a NumPy .npy file (format 1.0-3.0, C order, a little-endian or byte-sized dtype).
 * Throws ERR_USAGE saying what the file holds and what edgesplit reads.
 */
export function parseNpy(bytes: Uint8Array, path = 'array.npy'): DeviceTensor {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.byteLength < 10 || !magic.every((b, i) => bytes[i] === b)) throw fileError(path, 'not a NumPy .npy file (no \\x93NUMPY magic). Write it with numpy.save.');
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = major === 1 ? 10 : 12;
  const header = new TextDecoder('latin1').decode(bytes.subarray(headerStart, headerStart + headerLength));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw fileError(path, `the .npy header is malformed: ${header.trim()}`);
  const dtype = NPY_DTYPES[descr];
  if (!dtype) throw fileError(path, `dtype '${descr}' is not supported; expected one of ${Object.keys(NPY_DTYPES).join(', ')} (little-endian). Convert with array.astype('<f4').`);
  if (fortran === 'True') throw fileError(path, "the array is in Fortran order; save a C-ordered array (numpy.ascontiguousarray).");
  const dims = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const data = bytes.subarray(headerStart + headerLength);
  const expected = DTYPES[dtype].bytes * dims.reduce((a, b) => a * b, 1);
  if (data.byteLength !== expected) throw fileError(path, `holds ${data.byteLength} data bytes, expected ${expected} for ${descr} (${dims.join(',')}).`);
  return fromBytes(dtype, dims, data);
}

function flatten(v: unknown, out: number[], dims: number[], depth: number, path: string): void {
  if (Array.isArray(v)) {
    if (dims.length === depth) dims.push(v.length);
    else if (dims[depth] !== v.length) throw fileError(path, `nested arrays are ragged at depth ${depth}: lengths ${dims[depth]} and ${v.length}.`);
    for (const item of v) flatten(item, out, dims, depth + 1, path);
    return;
  }
  if (typeof v !== 'number' && typeof v !== 'boolean') throw fileError(path, `expected numbers, got ${JSON.stringify(v)?.slice(0, 40)}.`);
  out.push(Number(v));
}

function jsonTensor(spec: TensorSpec, value: unknown, path: string): DeviceTensor {
  let dims: number[] | undefined;
  let values: unknown = value;
  if (typeof value === 'object' && value !== null && !Array.isArray(value) && 'data' in value) {
    values = value.data;
    if ('dims' in value) {
      if (!Array.isArray(value.dims) || !value.dims.every((d: unknown) => Number.isSafeInteger(d) && (d as number) >= 0)) throw fileError(path, `'${spec.name}'.dims must be an array of non-negative integers.`);
      dims = value.dims.map(Number);
    }
  }
  const flat: number[] = [];
  const nested: number[] = [];
  flatten(values, flat, nested, 0, path);
  const shape = dims ?? (spec.dims.every((d) => d > 0) ? [...spec.dims] : nested);
  const { array } = DTYPES[spec.dtype];
  const data: TensorData = array === BigInt64Array ? BigInt64Array.from(flat.map((n) => BigInt(Math.trunc(n)))) : array === BigUint64Array ? BigUint64Array.from(flat.map((n) => BigInt(Math.trunc(n)))) : new (array as Float32ArrayConstructor)(flat);
  return { dtype: spec.dtype, dims: shape, data };
}

/**
 * Read request inputs from `files` (`[NAME=]PATH`, NAME needed only when the plan has several inputs):
 * - `.json`: `{ "NAME": [numbers, nested or flat] | { "dims": [...], "data": [...] }, ... }` (may hold every
 *   input) or, for a one-input plan, a bare array;
 * - `.npy`: a NumPy array (numpy.save), dtype and dims from the file;
 * - `.bin` / `.raw`: raw little-endian bytes of the plan's dtype and shape.
 * The runtime checks the result against the plan (names, dtypes, shapes) on `infer`.
 */
export async function readInputFiles(specs: readonly TensorSpec[], files: readonly string[]): Promise<DeviceTensors> {
  const inputs: DeviceTensors = {};
  for (const arg of files) {
    const eq = arg.indexOf('=');
    const named = eq > 0 && !arg.slice(0, eq).includes('/') ? arg.slice(0, eq) : undefined;
    const path = named !== undefined ? arg.slice(eq + 1) : arg;
    let bytes: Uint8Array;
    try {
      bytes = await readFile(path);
    } catch (cause) {
      throw new EdgesplitError('ERR_FILE_NOT_FOUND', `input file ${path} cannot be read (${(cause as NodeJS.ErrnoException).code ?? String(cause)}). Check the path given to --input.`, { cause, details: { path } });
    }
    const ext = extname(path).toLowerCase();
    const specFor = (): TensorSpec => {
      const name = named ?? (specs.length === 1 ? specs[0]!.name : undefined);
      if (name === undefined) throw fileError(path, `the plan has ${specs.length} inputs (${specs.map((s) => s.name).join(', ')}): name this one, --input NAME=${path}.`);
      const spec = specs.find((s) => s.name === name);
      if (!spec) throw fileError(path, `the plan has no input '${name}'; its inputs are ${specs.map((s) => s.name).join(', ')}.`);
      return spec;
    };
    if (ext === '.json') {
      let json: unknown;
      try {
        json = JSON.parse(new TextDecoder().decode(bytes));
      } catch (cause) {
        throw fileError(path, `not valid JSON: ${(cause as Error).message}.`);
      }
      if (Array.isArray(json) || named !== undefined) {
        const spec = specFor();
        inputs[spec.name] = jsonTensor(spec, json, path);
      } else if (typeof json === 'object' && json !== null) {
        for (const [name, value] of Object.entries(json)) {
          const spec = specs.find((s) => s.name === name);
          if (!spec) throw fileError(path, `the plan has no input '${name}'; its inputs are ${specs.map((s) => s.name).join(', ')}.`);
          inputs[name] = jsonTensor(spec, value, path);
        }
      } else {
        throw fileError(path, 'expected an object of named inputs or an array of numbers.');
      }
    } else if (ext === '.npy') {
      inputs[specFor().name] = parseNpy(bytes, path);
    } else if (ext === '.bin' || ext === '.raw') {
      const spec = specFor();
      const dims = concreteDims(spec, path);
      const expected = DTYPES[spec.dtype].bytes * dims.reduce((a, b) => a * b, 1);
      if (bytes.byteLength !== expected) throw fileError(path, `holds ${bytes.byteLength} bytes, expected ${expected} for ${spec.dtype} [${dims.join(',')}] (raw little-endian, row-major).`);
      inputs[spec.name] = fromBytes(spec.dtype, dims, bytes);
    } else {
      throw fileError(path, `unknown extension '${ext}': expected .json, .npy, .bin or .raw.`);
    }
  }
  return inputs;
}

/** Seeded inputs of the plan's shapes: standard normal for floats, zeros for integers and bools. */
export function seededInputs(specs: readonly TensorSpec[], seed: number): DeviceTensors {
  // NOTE: mulberry32 and Box-Muller, so the same seed gives the same inputs on every device.
  let state = seed >>> 0;
  const uniform = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const inputs: DeviceTensors = {};
  for (const spec of specs) {
    if (spec.dims.some((d) => d < 0)) {
      throw new EdgesplitError('ERR_USAGE', `input '${spec.name}' has a dynamic shape [${spec.dims.join(',')}] in the plan, so no input can be made up for it. Pass --input with a file of the shape to run.`, { details: { input: spec.name } });
    }
    const n = spec.dims.reduce((a, b) => a * b, 1);
    const { array } = DTYPES[spec.dtype];
    let data: TensorData;
    if (spec.dtype === 'float32' || spec.dtype === 'float64') {
      const values = new (array as Float32ArrayConstructor)(n);
      for (let i = 0; i < n; i++) values[i] = Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
      data = values;
    } else {
      data = new array(n);
    }
    inputs[spec.name] = { dtype: spec.dtype, dims: [...spec.dims], data };
  }
  return inputs;
}
