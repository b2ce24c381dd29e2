// Number formatting and small statistics for the paragraphs under the plots (significant digits, ratios,
// percentages, medians, quantiles), so that generated prose reads well and is identical for identical data.

/** `n` to `digits` significant digits, without trailing zeros; exponent form for very small or large values. */
export function sig(n: number, digits = 3): string {
  if (!Number.isFinite(n)) return String(n);
  if (n === 0) return '0';
  const a = Math.abs(n);
  if (a < 1e-3 || a >= 1e6) {
    const [m, e] = n.toExponential(digits - 1).split('e');
    return `${String(Number(m))}e${Number(e)}`;
  }
  return String(Number(n.toPrecision(digits)));
}

/** A ratio such as "4.1x"; "inf" when the denominator is zero. */
export function times(numerator: number, denominator: number): string {
  if (denominator === 0) return numerator === 0 ? '1x' : 'inf';
  const r = numerator / denominator;
  return `${r >= 100 ? String(Number(r.toPrecision(2))) : sig(r, 2)}x`;
}

/** A share in [0, 1] as a percentage such as "42%" or "3.5%". */
export function percent(share: number, digits = 2): string {
  return `${sig(share * 100, digits)}%`;
}

/** A list in prose: "a", "a and b", "a, b and c". */
export function prose(items: readonly string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

/** Median of numbers (the mean of the middle two for an even count); NaN for none. */
export function median(xs: readonly number[]): number {
  return quantile([...xs].sort((a, b) => a - b), 0.5);
}

/** The q-quantile (0 to 1) of ascending numbers, interpolated linearly between ranks; NaN for none. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}
