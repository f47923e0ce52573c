/**
 * Curves for the report from a run's DIR/metrics.jsonl (one JSON object per step, TRL metric names such as
 * `reward`, `t2i/reward`, `mm2t/rewards/qa_accuracy/mean`).
 */
import { readFileSync } from 'node:fs';
import { UserError } from '../util/errors.js';
import type { Curve } from './schema.js';

export type MetricsRow = Record<string, unknown>;

/** Reads a metrics.jsonl; blank lines are skipped, a corrupt line is a UserError naming file and line. */
export function readMetricsJsonl(file: string): MetricsRow[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(
      code === 'ENOENT' ? `metrics not found: ${file}` : `cannot read ${file}: ${code ?? err}`,
    );
  }
  const rows: MetricsRow[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      rows.push(JSON.parse(line) as MetricsRow);
    } catch {
      throw new UserError(`${file}:${i + 1}: not a JSON line`);
    }
  });
  return rows;
}

export interface CurveSpec {
  id: string;
  title: string;
  /** Metric keys to plot, one series each; `names` relabels them in the legend. */
  keys: readonly string[];
  names?: readonly string[];
  /** The x key (default 'step'). */
  x?: string;
  yLabel?: string;
  caption?: string;
  /**
   * Trailing moving average: each key's raw values are drawn faint, with the mean of the values of the last
   * `average` steps (x units, the current one included; drawn from step `average` on: `trailingMean`'s
   * `full`) in bold over them, the window named in the legend.
   * 'auto' = `averageWindow` of the run (10 steps or 10% of the run, whichever is larger). Absent: the raw
   * values as one line.
   */
  average?: number | 'auto';
  /**
   * Held-out series (the trainer's `eval/…` rows, every `eval_every` steps and before/after), drawn as
   * markers joined by a line; `colourOf` gives one the colour of `keys[colourOf]` (default: its own colour).
   */
  heldOut?: readonly { key: string; name?: string; colourOf?: number }[];
}

/** The moving-average window for a run of `steps` steps: 10 steps or 10% of the run, whichever is larger. */
export function averageWindow(steps: number): number {
  return Math.max(10, Math.round(0.1 * steps));
}

/**
 * Trailing mean over a window of `window` x units: at each point, the mean of the finite values at x' in
 * (x - window, x] (points sorted by x). Missing values (null, a failed step) are left out of the means; a
 * point whose window holds no finite value is null. `full`: null too while the window reaches back before
 * the first point (x < first x + window - 1: for steps 1, 2, ..., from step `window` on), so that the mean
 * of the first few values, as noisy as they are, is not drawn as a trend.
 */
export function trailingMean(
  points: readonly (readonly [number, number | null])[],
  window: number,
  opts: { full?: boolean } = {},
): [number, number | null][] {
  if (!(window > 0)) throw new RangeError(`the window must be positive, got ${window}`);
  const out: [number, number | null][] = [];
  let lo = 0;
  let sum = 0;
  let n = 0;
  const finite = (y: number | null): y is number => y !== null && Number.isFinite(y);
  points.forEach(([x, y], i) => {
    if (finite(y)) {
      sum += y;
      n++;
    }
    for (; lo < i && points[lo]![0] <= x - window; lo++) {
      const old = points[lo]![1];
      if (finite(old)) {
        sum -= old;
        n--;
      }
    }
    const partial = opts.full === true && x < points[0]![0] + window - 1;
    out.push([x, n === 0 || partial ? null : sum / n]);
  });
  return out;
}

/** One key's points in x order: rows without a numeric x or the key are skipped; null or NaN y is null. */
function pointsOf(rows: readonly MetricsRow[], xKey: string, key: string): [number, number | null][] {
  const points: [number, number | null][] = [];
  for (const row of rows) {
    const x = row[xKey];
    if (typeof x !== 'number' || !Number.isFinite(x)) continue;
    const y = row[key];
    if (y === undefined) continue; // not logged this step (e.g. the other task's step when alternating)
    points.push([x, typeof y === 'number' && Number.isFinite(y) ? y : null]);
  }
  return points.sort((a, b) => a[0] - b[0]); // stable: rows of one step keep their order
}

/**
 * Builds a curve from metrics rows: rows without a numeric x or without the key are skipped; null or NaN
 * values (a failed step) break the line. With `average`, each key gives a faint raw series and a bold
 * trailing mean (one colour); `heldOut` keys give marker series.
 */
export function curveFromMetrics(rows: readonly MetricsRow[], spec: CurveSpec): Curve {
  const xKey = spec.x ?? 'step';
  const xs = rows.map((r) => r[xKey]).filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  const window =
    spec.average === 'auto'
      ? averageWindow(xs.length === 0 ? 0 : Math.max(...xs) - Math.min(...xs))
      : spec.average;
  if (window !== undefined && !(window > 0)) throw new RangeError(`average must be positive, got ${window}`);
  const series: Curve['series'] = [];
  spec.keys.forEach((key, k) => {
    const name = spec.names?.[k] ?? key;
    const points = pointsOf(rows, xKey, key);
    if (window === undefined || !points.some(([, y]) => y !== null)) {
      // raw values as one line; a key with no data keeps one (empty) series for the legend's "(no data)"
      series.push(window === undefined ? { name, points } : { name, points, colour: k });
      return;
    }
    series.push({ name: `${name} (per step)`, points, style: 'faint', colour: k });
    const mean = trailingMean(points, window, { full: true });
    // a run shorter than the window has no mean to draw: its raw values stand alone
    if (mean.some(([, y]) => y !== null))
      series.push({ name: `${name} (mean of last ${window} steps)`, points: mean, colour: k });
  });
  (spec.heldOut ?? []).forEach((h, j) => {
    series.push({
      name: h.name ?? h.key,
      points: pointsOf(rows, xKey, h.key),
      style: 'markers',
      colour: h.colourOf ?? spec.keys.length + j,
    });
  });
  const curve: Curve = { id: spec.id, title: spec.title, x: xKey, series };
  if (spec.yLabel !== undefined) curve.yLabel = spec.yLabel;
  if (spec.caption !== undefined) curve.caption = spec.caption;
  return curve;
}
