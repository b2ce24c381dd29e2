// The one check of a pruning ratio, shared by structured and unstructured pruning and the closed form.
import { EdgesplitError } from '../../shared/errors.ts';

/** ERR_PRUNE_RATIO unless ratio is a number in [0, 1). */
export function checkRatio(ratio: number, what = 'ratio'): void {
  if (typeof ratio !== 'number' || !Number.isFinite(ratio) || ratio < 0 || ratio >= 1) {
    throw new EdgesplitError('ERR_PRUNE_RATIO', `'${what}' is out of range [0, 1), got ${String(ratio)}. Give the share of prunable weights to remove, e.g. 0.5.`, { details: { ratio } });
  }
}
