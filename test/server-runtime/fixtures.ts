// Real test models and plan directories for the server runtime's tests: a small MLP split by hand,
// a deliberately slow server half (a chain of MatMuls), and a plan.json writer that hashes the halves.
import { createHash } from 'node:crypto';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeModel, makeNode, makeValueInfo, floatTensor, int64Tensor, saveModel, type ModelProto } from '../../planner/onnx/model.ts';
import { Rng } from '../../planner/util/rng.ts';
import type { TensorSpec } from '../../shared/plan.ts';
import { type WireTensor, wireTensor } from '../../shared/protocol.ts';

function weights(rng: Rng, n: number, scale: number): Float32Array {
  return Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * scale);
}

/** The MLP x[1,8] -> h[1,16] (device: MatMul, Relu) -> y[1,4] (server: MatMul, Add). */
export function mlpHalves(seed = 1): { device: ModelProto; server: ModelProto; inputs: TensorSpec[]; crossing: TensorSpec[]; outputs: TensorSpec[] } {
  const rng = new Rng(seed);
  const device = makeModel({
    name: 'mlp-head',
    nodes: [makeNode('MatMul', ['x', 'w1'], ['a']), makeNode('Relu', ['a'], ['h'])],
    inputs: [makeValueInfo('x', 'float32', [1, 8])],
    outputs: [makeValueInfo('h', 'float32', [1, 16])],
    initializers: [floatTensor('w1', [8, 16], weights(rng, 128, 0.5))],
  });
  const server = makeModel({
    name: 'mlp-tail',
    nodes: [makeNode('MatMul', ['h', 'w2'], ['m']), makeNode('Add', ['m', 'b2'], ['y'])],
    inputs: [makeValueInfo('h', 'float32', [1, 16])],
    outputs: [makeValueInfo('y', 'float32', [1, 4])],
    initializers: [floatTensor('w2', [16, 4], weights(rng, 64, 0.5)), floatTensor('b2', [4], weights(rng, 4, 0.1))],
  });
  return {
    device, server,
    inputs: [{ name: 'x', dtype: 'float32', dims: [1, 8] }],
    crossing: [{ name: 'h', dtype: 'float32', dims: [1, 16] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: [1, 4] }],
  };
}

/** Dims of the slow server half's input and output. */
export const SLOW_DIMS = [64, 512] as const;

/** An input of the slow server half with every element `v`. */
export const slowFilled = (v: number): WireTensor => wireTensor('h', 'float32', [...SLOW_DIMS], new Float32Array(SLOW_DIMS[0] * SLOW_DIMS[1]).fill(v));

/** The slow server half's one output, as a plan's server.outputs gives it. */
export const SLOW_OUTPUTS = [{ name: 'y', dtype: 'float32', dims: [...SLOW_DIMS] }] as const;

/** A server half that takes tens of ms a run: `layers` chained MatMul + Tanh on a [64,512] tensor, all sharing one weight. */
export function slowServer(layers = 160, seed = 2): ModelProto {
  const rng = new Rng(seed);
  const [rows, width] = SLOW_DIMS;
  const nodes = [];
  let prev = 'h';
  for (let i = 0; i < layers; i++) {
    const out = i === layers - 1 ? 'y' : `t${i}`;
    nodes.push(makeNode('MatMul', [prev, 'w'], [`m${i}`]), makeNode('Tanh', [`m${i}`], [out]));
    prev = out;
  }
  const initializers = [floatTensor('w', [width, width], weights(rng, width * width, 1.5 / Math.sqrt(width)))];
  return makeModel({ name: 'slow-tail', nodes, inputs: [makeValueInfo('h', 'float32', [rows, width])], outputs: [makeValueInfo('y', 'float32', [rows, width])], initializers });
}

/** A device half for the slow plan: Identity on h. */
export function identityDevice(): ModelProto {
  return makeModel({ name: 'identity-head', nodes: [makeNode('Identity', ['x'], ['h'])], inputs: [makeValueInfo('x', 'float32', [...SLOW_DIMS])], outputs: [makeValueInfo('h', 'float32', [...SLOW_DIMS])], initializers: [] });
}

/**
 * A plan with a dynamic first dimension whose server half only runs at size 1: h[-1,16] is reshaped
 * to [1,16], so a valid-looking [2,16] passes the plan's checks and fails inside ONNX Runtime.
 */
export function dynamicHalves(): { device: ModelProto; server: ModelProto; inputs: TensorSpec[]; crossing: TensorSpec[]; outputs: TensorSpec[] } {
  const device = makeModel({ name: 'dyn-head', nodes: [makeNode('Identity', ['x'], ['h'])], inputs: [makeValueInfo('x', 'float32', ['n', 16])], outputs: [makeValueInfo('h', 'float32', ['n', 16])], initializers: [] });
  const server = makeModel({
    name: 'dyn-tail',
    nodes: [makeNode('Reshape', ['h', 'shape'], ['y'])],
    inputs: [makeValueInfo('h', 'float32', ['n', 16])],
    outputs: [makeValueInfo('y', 'float32', [1, 16])],
    initializers: [int64Tensor('shape', [2], [1, 16])],
  });
  return {
    device, server,
    inputs: [{ name: 'x', dtype: 'float32', dims: [-1, 16] }],
    crossing: [{ name: 'h', dtype: 'float32', dims: [-1, 16] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: [1, 16] }],
  };
}

/** Elements of the big plan's tensors: 1 MiB of float32 each way. */
export const BIG_ELEMENTS = 262_144;

/** A plan whose server half is an Identity on 1 MiB, for tests of large answers. */
export function bigHalves(): { device: ModelProto; server: ModelProto; inputs: TensorSpec[]; crossing: TensorSpec[]; outputs: TensorSpec[] } {
  const identity = (name: string, from: string, to: string): ModelProto => makeModel({ name, nodes: [makeNode('Identity', [from], [to])], inputs: [makeValueInfo(from, 'float32', [1, BIG_ELEMENTS])], outputs: [makeValueInfo(to, 'float32', [1, BIG_ELEMENTS])], initializers: [] });
  const spec = (name: string): TensorSpec => ({ name, dtype: 'float32', dims: [1, BIG_ELEMENTS] });
  return { device: identity('big-head', 'x', 'h'), server: identity('big-tail', 'h', 'y'), inputs: [spec('x')], crossing: [spec('h')], outputs: [spec('y')] };
}

/** sha256 of bytes, lower-case hex. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A plan directory on disk. */
export interface PlanDir {
  dir: string;
  planPath: string;
  plan: Record<string, unknown>;
  serverBytes: Uint8Array;
  serverSha256: string;
}

/** Write device.onnx, server.onnx and a minimal plan.json (plus `extra` fields) into a new temporary directory. */
export async function writePlanDir(planId: string, halves: { device: ModelProto; server: ModelProto; inputs: TensorSpec[]; crossing: TensorSpec[]; outputs: TensorSpec[] }, extra: Record<string, unknown> = {}): Promise<PlanDir> {
  const dir = await mkdtemp(join(tmpdir(), 'edgesplit-plan-'));
  const deviceBytes = await saveModel(halves.device, join(dir, 'device.onnx'));
  const serverBytes = await saveModel(halves.server, join(dir, 'server.onnx'));
  const serverSha256 = sha256Hex(serverBytes);
  const plan = {
    schemaVersion: 1, planId,
    split: { crossing: halves.crossing },
    device: { file: 'device.onnx', sha256: sha256Hex(deviceBytes), inputs: halves.inputs },
    server: { file: 'server.onnx', sha256: serverSha256, outputs: halves.outputs },
    ...extra,
  };
  const planPath = join(dir, 'plan.json');
  await writeFile(planPath, JSON.stringify(plan, null, 2));
  return { dir, planPath, plan, serverBytes, serverSha256 };
}

/** The slow plan: identity device half, 160-MatMul server half. */
export function slowHalves(layers = 160): { device: ModelProto; server: ModelProto; inputs: TensorSpec[]; crossing: TensorSpec[]; outputs: TensorSpec[] } {
  return {
    device: identityDevice(), server: slowServer(layers),
    inputs: [{ name: 'x', dtype: 'float32', dims: [...SLOW_DIMS] }],
    crossing: [{ name: 'h', dtype: 'float32', dims: [...SLOW_DIMS] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: [...SLOW_DIMS] }],
  };
}

/** Remove plan directories made by `writePlanDir`. */
export async function removeDirs(...dirs: PlanDir[]): Promise<void> {
  await Promise.all(dirs.map((d) => rm(d.dir, { recursive: true, force: true })));
}
