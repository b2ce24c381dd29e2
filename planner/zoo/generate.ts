// The zoo's generated models: an MLP, a small residual CNN and a small transformer encoder, built as
// ONNX graphs from fixed seeds with Laplace weights. Small enough for any test, real in structure.
import { floatTensor, int64Tensor, makeModel, makeNode, makeValueInfo, type ModelProto, type NodeProto, type TensorProto } from '../onnx/model.ts';
import { Rng } from '../util/rng.ts';

/** The seeds the zoo builds its generated models with; a model is a pure function of its seed. */
export const GENERATED_SEEDS = { mlp: 101, cnn: 202, transformer: 303 } as const;

/** Shapes of the generated models (batch 1, every dimension concrete). */
export const MLP_DIMS = [64, 128, 128, 10] as const;
export const CNN_INPUT_SHAPE = [1, 3, 32, 32] as const;
/**
 * Channels of the generated CNN: the stem and the residual block, then the head conv.
 * NOTE: multiples of 16, and wide enough that halving them keeps multiples of 16. ONNX Runtime's
 * blocked (NCHWc) convolutions pad channels to the CPU's SIMD block (16 on AVX-512), so in a CNN of
 * 16 channels a pruned layer costs about what the whole one did; at these widths pruning with
 * `roundTo: 16` turns saved FLOPs into saved time (docs/pruning.md).
 */
export const CNN_CHANNELS = { body: 48, head: 96 } as const;
export const TRANSFORMER = { tokens: 16, patchFeatures: 48, dim: 32, heads: 4, ffnDim: 64, blocks: 2, classes: 10 } as const;

/** Collects the nodes and weights of a graph under construction, drawing weights from one Rng. */
class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  constructor(readonly rng: Rng) {}

  /**
   * A Laplace weight tensor. NOTE: b = 1/sqrt(fan_in) gives variance 2/fan_in (He scaling) for a
   * layer followed by Relu, which halves the second moment; `gain` 0.5 in the variance (b =
   * 1/sqrt(2 fan_in)) is used where no Relu follows. Activations then stay of order 1 in depth.
   */
  weight(name: string, dims: number[], fanIn: number, relu = true): string {
    const b = relu ? 1 / Math.sqrt(fanIn) : 1 / Math.sqrt(2 * fanIn);
    this.initializers.push(floatTensor(name, dims, this.rng.laplaceArray(dims.reduce((a, c) => a * c, 1), b)));
    return name;
  }

  /** A small Laplace bias (b = 0.05): trained biases are rarely zero. */
  bias(name: string, n: number): string {
    this.initializers.push(floatTensor(name, [n], this.rng.laplaceArray(n, 0.05)));
    return name;
  }

  /** A float constant from given values. */
  constant(name: string, dims: number[], data: Float32Array | number[]): string {
    this.initializers.push(floatTensor(name, dims, data));
    return name;
  }

  /** An int64 constant (Reshape shapes). */
  ints(name: string, data: number[]): string {
    this.initializers.push(int64Tensor(name, [data.length], data));
    return name;
  }

  node(op: string, inputs: string[], output: string, attrs: Parameters<typeof makeNode>[3] = {}): string {
    this.nodes.push(makeNode(op, inputs, [output], attrs, output));
    return output;
  }

  /** BatchNormalization with non-trivial running statistics, as a trained network has. */
  batchNorm(prefix: string, input: string, channels: number): string {
    const r = this.rng;
    const gamma = Float32Array.from({ length: channels }, () => r.uniform(0.7, 1.3));
    const beta = Float32Array.from({ length: channels }, () => r.laplace(0.1));
    const mean = Float32Array.from({ length: channels }, () => r.laplace(0.2));
    const variance = Float32Array.from({ length: channels }, () => r.uniform(0.5, 2));
    return this.node('BatchNormalization', [
      input, this.constant(`${prefix}.weight`, [channels], gamma), this.constant(`${prefix}.bias`, [channels], beta),
      this.constant(`${prefix}.running_mean`, [channels], mean), this.constant(`${prefix}.running_var`, [channels], variance),
    ], `${prefix}/bn`, { epsilon: 1e-5 });
  }

  /** A 3x3 convolution with padding 1 (same spatial size unless strided). */
  conv3x3(prefix: string, input: string, cin: number, cout: number, relu: boolean): string {
    return this.node('Conv', [input, this.weight(`${prefix}.weight`, [cout, cin, 3, 3], cin * 9, relu), this.bias(`${prefix}.bias`, cout)],
      `${prefix}/conv`, { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [1, 1] });
  }

  /** A fully connected layer as Gemm with transB = 1 (weights [out, in], as PyTorch exports). */
  gemm(prefix: string, input: string, fanIn: number, out: number, relu: boolean, output?: string): string {
    return this.node('Gemm', [input, this.weight(`${prefix}.weight`, [out, fanIn], fanIn, relu), this.bias(`${prefix}.bias`, out)],
      output ?? `${prefix}/gemm`, { transB: 1 });
  }

  /** x @ W + b with W [in, out] (MatMul then Add, as transformer exporters write it). */
  linear(prefix: string, input: string, fanIn: number, out: number, relu: boolean): string {
    const mm = this.node('MatMul', [input, this.weight(`${prefix}.weight`, [fanIn, out], fanIn, relu)], `${prefix}/matmul`);
    return this.node('Add', [mm, this.bias(`${prefix}.bias`, out)], `${prefix}/add`);
  }

  /** LayerNormalization over the last axis (opset 17). */
  layerNorm(prefix: string, input: string, dim: number): string {
    const r = this.rng;
    const gamma = Float32Array.from({ length: dim }, () => r.uniform(0.8, 1.2));
    const beta = Float32Array.from({ length: dim }, () => r.laplace(0.05));
    return this.node('LayerNormalization', [input, this.constant(`${prefix}.weight`, [dim], gamma), this.constant(`${prefix}.bias`, [dim], beta)],
      `${prefix}/ln`, { axis: -1, epsilon: 1e-5 });
  }
}

/** The generated MLP: x [1, 64] -> Gemm+Relu 128 -> Gemm+Relu 128 -> Gemm 10 -> logits [1, 10]. */
export function generateMlp(seed: number = GENERATED_SEEDS.mlp): ModelProto {
  const g = new GraphBuilder(new Rng(seed));
  let h = 'x';
  for (let i = 0; i < MLP_DIMS.length - 1; i++) {
    const last = i === MLP_DIMS.length - 2;
    h = g.gemm(`fc${i + 1}`, h, MLP_DIMS[i]!, MLP_DIMS[i + 1]!, !last, last ? 'logits' : undefined);
    if (!last) h = g.node('Relu', [h], `fc${i + 1}/relu`);
  }
  return makeModel({
    name: 'edgesplit-zoo-mlp', nodes: g.nodes, initializers: g.initializers,
    inputs: [makeValueInfo('x', 'float32', [1, MLP_DIMS[0]])], outputs: [makeValueInfo('logits', 'float32', [1, MLP_DIMS[MLP_DIMS.length - 1]!])],
  });
}

/**
 * The generated CNN: x [1, 3, 32, 32] -> stem Conv-BN-Relu (48 ch) -> MaxPool 2 -> residual block
 * (Conv-BN-Relu-Conv-BN + skip, Relu) -> Conv-BN-Relu (96 ch) -> AveragePool 2 -> GlobalAveragePool
 * -> Flatten -> Gemm 10 -> logits [1, 10].
 */
export function generateCnn(seed: number = GENERATED_SEEDS.cnn): ModelProto {
  const { body: C, head: H } = CNN_CHANNELS;
  const g = new GraphBuilder(new Rng(seed));
  let h = g.conv3x3('stem.conv', 'x', 3, C, true);
  h = g.batchNorm('stem.bn', h, C);
  h = g.node('Relu', [h], 'stem/relu');
  const skip = g.node('MaxPool', [h], 'stem/maxpool', { kernel_shape: [2, 2], strides: [2, 2] });
  h = g.conv3x3('res.conv1', skip, C, C, true);
  h = g.batchNorm('res.bn1', h, C);
  h = g.node('Relu', [h], 'res/relu1');
  h = g.conv3x3('res.conv2', h, C, C, false);
  h = g.batchNorm('res.bn2', h, C);
  h = g.node('Add', [h, skip], 'res/add');
  h = g.node('Relu', [h], 'res/relu2');
  h = g.conv3x3('head.conv', h, C, H, true);
  h = g.batchNorm('head.bn', h, H);
  h = g.node('Relu', [h], 'head/relu');
  h = g.node('AveragePool', [h], 'head/avgpool', { kernel_shape: [2, 2], strides: [2, 2] });
  h = g.node('GlobalAveragePool', [h], 'head/gap');
  h = g.node('Flatten', [h], 'head/flatten', { axis: 1 });
  g.gemm('fc', h, H, 10, false, 'logits');
  return makeModel({
    name: 'edgesplit-zoo-cnn', nodes: g.nodes, initializers: g.initializers,
    inputs: [makeValueInfo('x', 'float32', [...CNN_INPUT_SHAPE])], outputs: [makeValueInfo('logits', 'float32', [1, 10])],
  });
}

/**
 * The generated transformer encoder: x [1, 16, 48] (16 patches of 48 features) -> MatMul embedding
 * to 32 dims + learned positions -> 2 pre-LayerNorm blocks (4-head self-attention written as
 * MatMul/Reshape/Transpose/Softmax, FFN 32-64-32 with Relu, residual Adds) -> LayerNorm -> mean over
 * tokens -> MatMul classifier -> logits [1, 10].
 */
export function generateTransformer(seed: number = GENERATED_SEEDS.transformer): ModelProto {
  const { tokens: T, patchFeatures: P, dim: D, heads: H, ffnDim: F, blocks, classes } = TRANSFORMER;
  const hd = D / H;
  const g = new GraphBuilder(new Rng(seed));
  const headsShape = g.ints('shape.heads', [1, T, H, hd]);
  const tokensShape = g.ints('shape.tokens', [1, T, D]);
  const scale = g.constant('attn.scale', [], [1 / Math.sqrt(hd)]);
  let h = g.linear('embed', 'x', P, D, false);
  h = g.node('Add', [h, g.constant('embed.positions', [1, T, D], g.rng.laplaceArray(T * D, 0.1))], 'embed/pos');
  for (let b = 0; b < blocks; b++) {
    const p = `block${b}`;
    const a = g.layerNorm(`${p}.ln1`, h, D);
    const split = (name: string, perm: number[]): string => {
      const lin = g.linear(`${p}.attn.${name}`, a, D, D, false);
      const r = g.node('Reshape', [lin, headsShape], `${p}.attn.${name}/reshape`);
      return g.node('Transpose', [r], `${p}.attn.${name}/transpose`, { perm });
    };
    const q = split('q', [0, 2, 1, 3]);
    const kT = split('k', [0, 2, 3, 1]);
    const v = split('v', [0, 2, 1, 3]);
    const scores = g.node('Mul', [g.node('MatMul', [q, kT], `${p}.attn/scores`), scale], `${p}.attn/scaled`);
    const probs = g.node('Softmax', [scores], `${p}.attn/softmax`, { axis: -1 });
    const ctx = g.node('Transpose', [g.node('MatMul', [probs, v], `${p}.attn/context`)], `${p}.attn/context_t`, { perm: [0, 2, 1, 3] });
    const merged = g.node('Reshape', [ctx, tokensShape], `${p}.attn/merge`);
    h = g.node('Add', [h, g.linear(`${p}.attn.out`, merged, D, D, false)], `${p}/residual1`);
    const f = g.layerNorm(`${p}.ln2`, h, D);
    const f1 = g.node('Relu', [g.linear(`${p}.ffn.fc1`, f, D, F, true)], `${p}.ffn/relu`);
    h = g.node('Add', [h, g.linear(`${p}.ffn.fc2`, f1, F, D, false)], `${p}/residual2`);
  }
  h = g.layerNorm('final.ln', h, D);
  h = g.node('ReduceMean', [h], 'pool/mean', { axes: [1], keepdims: 0 });
  const mm = g.node('MatMul', [h, g.weight('classifier.weight', [D, classes], D, false)], 'classifier/matmul');
  g.node('Add', [mm, g.bias('classifier.bias', classes)], 'logits');
  return makeModel({
    name: 'edgesplit-zoo-transformer', nodes: g.nodes, initializers: g.initializers,
    inputs: [makeValueInfo('x', 'float32', [1, T, P])], outputs: [makeValueInfo('logits', 'float32', [1, classes])],
  });
}
