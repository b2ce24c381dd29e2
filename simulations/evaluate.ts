// Run a (pruned) zoo model over a labelled set in ONNX Runtime and score it with the zoo's task
// metric, beside the unpruned model's answers: the figures of the accuracy study.
import type { ModelProto } from '../planner/onnx/model.ts';
import { createSession } from '../planner/onnx/session.ts';
import type { LabelledSet, TaskMetric } from '../planner/zoo/index.ts';

/** A model's answers on a set, and its mean task score. */
export interface Evaluation {
  /** Mean task score in [0, 1] (top-1 accuracy, or characters correct). */
  score: number;
  /** The model's answer per input (a class or a text). */
  answers: Array<number | string>;
}

/** Run `model` on every input of `set` (one session, one thread) and score it with `metric`. */
export async function evaluateModel(model: ModelProto, set: LabelledSet, metric: TaskMetric): Promise<Evaluation> {
  const session = await createSession(model, { threads: 1 });
  try {
    let total = 0;
    const answers: Array<number | string> = [];
    for (let i = 0; i < set.inputs.length; i++) {
      const outputs = await session.run(set.inputs[i]!, [metric.output]);
      total += metric.score(outputs, set.labels[i]!);
      answers.push(metric.decode(outputs));
    }
    return { score: set.inputs.length === 0 ? 0 : total / set.inputs.length, answers };
  } finally {
    await session.release();
  }
}

/** Share of inputs on which two evaluations give the same answer (top-1 agreement; same text for OCR). */
export function agreement(a: Evaluation, b: Evaluation): number {
  const n = Math.min(a.answers.length, b.answers.length);
  let same = 0;
  for (let i = 0; i < n; i++) if (a.answers[i] === b.answers[i]) same++;
  return n === 0 ? 0 : same / n;
}
