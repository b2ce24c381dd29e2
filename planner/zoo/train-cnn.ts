// Trains the zoo's small MNIST CNN in plain TypeScript (two Conv + MaxPool stages, two Gemm layers),
// deterministically, and exports it to ONNX. train-mnist.ts runs it beside the MLP.
import { floatTensor, makeModel, makeNode, makeValueInfo, type ModelProto, type NodeProto, type TensorProto } from '../onnx/model.ts';
import { Rng } from '../util/rng.ts';
import { MNIST_SIDE_PX, type MnistDigit } from './mnist.ts';
import type { TrainConfig } from './train-mnist.ts';

/** The CNN's shape: Conv 5x5 (8) - Relu - MaxPool 2 - Conv 5x5 (16) - Relu - MaxPool 2 - Gemm 64 - Relu - Gemm 10. */
export const MNIST_CNN = { conv1: 8, conv2: 16, kernel: 5, hidden: 64, classes: 10 } as const;

/** Side of the feature map after the second pooling: (((28 - 5 + 1) / 2) - 5 + 1) / 2 = 4. */
const FINAL_SIDE_PX = ((MNIST_SIDE_PX - MNIST_CNN.kernel + 1) / 2 - MNIST_CNN.kernel + 1) / 2;

/** The CNN's parameter count (weights and biases of its four layers). */
export const MNIST_CNN_PARAMS = (() => {
  const { conv1, conv2, kernel: k, hidden, classes } = MNIST_CNN;
  const flat = conv2 * FINAL_SIDE_PX * FINAL_SIDE_PX;
  return (conv1 * k * k + conv1) + (conv2 * conv1 * k * k + conv2) + (hidden * flat + hidden) + (classes * hidden + classes);
})();

/** A trainable tensor with its gradient and Adam moments. */
interface Param {
  name: string;
  dims: number[];
  p: Float32Array;
  g: Float32Array;
  m: Float32Array;
  v: Float32Array;
}

function param(name: string, dims: number[], rng: Rng | undefined, fanIn: number): Param {
  const n = dims.reduce((a, b) => a * b, 1);
  const p = new Float32Array(n);
  if (rng) {
    const std = Math.sqrt(2 / fanIn);
    for (let i = 0; i < n; i++) p[i] = rng.normal() * std;
  }
  return { name, dims, p, g: new Float32Array(n), m: new Float32Array(n), v: new Float32Array(n) };
}

/** Valid (unpadded) convolution, stride 1: in [ci, h, w] -> out [co, h - k + 1, w - k + 1]. */
function convForward(input: Float32Array, ci: number, h: number, w: Param, b: Param, co: number, k: number, out: Float32Array): void {
  const oh = h - k + 1;
  const plane = oh * oh;
  for (let o = 0; o < co; o++) out.fill(b.p[o]!, o * plane, (o + 1) * plane);
  for (let o = 0; o < co; o++) {
    for (let c = 0; c < ci; c++) {
      for (let ky = 0; ky < k; ky++) {
        for (let kx = 0; kx < k; kx++) {
          const wv = w.p[((o * ci + c) * k + ky) * k + kx]!;
          for (let y = 0; y < oh; y++) {
            const src = c * h * h + (y + ky) * h + kx;
            const dst = o * plane + y * oh;
            for (let x = 0; x < oh; x++) out[dst + x]! += wv * input[src + x]!;
          }
        }
      }
    }
  }
}

/** Gradients of a valid convolution: accumulates into w.g and b.g, writes dL/dinput into `dIn` when given. */
function convBackward(input: Float32Array, ci: number, h: number, w: Param, b: Param, co: number, k: number, dOut: Float32Array, dIn?: Float32Array): void {
  const oh = h - k + 1;
  const plane = oh * oh;
  dIn?.fill(0);
  for (let o = 0; o < co; o++) {
    let sum = 0;
    for (let i = 0; i < plane; i++) sum += dOut[o * plane + i]!;
    b.g[o]! += sum;
    for (let c = 0; c < ci; c++) {
      for (let ky = 0; ky < k; ky++) {
        for (let kx = 0; kx < k; kx++) {
          const wi = ((o * ci + c) * k + ky) * k + kx;
          const wv = w.p[wi]!;
          let gw = 0;
          for (let y = 0; y < oh; y++) {
            const src = c * h * h + (y + ky) * h + kx;
            const dst = o * plane + y * oh;
            for (let x = 0; x < oh; x++) {
              const d = dOut[dst + x]!;
              gw += d * input[src + x]!;
              if (dIn) dIn[src + x]! += wv * d;
            }
          }
          w.g[wi]! += gw;
        }
      }
    }
  }
}

/** Relu then 2x2 max pooling: in [c, h, h] -> out [c, h/2, h/2]; `arg` keeps each winner's index (-1 when all <= 0). */
function reluPoolForward(input: Float32Array, c: number, h: number, out: Float32Array, arg: Int32Array): void {
  const oh = h / 2;
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < oh; y++) {
      for (let x = 0; x < oh; x++) {
        let best = 0;
        let at = -1;
        for (let dy = 0; dy < 2; dy++) {
          for (let dx = 0; dx < 2; dx++) {
            const i = ch * h * h + (2 * y + dy) * h + 2 * x + dx;
            if (input[i]! > best) {
              best = input[i]!;
              at = i;
            }
          }
        }
        out[ch * oh * oh + y * oh + x] = best;
        arg[ch * oh * oh + y * oh + x] = at;
      }
    }
  }
}

function reluPoolBackward(dOut: Float32Array, arg: Int32Array, dIn: Float32Array): void {
  dIn.fill(0);
  for (let i = 0; i < dOut.length; i++) if (arg[i]! >= 0) dIn[arg[i]!]! += dOut[i]!;
}

/** Dense y = W x + b with W [out, in]. */
function denseForward(x: Float32Array, w: Param, b: Param, out: Float32Array): void {
  const inDim = x.length;
  for (let o = 0; o < out.length; o++) {
    let s = b.p[o]!;
    const row = o * inDim;
    for (let i = 0; i < inDim; i++) s += w.p[row + i]! * x[i]!;
    out[o] = s;
  }
}

function denseBackward(x: Float32Array, w: Param, b: Param, dOut: Float32Array, dIn: Float32Array): void {
  const inDim = x.length;
  dIn.fill(0);
  for (let o = 0; o < dOut.length; o++) {
    const d = dOut[o]!;
    b.g[o]! += d;
    const row = o * inDim;
    for (let i = 0; i < inDim; i++) {
      w.g[row + i]! += d * x[i]!;
      dIn[i]! += d * w.p[row + i]!;
    }
  }
}

/** The trained CNN's parameters in ONNX layouts (Conv [co, ci, k, k], Gemm [out, in]). */
export interface CnnWeights {
  params: Param[];
}

/**
 * Train the CNN with softmax cross-entropy and Adam, seeded init and shuffling; deterministic.
 * `log` receives one line per epoch with the test accuracy.
 */
export function trainCnn(train: MnistDigit[], test: MnistDigit[], config: TrainConfig, log: (line: string) => void = () => {}): CnnWeights {
  const { conv1: c1, conv2: c2, kernel: k, hidden, classes } = MNIST_CNN;
  const rng = new Rng(config.seed);
  const s0 = MNIST_SIDE_PX;
  const s1 = s0 - k + 1;
  const p1 = s1 / 2;
  const s2 = p1 - k + 1;
  const p2 = s2 / 2;
  const flat = c2 * p2 * p2;
  const w1 = param('conv1.weight', [c1, 1, k, k], rng, k * k);
  const b1 = param('conv1.bias', [c1], undefined, 1);
  const w2 = param('conv2.weight', [c2, c1, k, k], rng, c1 * k * k);
  const b2 = param('conv2.bias', [c2], undefined, 1);
  const w3 = param('fc1.weight', [hidden, flat], rng, flat);
  const b3 = param('fc1.bias', [hidden], undefined, 1);
  const w4 = param('fc2.weight', [classes, hidden], rng, hidden);
  const b4 = param('fc2.bias', [classes], undefined, 1);
  const params = [w1, b1, w2, b2, w3, b3, w4, b4];

  const a1 = new Float32Array(c1 * s1 * s1);
  const q1 = new Float32Array(c1 * p1 * p1);
  const arg1 = new Int32Array(q1.length);
  const a2 = new Float32Array(c2 * s2 * s2);
  const q2 = new Float32Array(flat);
  const arg2 = new Int32Array(flat);
  const h3 = new Float32Array(hidden);
  const logits = new Float32Array(classes);
  const dLogits = new Float32Array(classes);
  const dH3 = new Float32Array(hidden);
  const dQ2 = new Float32Array(flat);
  const dA2 = new Float32Array(a2.length);
  const dQ1 = new Float32Array(q1.length);
  const dA1 = new Float32Array(a1.length);

  const forward = (pixels: Float32Array): Float32Array => {
    convForward(pixels, 1, s0, w1, b1, c1, k, a1);
    reluPoolForward(a1, c1, s1, q1, arg1);
    convForward(q1, c1, p1, w2, b2, c2, k, a2);
    reluPoolForward(a2, c2, s2, q2, arg2);
    denseForward(q2, w3, b3, h3);
    for (let i = 0; i < hidden; i++) h3[i] = Math.max(0, h3[i]!);
    denseForward(h3, w4, b4, logits);
    return logits;
  };
  const accuracy = (set: MnistDigit[]): number => {
    let correct = 0;
    for (const d of set) {
      const out = forward(d.pixels);
      let best = 0;
      for (let c = 1; c < classes; c++) if (out[c]! > out[best]!) best = c;
      if (best === d.label) correct++;
    }
    return correct / set.length;
  };

  const order = Array.from({ length: train.length }, (_, i) => i);
  let step = 0;
  for (let epoch = 1; epoch <= config.epochs; epoch++) {
    rng.shuffle(order);
    let lossSum = 0;
    for (let start = 0; start < order.length; start += config.batchSize) {
      const batch = order.slice(start, start + config.batchSize);
      for (const idx of batch) {
        const { pixels, label } = train[idx]!;
        forward(pixels);
        let max = -Infinity;
        for (const v of logits) max = Math.max(max, v);
        let sum = 0;
        for (const v of logits) sum += Math.exp(v - max);
        lossSum += Math.log(sum) - (logits[label]! - max);
        for (let c = 0; c < classes; c++) dLogits[c] = Math.exp(logits[c]! - max) / sum - (c === label ? 1 : 0);
        denseBackward(h3, w4, b4, dLogits, dH3);
        for (let i = 0; i < hidden; i++) if (h3[i]! <= 0) dH3[i] = 0;
        denseBackward(q2, w3, b3, dH3, dQ2);
        reluPoolBackward(dQ2, arg2, dA2);
        convBackward(q1, c1, p1, w2, b2, c2, k, dA2, dQ1);
        reluPoolBackward(dQ1, arg1, dA1);
        convBackward(pixels, 1, s0, w1, b1, c1, k, dA1);
      }
      step++;
      adam(params, step, config.learningRate, batch.length);
    }
    log(`epoch ${epoch}/${config.epochs}: loss ${(lossSum / train.length).toFixed(4)}, test accuracy ${(100 * accuracy(test)).toFixed(2)}%`);
  }
  return { params };
}

function adam(params: Param[], step: number, lr: number, batch: number): void {
  const beta1 = 0.9;
  const beta2 = 0.999;
  const c1 = 1 - beta1 ** step;
  const c2 = 1 - beta2 ** step;
  for (const { p, g, m, v } of params) {
    for (let i = 0; i < p.length; i++) {
      const gi = g[i]! / batch;
      m[i] = beta1 * m[i]! + (1 - beta1) * gi;
      v[i] = beta2 * v[i]! + (1 - beta2) * gi * gi;
      p[i]! -= (lr * (m[i]! / c1)) / (Math.sqrt(v[i]! / c2) + 1e-8);
      g[i] = 0;
    }
  }
}

/**
 * Export as ONNX: x [1, 1, 28, 28] -> Conv-Relu-MaxPool -> Conv-Relu-MaxPool -> Flatten -> Gemm-Relu
 * -> Gemm -> logits [1, 10].
 */
export function exportCnn(weights: CnnWeights): ModelProto {
  const initializers: TensorProto[] = weights.params.map((q) => floatTensor(q.name, q.dims, q.p));
  const { kernel: k } = MNIST_CNN;
  const conv = { kernel_shape: [k, k], strides: [1, 1], pads: [0, 0, 0, 0] };
  const pool = { kernel_shape: [2, 2], strides: [2, 2] };
  const nodes: NodeProto[] = [
    makeNode('Conv', ['x', 'conv1.weight', 'conv1.bias'], ['conv1/conv'], conv),
    makeNode('Relu', ['conv1/conv'], ['conv1/relu']),
    makeNode('MaxPool', ['conv1/relu'], ['conv1/maxpool'], pool),
    makeNode('Conv', ['conv1/maxpool', 'conv2.weight', 'conv2.bias'], ['conv2/conv'], conv),
    makeNode('Relu', ['conv2/conv'], ['conv2/relu']),
    makeNode('MaxPool', ['conv2/relu'], ['conv2/maxpool'], pool),
    makeNode('Flatten', ['conv2/maxpool'], ['flatten'], { axis: 1 }),
    makeNode('Gemm', ['flatten', 'fc1.weight', 'fc1.bias'], ['fc1/gemm'], { transB: 1 }),
    makeNode('Relu', ['fc1/gemm'], ['fc1/relu']),
    makeNode('Gemm', ['fc1/relu', 'fc2.weight', 'fc2.bias'], ['logits'], { transB: 1 }),
  ];
  return makeModel({
    name: 'edgesplit-zoo-mnist-cnn', nodes, initializers,
    inputs: [makeValueInfo('x', 'float32', [1, 1, MNIST_SIDE_PX, MNIST_SIDE_PX])], outputs: [makeValueInfo('logits', 'float32', [1, MNIST_CNN.classes])],
  });
}
