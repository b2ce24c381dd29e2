// Trains the zoo's MNIST models in plain TypeScript, deterministically: the MLP 784-128-64-10 here and
// the small CNN of train-cnn.ts; writes planner/zoo/models/<id>.onnx and <id>.json. Run: npm run train:mnist
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { floatTensor, makeModel, makeNode, makeValueInfo, type ModelProto, type NodeProto, type TensorProto, saveModel } from '../onnx/model.ts';
import { createSession } from '../onnx/session.ts';
import { Rng } from '../util/rng.ts';
import { EdgesplitError } from '../../shared/errors.ts';
import { MNIST_PIXELS, MNIST_SIDE_PX, MNIST_TRAIN_SHARE, mnistSplits, type MnistDigit } from './mnist.ts';
import { MNIST_MLP_DIMS, ZOO_MODELS_DIR } from './index.ts';
import { exportCnn, MNIST_CNN, trainCnn } from './train-cnn.ts';

/** Hyper-parameters of a training run. */
export interface TrainConfig {
  seed: number;
  epochs: number;
  batchSize: number;
  /** Adam step size. */
  learningRate: number;
}

/** The trained models of the zoo. */
export type TrainedId = 'mnist-mlp' | 'mnist-cnn';

/** The configurations the committed models were trained with. */
export const MNIST_TRAIN_CONFIG: TrainConfig = { seed: 7, epochs: 8, batchSize: 32, learningRate: 1e-3 };
export const MNIST_CNN_TRAIN_CONFIG: TrainConfig = { seed: 7, epochs: 4, batchSize: 32, learningRate: 2e-3 };

/** The command that regenerates the committed models and records. */
export const MNIST_TRAIN_COMMAND = 'npm run train:mnist';

/** What <id>.json records about a committed trained model. */
export interface MnistTrainingRecord {
  model: TrainedId;
  file: string;
  sha256: string;
  architecture: string;
  input: string;
  output: string;
  split: string;
  trainDigits: number;
  testDigits: number;
  /** Top-1 accuracy of the exported ONNX model in ONNX Runtime. */
  trainAccuracy: number;
  testAccuracy: number;
  epochs: number;
  batchSize: number;
  optimizer: string;
  learningRate: number;
  seed: number;
  /** Wall time of the training loop, and the CPU time it used (the two differ on a busy machine). */
  trainingTimeS: number;
  trainingCpuS: number;
  command: string;
}

/** One dense layer: weights [in, out] (row i holds input i's fan-out), biases [out], and Adam moments. */
interface Layer {
  inDim: number;
  outDim: number;
  w: Float32Array;
  b: Float32Array;
  gw: Float32Array;
  gb: Float32Array;
  mw: Float32Array;
  vw: Float32Array;
  mb: Float32Array;
  vb: Float32Array;
}

function makeLayer(inDim: number, outDim: number, rng: Rng): Layer {
  const w = new Float32Array(inDim * outDim);
  const std = Math.sqrt(2 / inDim);
  for (let i = 0; i < w.length; i++) w[i] = rng.normal() * std;
  const z = (): Float32Array => new Float32Array(inDim * outDim);
  const zb = (): Float32Array => new Float32Array(outDim);
  return { inDim, outDim, w, b: zb(), gw: z(), gb: zb(), mw: z(), vw: z(), mb: zb(), vb: zb() };
}

/** y = x W + b; skips zero inputs (most MNIST pixels), which makes the first layer several times faster. */
function forward(layer: Layer, x: Float32Array, y: Float32Array): void {
  const { inDim, outDim, w, b } = layer;
  y.set(b);
  for (let i = 0; i < inDim; i++) {
    const xi = x[i]!;
    if (xi === 0) continue;
    const row = i * outDim;
    for (let o = 0; o < outDim; o++) y[o]! += xi * w[row + o]!;
  }
}

/** Accumulate the gradients of one sample; writes dL/dx into `dx` when given. */
function backward(layer: Layer, x: Float32Array, dy: Float32Array, dx?: Float32Array): void {
  const { inDim, outDim, w, gw, gb } = layer;
  for (let o = 0; o < outDim; o++) gb[o]! += dy[o]!;
  for (let i = 0; i < inDim; i++) {
    const xi = x[i]!;
    const row = i * outDim;
    if (dx) {
      let s = 0;
      for (let o = 0; o < outDim; o++) s += w[row + o]! * dy[o]!;
      dx[i] = s;
    }
    if (xi === 0) continue;
    for (let o = 0; o < outDim; o++) gw[row + o]! += xi * dy[o]!;
  }
}

function adamStep(layer: Layer, step: number, lr: number, batch: number): void {
  const beta1 = 0.9;
  const beta2 = 0.999;
  const eps = 1e-8;
  const c1 = 1 - beta1 ** step;
  const c2 = 1 - beta2 ** step;
  const update = (p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array): void => {
    for (let i = 0; i < p.length; i++) {
      const gi = g[i]! / batch;
      m[i] = beta1 * m[i]! + (1 - beta1) * gi;
      v[i] = beta2 * v[i]! + (1 - beta2) * gi * gi;
      p[i]! -= (lr * (m[i]! / c1)) / (Math.sqrt(v[i]! / c2) + eps);
      g[i] = 0;
    }
  };
  update(layer.w, layer.gw, layer.mw, layer.vw);
  update(layer.b, layer.gb, layer.mb, layer.vb);
}

/** The network's activations for one input: each layer's output, Relu applied to the hidden ones. */
function predict(layers: Layer[], x: Float32Array, acts: Float32Array[]): Float32Array {
  let h = x;
  layers.forEach((layer, l) => {
    const y = acts[l]!;
    forward(layer, h, y);
    if (l < layers.length - 1) for (let o = 0; o < y.length; o++) y[o] = Math.max(0, y[o]!);
    h = y;
  });
  return h;
}

function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i]! > v[best]!) best = i;
  return best;
}

/**
 * Train the MLP with softmax cross-entropy and Adam on minibatches, seeded init and seeded shuffling.
 * Deterministic: the same config gives the same weights. `log` receives one line per epoch.
 */
export function trainMlp(train: MnistDigit[], test: MnistDigit[], config: TrainConfig, log: (line: string) => void = () => {}): Layer[] {
  const rng = new Rng(config.seed);
  const dims = MNIST_MLP_DIMS;
  const layers = dims.slice(1).map((d, i) => makeLayer(dims[i]!, d, rng));
  const acts = layers.map((l) => new Float32Array(l.outDim));
  const deltas = layers.map((l) => new Float32Array(l.outDim));
  const order = Array.from({ length: train.length }, (_, i) => i);
  let step = 0;
  for (let epoch = 1; epoch <= config.epochs; epoch++) {
    rng.shuffle(order);
    let lossSum = 0;
    for (let start = 0; start < order.length; start += config.batchSize) {
      const batch = order.slice(start, start + config.batchSize);
      for (const idx of batch) {
        const { pixels, label } = train[idx]!;
        const logits = predict(layers, pixels, acts);
        const max = Math.max(...logits);
        let sum = 0;
        for (let c = 0; c < logits.length; c++) sum += Math.exp(logits[c]! - max);
        lossSum += Math.log(sum) - (logits[label]! - max);
        const last = deltas[layers.length - 1]!;
        for (let c = 0; c < logits.length; c++) last[c] = Math.exp(logits[c]! - max) / sum - (c === label ? 1 : 0);
        for (let l = layers.length - 1; l >= 0; l--) {
          const input = l === 0 ? pixels : acts[l - 1]!;
          const dx = l === 0 ? undefined : deltas[l - 1]!;
          backward(layers[l]!, input, deltas[l]!, dx);
          if (dx) for (let i = 0; i < dx.length; i++) if (input[i]! <= 0) dx[i] = 0;
        }
      }
      step++;
      for (const layer of layers) adamStep(layer, step, config.learningRate, batch.length);
    }
    const accuracy = (set: MnistDigit[]): number => set.filter((d) => argmax(predict(layers, d.pixels, acts)) === d.label).length / set.length;
    log(`epoch ${epoch}/${config.epochs}: loss ${(lossSum / train.length).toFixed(4)}, test accuracy ${(100 * accuracy(test)).toFixed(2)}%`);
  }
  return layers;
}

/** Export trained layers as ONNX: x [1, 784] -> Gemm (transB = 1) + Relu, ..., -> logits [1, 10]. */
export function exportMlp(layers: Layer[]): ModelProto {
  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  let h = 'x';
  layers.forEach((layer, l) => {
    const wOutIn = new Float32Array(layer.inDim * layer.outDim);
    for (let i = 0; i < layer.inDim; i++) for (let o = 0; o < layer.outDim; o++) wOutIn[o * layer.inDim + i] = layer.w[i * layer.outDim + o]!;
    initializers.push(floatTensor(`fc${l + 1}.weight`, [layer.outDim, layer.inDim], wOutIn), floatTensor(`fc${l + 1}.bias`, [layer.outDim], layer.b));
    const last = l === layers.length - 1;
    const out = last ? 'logits' : `fc${l + 1}/gemm`;
    nodes.push(makeNode('Gemm', [h, `fc${l + 1}.weight`, `fc${l + 1}.bias`], [out], { transB: 1 }, out));
    h = out;
    if (!last) {
      h = `fc${l + 1}/relu`;
      nodes.push(makeNode('Relu', [out], [h], {}, h));
    }
  });
  return makeModel({
    name: 'edgesplit-zoo-mnist-mlp', nodes, initializers,
    inputs: [makeValueInfo('x', 'float32', [1, MNIST_PIXELS])], outputs: [makeValueInfo('logits', 'float32', [1, MNIST_MLP_DIMS[MNIST_MLP_DIMS.length - 1]!])],
  });
}

/** The input feed of a digit for each trained model: flat [1, 784] for the MLP, an image [1, 1, 28, 28] for the CNN. */
export function digitFeedDims(id: TrainedId): number[] {
  return id === 'mnist-mlp' ? [1, MNIST_PIXELS] : [1, 1, MNIST_SIDE_PX, MNIST_SIDE_PX];
}

/** Top-1 accuracy of an ONNX digit classifier (input 'x' of `dims`, output 'logits'), run in ONNX Runtime. */
export async function onnxAccuracy(model: ModelProto, digits: MnistDigit[], dims: number[] = [1, MNIST_PIXELS]): Promise<number> {
  const session = await createSession(model);
  let correct = 0;
  for (const d of digits) {
    const out = await session.run({ x: { dtype: 'float32', dims, data: d.pixels } });
    if (argmax(out['logits']!.data as Float32Array) === d.label) correct++;
  }
  await session.release();
  return correct / digits.length;
}

const TRAINERS: Record<TrainedId, { config: TrainConfig; architecture: string; train: (train: MnistDigit[], test: MnistDigit[], config: TrainConfig, log: (line: string) => void) => ModelProto }> = {
  'mnist-mlp': {
    config: MNIST_TRAIN_CONFIG,
    architecture: `MLP ${MNIST_MLP_DIMS.join('-')}: Gemm + Relu, Gemm + Relu, Gemm`,
    train: (train, test, config, log) => exportMlp(trainMlp(train, test, config, log)),
  },
  'mnist-cnn': {
    config: MNIST_CNN_TRAIN_CONFIG,
    architecture: `CNN: Conv ${MNIST_CNN.kernel}x${MNIST_CNN.kernel} (${MNIST_CNN.conv1}) + Relu + MaxPool 2, Conv ${MNIST_CNN.kernel}x${MNIST_CNN.kernel} (${MNIST_CNN.conv2}) + Relu + MaxPool 2, Flatten, Gemm ${MNIST_CNN.hidden} + Relu, Gemm ${MNIST_CNN.classes}`,
    train: (train, test, config, log) => exportCnn(trainCnn(train, test, config, log)),
  },
};

/** Train one model with its committed configuration (or `config`), export, measure in ONNX Runtime, and write <id>.onnx and <id>.json to `dir`. */
export async function trainAndSave(id: TrainedId, dir: string, log: (line: string) => void = () => {}, config: TrainConfig = TRAINERS[id].config): Promise<MnistTrainingRecord> {
  const { train, test } = mnistSplits();
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const model = TRAINERS[id].train(train, test, config, log);
  const cpu = process.cpuUsage(cpu0);
  const trainingTimeS = (performance.now() - t0) / 1000;
  const bytes = await saveModel(model, join(dir, `${id}.onnx`));
  const dims = digitFeedDims(id);
  const record: MnistTrainingRecord = {
    model: id, file: `${id}.onnx`, sha256: createHash('sha256').update(bytes).digest('hex'),
    architecture: TRAINERS[id].architecture,
    input: `x: float32 [${dims.join(', ')}], pixels in [0, 1] (1 = ink), row-major 28 x 28`, output: 'logits: float32 [1, 10]',
    split: `mnist package, per digit class: the first ${MNIST_TRAIN_SHARE * 100}% of its samples (range()) train, the rest test`,
    trainDigits: train.length, testDigits: test.length,
    trainAccuracy: await onnxAccuracy(model, train, dims), testAccuracy: await onnxAccuracy(model, test, dims),
    epochs: config.epochs, batchSize: config.batchSize, optimizer: 'Adam (beta1 0.9, beta2 0.999), softmax cross-entropy, He-normal init',
    learningRate: config.learningRate, seed: config.seed,
    trainingTimeS: Math.round(trainingTimeS * 10) / 10, trainingCpuS: Math.round((cpu.user + cpu.system) / 1e5) / 10,
    command: MNIST_TRAIN_COMMAND,
  };
  await writeFile(join(dir, `${id}.json`), JSON.stringify(record, null, 2) + '\n');
  return record;
}

/** Read and check a committed record (planner/zoo/models/<id>.json by default). */
export async function readMnistRecord(id: TrainedId, dir: string = ZOO_MODELS_DIR): Promise<MnistTrainingRecord> {
  const path = join(dir, `${id}.json`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (cause) {
    throw new EdgesplitError('ERR_FILE_READ', `cannot read ${path}: ${(cause as Error).message}. Regenerate it with '${MNIST_TRAIN_COMMAND}'.`, { cause, details: { path } });
  }
  const r = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Partial<Record<keyof MnistTrainingRecord, unknown>>;
  const numbers = ['trainAccuracy', 'testAccuracy', 'epochs', 'batchSize', 'learningRate', 'seed', 'trainingTimeS', 'trainingCpuS', 'trainDigits', 'testDigits'] as const;
  const bad = numbers.filter((k) => typeof r[k] !== 'number');
  if (r.model !== id || typeof r.sha256 !== 'string' || bad.length > 0) {
    throw new EdgesplitError('ERR_FILE_READ', `${path} is not a ${id} training record${bad.length ? ` (missing or non-numeric: ${bad.join(', ')})` : ''}. Regenerate it with '${MNIST_TRAIN_COMMAND}'.`, { details: { path } });
  }
  // NOTE: the fields checked above are the ones callers read; the rest are descriptive text.
  return parsed as MnistTrainingRecord;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { only: { type: 'string' } } });
  const ids = Object.keys(TRAINERS) as TrainedId[];
  const chosen = values.only === undefined ? ids : ids.filter((id) => id === values.only);
  if (chosen.length === 0) {
    process.stderr.write(`train-mnist: --only expects one of ${ids.join(', ')}, got '${values.only}'.\n`);
    process.exit(2);
  }
  for (const id of chosen) {
    const record = await trainAndSave(id, ZOO_MODELS_DIR, (line) => process.stderr.write(`${id} ${line}\n`));
    process.stdout.write(`wrote ${join(ZOO_MODELS_DIR, record.file)}: test accuracy ${(100 * record.testAccuracy).toFixed(2)}%, train ${(100 * record.trainAccuracy).toFixed(2)}%, ${record.trainingTimeS} s of training (${record.trainingCpuS} s CPU)\n`);
  }
}
