// The plan manifest (plan.json): its schema version, its types and the one function that validates it.
// Browser-safe. The planner writes plans; both runtimes read them through `validatePlan` and nothing else.
import { EdgesplitError } from './errors.ts';
import { type Dtype, DTYPES, byteLength, isDtype } from './dtypes.ts';

/** The plan schema version this edgesplit writes and reads. A plan with another version is refused. */
export const PLAN_SCHEMA_VERSION = 1;

/** Added to the larger of crossing and output bytes for the default frame limit (msgpack framing, ids, names). */
export const FRAME_HEADROOM_BYTES = 64 * 1024;

/** Frame limit for plans whose tensors have a dynamic dimension, so their bytes are not known ahead. */
export const DYNAMIC_FRAME_LIMIT_BYTES = 64 * 1024 * 1024;

/** A tensor as the plan describes it. `dims` entries are positive integers, or -1 for a dimension of any size. */
export interface TensorSpec {
  name: string;
  dtype: Dtype;
  dims: number[];
}

/** One half of the model: its ONNX file (a bare file name inside the plan directory) and that file's sha256. */
export interface HalfSpec {
  /** File name inside the plan directory, no directories: 'device.onnx' or 'server.onnx' as the planner writes them. */
  file: string;
  /** Lower-case hex sha256 of the file's bytes. */
  sha256: string;
}

/** The plan.json contents. Required: schemaVersion, planId, split.crossing, device, server; everything else is optional. */
export interface PlanManifest {
  schemaVersion: typeof PLAN_SCHEMA_VERSION;
  /** The id devices name in their hello; letters, digits, '.', '_' and '-', at most 128 characters. */
  planId: string;
  /** When the planner wrote the plan, ISO 8601. */
  createdAt?: string;
  /** The original, unsplit model. */
  model?: { id: string; name?: string; sha256?: string };
  split: {
    /** Index of the cut in the model's list of cut points (0 = everything on the server). */
    cutIndex?: number;
    /** The cut point's id as the ONNX toolkit names it. */
    cutId?: string;
    /** Every tensor the device sends: the server half's graph inputs, in the order the device sends them. */
    crossing: TensorSpec[];
    /**
     * True when the whole model runs on the device (the last cut): the server half only renames the
     * outputs, so the device runtime runs it locally and never connects.
     */
    fullyOnDevice?: boolean;
  };
  device: HalfSpec & { /** The device half's graph inputs: the model's inputs. */ inputs: TensorSpec[] };
  server: HalfSpec & { /** The server half's graph outputs: the model's outputs, in the order results carry them. */ outputs: TensorSpec[] };
  pruning?: { ratio: number; method: 'none' | 'structured' | 'unstructured'; ratioDevice?: number; ratioServer?: number };
  operatingPoint?: { powerW: number; freqHz: number; deviceProfile: string; channelProfile: string };
  predicted?: {
    latencyMs: { device: number; transmit: number; server: number; roundTrip: number; total: number };
    energyJ: { device: number; transmit: number; total: number };
    memoryBytes: number;
  };
  distortion?: { bound: number; parameter?: number; measuredOutput?: number; top1Agreement?: number };
  budgets?: { latencyMs: number; energyJ: number; memoryBytes?: number };
  /** Frames larger than `maxFrameBytes` are refused; without it, `maxFrameBytes(plan)` derives a limit from the tensors. */
  limits?: { maxFrameBytes: number };
}

const PLAN_ID = /^[A-Za-z0-9._-]{1,128}$/;
const SHA256 = /^[0-9a-f]{64}$/;
const FILE_NAME = /^[A-Za-z0-9._-]+$/;
const PRUNING_METHODS = ['none', 'structured', 'unstructured'] as const;

/** Collects problems with their JSON path so one error can name them all. */
class Problems {
  readonly list: string[] = [];
  add(path: string, message: string): void {
    this.list.push(`${path}: ${message}`);
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `"${v.length > 40 ? v.slice(0, 40) + '...' : v}"`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function field(obj: Record<string, unknown>, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined;
}

function objectAt(p: Problems, obj: Record<string, unknown>, key: string, path: string, required: boolean): Record<string, unknown> | undefined {
  const v = field(obj, key);
  if (v === undefined) {
    if (required) p.add(path, 'missing (expected an object)');
    return undefined;
  }
  if (!isRecord(v)) {
    p.add(path, `expected an object, got ${describe(v)}`);
    return undefined;
  }
  return v;
}

function stringAt(p: Problems, obj: Record<string, unknown>, key: string, path: string, required: boolean, pattern?: RegExp, patternHelp?: string): string | undefined {
  const v = field(obj, key);
  if (v === undefined) {
    if (required) p.add(path, 'missing (expected a string)');
    return undefined;
  }
  if (typeof v !== 'string' || v === '') {
    p.add(path, `expected a non-empty string, got ${describe(v)}`);
    return undefined;
  }
  if (pattern && !pattern.test(v)) {
    p.add(path, `expected ${patternHelp ?? `a string matching ${pattern.source}`}, got ${describe(v)}`);
    return undefined;
  }
  return v;
}

function numberAt(p: Problems, obj: Record<string, unknown>, key: string, path: string, required: boolean, check: { min?: number; below?: number; integer?: boolean; positive?: boolean } = {}): number | undefined {
  const v = field(obj, key);
  if (v === undefined) {
    if (required) p.add(path, 'missing (expected a number)');
    return undefined;
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    p.add(path, `expected a finite number, got ${describe(v)}`);
    return undefined;
  }
  if (check.integer && !Number.isSafeInteger(v)) {
    p.add(path, `expected an integer, got ${v}`);
    return undefined;
  }
  if (check.positive && !(v > 0)) {
    p.add(path, `expected a number > 0, got ${v}`);
    return undefined;
  }
  if (check.min !== undefined && v < check.min) {
    p.add(path, `expected a number >= ${check.min}, got ${v}`);
    return undefined;
  }
  if (check.below !== undefined && !(v < check.below)) {
    p.add(path, `expected a number < ${check.below}, got ${v}`);
    return undefined;
  }
  return v;
}

function tensorSpecs(p: Problems, obj: Record<string, unknown>, key: string, path: string, allowEmpty: boolean): TensorSpec[] | undefined {
  const v = field(obj, key);
  if (v === undefined) {
    p.add(path, 'missing (expected an array of { name, dtype, dims })');
    return undefined;
  }
  if (!Array.isArray(v)) {
    p.add(path, `expected an array of { name, dtype, dims }, got ${describe(v)}`);
    return undefined;
  }
  if (v.length === 0 && !allowEmpty) {
    p.add(path, 'expected at least one tensor, got an empty array');
    return undefined;
  }
  const out: TensorSpec[] = [];
  const seen = new Set<string>();
  v.forEach((item: unknown, i) => {
    const at = `${path}[${i}]`;
    if (!isRecord(item)) {
      p.add(at, `expected { name, dtype, dims }, got ${describe(item)}`);
      return;
    }
    const name = stringAt(p, item, 'name', `${at}.name`, true);
    const dtypeValue = field(item, 'dtype');
    let dtype: Dtype | undefined;
    if (dtypeValue === undefined) p.add(`${at}.dtype`, 'missing (expected a dtype)');
    else if (!isDtype(dtypeValue)) p.add(`${at}.dtype`, `expected one of ${Object.keys(DTYPES).join(', ')}, got ${describe(dtypeValue)}`);
    else dtype = dtypeValue;
    const dimsValue = field(item, 'dims');
    let dims: number[] | undefined;
    if (dimsValue === undefined) p.add(`${at}.dims`, 'missing (expected an array of positive integers or -1)');
    else if (!Array.isArray(dimsValue) || !dimsValue.every((d: unknown) => typeof d === 'number' && Number.isSafeInteger(d) && (d > 0 || d === -1))) {
      p.add(`${at}.dims`, `expected an array of positive integers or -1, got ${Array.isArray(dimsValue) ? JSON.stringify(dimsValue) : describe(dimsValue)}`);
    } else dims = dimsValue.map((d: number) => d);
    if (name !== undefined) {
      if (seen.has(name)) p.add(`${at}.name`, `duplicate tensor name "${name}"`);
      seen.add(name);
    }
    if (name !== undefined && dtype !== undefined && dims !== undefined) out.push({ name, dtype, dims });
  });
  return out.length === v.length ? out : undefined;
}

function half(p: Problems, root: Record<string, unknown>, key: 'device' | 'server'): { file?: string; sha256?: string; obj?: Record<string, unknown> } {
  const obj = objectAt(p, root, key, key, true);
  if (!obj) return {};
  return {
    obj,
    file: stringAt(p, obj, 'file', `${key}.file`, true, FILE_NAME, `a file name inside the plan directory such as "${key}.onnx"`),
    sha256: stringAt(p, obj, 'sha256', `${key}.sha256`, true, SHA256, '64 lower-case hex digits'),
  };
}

/**
 * Check that `json` (parsed plan.json) is a plan of this schema and return it typed.
 * Every problem is collected into one ERR_PLAN_INVALID whose message names each field;
 * a schemaVersion other than PLAN_SCHEMA_VERSION throws ERR_PLAN_VERSION first.
 * NOTE: unknown fields are ignored and dropped, so a planner may add fields within a schema version;
 * a change of meaning bumps PLAN_SCHEMA_VERSION.
 */
export function validatePlan(json: unknown): PlanManifest {
  if (!isRecord(json)) throw new EdgesplitError('ERR_PLAN_INVALID', `plan.json must hold a JSON object, got ${describe(json)}. Write it with 'edgesplit plan' or follow docs/protocol.md.`);
  const version = field(json, 'schemaVersion');
  if (version !== undefined && version !== PLAN_SCHEMA_VERSION) {
    const newer = typeof version === 'number' && version > PLAN_SCHEMA_VERSION;
    throw new EdgesplitError('ERR_PLAN_VERSION', `plan schemaVersion ${describe(version)} is not supported: this edgesplit reads version ${PLAN_SCHEMA_VERSION}. ${newer ? 'Upgrade edgesplit on this machine' : 'Re-run edgesplit plan to write the plan again'}.`, { details: { expected: PLAN_SCHEMA_VERSION, got: version } });
  }
  const p = new Problems();
  if (version === undefined) p.add('schemaVersion', `missing (expected ${PLAN_SCHEMA_VERSION})`);
  const planId = stringAt(p, json, 'planId', 'planId', true, PLAN_ID, "1-128 letters, digits, '.', '_' or '-'");
  const createdAt = stringAt(p, json, 'createdAt', 'createdAt', false);
  if (createdAt !== undefined && Number.isNaN(Date.parse(createdAt))) p.add('createdAt', `expected an ISO 8601 date, got ${describe(createdAt)}`);

  let model: PlanManifest['model'];
  const modelObj = objectAt(p, json, 'model', 'model', false);
  if (modelObj) {
    const id = stringAt(p, modelObj, 'id', 'model.id', true);
    const name = stringAt(p, modelObj, 'name', 'model.name', false);
    const sha256 = stringAt(p, modelObj, 'sha256', 'model.sha256', false, SHA256, '64 lower-case hex digits');
    if (id !== undefined) model = { id, ...(name !== undefined ? { name } : {}), ...(sha256 !== undefined ? { sha256 } : {}) };
  }

  let split: PlanManifest['split'] | undefined;
  const splitObj = objectAt(p, json, 'split', 'split', true);
  if (splitObj) {
    const cutIndex = numberAt(p, splitObj, 'cutIndex', 'split.cutIndex', false, { integer: true, min: 0 });
    const cutId = stringAt(p, splitObj, 'cutId', 'split.cutId', false);
    const crossing = tensorSpecs(p, splitObj, 'crossing', 'split.crossing', false);
    const fullyOnDevice = field(splitObj, 'fullyOnDevice');
    if (fullyOnDevice !== undefined && typeof fullyOnDevice !== 'boolean') p.add('split.fullyOnDevice', `expected true or false, got ${describe(fullyOnDevice)}`);
    if (crossing) split = { ...(cutIndex !== undefined ? { cutIndex } : {}), ...(cutId !== undefined ? { cutId } : {}), crossing, ...(fullyOnDevice === true ? { fullyOnDevice } : {}) };
  }

  const dev = half(p, json, 'device');
  const devInputs = dev.obj ? tensorSpecs(p, dev.obj, 'inputs', 'device.inputs', false) : undefined;
  const srv = half(p, json, 'server');
  const srvOutputs = srv.obj ? tensorSpecs(p, srv.obj, 'outputs', 'server.outputs', false) : undefined;
  if (dev.file !== undefined && dev.file === srv.file) p.add('server.file', `must differ from device.file, both are "${dev.file}"`);

  let pruning: PlanManifest['pruning'];
  const pruningObj = objectAt(p, json, 'pruning', 'pruning', false);
  if (pruningObj) {
    const ratio = numberAt(p, pruningObj, 'ratio', 'pruning.ratio', true, { min: 0, below: 1 });
    const methodValue = field(pruningObj, 'method');
    const method = PRUNING_METHODS.find((m) => m === methodValue);
    if (method === undefined) p.add('pruning.method', `expected one of ${PRUNING_METHODS.join(', ')}, got ${methodValue === undefined ? 'nothing' : describe(methodValue)}`);
    const ratioDevice = numberAt(p, pruningObj, 'ratioDevice', 'pruning.ratioDevice', false, { min: 0, below: 1 });
    const ratioServer = numberAt(p, pruningObj, 'ratioServer', 'pruning.ratioServer', false, { min: 0, below: 1 });
    if (ratio !== undefined && method !== undefined) pruning = { ratio, method, ...(ratioDevice !== undefined ? { ratioDevice } : {}), ...(ratioServer !== undefined ? { ratioServer } : {}) };
  }

  let operatingPoint: PlanManifest['operatingPoint'];
  const opObj = objectAt(p, json, 'operatingPoint', 'operatingPoint', false);
  if (opObj) {
    const powerW = numberAt(p, opObj, 'powerW', 'operatingPoint.powerW', true, { min: 0 });
    const freqHz = numberAt(p, opObj, 'freqHz', 'operatingPoint.freqHz', true, { positive: true });
    const deviceProfile = stringAt(p, opObj, 'deviceProfile', 'operatingPoint.deviceProfile', true);
    const channelProfile = stringAt(p, opObj, 'channelProfile', 'operatingPoint.channelProfile', true);
    if (powerW !== undefined && freqHz !== undefined && deviceProfile !== undefined && channelProfile !== undefined) operatingPoint = { powerW, freqHz, deviceProfile, channelProfile };
  }

  let predicted: PlanManifest['predicted'];
  const predObj = objectAt(p, json, 'predicted', 'predicted', false);
  if (predObj) {
    const lat = objectAt(p, predObj, 'latencyMs', 'predicted.latencyMs', true);
    const en = objectAt(p, predObj, 'energyJ', 'predicted.energyJ', true);
    const memoryBytes = numberAt(p, predObj, 'memoryBytes', 'predicted.memoryBytes', true, { min: 0 });
    const nn = (o: Record<string, unknown>, k: string, at: string) => numberAt(p, o, k, `${at}.${k}`, true, { min: 0 });
    const latencyMs = lat ? { device: nn(lat, 'device', 'predicted.latencyMs'), transmit: nn(lat, 'transmit', 'predicted.latencyMs'), server: nn(lat, 'server', 'predicted.latencyMs'), roundTrip: nn(lat, 'roundTrip', 'predicted.latencyMs'), total: nn(lat, 'total', 'predicted.latencyMs') } : undefined;
    const energyJ = en ? { device: nn(en, 'device', 'predicted.energyJ'), transmit: nn(en, 'transmit', 'predicted.energyJ'), total: nn(en, 'total', 'predicted.energyJ') } : undefined;
    if (latencyMs && energyJ && memoryBytes !== undefined
      && latencyMs.device !== undefined && latencyMs.transmit !== undefined && latencyMs.server !== undefined && latencyMs.roundTrip !== undefined && latencyMs.total !== undefined
      && energyJ.device !== undefined && energyJ.transmit !== undefined && energyJ.total !== undefined) {
      predicted = {
        latencyMs: { device: latencyMs.device, transmit: latencyMs.transmit, server: latencyMs.server, roundTrip: latencyMs.roundTrip, total: latencyMs.total },
        energyJ: { device: energyJ.device, transmit: energyJ.transmit, total: energyJ.total },
        memoryBytes,
      };
    }
  }

  let distortion: PlanManifest['distortion'];
  const distObj = objectAt(p, json, 'distortion', 'distortion', false);
  if (distObj) {
    const bound = numberAt(p, distObj, 'bound', 'distortion.bound', true, { min: 0 });
    const parameter = numberAt(p, distObj, 'parameter', 'distortion.parameter', false, { min: 0 });
    const measuredOutput = numberAt(p, distObj, 'measuredOutput', 'distortion.measuredOutput', false, { min: 0 });
    const top1Agreement = numberAt(p, distObj, 'top1Agreement', 'distortion.top1Agreement', false, { min: 0 });
    if (top1Agreement !== undefined && top1Agreement > 1) p.add('distortion.top1Agreement', `expected a share in [0, 1], got ${top1Agreement}`);
    if (bound !== undefined) distortion = { bound, ...(parameter !== undefined ? { parameter } : {}), ...(measuredOutput !== undefined ? { measuredOutput } : {}), ...(top1Agreement !== undefined ? { top1Agreement } : {}) };
  }

  let budgets: PlanManifest['budgets'];
  const budObj = objectAt(p, json, 'budgets', 'budgets', false);
  if (budObj) {
    const latencyMs = numberAt(p, budObj, 'latencyMs', 'budgets.latencyMs', true, { positive: true });
    const energyJ = numberAt(p, budObj, 'energyJ', 'budgets.energyJ', true, { positive: true });
    const memoryBytes = numberAt(p, budObj, 'memoryBytes', 'budgets.memoryBytes', false, { positive: true });
    if (latencyMs !== undefined && energyJ !== undefined) budgets = { latencyMs, energyJ, ...(memoryBytes !== undefined ? { memoryBytes } : {}) };
  }

  let limits: PlanManifest['limits'];
  const limObj = objectAt(p, json, 'limits', 'limits', false);
  if (limObj) {
    const maxFrame = numberAt(p, limObj, 'maxFrameBytes', 'limits.maxFrameBytes', true, { integer: true, positive: true });
    if (maxFrame !== undefined) limits = { maxFrameBytes: maxFrame };
    for (const [what, specs] of [['split.crossing', split?.crossing], ['server.outputs', srvOutputs]] as const) {
      const bytes = specs ? tensorSpecsBytes(specs) : undefined;
      if (maxFrame !== undefined && bytes !== undefined && bytes > maxFrame) {
        p.add('limits.maxFrameBytes', `${maxFrame} is less than the ${bytes} bytes of the ${what} tensors, so no frame could carry them; leave it out or raise it above ${bytes + FRAME_HEADROOM_BYTES}`);
      }
    }
  }

  if (p.list.length > 0 || planId === undefined || split === undefined || dev.file === undefined || dev.sha256 === undefined || devInputs === undefined
    || srv.file === undefined || srv.sha256 === undefined || srvOutputs === undefined) {
    const where = planId !== undefined ? ` of plan '${planId}'` : '';
    throw new EdgesplitError('ERR_PLAN_INVALID', `plan.json${where} does not follow plan schema ${PLAN_SCHEMA_VERSION} (${p.list.length} problem${p.list.length === 1 ? '' : 's'}): ${p.list.join('; ')}. Fix these fields or write the plan again with 'edgesplit plan'.`, { details: { problems: [...p.list] } });
  }
  return {
    schemaVersion: PLAN_SCHEMA_VERSION,
    planId,
    ...(createdAt !== undefined ? { createdAt } : {}),
    ...(model !== undefined ? { model } : {}),
    split,
    device: { file: dev.file, sha256: dev.sha256, inputs: devInputs },
    server: { file: srv.file, sha256: srv.sha256, outputs: srvOutputs },
    ...(pruning !== undefined ? { pruning } : {}),
    ...(operatingPoint !== undefined ? { operatingPoint } : {}),
    ...(predicted !== undefined ? { predicted } : {}),
    ...(distortion !== undefined ? { distortion } : {}),
    ...(budgets !== undefined ? { budgets } : {}),
    ...(limits !== undefined ? { limits } : {}),
  };
}

/** Bytes of tensors of fixed shape, or undefined when any has a dynamic (-1) dimension. */
export function tensorSpecsBytes(specs: readonly TensorSpec[]): number | undefined {
  let total = 0;
  for (const s of specs) {
    if (s.dims.some((d) => d < 0)) return undefined;
    total += byteLength(s.dtype, s.dims);
  }
  return total;
}

/**
 * The largest frame either side accepts for this plan: `limits.maxFrameBytes` when the plan sets it,
 * else the larger of the crossing and the output bytes plus FRAME_HEADROOM_BYTES
 * (DYNAMIC_FRAME_LIMIT_BYTES when a dimension is dynamic).
 */
export function maxFrameBytes(plan: PlanManifest): number {
  if (plan.limits) return plan.limits.maxFrameBytes;
  const crossing = tensorSpecsBytes(plan.split.crossing);
  const outputs = tensorSpecsBytes(plan.server.outputs);
  if (crossing === undefined || outputs === undefined) return DYNAMIC_FRAME_LIMIT_BYTES;
  return Math.max(crossing, outputs) + FRAME_HEADROOM_BYTES;
}

/** Whether concrete `dims` fit the plan's `specDims` (same rank; -1 matches any size). */
export function dimsMatch(specDims: readonly number[], dims: readonly number[]): boolean {
  return specDims.length === dims.length && specDims.every((d, i) => d === -1 || d === dims[i]);
}
