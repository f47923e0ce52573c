/**
 * A synthetic report for the report tests: tables, two curves (one with faint, moving-average and held-out
 * series, one of plain lines as older reports have), a 3x4 grid of small PNGs, answers, stages.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { markBest, meanCell, trailingMean, type ReportInput } from '../../src/report/index.js';

export const XSS_PROMPT = 'a red <script>alert("x")</script> circle & "friends"';

export const GRID_COLUMNS = ['base', 'stage1 unified', 'stage2 gen', 'merged'];
export const GRID_PROMPTS = ['a photo of a red circle', 'two blue squares', XSS_PROMPT];

export const MAIN_COLUMNS = [
  'GenEval',
  'single_object',
  'two_object',
  'counting',
  'colors',
  'position',
  'color_attr',
  'MCQ',
  'OE',
  'POPE F1',
  'format',
];
export const MAIN_ROWS = ['base', 'stage1 unified', 'stage2 gen', 'stage2 mcq', 'stage2 oe', 'merged'];
export const PILOT_ROWS = ['separate', 'separate_merge', 'alternating', 'unified', 'corl'];

const PALETTE: [number, number, number][] = [
  [220, 40, 40],
  [40, 90, 220],
  [40, 170, 70],
  [240, 200, 30],
];

/** A 32x32 RGBA PNG: a light background with a filled square (even index) or circle (odd index). */
export function makePng(index: number, size = 32): Buffer {
  const png = new PNG({ width: size, height: size });
  const [r, g, b] = PALETTE[index % PALETTE.length] as [number, number, number];
  const c = size / 2;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = 4 * (y * size + x);
      const inside =
        index % 2 === 0
          ? Math.abs(x - c + 0.5) < size / 4 && Math.abs(y - c + 0.5) < size / 4
          : (x - c + 0.5) ** 2 + (y - c + 0.5) ** 2 < (size / 3) ** 2;
      png.data[i] = inside ? r : 235;
      png.data[i + 1] = inside ? g : 235;
      png.data[i + 2] = inside ? b : 240;
      png.data[i + 3] = 255;
    }
  }
  return PNG.sync.write(png);
}

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * Writes the grid's PNGs under dir/samples/ and returns the report. `missing` names grid cells
 * ("row,col") whose file is left unwritten (the report still points at it).
 */
export function buildFixture(dir: string, opts: { missing?: string[] } = {}): ReportInput {
  const rand = seeded(7);
  mkdirSync(join(dir, 'samples'), { recursive: true });
  const gridRows = GRID_PROMPTS.map((prompt, i) => ({
    prompt,
    images: GRID_COLUMNS.map((_, j) => {
      const rel = `samples/p${i}-s${j}.png`;
      if (!opts.missing?.includes(`${i},${j}`))
        writeFileSync(join(dir, rel), makePng(i * GRID_COLUMNS.length + j));
      return rel;
    }),
  }));

  const main = {
    id: 'main',
    title: 'ShapesWorld results per stage',
    caption: 'GenEval-style accuracy per category, MCQ/OE accuracy, POPE F1 and format reward.',
    row_header: 'stage',
    columns: MAIN_COLUMNS,
    rows: MAIN_ROWS.map((label, i) => ({
      label,
      cells: MAIN_COLUMNS.map((_, j) =>
        j === MAIN_COLUMNS.length - 1 && i === 0 ? null : { mean: 0.3 + 0.08 * i + 0.01 * j, n: 200 },
      ),
    })),
  };
  markBest(main);

  const seedsPer = (base: number) => [0, 1, 2].map(() => base + (rand() - 0.5) * 0.06);
  const pilot = markBest({
    id: 'pilot',
    title: 'Pilot: strategies over 3 seeds',
    row_header: 'strategy',
    columns: ['GenEval', 'MCQ', 'OE'],
    rows: PILOT_ROWS.map((label, i) => ({
      label,
      cells: [
        meanCell(seedsPer(0.4 + 0.05 * i)),
        meanCell(seedsPer(0.5 + 0.03 * i)),
        meanCell(seedsPer(0.2)),
      ],
    })),
  });

  const ablation = {
    id: 'ablation',
    title: 'Ablation: cold start',
    columns: ['GenEval', 'MCQ', 'note'],
    rows: [
      {
        label: 'Cold-SFT',
        cells: [{ mean: 0.41, ci: 0.02, n: 3 }, { mean: 0.52 }, { text: 'SFT on RL data' }],
      },
      { label: 'Unified-RL', cells: [{ mean: 0.48, ci: 0.03, n: 3, best: true }, { mean: 0.55 }, null] },
      { label: 'Cold-SFT + Refined RL', cells: [{ mean: 0.45 }, { mean: 0.57, best: true }, null] },
      { label: 'Unified-RL + Refined RL', cells: [{ mean: 0.47 }, { mean: 0.56 }, { text: 'CoRL' }] },
    ],
  };

  const steps = Array.from({ length: 60 }, (_, s) => s);
  const t2i = steps.map((s): [number, number | null] => [
    s,
    s === 20 ? NaN : 0.3 + 0.005 * s + 0.05 * rand(),
  ]);
  // the new styles (raw values faint under their moving average, held-out markers) beside an old-style series
  const reward = {
    id: 'reward',
    title: 'Reward per step',
    x: 'step',
    yLabel: 'reward',
    series: [
      { name: 't2i/reward', points: t2i, style: 'faint' as const, colour: 0 },
      { name: 't2i/reward (mean of last 10 steps)', points: trailingMean(t2i, 10), colour: 0 },
      {
        name: 'mm2t/reward',
        points: steps.map((s): [number, number | null] => [s, s % 17 === 5 ? null : 0.5 + 0.004 * s]),
      },
      {
        name: 'held-out generation',
        points: [0, 20, 40, 59].map((s): [number, number] => [s, 0.32 + s / 250]),
        style: 'markers' as const,
        colour: 0,
      },
    ],
  };
  const accuracy = {
    id: 'accuracy',
    title: 'Held-out accuracy',
    x: 'step',
    yLabel: 'accuracy',
    series: [
      { name: 'MCQ', points: [0, 20, 40, 60].map((s): [number, number] => [s, 0.4 + s / 200]) },
      { name: 'OE', points: [0, 20, 40, 60].map((s): [number, number] => [s, 0.2 + s / 300]) },
      { name: 'GenEval', points: [0, 20, 40, 60].map((s): [number, number] => [s, 0.3 + s / 250]) },
    ],
  };

  return {
    meta: {
      title: 'corl report card: tiny ShapesWorld',
      preset: 'tiny',
      created: '2025-06-01T12:00:00.000Z',
      wall_seconds: 3725.4,
      machine: { cpus: 2, threads: 2, device: 'cpu' },
      corl_version: '0.1.0',
      command: 'corl pipeline --preset tiny --out runs/tiny',
      notes: ['synthetic fixture for the report tests', 'numbers are <made up> & meaningless'],
    },
    tables: [main, pilot, ablation],
    curves: [reward, accuracy],
    grids: [
      {
        title: 'Same prompts, each stage',
        caption: '32x32 samples, CFG 5',
        columns: GRID_COLUMNS,
        rows: gridRows,
      },
    ],
    answers: [
      ...['base', 'stage1 unified', 'merged'].flatMap((stage, k) =>
        [0, 1, 2].map((q) => ({
          stage,
          question: `<image> How many ${['circles', 'squares', 'triangles'][q]} are there? A. 1 B. 2 C. 3 D. 4`,
          solution: ['A', 'B', 'C'][q] as string,
          answer: `<think>I see ${q + 1} objects.</think> <answer>${['A', 'B', 'D'][(q + k) % 3]}</answer>`,
          correct: (q + k) % 3 !== 2,
        })),
      ),
    ],
    stages: [
      { name: 'world', status: 'cached', seconds: 0.4, detail: 'runs/tiny/world' },
      { name: 'pretrain vq', status: 'done', seconds: 210 },
      { name: 'sft', status: 'done', seconds: 1500.5 },
      { name: 'stage1 unified', status: 'done', seconds: 1320 },
      { name: 'stage2 gen', status: 'failed', seconds: 12, detail: 'out of <memory>' },
      { name: 'merge', status: 'skipped' },
    ],
  };
}
