// The weight layers of a model (Conv, Gemm, MatMul with a constant weight) and their biases: the unit
// that unstructured pruning, parameter distortion, the Lipschitz bound and re-fitting speak of.
import type { ModelProto, NodeProto } from '../onnx/model.ts';
import { attrInt, tensorDims } from '../onnx/model.ts';
import { indexGraph, modelGraph } from '../onnx/graph.ts';

/** A layer with a constant weight. */
export interface WeightLayer {
  /** Name of the node (its name, or its first output). */
  node: string;
  opType: 'Conv' | 'Gemm' | 'MatMul';
  /** The weight tensor's name and dims. */
  weight: string;
  weightDims: number[];
  /**
   * The bias tensor's name: Conv's B, Gemm's C, or for MatMul the constant of the Add that alone
   * reads its output (as exporters write x @ W + b). Undefined without one.
   */
  bias: string | undefined;
  /** The node that adds the bias (the Add after a MatMul; the layer's own node otherwise). */
  biasNode: string | undefined;
  /** Input activation and output (after the bias) tensor names. */
  input: string;
  output: string;
}

function nameOf(node: NodeProto): string {
  return node.name || node.output[0] || node.opType;
}

/** Every weight layer of a model, in topological order. */
export function weightLayers(model: ModelProto, source = 'model'): WeightLayer[] {
  const index = indexGraph(modelGraph(model, source), source);
  const layers: WeightLayer[] = [];
  for (const node of index.nodes) {
    const op = node.opType;
    if ((op !== 'Conv' && op !== 'Gemm' && op !== 'MatMul') || (node.domain && node.domain !== 'ai.onnx')) continue;
    const w = index.weights.get(node.input[1] ?? '');
    if (!w || (op === 'Gemm' && attrInt(node, 'transA', 0) !== 0)) continue;
    const weightDims = tensorDims(w);
    if (op === 'MatMul' && weightDims.length !== 2) continue;
    let bias: string | undefined = node.input[2] && index.weights.has(node.input[2]) ? node.input[2] : undefined;
    let biasNode: string | undefined = bias ? nameOf(node) : undefined;
    let output = node.output[0]!;
    if (op === 'MatMul') {
      const readers = index.consumers.get(output) ?? [];
      const add = readers.length === 1 ? index.nodes[readers[0]!]! : undefined;
      const other = add?.opType === 'Add' ? add.input.find((n) => n !== output) : undefined;
      const b = other ? index.weights.get(other) : undefined;
      if (add && other && b && tensorDims(b).reduce((x, y) => x * y, 1) === weightDims[1] && tensorDims(b).at(-1) === weightDims[1] && (index.consumers.get(other)?.length ?? 0) === 1) {
        bias = other;
        biasNode = nameOf(add);
        output = add.output[0]!;
      }
    }
    layers.push({ node: nameOf(node), opType: op, weight: w.name || node.input[1]!, weightDims, bias, biasNode, input: node.input[0]!, output });
  }
  return layers;
}
