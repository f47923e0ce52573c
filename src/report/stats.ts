/**
 * Summary statistics for report cells: mean and the half-width of a 95% Student-t confidence interval
 * (mean ± t_{0.975, n-1} · s / sqrt(n), s the sample standard deviation), as used for results over seeds.
 */
import type { Cell, NumberCell, ReportTableInput } from './schema.js';

/**
 * t_{0.975, df} for df = 1..30 (two-sided 95%). Beyond 30 the normal quantile 1.96 is used (t_{0.975, 31}
 * is 2.040, so for 31..~120 the interval is up to 4% too narrow; results over seeds never get there).
 */
export const T_975: readonly number[] = [
  12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.306, 2.2622, 2.2281, 2.201, 2.1788, 2.1604,
  2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.093, 2.086, 2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555,
  2.0518, 2.0484, 2.0452, 2.0423,
];

/** The 0.975 quantile of Student's t with `df` degrees of freedom (1.96 beyond df 30). */
export function tQuantile975(df: number): number {
  if (!Number.isInteger(df) || df < 1)
    throw new RangeError(`t quantile: df must be a positive integer, got ${df}`);
  return df <= T_975.length ? (T_975[df - 1] as number) : 1.96;
}

export function mean(values: readonly number[]): number {
  let s = 0;
  for (const v of values) s += v;
  return s / values.length;
}

/** Sample standard deviation (divisor n - 1); NaN for fewer than two values. */
export function sampleStd(values: readonly number[]): number {
  const n = values.length;
  if (n < 2) return NaN;
  const m = mean(values);
  let ss = 0;
  for (const v of values) ss += (v - m) * (v - m);
  return Math.sqrt(ss / (n - 1));
}

/**
 * Half-width of the 95% t-interval of the mean: t_{0.975, n-1} · s / sqrt(n). Undefined for n < 2 (no spread
 * to estimate). E.g. [1, 2, 3]: s = 1, t_{0.975,2} = 4.303, half-width 4.303 / sqrt(3) = 2.484.
 */
export function ciHalfWidth(values: readonly number[]): number | undefined {
  const n = values.length;
  if (n < 2) return undefined;
  return (tQuantile975(n - 1) * sampleStd(values)) / Math.sqrt(n);
}

/**
 * A table cell summarising `values` (one per seed, question, ...): mean, 95% CI half-width (n >= 2) and n.
 * Non-finite values (a failed seed's NaN) are dropped, so n counts the values that are there; no finite
 * value at all gives null (rendered as a dash).
 */
export function meanCell(values: readonly number[], opts: { best?: boolean } = {}): Cell {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return null;
  const cell: NumberCell = { mean: mean(finite), n: finite.length };
  const ci = ciHalfWidth(finite);
  if (ci !== undefined) cell.ci = ci;
  if (opts.best) cell.best = true;
  return cell;
}

/**
 * Marks, in each column, the numeric cell(s) with the highest mean (or lowest, for the columns listed in
 * `lowerIsBetter`) as best. Ties are all marked. Returns the same table (mutated) for chaining.
 */
export function markBest<T extends Pick<ReportTableInput, 'columns' | 'rows'>>(
  table: T,
  opts: { lowerIsBetter?: readonly string[]; skip?: readonly string[] } = {},
): T {
  table.columns.forEach((col, j) => {
    if (opts.skip?.includes(col)) return;
    const lower = opts.lowerIsBetter?.includes(col) ?? false;
    const nums = table.rows
      .map((r) => r.cells[j])
      .filter((c): c is NumberCell => c !== null && c !== undefined && 'mean' in c);
    if (nums.length === 0) return;
    const target = lower ? Math.min(...nums.map((c) => c.mean)) : Math.max(...nums.map((c) => c.mean));
    for (const c of nums) c.best = c.mean === target;
  });
  return table;
}
