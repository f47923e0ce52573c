/**
 * The transfer study's learning curves: for each run, the trailing mean of its training reward per seed, and
 * over seeds their mean (the line) and range (the band). The x axis counts task-steps, so the alternating
 * run's 2N steps (one task each) sit on the same N as the others.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  averageWindow,
  readMetricsJsonl,
  trailingMean,
  type Curve,
  type MetricsRow,
} from '../report/index.js';
import type { PipelinePreset } from './presets.js';

/** One chart: a metric key and the runs that train it (the shuffled controls log the true reward). */
const CHARTS: { id: string; title: (image: string) => string; key: string; runs: string[] }[] = [
  {
    id: 'study-generation',
    title: (image) => `Generation: training reward (${image}) by strategy`,
    key: 't2i/reward',
    runs: ['gen', 'unified', 'alternating', 'gen-shuffled', 'unified-shuffled'],
  },
  {
    id: 'study-understanding',
    title: () => 'Understanding: training answer accuracy by strategy',
    key: 'mm2t/rewards/qa_accuracy/mean',
    runs: ['und', 'unified', 'alternating', 'und-shuffled', 'unified-shuffled'],
  },
];

/** The points of `key` in a run's metrics rows, x in task-steps (halved for the alternating run). */
function runPoints(
  rows: readonly MetricsRow[],
  key: string,
  alternating: boolean,
): [number, number | null][] {
  return rows
    .filter((r) => typeof r.step === 'number' && key in r)
    .map((r): [number, number | null] => {
      const y = r[key];
      const x = r.step as number;
      return [alternating ? Math.ceil(x / 2) : x, typeof y === 'number' && Number.isFinite(y) ? y : null];
    })
    .sort((a, b) => a[0] - b[0]);
}

/**
 * Mean over seeds of per-seed curves, and their [min, max] band, at the x values every seed has a finite value
 * for (exported for tests).
 */
export function acrossSeeds(perSeed: readonly (readonly [number, number | null])[][]): {
  mean: [number, number][];
  band: [number, number, number][];
} {
  const maps = perSeed.map((pts) => new Map(pts.filter((p): p is [number, number] => p[1] !== null)));
  const xs = [...(maps[0]?.keys() ?? [])].filter((x) => maps.every((m) => m.has(x))).sort((a, b) => a - b);
  const mean: [number, number][] = [];
  const band: [number, number, number][] = [];
  for (const x of xs) {
    const ys = maps.map((m) => m.get(x)!);
    mean.push([x, ys.reduce((a, b) => a + b, 0) / ys.length]);
    band.push([x, Math.min(...ys), Math.max(...ys)]);
  }
  return { mean, band };
}

/** The study's curves from DIR/seed-S/<run>/metrics.jsonl (runs without metrics are left out). */
export function studyCurves(dir: string, seeds: number, p: PipelinePreset): Curve[] {
  const image = Object.keys(p.imageRewards).join(' + ');
  const curves: Curve[] = [];
  // a run in both charts (unified, alternating, ...) is read once
  const read = new Map<string, MetricsRow[]>();
  const metrics = (file: string) => read.get(file) ?? read.set(file, readMetricsJsonl(file)).get(file)!;
  for (const chart of CHARTS) {
    const series: Curve['series'] = [];
    let window = 0;
    chart.runs.forEach((run, colour) => {
      const files = Array.from({ length: seeds }, (_, s) => join(dir, `seed-${s}`, run, 'metrics.jsonl'));
      if (!files.every((f) => existsSync(f))) return;
      const raw = files.map((f) => runPoints(metrics(f), chart.key, run === 'alternating'));
      const steps = Math.max(0, ...raw.flat().map(([x]) => x));
      window = averageWindow(steps);
      const { mean, band } = acrossSeeds(raw.map((pts) => trailingMean(pts, window, { full: true })));
      if (mean.length > 0)
        series.push({ name: run, points: mean, band: seeds > 1 ? band : undefined, colour });
    });
    if (series.length === 0) continue;
    curves.push({
      id: chart.id,
      title: chart.title(image),
      x: 'task-step',
      caption:
        `Each line: the mean over ${seeds} seed(s) of the run's trailing mean over the last ${window} task-steps ` +
        '(the training prompts of each step, so noisy); band: the range over seeds. The shuffled-reward controls ' +
        'log the true reward of their samples.',
      series,
    });
  }
  return curves;
}
