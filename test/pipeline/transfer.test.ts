/**
 * The transfer study (`corl pilot --study transfer`, src/pipeline/transfer.ts): its statistics by hand (the
 * change over seeds with both intervals, the curves' mean and band over seeds), the band drawn in the chart,
 * and a micro study run end to end through the CLI.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, pretrainMicroBase } from '../helpers/micro-base.js';
import type { EvalItems } from '../../src/eval/evaluate.js';
import { pairedDelta } from '../../src/eval/intervals.js';
import { studyDelta, type StudySeedResult } from '../../src/pipeline/transfer.js';
import { acrossSeeds } from '../../src/pipeline/study-curves.js';
import { renderChartSvg } from '../../src/report/index.js';

const close = (a: number, b: number, tol = 1e-9) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);
const bits = (ones: number, n: number) => Array.from({ length: n }, (_, i) => (i < ones ? 1 : 0));

/** Items with `mcq` MCQ answers right out of 8, everything else fixed. */
function items(mcq: number): EvalItems {
  return {
    geneval: [
      { tag: 'single_object', correct: 1 },
      { tag: 'colors', correct: 0 },
    ],
    mcq: bits(mcq, 8),
    oe: [1, 0],
    pope: [
      { pred: 'yes', gold: 'yes' },
      { pred: 'no', gold: 'no' },
    ],
  };
}

/** A seed whose base answers `base` MCQ right and whose "run" row answers `run` right. */
function seed(i: number, base: number, run: number): StudySeedResult {
  return {
    seed: i,
    models: { base: { gen: 'b', und: 'b' }, run: { gen: 'g', und: 'u' } },
    evals: { b: { items: items(base) }, g: { items: items(base) }, u: { items: items(run) } },
  };
}

test('studyDelta: mean of the per-seed paired changes, t-interval over seeds, pooled item interval', () => {
  // MCQ 4/8 -> 8/8 (+0.5) and 4/8 -> 6/8 (+0.25): mean 0.375, s = 0.25 / sqrt 2, t(1) = 12.7062
  const seeds = [seed(0, 4, 8), seed(1, 4, 6)];
  const d = studyDelta(seeds, 'base', 'run');
  close(d['mcq/accuracy'].mean, 0.375);
  close(d['mcq/accuracy'].seedsCi!, (12.7062 * (0.25 / Math.SQRT2)) / Math.SQRT2);
  assert.equal(d['mcq/accuracy'].n, 2);
  // the understanding mean moves by a third of MCQ; generation comes from the unchanged model
  close(d['understanding/mean'].mean, 0.375 / 3);
  close(d['geneval/overall'].mean, 0);
  // items: sqrt(h0^2 + h1^2) / 2 of each seed's own paired bootstrap interval
  const h = [pairedDelta(items(4), items(8), 0), pairedDelta(items(4), items(6), 1)].map(
    (x) => x.ci['mcq/accuracy'],
  );
  assert.ok(h[0]! > 0 && h[1]! > 0);
  close(d['mcq/accuracy'].itemsCi, Math.sqrt(h[0]! ** 2 + h[1]! ** 2) / 2);
  // one seed: no spread to estimate over seeds
  assert.equal(studyDelta([seeds[0]!], 'base', 'run')['mcq/accuracy'].seedsCi, undefined);
});

test('acrossSeeds: the mean and [min, max] at the steps every seed has', () => {
  const r = acrossSeeds([
    [
      [1, 0.2],
      [2, 0.4],
      [3, null],
    ],
    [
      [1, 0.6],
      [2, 0.2],
      [3, 0.5],
    ],
  ]);
  assert.deepEqual(
    r.mean.map(([x]) => x),
    [1, 2],
  );
  close(r.mean[0]![1], 0.4);
  close(r.mean[1]![1], 0.3);
  assert.deepEqual(r.band, [
    [1, 0.2, 0.6],
    [2, 0.2, 0.4],
  ]);
});

test('a series band is drawn as one filled path, and the axis reaches its edges', () => {
  const svg = renderChartSvg({
    id: 'b',
    title: 'band',
    x: 'step',
    series: [
      {
        name: 'run',
        points: [
          [0, 0.5],
          [1, 0.5],
        ],
        band: [
          [0, 0.1, 0.9],
          [1, 0.2, 0.8],
        ],
      },
    ],
  });
  assert.equal(svg.match(/class="report-band"/g)?.length, 1);
  // the y axis spans the band (ticks 0.0 to 1.0), not only the line at 0.5
  assert.match(svg, />0\.0</);
  assert.match(svg, />1\.0</);
});

test('corl pilot --study transfer on the micro preset: the matrix, the comparisons and the families', () => {
  const dir = mkdtempSync(join(tmpdir(), 'corl-transfer-'));
  const base = pretrainMicroBase(dir);
  const args = ['pilot', '--study', 'transfer', '--preset', 'world-micro', '--base', base, '--steps', '1'];
  const bad = spawnSync(
    process.execPath,
    [CLI, ...args, '--image-rewards', 'paper', '--out', join(dir, 'x')],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(bad.status, 2);
  assert.match(bad.stderr.trim(), /^corl: error: --image-rewards: the transfer study runs both/);
  const r = spawnSync(process.execPath, [CLI, ...args, '--seeds', '2', '--out', join(dir, 'study')], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(readFileSync(join(dir, 'study', 'report.json'), 'utf8')) as {
    tables: { id: string; columns: string[]; rows: { label: string; cells: unknown[] }[] }[];
  };
  const byId = (id: string) => report.tables.find((t) => t.id === id)!;
  assert.equal(byId('transfer').rows.length, 11);
  assert.deepEqual(byId('transfer').columns, [
    'GenEval ± seeds',
    'GenEval ± items',
    'und. mean ± seeds',
    'und. mean ± items',
  ]);
  assert.equal(byId('comparisons').rows.length, 7);
  assert.equal(byId('transfer-families').rows.length, 11);
  assert.equal(byId('levels').rows.length, 12); // the base first, then every row
  for (const row of byId('transfer').rows) {
    const c = row.cells[0] as { mean: number; n: number; ci?: number } | null;
    assert.ok(c !== null && c.n === 2 && typeof c.ci === 'number' && Number.isFinite(c.mean), row.label);
  }
  // the transfer plot: one marker per run, its whiskers and the zero lines out of the legend
  const plot = (
    report as unknown as {
      curves: { id: string; series: { name: string; style?: string; legend?: boolean }[] }[];
    }
  ).curves.find((c) => c.id === 'transfer-plot')!;
  assert.equal(plot.series.filter((s) => s.style === 'markers').length, 10);
  assert.equal(plot.series.filter((s) => s.legend === false).length, 22);
  // every model was evaluated once per seed on both tasks, with the study's size
  const state = JSON.parse(readFileSync(join(dir, 'study', 'seed-1', 'pipeline.json'), 'utf8')) as {
    stages: Record<string, { status: string }>;
  };
  const evals = Object.keys(state.stages).filter((s) => s.startsWith('eval-'));
  assert.equal(evals.length, 12); // the base, 9 runs, CoRL's generation branch and its merge
  assert.ok(Object.values(state.stages).every((s) => s.status === 'done'));
});
