// The budgets a plan must meet: latency per inference, device energy per inference, device memory.
import { EdgesplitError } from '../../shared/errors.ts';
import { FieldReader } from './profiles.ts';
import { throwIssues } from './units.ts';

/** Budgets in SI units. Without `memoryBytes` the device profile's memory is the limit. */
export interface Budgets {
  latencyS: number;
  energyJ: number;
  memoryBytes?: number;
}

/** The budgets as users write them: quantities with units ("300 ms", "2 J", "256 MB") or SI numbers. */
export interface BudgetsInput {
  latency?: unknown;
  energy?: unknown;
  memory?: unknown;
}

/** Read budgets into `r` (problems recorded there, fields prefixed by `field`). */
export function readBudgets(r: FieldReader, input: BudgetsInput, field: string): Budgets | undefined {
  const at = (k: string): string => (field ? `${field}.${k}` : k);
  const before = r.issues.length;
  const latencyS = r.quantity(input.latency, at('latency'), 'time', { min: 0, exclusiveMin: true });
  const energyJ = r.quantity(input.energy, at('energy'), 'energy', { min: 0, exclusiveMin: true });
  const memoryBytes = r.quantity(input.memory, at('memory'), 'bytes', { min: 0, exclusiveMin: true, optional: true });
  if (r.issues.length > before || latencyS === undefined || energyJ === undefined) return undefined;
  return { latencyS, energyJ, ...(memoryBytes !== undefined ? { memoryBytes } : {}) };
}

/**
 * Validate budgets: `parseBudgets({ latency: "300ms", energy: "2J", memory: "256MB" })`.
 * Throws ERR_BUDGET_INVALID naming every missing, malformed or non-positive budget.
 */
export function parseBudgets(input: BudgetsInput): Budgets {
  const r = new FieldReader('ERR_BUDGET_INVALID');
  const b = readBudgets(r, input, '');
  // NOTE: a budget with a wrong unit is reported as ERR_BUDGET_INVALID, not ERR_UNIT: for a
  // budget the user's fix is the same either way, and one code per input kind is easier to handle.
  throwIssues(r.issues.map((i) => ({ ...i, code: 'ERR_BUDGET_INVALID' as const })), 'ERR_BUDGET_INVALID', 'budgets');
  if (!b) throw new EdgesplitError('ERR_INTERNAL', 'budgets passed validation but could not be read');
  return b;
}
