// The ONNX protobuf classes, re-exported once so that the rest of the planner imports them from here.
// NOTE: onnx-proto is a CommonJS bundle; its named export is only reachable through the default import.
import onnxProto from 'onnx-proto';

export const onnx = onnxProto.onnx;
// eslint-disable-next-line @typescript-eslint/no-namespace
export type { onnx as OnnxTypes } from 'onnx-proto';
