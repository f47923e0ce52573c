/**
 * Pipeline presets: how big each stage of the CoRL recipe is. `world-tiny` is the default (the whole recipe on
 * 2 CPU cores in about 20 minutes); `world-micro` runs every stage for a few seconds (tests, CI, smoke runs).
 */
import { UserError } from '../util/errors.js';
import { createRewardRegistry } from '../rewards/index.js';
import {
  PAPER_IMAGE_REWARDS,
  recipeByName,
  withRecipe,
  type Recipe,
  type Stage2Branch,
  type TrainOverrides,
} from './recipes.js';

export type { TrainOverrides } from './recipes.js';

export { PAPER_IMAGE_REWARDS } from './recipes.js';

export interface PipelinePreset {
  name: string;
  /** `corl world build` sizes. */
  world: { train: number; test: number };
  /** `corl pretrain all --preset`. */
  pretrain: string;
  /** `corl eval` size: generation prompts (4 images each) and questions per family. */
  eval: { genPrompts: number; maxQuestions: number; examples: number };
  /**
   * The image rewards (name -> weight) of stage 1 and of the stage-2 generation branch (the recipe's, or
   * --image-rewards); the text side is always accuracy + format. Paper: cycle consistency + TIM.
   */
  imageRewards: Record<string, number>;
  /** Stage 1, unified RL (paper: beta 0, G 8, lambda 0.8): the preset's sizes, then the recipe's settings. */
  stage1: TrainOverrides;
  /** Stage 2, refined RL, every branch (paper: KL to the reference, G 16, lower lr). */
  stage2: TrainOverrides;
  /** Stage 2 per branch (the paper's batch differs by branch). */
  stage2Branch: Partial<Record<Stage2Branch, TrainOverrides>>;
  /** The RL recipe applied (recipes.ts). */
  recipe: Recipe;
  /** Gaussian merge band (paper code: lambda 2). */
  mergeLambda: number;
  /** Prompts shown in the report's image grid (one image per stage each). */
  gridPrompts: number;
}

/** The understanding rewards of every stage and branch. */
export const TEXT_REWARDS = { qa_accuracy: 1, format: 1 };

/**
 * The train-config fields of one RL run of a preset: what it starts from and trains on, the rewards of its
 * tasks, then the stage's sizes (`p.stage1` or `p.stage2`).
 */
export function runFields(
  p: PipelinePreset,
  stage: TrainOverrides,
  run: { model: string; data: string; seed: number; tasks: string[] },
): TrainOverrides {
  return { ...run, rewards: rewardsFor(p, run.tasks), ...stage };
}

/** A preset's rewards for a run training `tasks` (the train config's `rewards` field). */
export function rewardsFor(p: PipelinePreset, tasks: readonly string[]): TrainOverrides {
  return {
    image: tasks.includes('t2i') ? p.imageRewards : {},
    text: tasks.includes('mm2t') ? TEXT_REWARDS : {},
  };
}

/** The sizes of each preset (the recipe fills in the rest). */
const PRESETS: Record<string, Omit<PipelinePreset, 'recipe' | 'stage2Branch' | 'imageRewards'>> = {
  'world-tiny': {
    name: 'world-tiny',
    world: { train: 2000, test: 600 },
    pretrain: 'world-tiny',
    // 150 prompts x 4 images and 500 questions per family: 95% item intervals of about +-0.04 on MCQ / OE /
    // POPE F1 and +-0.02-0.04 on GenEval for one evaluation; paired changes against the base +-0.01-0.03
    // (docs/recipe.md); an evaluation takes 20-40 s on 2 cores
    eval: { genPrompts: 150, maxQuestions: 500, examples: 4 },
    stage1: {
      steps: 80,
      batch_size: 4,
      num_generations: 8,
      micro_batch_size: 4,
      lr: 1e-4,
      // held-out curve: 24 test rows at steps 0, 20, ..., 80, about 5% of the stage (one evaluation of R rows
      // costs about R image samplings, re-captions and answers: 24 rows ~0.8 s, a step ~1.4 s, measured)
      eval_rows: 24,
      eval_every: 20,
    },
    stage2: {
      steps: 24,
      batch_size: 2,
      num_generations: 16,
      micro_batch_size: 2,
      lr: 5e-5,
      beta: 0.04,
      // a branch is 24 short steps (37-82 s in all, measured): 5% of it pays for two small evaluations,
      // before and after
      eval_rows: 8,
      eval_every: 0,
    },
    mergeLambda: 2,
    gridPrompts: 6,
  },
  'world-micro': {
    name: 'world-micro',
    world: { train: 40, test: 12 },
    pretrain: 'world-micro',
    eval: { genPrompts: 4, maxQuestions: 6, examples: 2 },
    stage1: {
      steps: 2,
      batch_size: 2,
      num_generations: 2,
      micro_batch_size: 2,
      max_completion_length: 8,
      recaption_max_tokens: 8,
      // the held-out path at a smoke run's cost: 2 rows after every step
      eval_rows: 2,
      eval_every: 1,
    },
    stage2: {
      steps: 1,
      batch_size: 2,
      num_generations: 2,
      micro_batch_size: 2,
      beta: 0.04,
      max_completion_length: 8,
      recaption_max_tokens: 8,
      eval_rows: 2,
      eval_every: 1,
    },
    mergeLambda: 2,
    gridPrompts: 2,
  },
};

/** One line for the report cards: which rewards the runs used. */
export function rewardsNote(p: PipelinePreset): string {
  const image = Object.entries(p.imageRewards)
    .map(([k, w]) => `${k} x ${w}`)
    .join(' + ');
  return `Image rewards (stage 1, separate and alternating runs, the generation branch): ${image}; text rewards: qa_accuracy + format.`;
}

/**
 * `--image-rewards` text -> name -> weight: "geneval", "t2i_bid_cycle_reward,t2i_ti_sim" (weight 1 each) or
 * "geneval=2,t2i_ti_sim=0.5"; "paper" = the paper's cycle + TIM.
 */
export function parseImageRewards(text: string): Record<string, number> {
  if (text.trim() === 'paper') return { ...PAPER_IMAGE_REWARDS };
  const known = createRewardRegistry().names('image');
  const out: Record<string, number> = {};
  for (const part of text.split(',')) {
    const [name = '', weight] = part.trim().split('=');
    if (!known.includes(name))
      throw new UserError(
        `--image-rewards: unknown image reward "${name}" (known: paper, ${known.join(', ')})`,
      );
    const w = weight === undefined ? 1 : Number(weight);
    if (!Number.isFinite(w) || w <= 0)
      throw new UserError(
        `--image-rewards: the weight of ${name} must be a positive number, got "${weight}"`,
      );
    out[name] = w;
  }
  return out;
}

/**
 * A preset by name with a recipe applied (default `corl`, recipes.ts), and the image rewards replaced when
 * `imageRewards` is given.
 */
export function pipelinePreset(
  name: string,
  o: { imageRewards?: string; recipe?: string } = {},
): PipelinePreset {
  const sizes = PRESETS[name];
  if (!sizes) throw new UserError(`unknown preset "${name}" (known: ${Object.keys(PRESETS).join(', ')})`);
  const recipe = recipeByName(o.recipe ?? 'corl');
  const stage2 = withRecipe(sizes.stage2, recipe.stage2);
  const stage2Branch: PipelinePreset['stage2Branch'] = {};
  for (const [b, fields] of Object.entries(recipe.stage2Branch ?? {}))
    stage2Branch[b as Stage2Branch] = withRecipe(stage2, fields);
  return {
    ...sizes,
    recipe,
    stage1: withRecipe(sizes.stage1, recipe.stage1),
    stage2,
    stage2Branch,
    imageRewards: o.imageRewards === undefined ? recipe.imageRewards : parseImageRewards(o.imageRewards),
  };
}

/** A stage-2 branch's fields: every branch's, then its own. */
export function branchFields(p: PipelinePreset, branch: Stage2Branch): TrainOverrides {
  return p.stage2Branch[branch] ?? p.stage2;
}

/** One line for the report cards: the recipe and where it departs from the paper. */
export function recipeNote(p: PipelinePreset): string {
  const r = p.recipe;
  return r.departures.length === 0
    ? `Recipe "${r.name}": ${r.description}.`
    : `Recipe "${r.name}" (${r.description}); it departs from the paper in: ${r.departures.join('; ')}. The paper's recipe is one flag away: --recipe paper.`;
}

export const PIPELINE_PRESETS = Object.keys(PRESETS);
