/**
 * `corl pilot --study transfer`: does learning one task move the other through the shared LLM, and do the
 * paper's strategies beat each other by more than noise? From one pretrained base, per seed (each with its own
 * world and so its own held-out items), with matched task-steps N (one step of one task on batch_size x G
 * samples; the recipe's stage-1 fields otherwise):
 *
 *   gen               generation-only RL, the recipe's image reward            Δ understanding = transfer
 *   gen-paper         generation-only RL, the paper's image reward (cycle + TIM)
 *   gen-shuffled      generation-only RL, rewards shuffled across the batch     control: updates without signal
 *   und               understanding-only RL (accuracy + format)                 Δ GenEval = transfer
 *   und-shuffled      understanding-only RL, rewards shuffled                   control
 *   unified           both tasks every step (N steps), the recipe's image reward
 *   unified-paper     both tasks, cycle + TIM
 *   unified-shuffled  both tasks, rewards shuffled                              control
 *   alternating       2N steps, generation on even steps and understanding on odd ones
 *   corl              unified, then the recipe's refined branches and the MCQ + OE merge (3 x M more task-steps)
 *
 * Every model is evaluated on both tasks (transfer is the change in the task it did not train) at the study's
 * held-out size (preset `study`: larger than the pipeline's, so that a 0.05 change of one family is outside
 * the 95% interval of one evaluation). Each change is paired against the base on the same items; over seeds
 * it gets two intervals: across seeds (t, which includes the run-to-run spread of RL) and across items (the
 * per-seed paired bootstrap intervals, pooled). The whole study is resumable stage by stage.
 */
import { join } from 'node:path';
import { headlineScores, pairedDelta, type HeadlineKey } from '../eval/intervals.js';
import type { EvalItems } from '../eval/evaluate.js';
import { buildWorld, evalArgs, refine, trainStage, runIdentity } from './pipeline.js';
import { parseImageRewards, pipelinePreset, rewardsNote, runFields, type PipelinePreset } from './presets.js';
import type { StageRunner } from './stages.js';
import { overSeeds, type PilotOptions } from './pilot.js';
import { DELTA_COLUMNS, combineItems, itemsOf, meta } from './report.js';
import {
  ciHalfWidth,
  meanCell,
  writeReport,
  type Cell,
  type Curve,
  type ReportTableInput,
} from '../report/index.js';
import { studyCurves } from './study-curves.js';

/** One RL run of the study: what it trains and with which rewards. */
export interface StudyRun {
  name: string;
  tasks: ('t2i' | 'mm2t')[];
  /** 'recipe': the recipe's image reward; 'paper': cycle + TIM. */
  image?: 'recipe' | 'paper';
  shuffle?: boolean;
  alternate?: boolean;
}

export const STUDY_RUNS: readonly StudyRun[] = [
  { name: 'gen', tasks: ['t2i'] },
  { name: 'und', tasks: ['mm2t'] },
  { name: 'unified', tasks: ['t2i', 'mm2t'] },
  { name: 'gen-shuffled', tasks: ['t2i'], shuffle: true },
  { name: 'und-shuffled', tasks: ['mm2t'], shuffle: true },
  { name: 'unified-shuffled', tasks: ['t2i', 'mm2t'], shuffle: true },
  { name: 'alternating', tasks: ['t2i', 'mm2t'], alternate: true },
  { name: 'gen-paper', tasks: ['t2i'], image: 'paper' },
  { name: 'unified-paper', tasks: ['t2i', 'mm2t'], image: 'paper' },
];

/** A row of the study's tables: the model it ships for generation and the one for understanding. */
export type StudyModels = Record<string, { gen: string; und: string }>;

export interface StudySeedResult {
  seed: number;
  models: StudyModels;
  /** eval results by model folder */
  evals: Record<string, unknown>;
}

/** The study's options: the pilot's, without --image-rewards (the study runs both image rewards itself). */
export type StudyOptions = Omit<PilotOptions, 'imageRewards'>;

/** The study: every seed's runs and evaluations (resumable), in DIR/seed-S. */
export async function runStudy(
  o: StudyOptions,
): Promise<{ dir: string; seeds: StudySeedResult[]; runners: StageRunner[]; N: number }> {
  const p = pipelinePreset(o.preset, { recipe: o.recipe });
  const N = o.steps ?? Number(p.stages.stage1.steps);
  const identity = `transfer ${runIdentity(p)} N=${N}`;
  const r = await overSeeds(o, 'corl pilot --study transfer', identity, (runner, dir, base, seed) =>
    studySeed(runner, p, dir, base, seed, N, o.jobs ?? 2),
  );
  return { dir: r.dir, seeds: r.results, runners: r.runners, N };
}

/** One seed: its world, the runs, CoRL's refined stage, every model evaluated on both tasks. */
async function studySeed(
  r: StageRunner,
  p: PipelinePreset,
  out: string,
  base: string,
  seed: number,
  N: number,
  jobs: number,
): Promise<StudySeedResult> {
  const env: Record<string, string> = jobs > 1 ? { CORL_BLAS_THREADS: '1' } : {};
  const world = join(out, 'world');
  await buildWorld(r, p, world, seed);
  const data = join(world, 'train.jsonl');
  const paperImage = parseImageRewards('paper');
  const trained = await r.parallel(
    jobs,
    STUDY_RUNS.map((run) => () => {
      const fields = runFields(p, 'stage1', { model: base, data, seed, tasks: run.tasks });
      if (run.image === 'paper')
        fields.rewards = { ...(fields.rewards as Record<string, unknown>), image: paperImage };
      return trainStage(r, run.name, out, {
        ...fields,
        steps: run.alternate ? 2 * N : N,
        ...(run.shuffle ? { shuffle_rewards: true } : {}),
        ...(run.alternate ? { alternate: true } : {}),
      });
    }),
  );
  const model = Object.fromEntries(STUDY_RUNS.map((run, i) => [run.name, trained[i]!.model]));
  const corl = await refine(r, p, {
    out,
    world,
    from: model.unified!,
    seed,
    env,
    jobs,
    prefix: 'corl',
    merged: join(out, 'corl-merged'),
  });
  const models: StudyModels = {
    base: { gen: base, und: base },
    ...Object.fromEntries(
      STUDY_RUNS.map((run) => [run.name, { gen: model[run.name]!, und: model[run.name]! }]),
    ),
    separate: { gen: model.gen!, und: model.und! },
    corl: { gen: corl.gen, und: corl.merged },
  };
  const folders = [...new Set(Object.values(models).flatMap((m) => [m.gen, m.und]))];
  const sized: PipelinePreset = { ...p, eval: p.studyEval };
  const evals = await r.parallel(
    jobs,
    folders.map((f, i) => () => r.run(`eval-${i}`, evalArgs(f, world, sized, seed), env)),
  );
  return { seed, models, evals: Object.fromEntries(folders.map((f, i) => [f, evals[i]])) };
}

/** The items a row is scored on: generation from its generation model, understanding from its other one. */
function rowItems(s: StudySeedResult, row: string): EvalItems {
  const m = s.models[row];
  if (!m) throw new Error(`no study row ${row}`);
  return combineItems(itemsOf(s.evals[m.gen]), itemsOf(s.evals[m.und]));
}

/**
 * The change b - a over seeds for each headline key: mean of the per-seed paired differences, its 95%
 * t-interval over seeds, and the pooled item interval (the per-seed paired bootstrap half-widths h_s combined
 * as sqrt(sum h_s^2) / S, the interval of a mean of S independent estimates).
 */
export type StudyDelta = Record<HeadlineKey, { mean: number; seedsCi?: number; itemsCi: number; n: number }>;

export function studyDelta(seeds: readonly StudySeedResult[], a: string, b: string): StudyDelta {
  const per = seeds.map((s, i) => pairedDelta(rowItems(s, a), rowItems(s, b), i));
  return Object.fromEntries(
    DELTA_COLUMNS.map(([, k]) => {
      const d = per.map((x) => x.delta[k]);
      const h = per.map((x) => x.ci[k]);
      const n = d.length;
      const mean = d.reduce((x, y) => x + y, 0) / n;
      const itemsCi = Math.sqrt(h.reduce((x, y) => x + y * y, 0)) / n;
      return [k, { mean, seedsCi: ciHalfWidth(d), itemsCi, n }];
    }),
  ) as never;
}

/** Every row's change against the base (the bootstraps behind the tables and the plot, computed once). */
export function baseDeltas(seeds: readonly StudySeedResult[]): Record<string, StudyDelta> {
  return Object.fromEntries(Object.keys(ROW_LABELS).map((row) => [row, studyDelta(seeds, 'base', row)]));
}

const ROW_LABELS: Record<string, string> = {
  gen: 'generation-only RL',
  und: 'understanding-only RL',
  unified: 'unified RL (both tasks each step)',
  'gen-shuffled': 'generation-only, shuffled rewards (control)',
  'und-shuffled': 'understanding-only, shuffled rewards (control)',
  'unified-shuffled': 'unified, shuffled rewards (control)',
  alternating: 'alternating RL (2N steps)',
  'gen-paper': 'generation-only RL, cycle + TIM',
  'unified-paper': 'unified RL, cycle + TIM',
  separate: 'separate RL (gen-only for generation, und-only for understanding)',
  corl: 'CoRL (unified + refined branches + merge)',
};

/** The questions the study answers: [label, a, b] = the change b - a. */
export const STUDY_COMPARISONS: readonly [string, string, string][] = [
  ['generation RL beyond its control (gen - gen-shuffled)', 'gen-shuffled', 'gen'],
  ['understanding RL beyond its control (und - und-shuffled)', 'und-shuffled', 'und'],
  ['unified - separate', 'separate', 'unified'],
  ['unified - alternating', 'alternating', 'unified'],
  ['CoRL - unified', 'unified', 'corl'],
  ['unified beyond its control (unified - unified-shuffled)', 'unified-shuffled', 'unified'],
  ['recipe reward - cycle + TIM (generation-only)', 'gen-paper', 'gen'],
];

const cellOf = (d: { mean: number; n: number }, ci: number | undefined): Cell =>
  Number.isFinite(d.mean)
    ? { mean: d.mean, n: d.n, ...(ci !== undefined && Number.isFinite(ci) ? { ci } : {}) }
    : null;

/** Two columns per headline (± seeds, ± items) for GenEval and the understanding mean, one row per change. */
function twoIntervalTable(
  id: string,
  title: string,
  caption: string,
  rows: { label: string; d: ReturnType<typeof studyDelta> }[],
): ReportTableInput {
  const keys: [string, HeadlineKey][] = [
    ['GenEval', 'geneval/overall'],
    ['und. mean', 'understanding/mean'],
  ];
  return {
    id,
    title,
    caption,
    row_header: 'change',
    columns: keys.flatMap(([c]) => [`${c} ± seeds`, `${c} ± items`]),
    rows: rows.map(({ label, d }) => ({
      label,
      cells: keys.flatMap(([, k]) => [cellOf(d[k], d[k].seedsCi), cellOf(d[k], d[k].itemsCi)]),
    })),
  };
}

/** The runs of the transfer plot, in the palette's order (ten colours). */
const PLOT_ROWS = [
  'gen',
  'und',
  'unified',
  'alternating',
  'corl',
  'gen-paper',
  'unified-paper',
  'gen-shuffled',
  'und-shuffled',
  'unified-shuffled',
] as const;

/**
 * The transfer matrix as a plot: each run at (change in GenEval, change in the understanding mean) against the
 * base, mean over seeds, with whiskers of its 95% interval over seeds (over items with one seed), and the zero
 * lines: a run right of the vertical line improved generation, above the horizontal one understanding.
 */
export function transferPlot(vsBase: Record<string, StudyDelta>, S: number): Curve {
  const series: Curve['series'] = [];
  const all: [number, number][] = [];
  PLOT_ROWS.forEach((row, colour) => {
    const d = vsBase[row]!;
    const g = d['geneval/overall'];
    const u = d['understanding/mean'];
    if (!Number.isFinite(g.mean) || !Number.isFinite(u.mean)) return;
    const gi = g.seedsCi ?? g.itemsCi;
    const ui = u.seedsCi ?? u.itemsCi;
    series.push({ name: row, points: [[g.mean, u.mean]], style: 'markers', colour });
    series.push({
      name: `${row} (GenEval interval)`,
      points: [
        [g.mean - gi, u.mean],
        [g.mean + gi, u.mean],
      ],
      colour,
      legend: false,
    });
    series.push({
      name: `${row} (understanding interval)`,
      points: [
        [g.mean, u.mean - ui],
        [g.mean, u.mean + ui],
      ],
      colour,
      legend: false,
    });
    all.push([g.mean - gi, u.mean - ui], [g.mean + gi, u.mean + ui]);
  });
  if (all.length > 0) {
    const [x0, x1] = [Math.min(0, ...all.map((p) => p[0])), Math.max(0, ...all.map((p) => p[0]))];
    const [y0, y1] = [Math.min(0, ...all.map((p) => p[1])), Math.max(0, ...all.map((p) => p[1]))];
    series.push({
      name: 'no change in GenEval',
      points: [
        [0, y0],
        [0, y1],
      ],
      style: 'faint',
      colour: 7,
      legend: false,
    });
    series.push({
      name: 'no change in understanding',
      points: [
        [x0, 0],
        [x1, 0],
      ],
      style: 'faint',
      colour: 7,
      legend: false,
    });
  }
  return {
    id: 'transfer-plot',
    title: 'Transfer: each run against the base',
    x: 'change in GenEval',
    yLabel: 'change in und. mean',
    caption:
      `Mean over ${S} seed(s) of the paired change against the base; whiskers: the 95% interval ` +
      (S > 1 ? 'over seeds' : 'over items') +
      '. Generation-only runs off the horizontal line, or understanding-only runs off the vertical one, ' +
      'beyond their whiskers and their shuffled controls would be transfer.',
    series,
  };
}

/** The study's tables: the transfer matrix, every family per row, and the comparisons between strategies. */
export function studyTables(
  seeds: readonly StudySeedResult[],
  N: number,
  deltas: Record<string, StudyDelta> = baseDeltas(seeds),
): ReportTableInput[] {
  const S = seeds.length;
  const rows = Object.keys(ROW_LABELS);
  const vsBase = rows.map((row) => ({ label: ROW_LABELS[row]!, d: deltas[row]! }));
  const intervals =
    `± seeds: the 95% t-interval of the per-seed changes (${S} seed(s); it includes how much RL runs differ); ` +
    '± items: the per-seed paired bootstrap intervals pooled (how much the held-out items could move the mean).';
  const matrix = twoIntervalTable(
    'transfer',
    'Transfer matrix: each run against the base',
    `Change against the base on the same held-out items, mean over ${S} seed(s); task budget N = ${N} steps. ` +
      `Transfer is the change in the task a run did not train; the shuffled-reward rows show what RL updates ` +
      `without a reward signal do. ${intervals} A change whose interval includes 0 is no change.`,
    vsBase,
  );
  const families: ReportTableInput = {
    id: 'transfer-families',
    title: 'Every family, each run against the base (± seeds)',
    caption: `Mean over ${S} seed(s) of the paired change against the base ± the 95% t-interval over seeds.`,
    row_header: 'run',
    columns: DELTA_COLUMNS.map(([c]) => c),
    rows: vsBase.map(({ label, d }) => ({
      label,
      cells: DELTA_COLUMNS.map(([, k]) => cellOf(d[k], d[k].seedsCi)),
    })),
  };
  const comparisons = twoIntervalTable(
    'comparisons',
    'The questions: one strategy against another',
    `Paired change b - a on the same held-out items, mean over ${S} seed(s). ${intervals}`,
    STUDY_COMPARISONS.map(([label, a, b]) => ({ label, d: studyDelta(seeds, a, b) })),
  );
  const levels: ReportTableInput = {
    id: 'levels',
    title: 'Scores on the held-out split',
    caption: `Mean over ${S} seed(s) ± the 95% t-interval over seeds; und. mean = (MCQ + OE + POPE F1) / 3.`,
    row_header: 'model',
    columns: DELTA_COLUMNS.map(([c]) => c),
    rows: ['base', ...rows].map((row) => {
      const per = seeds.map((s) => headlineScores(rowItems(s, row)));
      return {
        label: row === 'base' ? 'pretrained base' : ROW_LABELS[row]!,
        cells: DELTA_COLUMNS.map(([, k]) => meanCell(per.map((x) => x[k]))),
      };
    }),
  };
  return [matrix, comparisons, families, levels];
}

export function writeStudyReport(o: {
  dir: string;
  preset: string;
  recipe?: string;
  seeds: StudySeedResult[];
  runners: StageRunner[];
  N: number;
  seconds: number;
}): string {
  const p = pipelinePreset(o.preset, { recipe: o.recipe });
  const vsBase = baseDeltas(o.seeds);
  return writeReport(o.dir, {
    meta: meta(
      `Does co-evolution show? Transfer study on ShapesWorld (${o.preset}, ${o.seeds.length} seeds)`,
      o.preset,
      o.seconds,
      [
        `Every run starts from one base; N = ${o.N} task-steps; each seed has its own world and held-out items ` +
          `(${p.studyEval.genPrompts} generation prompts x 4 images, up to ${p.studyEval.maxQuestions} questions per family).`,
        rewardsNote(p),
        'Design, sizes, wall time and the verdict: docs/science.md.',
      ],
    ),
    tables: studyTables(o.seeds, o.N, vsBase),
    curves: [transferPlot(vsBase, o.seeds.length), ...studyCurves(o.dir, o.seeds.length, p)],
    stages: o.runners.flatMap((r, i) =>
      r.timeline.map((t) => ({ name: `seed ${i}: ${t.name}`, status: t.status, seconds: t.seconds })),
    ),
  }).htmlPath;
}
