// The planner's one door to ONNX Runtime (onnxruntime-node): sessions from in-memory models, runs on
// plain named tensors, and latency measurement. Nothing else in planner/ imports onnxruntime-node.
import * as ort from 'onnxruntime-node';
import type { ModelProto } from './model.ts';
import { encodeModel } from './model.ts';
import { EdgesplitError } from '../../shared/errors.ts';
import type { Dtype } from '../../shared/dtypes.ts';

/** A named dense tensor as the planner passes it around. */
export interface NamedTensor {
  dtype: Dtype;
  dims: number[];
  data: Float32Array | Int32Array | BigInt64Array | Uint8Array | Float64Array | Int8Array;
}
export type Feeds = Record<string, NamedTensor>;

/** A loaded model: its input and output names and a `run`. */
export interface PlannerSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Feeds, outputs?: readonly string[]): Promise<Feeds>;
  release(): Promise<void>;
}

/** Options for `createSession`. */
export interface SessionOptions {
  /** intra-op threads; 1 keeps measurements and tests steady on a shared machine. */
  threads?: number;
  /** ONNX Runtime graph optimisation level. */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
}

/** Load a model (proto or bytes) into an onnxruntime-node session. */
export async function createSession(model: ModelProto | Uint8Array, options: SessionOptions = {}): Promise<PlannerSession> {
  const bytes = model instanceof Uint8Array ? model : encodeModel(model);
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, {
      intraOpNumThreads: options.threads ?? 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: options.optimization ?? 'all',
      // NOTE: 4 (fatal only): ONNX Runtime would otherwise print its own error line before ours.
      logSeverityLevel: 4,
    });
  } catch (cause) {
    throw new EdgesplitError('ERR_SESSION', `ONNX Runtime could not load the model: ${(cause as Error).message}`, { cause });
  }
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    async run(feeds, outputs) {
      const ortFeeds: Record<string, ort.Tensor> = {};
      for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor(t.dtype === 'float32' ? 'float32' : t.dtype as ort.Tensor.Type, t.data as ort.Tensor.DataType, t.dims);
      let result: ort.InferenceSession.ReturnType;
      try {
        result = outputs ? await session.run(ortFeeds, outputs as string[]) : await session.run(ortFeeds);
      } catch (cause) {
        throw new EdgesplitError('ERR_SESSION', `ONNX Runtime failed to run the model: ${(cause as Error).message}`, { cause });
      }
      const out: Feeds = {};
      for (const [name, t] of Object.entries(result)) {
        out[name] = { dtype: t.type as Dtype, dims: [...t.dims], data: t.data as NamedTensor['data'] };
      }
      return out;
    },
    async release() {
      await session.release();
    },
  };
}

/** Median wall time in ms of `runs` runs after `warmup` runs. */
export async function measureLatencyMs(session: PlannerSession, feeds: Feeds, runs = 20, warmup = 3): Promise<number> {
  for (let i = 0; i < warmup; i++) await session.run(feeds);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await session.run(feeds);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

/** Largest absolute difference between two float tensors, and the larger of their max-abs values (the scale). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): { maxDiff: number; scale: number } {
  if (a.length !== b.length) throw new EdgesplitError('ERR_INTERNAL', `maxAbsDiff: lengths differ (${a.length} vs ${b.length})`);
  let maxDiff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(a[i]!), Math.abs(b[i]!));
  }
  return { maxDiff, scale };
}
