// Checks a request's inputs against the plan's device inputs and turns them into session feeds.
// Browser-safe. Every problem with the inputs is gathered into one error, naming what was expected.
import { EdgesplitError, type ErrorCode } from '../shared/errors.ts';
import { DTYPES, type Dtype } from '../shared/dtypes.ts';
import { dimsMatch, type TensorSpec } from '../shared/plan.ts';
import type { DeviceTensor, DeviceTensors, TensorData } from './backend.ts';

/**
 * One input of `infer`: a bare TypedArray (dtype and shape from the plan, which must then be fully
 * known) or `{ dims, data }` (dims may fill the plan's -1 dimensions; `dtype` optional, checked when given).
 */
export type InferInput = TensorData | { dims: readonly number[]; data: TensorData; dtype?: Dtype };

/** Named inputs of `infer`. */
export type InferInputs = Record<string, InferInput>;

function isTypedArray(v: unknown): v is TensorData {
  return ArrayBuffer.isView(v) && !(v instanceof DataView);
}

function shapeText(dims: readonly number[]): string {
  return `[${dims.join(',')}]`;
}

/**
 * Check `inputs` against the plan's `specs` and return session feeds (no copies). Throws one
 * EdgesplitError naming every problem: ERR_TENSOR_NAME (missing or unexpected names), else
 * ERR_TENSOR_DTYPE, ERR_TENSOR_SHAPE or ERR_TENSOR_BYTES for the first kind found.
 */
export function checkInputs(specs: readonly TensorSpec[], inputs: unknown): DeviceTensors {
  if (typeof inputs !== 'object' || inputs === null || Array.isArray(inputs)) {
    throw new EdgesplitError('ERR_TENSOR_NAME', `inputs must be an object mapping input names to tensors, got ${Array.isArray(inputs) ? 'an array' : String(inputs)}. Expected inputs: ${specs.map((s) => `'${s.name}' ${s.dtype} ${shapeText(s.dims)}`).join(', ')}.`);
  }
  const given = inputs as Record<string, unknown>;
  const missing = specs.filter((s) => !Object.prototype.hasOwnProperty.call(given, s.name)).map((s) => `'${s.name}'`);
  const unexpected = Object.keys(given).filter((k) => !specs.some((s) => s.name === k)).map((k) => `'${k}'`);
  if (missing.length > 0 || unexpected.length > 0) {
    const parts = [...(missing.length ? [`missing ${missing.join(', ')}`] : []), ...(unexpected.length ? [`unexpected ${unexpected.join(', ')}`] : [])];
    throw new EdgesplitError('ERR_TENSOR_NAME', `inputs: ${parts.join('; ')}. The plan's device half takes exactly: ${specs.map((s) => `'${s.name}' ${s.dtype} ${shapeText(s.dims)}`).join(', ')}.`, { details: { missing, unexpected } });
  }
  const problems: Array<{ code: ErrorCode; text: string }> = [];
  const feeds: DeviceTensors = {};
  for (const spec of specs) {
    const value = given[spec.name];
    const arrayType = DTYPES[spec.dtype].array;
    let data: TensorData;
    let dims: number[];
    if (isTypedArray(value)) {
      data = value;
      if (spec.dims.some((d) => d < 0)) {
        problems.push({ code: 'ERR_TENSOR_SHAPE', text: `'${spec.name}' has a dynamic shape ${shapeText(spec.dims)} in the plan: pass { dims, data } with concrete dims` });
        continue;
      }
      dims = [...spec.dims];
    } else if (typeof value === 'object' && value !== null && 'data' in value && 'dims' in value && isTypedArray(value.data) && Array.isArray(value.dims)) {
      data = value.data;
      dims = value.dims.map((d: unknown) => (typeof d === 'number' ? d : Number.NaN));
      if ('dtype' in value && value.dtype !== undefined && value.dtype !== spec.dtype) {
        problems.push({ code: 'ERR_TENSOR_DTYPE', text: `'${spec.name}' is ${String(value.dtype)}, expected ${spec.dtype}` });
        continue;
      }
      if (!dims.every((d) => Number.isSafeInteger(d) && d >= 0) || !dimsMatch(spec.dims, dims)) {
        problems.push({ code: 'ERR_TENSOR_SHAPE', text: `'${spec.name}' has dims ${shapeText(dims)}, expected ${shapeText(spec.dims)}` });
        continue;
      }
    } else {
      problems.push({ code: 'ERR_TENSOR_DTYPE', text: `'${spec.name}' must be a ${arrayType.name} or { dims, data }` });
      continue;
    }
    if (!(data instanceof arrayType)) {
      problems.push({ code: 'ERR_TENSOR_DTYPE', text: `'${spec.name}' is a ${data.constructor.name}, expected a ${arrayType.name} (${spec.dtype})` });
      continue;
    }
    const elements = dims.reduce((a, b) => a * b, 1);
    if (data.length !== elements) {
      problems.push({ code: 'ERR_TENSOR_BYTES', text: `'${spec.name}' has ${data.length} elements, expected ${elements} for ${shapeText(dims)}` });
      continue;
    }
    feeds[spec.name] = { dtype: spec.dtype, dims, data } satisfies DeviceTensor;
  }
  if (problems.length > 0) {
    throw new EdgesplitError(problems[0]!.code, `inputs do not fit the plan: ${problems.map((p) => p.text).join('; ')}. Pass each input with the dtype and shape plan.json lists under device.inputs.`, { details: { problems: problems.map((p) => p.text) } });
  }
  return feeds;
}
