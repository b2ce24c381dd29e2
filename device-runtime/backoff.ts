// Capped exponential backoff with full jitter, for reconnecting and for retrying overloaded requests.
// Pure and browser-safe; the random source is injectable so tests can pin the delays.
import { EdgesplitError } from '../shared/errors.ts';

/** The backoff policy. */
export interface BackoffPolicy {
  /** Delay scale of the first retry in ms (attempt 0 waits up to this). Default 100. */
  baseMs: number;
  /** Largest delay in ms, however many attempts came before. Default 5000. */
  capMs: number;
  /** Attempts before giving up (ERR_SERVER_UNREACHABLE for connects). Default 8. */
  maxAttempts: number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffPolicy> = Object.freeze({ baseMs: 100, capMs: 5000, maxAttempts: 8 });

/**
 * Ceiling of the delay before retry number `attempt` (0-based): min(capMs, baseMs * 2^attempt).
 */
export function backoffCeilingMs(policy: BackoffPolicy, attempt: number): number {
  return Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, attempt));
}

/**
 * The delay before retry number `attempt` (0-based), with "full jitter": uniform in
 * [0, min(capMs, baseMs * 2^attempt)). Full jitter spreads devices that lost the same server apart,
 * so they do not all reconnect in the same millisecond when it comes back.
 */
export function backoffDelayMs(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  return random() * backoffCeilingMs(policy, attempt);
}

/** Check a (partial) policy and fill in the defaults; throws ERR_USAGE naming the bad field. */
export function resolveBackoff(policy: Partial<BackoffPolicy> = {}): BackoffPolicy {
  const p: BackoffPolicy = { ...DEFAULT_BACKOFF, ...policy };
  const bad = (field: keyof BackoffPolicy, expected: string): EdgesplitError =>
    new EdgesplitError('ERR_USAGE', `'backoff.${field}' must be ${expected}, got ${p[field]}.`, { details: { field, value: p[field] } });
  if (!(Number.isFinite(p.baseMs) && p.baseMs >= 0)) throw bad('baseMs', 'a number >= 0');
  if (!(Number.isFinite(p.capMs) && p.capMs >= p.baseMs)) throw bad('capMs', `a number >= baseMs (${p.baseMs})`);
  if (!(Number.isInteger(p.maxAttempts) && p.maxAttempts >= 1)) throw bad('maxAttempts', 'an integer >= 1');
  return p;
}
