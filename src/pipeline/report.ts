/**
 * Builds the report card of a pipeline or pilot run from its stage results: score tables (from `corl eval`
 * results), reward and accuracy curves (from each run's metrics.jsonl), an image grid of the same prompts
 * through every stage, sampled answers, and the stage timeline.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, relative } from 'node:path';
import * as torch from '../torch/index.js';
import {
  generationBatch,
  generationPrompt,
  loadULM,
  sampleImages,
  toRGBImages,
  writePNG,
} from '../model/index.js';
import { flattenEval, type EvalResult } from '../eval/evaluate.js';
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
import { rewardsNote, type PipelinePreset } from './presets.js';
import type { StageRunner } from './stages.js';
import type { EvalResults, PipelineModels } from './pipeline.js';

/** Score columns: [label, flattenEval key]. */
export const SCORE_COLUMNS: [string, string][] = [
  ['GenEval', 'geneval/overall'],
  ...GENEVAL_CATEGORIES.map((c) => [c.replace('_', ' '), `geneval/${c}`] as [string, string]),
  ['MCQ', 'mcq/accuracy'],
  ['OE', 'oe/accuracy'],
  ['POPE F1', 'pope/f1'],
  ['format', 'format/rate'],
];

const GEN_KEYS = new Set(SCORE_COLUMNS.filter(([, k]) => k.startsWith('geneval/')).map(([, k]) => k));

/** The flat scores of an eval result (null when the eval did not run). */
export function scores(r: unknown): Record<string, number> {
  return r === null || r === undefined ? {} : flattenEval(r as EvalResult);
}

/** A row of cells from several seeds' flat scores (mean +- 95% CI when there is more than one). */
export function scoreCells(perSeed: Record<string, number>[]): Cell[] {
  return SCORE_COLUMNS.map(([, k]) => meanCell(perSeed.map((s) => s[k] ?? NaN)));
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

/** One image per prompt per model, same prompts and seed for every model: DIR/report-images/<model>-<i>.png. */
export function imageGrid(out: string, models: [string, string][], prompts: string[]): ReportInput['grids'] {
  const dir = join(out, 'report-images');
  mkdirSync(dir, { recursive: true });
  const paths = models.map(([name, folder]) => {
    const { model, tokenizer } = loadULM(folder);
    try {
      const images = torch.noGrad(() =>
        torch.tidy(() => {
          const batch = generationBatch(
            tokenizer,
            prompts.map((p) => generationPrompt(p)),
          );
          const { codes } = sampleImages(model, batch, {
            cfgWeight: 5,
            temperature: 1,
            padId: tokenizer.special.pad,
            generator: new torch.Generator(2024),
          });
          return toRGBImages(model.gen_vision_model.decode(codes));
        }),
      );
      return images.map((img, i) => {
        const file = join(dir, `${name}-${i}.png`);
        writePNG(file, img);
        return relative(out, file);
      });
    } finally {
      model.dispose();
    }
  });
  return [
    {
      title: 'The same prompts through every stage',
      caption:
        'One image per prompt and stage (CFG 5, temperature 1, the same sampling seed for every model).',
      columns: models.map(([n]) => n),
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

export async function buildPipelineReport(o: {
  out: string;
  preset: PipelinePreset;
  runner: StageRunner;
  models: PipelineModels;
  evals: EvalResults;
  seconds: number;
}): Promise<string> {
  const { out, evals } = o;
  const s = Object.fromEntries(Object.entries(evals).map(([k, v]) => [k, scores(v)])) as Record<
    keyof PipelineModels,
    Record<string, number>
  >;
  const rows: [string, Record<string, number>][] = [
    ['base (pretrained)', s.base],
    ['stage 1: unified RL', s.stage1],
    ['stage 2: generation', s.gen],
    ['stage 2: MCQ', s.mcq],
    ['stage 2: OE', s.oe],
    ['MCQ + OE merged', s.merged],
    ['CoRL (gen: stage 2 generation, und: merged)', combineScores(s.gen, s.merged)],
  ];
  const main: ReportTableInput = {
    id: 'main',
    title: 'Every stage on the held-out split',
    caption: `GenEval-style: ${o.preset.eval.genPrompts} prompts x 4 images, scene parser; MCQ / OE / POPE: greedy answers, up to ${o.preset.eval.maxQuestions} questions each.`,
    row_header: 'model',
    columns: SCORE_COLUMNS.map(([c]) => c),
    rows: rows.map(([label, sc]) => ({ label, cells: scoreCells([sc]) })),
  };
  markBest(main);
  const world = join(out, 'world');
  const prompts = readWorldRows(join(world, 'eval', 'gen.jsonl'))
    .slice(0, o.preset.gridPrompts)
    .map((r) => r.prompt);
  const gridModels: [string, string][] = [
    ['base', o.models.base],
    ['stage1', o.models.stage1],
    ['stage2-gen', o.models.gen],
  ];
  const report: ReportInput = {
    meta: meta(`CoRL on ShapesWorld (${o.preset.name})`, o.preset.name, o.seconds, [
      'Scores are fractions in [0, 1] on held-out scenes of the embedded ShapesWorld.',
      'The CoRL row scores generation with the stage-2 generation branch and understanding with the merged MCQ + OE model.',
      rewardsNote(o.preset),
    ]),
    tables: [main],
    curves: curves(
      [
        ['stage1', join(out, 'stage1')],
        ['stage2-gen', join(out, 'stage2-gen')],
        ['stage2-mcq', join(out, 'stage2-mcq')],
        ['stage2-oe', join(out, 'stage2-oe')],
      ],
      o.preset,
    ),
    grids: imageGrid(out, gridModels, prompts),
    answers: (Object.keys(evals) as (keyof PipelineModels)[]).flatMap((k) => answersOf(k, evals[k])),
    stages: o.runner.timeline.map((t) => ({ name: t.name, status: t.status, seconds: t.seconds })),
  };
  return writeReport(out, report).htmlPath;
}
