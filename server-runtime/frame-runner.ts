// Runs a session for one request and, when the request asks for it, returns the result frame to send
// as well: shared by the session worker threads (worker.ts) and the main-thread session (inline-session.ts).
import { EdgesplitError } from '../shared/errors.ts';
import { type TensorShape, type WireTensor, encodeFrame, layoutResultFrame } from '../shared/protocol.ts';
import type { RunSession } from './session.ts';
import type { ResultFrameSpec } from './worker-session.ts';

/** A finished run: the outputs in session order (empty when they come as `frame`), the result frame when asked for, and the run's time. */
export interface FrameRun {
  tensors: WireTensor[];
  frame?: Uint8Array;
  runMs: number;
}

/** Whether an output has the dtype and dims the result frame is laid out for. */
function sameShape(t: WireTensor, shape: TensorShape | undefined): boolean {
  return shape !== undefined && t.dtype === shape.dtype && t.dims.length === shape.dims.length && t.dims.every((d, i) => d === shape.dims[i]);
}

export class FrameRunner {
  // NOTE: undefined until the first run encoded as a result frame: the model's output shapes may be
  // symbolic, so ONNX Runtime writes into a frame laid out ahead only once a run has shown that the
  // outputs have the shapes the plan gives (the inputs are checked against the plan's exact shapes).
  private preallocate: boolean | undefined;

  constructor(private readonly session: RunSession) {}

  /** ERR_INFERENCE_FAILED when `spec` names outputs the session does not have; undefined when it fits. */
  misfit(spec: ResultFrameSpec | undefined): EdgesplitError | undefined {
    if (!spec || spec.outputOrder.every((i) => Number.isInteger(i) && i >= 0 && i < this.session.outputNames.length)) return undefined;
    return new EdgesplitError('ERR_INFERENCE_FAILED', `the result frame asks for outputs [${spec.outputOrder.join(', ')}] of a session with ${this.session.outputNames.length} outputs`);
  }

  /** Run `tensors` (started at `startedAtEpochMs`); with `spec`, return the encoded result frame instead of the outputs. Check `spec` with misfit() first. */
  async run(tensors: readonly WireTensor[], spec: ResultFrameSpec | undefined, startedAtEpochMs: number): Promise<FrameRun> {
    const layout = spec && this.preallocate ? layoutResultFrame(spec.requestId, spec.outputs) : undefined;
    const into: Array<WireTensor | undefined> = [];
    if (layout && spec) for (const [k, i] of spec.outputOrder.entries()) into[i] = { ...spec.outputs[k]!, dims: [...spec.outputs[k]!.dims], data: layout.tensorData[k]! };
    const t0 = performance.now();
    const outputs = await this.session.run(tensors, layout ? into : undefined);
    const runMs = performance.now() - t0;
    if (!spec) return { tensors: outputs, runMs };
    const timing = { queueMs: Math.max(0, startedAtEpochMs - spec.acceptedAtEpochMs), runMs };
    if (layout) {
      layout.setTiming(timing);
      return { tensors: [], frame: layout.bytes, runMs };
    }
    const ordered = spec.outputOrder.map((i) => outputs[i]!);
    this.preallocate ??= ordered.every((t, k) => sameShape(t, spec.outputs[k]));
    return { tensors: [], frame: encodeFrame({ type: 'result', requestId: spec.requestId, tensors: ordered, timing }), runMs };
  }
}
