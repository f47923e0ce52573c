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
   * Exponential moving average weight in [0, 1) (TensorBoard-style, bias-corrected): 0 plots the raw
   * values; 0.9 smooths noisy per-step rewards.
   */
  smooth?: number;
}

/** Builds a curve from metrics rows: rows without a numeric x or without the key are skipped;
 * null or NaN values (a failed step) break the line. */
export function curveFromMetrics(rows: readonly MetricsRow[], spec: CurveSpec): Curve {
  const xKey = spec.x ?? 'step';
  const smooth = spec.smooth ?? 0;
  if (!(smooth >= 0 && smooth < 1)) throw new RangeError(`smooth must be in [0, 1), got ${smooth}`);
  const series = spec.keys.map((key, k) => {
    const points: [number, number | null][] = [];
    let ema = 0;
    let weight = 0;
    for (const row of rows) {
      const x = row[xKey];
      if (typeof x !== 'number' || !Number.isFinite(x)) continue;
      const y = row[key];
      if (y === undefined) continue; // not logged this step (e.g. the other task's step when alternating)
      if (typeof y !== 'number' || !Number.isFinite(y)) {
        points.push([x, null]);
        continue;
      }
      if (smooth === 0) {
        points.push([x, y]);
      } else {
        ema = smooth * ema + (1 - smooth) * y;
        weight = smooth * weight + (1 - smooth);
        points.push([x, ema / weight]);
      }
    }
    return { name: spec.names?.[k] ?? key, points };
  });
  const curve: Curve = { id: spec.id, title: spec.title, x: xKey, series };
  if (spec.yLabel !== undefined) curve.yLabel = spec.yLabel;
  if (spec.caption !== undefined) curve.caption = spec.caption;
  return curve;
}
