/**
 * Builds the report card of a pipeline or pilot run from its stage results: score tables (from `corl eval`
 * results), reward and accuracy curves (from each run's metrics.jsonl), an image grid of the same prompts
 * through every stage, sampled answers, and the stage timeline.
 */
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, relative } from 'node:path';
import * as torch from '../torch/index.js';
import { flattenEval, type EvalItems, type EvalResult } from '../eval/evaluate.js';
import type { PairStat, ValidityResult } from '../rl/validity/validity.js';
import { evalIntervals, pairedDelta, type HeadlineKey } from '../eval/intervals.js';
import { GENEVAL_CATEGORIES } from '../world/geneval.js';
import { readWorldRows } from '../world/dataset.js';
import {
  averageWindow,
  curveFromMetrics,
  markBest,
  meanCell,
  readMetricsJsonl,
  writeReport,
  type Answer,
  type Cell,
  type Curve,
  type ReportInput,
  type ReportTableInput,
} from '../report/index.js';
import { recipeNote, rewardsNote, type PipelinePreset } from './presets.js';
import type { StageRunner } from './stages.js';
import type { EvalResults, PipelineModels } from './types.js';

/** Score columns: [label, flattenEval key]. */
export const SCORE_COLUMNS: [string, string][] = [
  ['GenEval', 'geneval/overall'],
  ...GENEVAL_CATEGORIES.map((c) => [c.replace('_', ' '), `geneval/${c}`] as [string, string]),
  ['MCQ', 'mcq/accuracy'],
  ['OE', 'oe/accuracy'],
  ['POPE F1', 'pope/f1'],
  // the answer bias behind POPE F1: RL can move F1 by 0.2 by flipping it (docs/recipe.md, session 7)
  ['POPE yes', 'pope/yes_ratio'],
  ['und. mean', 'understanding/mean'],
  ['format', 'format/rate'],
];

/** Score columns with no better direction: markBest leaves them unmarked. */
export const UNRANKED_COLUMNS = ['POPE yes'];

const GEN_KEYS = new Set(SCORE_COLUMNS.filter(([, k]) => k.startsWith('geneval/')).map(([, k]) => k));

/** The flat scores of an eval result (null when the eval did not run). */
export function scores(r: unknown): Record<string, number> {
  return r === null || r === undefined ? {} : flattenEval(r as EvalResult);
}

/**
 * A row of cells from several seeds' flat scores (mean +- 95% t-interval over seeds when there is more than
 * one), or from one evaluation with `intervals`, its 95% item intervals (bootstrap, src/eval/intervals.ts).
 */
export function scoreCells(perSeed: Record<string, number>[], intervals?: Record<string, number>): Cell[] {
  return SCORE_COLUMNS.map(([, k]) => {
    const cell = meanCell(perSeed.map((s) => s[k] ?? NaN));
    const ci = intervals?.[k];
    if (cell !== null && 'mean' in cell && perSeed.length === 1 && ci !== undefined && Number.isFinite(ci))
      cell.ci = ci;
    return cell;
  });
}

/** The items of an eval result (empty families when it has none). */
export function itemsOf(r: unknown): EvalItems {
  return (r as EvalResult | null)?.items ?? { geneval: [], mcq: [], oe: [], pope: [] };
}

/** Generation items from one model and understanding items from another (as combineScores). */
export function combineItems(gen: EvalItems, und: EvalItems): EvalItems {
  return { geneval: gen.geneval, mcq: und.mcq, oe: und.oe, pope: und.pope };
}

/** The columns of the change-against-the-base table: the headline scores. */
export const DELTA_COLUMNS: [string, HeadlineKey][] = [
  ['GenEval', 'geneval/overall'],
  ['MCQ', 'mcq/accuracy'],
  ['OE', 'oe/accuracy'],
  ['POPE F1', 'pope/f1'],
  ['und. mean', 'understanding/mean'],
];

/**
 * Each row's change against the base: over several seeds the mean of the per-seed differences +- its
 * t-interval; for one seed the difference on the same items +- the paired bootstrap interval.
 */
export function deltaCells(base: EvalItems[], row: EvalItems[]): Cell[] {
  const perSeed = base.map((b, i) => pairedDelta(b, row[i]!, i));
  return DELTA_COLUMNS.map(([, k]) => {
    const cell = meanCell(perSeed.map((d) => d.delta[k]));
    if (cell !== null && 'mean' in cell && perSeed.length === 1 && Number.isFinite(perSeed[0]!.ci[k]))
      cell.ci = perSeed[0]!.ci[k];
    return cell;
  });
}

/** Generation scores from one model and understanding scores from another (CoRL ships two). */
export function combineScores(
  gen: Record<string, number>,
  und: Record<string, number>,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(gen)) if (GEN_KEYS.has(k)) out[k] = v;
  for (const [k, v] of Object.entries(und)) if (!GEN_KEYS.has(k)) out[k] = v;
  return out;
}

export function meta(title: string, preset: string, seconds: number, notes: string[]): ReportInput['meta'] {
  return {
    title,
    preset,
    created: new Date().toISOString(),
    wall_seconds: seconds,
    machine: { cpus: cpus().length, threads: torch.getNumThreads() },
    corl_version: '0.1.0',
    command: process.argv.slice(2).join(' '),
    notes,
  };
}

/** The grid's models: the base, stage 1 and the generation branch (files report-images/<name>-<i>.png). */
export const GRID_MODELS = ['base', 'stage1', 'stage2-gen'] as const;

/**
 * The grid of the same prompts through every stage, read from the files the pipeline's grid stages wrote
 * (`dir`/report-images/<model>-<i>.png, src/pipeline/pipeline.ts drawGrids); paths relative to `out`.
 */
export function imageGrid(out: string, dir: string, prompts: string[]): ReportInput['grids'] {
  const paths = GRID_MODELS.map((name) =>
    prompts.map((_, i) => relative(out, join(dir, 'report-images', `${name}-${i}.png`))),
  );
  return [
    {
      title: 'The same prompts through every stage',
      caption:
        'One image per prompt and stage (CFG 5, temperature 1, the same sampling seed for every model).',
      columns: [...GRID_MODELS],
      rows: prompts.map((prompt, i) => ({ prompt, images: paths.map((p) => p[i]!) })),
    },
  ];
}

/** Sampled answers kept by `corl eval --examples`. */
export function answersOf(stage: string, r: unknown): Answer[] {
  const ex = (r as EvalResult | null)?.examples ?? [];
  return ex.map((e) => ({
    stage,
    question: e.question,
    solution: e.gold,
    answer: e.answer,
    correct: e.score >= 1,
  }));
}

function curves(runs: [string, string][], p: PipelinePreset): Curve[] {
  const imageNames = Object.keys(p.imageRewards);
  const image = imageNames.join(' + ');
  const have = runs.filter(([, dir]) => existsSync(join(dir, 'metrics.jsonl')));
  const result: Curve[] = [];
  for (const [name, dir] of have) {
    const rows = readMetricsJsonl(join(dir, 'metrics.jsonl'));
    const steps = Math.max(0, ...rows.map((r) => (typeof r.step === 'number' ? r.step : 0)));
    const average = averageWindow(steps);
    // the trainer's held-out rows (eval_every, before and after): { step, eval/gen_reward, ..., eval/n }
    const evals = rows.filter((r) => typeof r['eval/n'] === 'number');
    const caption =
      `Faint: each step's value (a few prompts per step, so noisy); bold: the mean of the last ${average} ` +
      `steps (from step ${average} on)` +
      (evals.length === 0
        ? '.'
        : `; markers: held-out evaluation on ${String(evals[0]!['eval/n'])} test rows (one image per prompt, ` +
          `fixed seed; greedy answers) at steps ${evals.map((r) => String(r.step)).join(', ')}.`);
    // a run that does not train generation has no image rewards: its held-out image reward means nothing
    const trainsGen = rows.some((r) => 't2i/reward' in r);
    const genevalIsTheReward = trainsGen && imageNames.length === 1 && imageNames[0] === 'geneval';
    result.push(
      curveFromMetrics(rows, {
        id: `rewards-${name}`,
        title: `${name}: training reward`,
        keys: ['t2i/reward', 'mm2t/reward'],
        names: [`generation (${image})`, 'understanding (accuracy + format)'],
        average,
        heldOut: [
          ...(trainsGen
            ? [{ key: 'eval/gen_reward', name: `held-out generation (${image})`, colourOf: 0 }]
            : []),
          ...(genevalIsTheReward ? [] : [{ key: 'eval/geneval', name: 'held-out GenEval (scene parser)' }]),
        ],
        caption,
      }),
      curveFromMetrics(rows, {
        id: `accuracy-${name}`,
        title: `${name}: answer accuracy and format`,
        keys: ['mm2t/rewards/qa_accuracy/mean', 'mm2t/rewards/format/mean'],
        names: ['accuracy', 'format'],
        average,
        heldOut: [
          { key: 'eval/accuracy', name: 'held-out accuracy', colourOf: 0 },
          { key: 'eval/format', name: 'held-out format', colourOf: 1 },
        ],
        caption,
      }),
    );
  }
  return result.filter((c) => c.series.some((s) => s.points.length > 0));
}

/** One seed's pipeline run: its folder, stage runner, models and eval results. */
export interface PipelineRun {
  dir: string;
  seed: number;
  runner: StageRunner;
  models: PipelineModels;
  evals: EvalResults;
  /** The base's `corl rewards check` result (ValidityResult), when the stage ran. */
  validity?: unknown;
}

/** The rows of the main and change tables: label and, per seed, flat scores and items. */
function tableRows(runs: PipelineRun[]): [string, Record<string, number>[], EvalItems[]][] {
  const per = (
    f: (
      s: Record<keyof PipelineModels, Record<string, number>>,
      i: Record<keyof PipelineModels, EvalItems>,
    ) => [Record<string, number>, EvalItems],
  ) =>
    runs.map((r) => {
      const s = Object.fromEntries(Object.entries(r.evals).map(([k, v]) => [k, scores(v)])) as Record<
        keyof PipelineModels,
        Record<string, number>
      >;
      const it = Object.fromEntries(Object.entries(r.evals).map(([k, v]) => [k, itemsOf(v)])) as Record<
        keyof PipelineModels,
        EvalItems
      >;
      return f(s, it);
    });
  const row = (
    label: string,
    f: Parameters<typeof per>[0],
  ): [string, Record<string, number>[], EvalItems[]] => {
    const xs = per(f);
    return [label, xs.map((x) => x[0]), xs.map((x) => x[1])];
  };
  return [
    row('base (pretrained)', (s, i) => [s.base, i.base]),
    row('stage 1: unified RL', (s, i) => [s.stage1, i.stage1]),
    row('stage 2: generation', (s, i) => [s.gen, i.gen]),
    row('stage 2: MCQ', (s, i) => [s.mcq, i.mcq]),
    row('stage 2: OE', (s, i) => [s.oe, i.oe]),
    row('MCQ + OE merged', (s, i) => [s.merged, i.merged]),
    row('CoRL (gen: stage 2 generation, und: merged)', (s, i) => [
      combineScores(s.gen, s.merged),
      combineItems(i.gen, i.merged),
    ]),
  ];
}

/**
 * The report card of a pipeline run over one seed or several (`runs`, one per seed): the main table and the
 * change against the base over every seed (one seed: 95% item intervals; several: mean +- 95% t-interval
 * over seeds), curves, image grid and answers of the first seed, every stage's timing.
 */
export async function buildPipelineReport(o: {
  out: string;
  preset: PipelinePreset;
  runs: PipelineRun[];
  seconds: number;
}): Promise<string> {
  const { out, runs } = o;
  const first = runs[0]!;
  const several = runs.length > 1;
  const report: ReportInput = {
    meta: meta(`CoRL on ShapesWorld (${o.preset.name})`, o.preset.name, o.seconds, [
      'Scores are fractions in [0, 1] on held-out scenes of the embedded ShapesWorld.',
      'The CoRL row scores generation with the stage-2 generation branch and understanding with the merged MCQ + OE model.',
      rewardsNote(o.preset),
      recipeNote(o.preset),
      ...(several
        ? [`Curves, images and answers: seed ${first.seed} (${relative(out, first.dir) || '.'}).`]
        : []),
    ]),
    tables: [...scoreTables(o.preset, runs), ...validityTable(first.validity)],
    curves: curves(
      ['stage1', 'stage2-gen', 'stage2-mcq', 'stage2-oe'].map(
        (n) => [n, join(first.dir, n)] as [string, string],
      ),
      o.preset,
    ),
    grids: firstSeedGrid(out, o.preset, first),
    answers: (Object.keys(first.evals) as (keyof PipelineModels)[]).flatMap((k) =>
      answersOf(k, first.evals[k]),
    ),
    stages: runs.flatMap((r) =>
      r.runner.timeline.map((t) => ({
        name: several ? `seed ${r.seed}: ${t.name}` : t.name,
        status: t.status,
        seconds: t.seconds,
      })),
    ),
  };
  return writeReport(out, report).htmlPath;
}

/** The main table (every model, with intervals) and the change against the base. */
function scoreTables(preset: PipelinePreset, runs: PipelineRun[]): ReportTableInput[] {
  const several = runs.length > 1;
  const rows = tableRows(runs);
  const spread = several
    ? `± is the 95% t-interval of the mean over ${runs.length} seeds (${runs.map((r) => r.seed).join(', ')}).`
    : '± is the 95% interval of one evaluation over its items (bootstrap; GenEval resamples prompts).';
  const main: ReportTableInput = {
    id: 'main',
    title: several
      ? `Every stage on the held-out split, mean over ${runs.length} seeds`
      : 'Every stage on the held-out split',
    caption:
      `GenEval-style: ${preset.eval.genPrompts} prompts x 4 images, scene parser; MCQ / OE / POPE: greedy ` +
      `answers, up to ${preset.eval.maxQuestions} questions each; und. mean = (MCQ + OE + POPE F1) / 3; ` +
      `POPE yes: the share of POPE questions answered "yes" (half of them are "yes"; F1 rises with it). ${spread}`,
    row_header: 'model',
    columns: SCORE_COLUMNS.map(([c]) => c),
    rows: rows.map(([label, sc, items]) => ({
      label,
      cells: scoreCells(sc, several ? undefined : evalIntervals(items[0]!)),
    })),
  };
  const baseItems = rows[0]![2];
  const delta: ReportTableInput = {
    id: 'delta',
    title: 'Change against the base',
    caption:
      (several
        ? `Each model minus the base of its seed, mean over ${runs.length} seeds ± the 95% t-interval of the per-seed changes.`
        : 'Each model minus the base on the same held-out items; ± is the paired 95% bootstrap interval.') +
      ' A change whose interval includes 0 is no change.',
    row_header: 'model',
    columns: DELTA_COLUMNS.map(([c]) => c),
    rows: rows.slice(1).map(([label, , items]) => ({ label, cells: deltaCells(baseItems, items) })),
  };
  markBest(main, { skip: UNRANKED_COLUMNS });
  return [main, delta];
}

/** The same held-out prompts drawn by the base, stage 1 and the generation branch of the first seed. */
function firstSeedGrid(out: string, preset: PipelinePreset, first: PipelineRun): ReportInput['grids'] {
  return imageGrid(out, first.dir, gridPrompts(first.dir, preset));
}

/** The grid's prompts: the first held-out generation prompts of a run's world. */
export function gridPrompts(dir: string, preset: PipelinePreset): string[] {
  return readWorldRows(join(dir, 'world', 'eval', 'gen.jsonl'))
    .slice(0, preset.gridPrompts)
    .map((r) => r.prompt);
}

/**
 * The reward-validity table of the first seed's base (src/rl/validity): per image reward, how often a correct
 * image scores above a wrong one of the same prompt (all pairs; against the empty frame; among the base's own
 * samples, which is what GRPO compares), with 95% bootstrap intervals, and the rank correlation with the exact
 * check.
 */
function validityTable(v: unknown): ReportTableInput[] {
  const r = v as ValidityResult | undefined;
  if (!r || !Array.isArray(r.rewards)) return [];
  const cell = (p: PairStat | null | undefined): Cell =>
    p && p.pairs > 0 && Number.isFinite(p.accuracy)
      ? { mean: p.accuracy, ci: Math.max(0, (p.ci[1] - p.ci[0]) / 2), n: p.pairs }
      : null;
  return [
    {
      id: 'validity',
      title: 'Which generation reward can be trusted: validity on the base',
      caption:
        `${r.prompts} held-out prompts of the first seed: correct images (the real one, other correct renders, the ` +
        "base's samples the exact check passes) against wrong ones (an empty frame, wrong colour / shape / count / " +
        "position, the base's failed samples). A cell is the share of pairs the correct image wins (ties count " +
        'half) ± half its 95% bootstrap interval over prompts; Spearman is the rank correlation with the exact check.',
      row_header: 'reward',
      columns: ['all pairs', 'vs empty frame', "base's samples", 'Spearman'],
      rows: r.rewards.map((w) => ({
        label: w.name,
        cells: [
          cell(w.overall),
          cell(w.by_kind?.empty),
          cell(w.samples_only),
          Number.isFinite(w.spearman) ? { mean: w.spearman } : null,
        ],
      })),
    },
  ];
}
