// Checks an infer frame's tensors against the plan's crossing tensors, the way Triton checks inputs:
// names first, then dtypes, then shapes, each message with what was expected and what came.
import { EdgesplitError } from '../shared/errors.ts';
import { type PlanManifest, dimsMatch } from '../shared/plan.ts';
import type { WireTensor } from '../shared/protocol.ts';

const shape = (dims: readonly number[]): string => `[${dims.join(',')}]`;

/**
 * Throw ERR_TENSOR_NAME, ERR_TENSOR_DTYPE or ERR_TENSOR_SHAPE when `tensors` do not match the
 * plan's crossing tensors; every problem of the first failing kind is listed. Returns the tensors
 * ordered as the plan lists them.
 */
export function checkCrossing(plan: PlanManifest, tensors: readonly WireTensor[]): WireTensor[] {
  const specs = plan.split.crossing;
  const byName = new Map<string, WireTensor>();
  const names: string[] = [];
  for (const t of tensors) {
    if (byName.has(t.name)) names.push(`input '${t.name}' sent twice`);
    byName.set(t.name, t);
  }
  const expected = new Set(specs.map((s) => s.name));
  for (const s of specs) if (!byName.has(s.name)) names.push(`missing input '${s.name}'`);
  for (const t of byName.values()) if (!expected.has(t.name)) names.push(`unexpected input '${t.name}'`);
  if (names.length > 0) {
    throw new EdgesplitError('ERR_TENSOR_NAME', `${names.join('; ')} for plan '${plan.planId}'. Expected inputs: ${specs.map((s) => `'${s.name}'`).join(', ')}.`, { details: { expected: specs.map((s) => s.name), got: tensors.map((t) => t.name) } });
  }
  const ordered = specs.map((s) => byName.get(s.name)).filter((t): t is WireTensor => t !== undefined);
  const dtypes = specs.flatMap((s, i) => (ordered[i]!.dtype === s.dtype ? [] : [`unexpected datatype ${ordered[i]!.dtype} for input '${s.name}' of plan '${plan.planId}'. Expected ${s.dtype}`]));
  if (dtypes.length > 0) throw new EdgesplitError('ERR_TENSOR_DTYPE', `${dtypes.join('; ')}.`);
  const shapes = specs.flatMap((s, i) => (dimsMatch(s.dims, ordered[i]!.dims) ? [] : [`unexpected shape for input '${s.name}' of plan '${plan.planId}'. Expected ${shape(s.dims)}, got ${shape(ordered[i]!.dims)}`]));
  if (shapes.length > 0) throw new EdgesplitError('ERR_TENSOR_SHAPE', `${shapes.join('; ')}.`);
  return ordered;
}
