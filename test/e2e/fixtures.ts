// Test fixtures for the device runtime and the end-to-end tests: plan directories made from the zoo
// with the ONNX toolkit's splitter, and the full model's reference outputs in onnxruntime-node.
import { createHash } from 'node:crypto';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyzeModel } from '../../planner/onnx/analyze.ts';
import { splitModel } from '../../planner/onnx/split.ts';
import { encodeModel, type ModelProto } from '../../planner/onnx/model.ts';
import { createSession, type Feeds } from '../../planner/onnx/session.ts';
import { loadZooModel, type ZooModel } from '../../planner/zoo/index.ts';
import { PLAN_SCHEMA_VERSION, type PlanManifest } from '../../shared/plan.ts';

/** A plan directory in a temporary folder, with what the tests compare against. */
export interface PlanFixture {
  dir: string;
  planPath: string;
  plan: PlanManifest;
  zoo: ZooModel;
  /** The unsplit model. */
  full: ModelProto;
  deviceBytes: Uint8Array;
  serverBytes: Uint8Array;
  /** Remove the directory. */
  remove(): Promise<void>;
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/**
 * Split zoo model `id` at each cut in `ats` (a fraction in (0, 1) of its inner cut points, or a cut
 * index), one analysis for all, and write device.onnx, server.onnx and plan.json for each into a new
 * temporary directory. `extra` overrides plan fields.
 */
export async function makePlanDirs(id: string, ats: readonly number[], extra: Partial<PlanManifest> = {}): Promise<PlanFixture[]> {
  const zoo = await loadZooModel(id);
  const analysis = await analyzeModel(zoo.model, { inputShapes: zoo.inputShapes, source: id });
  const inner = analysis.cuts.filter((c) => c.position > 0 && c.position < analysis.nodes.length);
  const fixtures: PlanFixture[] = [];
  for (const at of ats) {
    const cut = at > 0 && at < 1 ? inner[Math.min(inner.length - 1, Math.floor(at * inner.length))]! : analysis.cuts[at]!;
    const { head, tail, crossing } = splitModel(zoo.model, cut, analysis);
    const deviceBytes = encodeModel(head);
    const serverBytes = encodeModel(tail);
    const dir = await mkdtemp(join(tmpdir(), `edgesplit-plan-${id}-`));
    const plan: PlanManifest = {
      schemaVersion: PLAN_SCHEMA_VERSION,
      planId: `${id}-${cut.id}`,
      createdAt: new Date().toISOString(),
      model: { id },
      split: { cutIndex: cut.index, cutId: cut.id, crossing: crossing.map((c) => ({ name: c.name, dtype: c.dtype, dims: [...c.dims] })) },
      device: { file: 'device.onnx', sha256: sha256(deviceBytes), inputs: analysis.inputs.map((t) => ({ name: t.name, dtype: t.dtype, dims: [...t.dims] })) },
      server: { file: 'server.onnx', sha256: sha256(serverBytes), outputs: analysis.outputs.map((t) => ({ name: t.name, dtype: t.dtype, dims: [...t.dims] })) },
      operatingPoint: { powerW: 0.5, freqHz: 1.5e9, deviceProfile: 'raspberry-pi-4', channelProfile: 'wifi' },
      predicted: { latencyMs: { device: 1, transmit: 1, server: 1, roundTrip: 1, total: 4 }, energyJ: { device: 0.001, transmit: 0.001, total: 0.002 }, memoryBytes: 1 },
      ...extra,
    };
    await writeFile(join(dir, 'device.onnx'), deviceBytes);
    await writeFile(join(dir, 'server.onnx'), serverBytes);
    await writeFile(join(dir, 'plan.json'), JSON.stringify(plan, null, 2));
    fixtures.push({ dir, planPath: join(dir, 'plan.json'), plan, zoo, full: zoo.model, deviceBytes, serverBytes, remove: () => rm(dir, { recursive: true, force: true }) });
  }
  return fixtures;
}

/** One plan directory: `makePlanDirs` with one cut. */
export async function makePlanDir(id: string, at: number, extra: Partial<PlanManifest> = {}): Promise<PlanFixture> {
  const [fixture] = await makePlanDirs(id, [at], extra);
  return fixture!;
}

/** The full model's outputs for each input, in onnxruntime-node. */
export async function referenceOutputs(full: ModelProto, inputs: Feeds[]): Promise<Feeds[]> {
  const session = await createSession(full);
  try {
    const out: Feeds[] = [];
    for (const feeds of inputs) out.push(await session.run(feeds));
    return out;
  } finally {
    await session.release();
  }
}

/** Largest absolute difference and the output's scale (largest absolute value of the reference). */
export function compare(got: ArrayLike<number>, want: ArrayLike<number>): { maxDiff: number; scale: number } {
  if (got.length !== want.length) throw new Error(`lengths differ: got ${got.length}, want ${want.length}`);
  let maxDiff = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(got[i]! - want[i]!));
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  return { maxDiff, scale };
}
