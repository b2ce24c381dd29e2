// Run a model on calibration inputs and read any intermediate tensors, by exposing them as extra
// graph outputs of a copy. Re-fitting and the output-distortion figures read activations this way.
import type { ModelProto } from '../onnx/model.ts';
import { cloneModel } from '../onnx/model.ts';
import { onnx } from '../onnx/proto.ts';
import { createSession, type Feeds } from '../onnx/session.ts';
import { modelGraph } from '../onnx/graph.ts';

/** The values of one tensor over all calibration inputs: one Float32Array and dims per input. */
export interface Captured {
  dims: number[][];
  data: Float32Array[];
}

/**
 * Run `model` on each of `inputs` (one ONNX Runtime session, one thread) and return the named
 * tensors, intermediate or not, for every input.
 */
export async function captureTensors(model: ModelProto, inputs: readonly Feeds[], names: readonly string[]): Promise<Map<string, Captured>> {
  const probe = cloneModel(model);
  const graph = modelGraph(probe);
  const existing = new Set(graph.output.map((o) => o.name));
  for (const n of names) if (!existing.has(n)) graph.output.push(onnx.ValueInfoProto.create({ name: n }));
  const session = await createSession(probe, { threads: 1 });
  const out = new Map<string, Captured>(names.map((n) => [n, { dims: [], data: [] }]));
  try {
    for (const feeds of inputs) {
      const r = await session.run(feeds, names);
      for (const n of names) {
        const t = r[n]!;
        out.get(n)!.dims.push([...t.dims]);
        out.get(n)!.data.push(t.data instanceof Float32Array ? t.data : Float32Array.from(t.data as ArrayLike<number>));
      }
    }
  } finally {
    await session.release();
  }
  return out;
}
