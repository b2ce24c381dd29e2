// What the planner plans for: a model from the zoo or from an .onnx file, with concrete input shapes,
// calibration inputs, labelled data where the zoo has it, and the sha256 of its bytes.
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { ModelProto } from '../onnx/model.ts';
import { decodeModel, encodeModel, valueInfoDtype } from '../onnx/model.ts';
import { indexGraph, modelGraph } from '../onnx/graph.ts';
import { type InputShapes, resolveInputShapes, sampleFeeds } from '../onnx/shapes.ts';
import type { Feeds } from '../onnx/session.ts';
import { loadZooModel, ZOO_IDS, type LabelledSet, type TaskMetric } from '../zoo/index.ts';
import { EdgesplitError } from '../../shared/errors.ts';

/** A model ready for planning. */
export interface PlanSource {
  /** The zoo id, or the file name without `.onnx`. */
  id: string;
  /** A readable title (the zoo's title, or the file path). */
  name: string;
  /** The model as loaded; the planner never edits it in place. */
  model: ModelProto;
  /** sha256 (hex) of the model's ONNX bytes: the file as read, or the zoo model's encoding. */
  sha256: string;
  /** Every real input's concrete shape. */
  inputShapes: InputShapes;
  /** `n` calibration inputs, the same for the same seed. */
  sampleInputs(n: number, seed?: number): Promise<Feeds[]>;
  /** Labelled held-out inputs, where the zoo has them. */
  labelled?(n: number, seed?: number): Promise<LabelledSet>;
  /** How to score an output against a label from `labelled`. */
  taskMetric?: TaskMetric;
}

/** sha256 of bytes, as lowercase hex. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** `n` deterministic inputs of the model's input types at `shapes` (the ONNX toolkit's `sampleFeeds`, one seed each). */
function syntheticInputs(model: ModelProto, shapes: InputShapes, n: number, seed: number): Feeds[] {
  const inputs = indexGraph(modelGraph(model)).parts.inputs.filter((vi) => shapes[vi.name] !== undefined).map((vi) => {
    const dtype = valueInfoDtype(vi);
    if (!dtype) throw new EdgesplitError('ERR_INPUT_SHAPE', `input '${vi.name}' has an element type edgesplit does not move. Expected one of the dtypes in shared/dtypes.ts.`, { details: { input: vi.name } });
    return { name: vi.name, dtype, dims: shapes[vi.name]! };
  });
  return Array.from({ length: n }, (_, i) => sampleFeeds(inputs, seed * 100_003 + i + 1));
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/**
 * Load what `spec` names: an .onnx file if the path exists, else a zoo id (`mnist-mlp`, `ppocr-rec`,
 * ...). `inputShapes` (from --input-shape) completes or overrides the declared shapes, checked by the
 * ONNX toolkit. A file model calibrates on deterministic synthetic inputs (uniform [0, 1)); a zoo
 * model at its own shapes on its realistic samples and labels.
 */
export async function loadPlanSource(spec: string, inputShapes: InputShapes = {}): Promise<PlanSource> {
  if (await isFile(spec)) {
    let bytes: Uint8Array;
    try {
      bytes = await readFile(spec);
    } catch (cause) {
      throw new EdgesplitError('ERR_FILE_READ', `cannot read model file ${spec}: ${(cause as Error).message}`, { cause, details: { path: spec } });
    }
    const model = decodeModel(bytes, spec);
    const shapes = resolveInputShapes(indexGraph(modelGraph(model, spec), spec), inputShapes, spec);
    return {
      id: basename(spec).replace(/\.onnx$/i, ''), name: spec, model, sha256: sha256Hex(bytes), inputShapes: shapes,
      sampleInputs: async (n, seed = 0) => syntheticInputs(model, shapes, n, seed),
    };
  }
  if (!ZOO_IDS.includes(spec)) {
    throw new EdgesplitError('ERR_FILE_NOT_FOUND', `model not found: '${spec}' is neither a file nor a zoo id. Check the path, or use one of the zoo ids: ${ZOO_IDS.join(', ')}.`, { details: { path: spec } });
  }
  const zoo = await loadZooModel(spec);
  const shapes = resolveInputShapes(indexGraph(modelGraph(zoo.model, spec), spec), { ...zoo.inputShapes, ...inputShapes }, spec);
  const sameShapes = JSON.stringify(shapes) === JSON.stringify(zoo.inputShapes);
  const source: PlanSource = {
    id: zoo.id, name: zoo.title, model: zoo.model, sha256: sha256Hex(encodeModel(zoo.model)), inputShapes: shapes,
    // NOTE: the zoo's samples and labels have the zoo's shapes; other shapes calibrate on synthetic inputs.
    sampleInputs: sameShapes ? zoo.sampleInputs : async (n, seed = 0) => syntheticInputs(zoo.model, shapes, n, seed),
  };
  if (sameShapes && zoo.labelled) source.labelled = zoo.labelled;
  if (sameShapes && zoo.taskMetric) source.taskMetric = zoo.taskMetric;
  return source;
}
