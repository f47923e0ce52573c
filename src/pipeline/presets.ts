/**
 * Pipeline presets: how big each stage of the CoRL recipe is. A recipe (recipes.ts: a folder of stage YAMLs
 * under configs/) holds every training setting at the world-tiny size; a preset adds the world's size, the
 * evaluation's size and the report's grid, and may override the runs' sizes (SIZE_FIELDS) and nothing else.
 *
 *   world-tiny   the default: the recipe's YAMLs as written (the whole recipe on 2 idle CPU cores in about 10 min, docs/recipe.md)
 *   world-micro  every stage for a few seconds (tests, CI, smoke runs): the YAMLs with small sizes
 */
import { UserError } from '../util/errors.js';
import { createRewardRegistry } from '../rewards/index.js';
import {
  STAGES,
  recipeByName,
  type Recipe,
  type Stage2Branch,
  type StageFields,
  type StageName,
  type TrainOverrides,
} from './recipes.js';

export type { TrainOverrides } from './recipes.js';

/** The train-config fields a preset may set over a recipe: how big a run is, never how it learns. */
export const SIZE_FIELDS = [
  'steps',
  'batch_size',
  'num_generations',
  'micro_batch_size',
  'max_completion_length',
  'recaption_max_tokens',
  'eval_rows',
  'eval_every',
] as const;
export type RunSizes = Partial<Record<(typeof SIZE_FIELDS)[number], number>>;

export interface PipelinePreset {
  name: string;
  /** `corl world build` sizes. */
  world: { train: number; test: number };
  /** `corl pretrain all --preset`. */
  pretrain: string;
  /** `corl eval` size: generation prompts (4 images each) and questions per family. */
  eval: { genPrompts: number; maxQuestions: number; examples: number };
  /**
   * `corl eval` size of the transfer study (`corl pilot --study transfer`, docs/science.md): large enough that
   * a 0.05 change of one family is outside the 95% interval of one evaluation.
   */
  studyEval: { genPrompts: number; maxQuestions: number; examples: number };
  /** Prompts shown in the report's image grid (one image per stage each). */
  gridPrompts: number;
  /** `corl rewards check` of the base: prompts, the base's samples per prompt, bootstrap resamples. */
  validity: { prompts: number; imagesPerPrompt: number; bootstrap: number };
  /** The RL recipe applied (recipes.ts). */
  recipe: Recipe;
  /** Each stage's train-config fields: the recipe's YAML, the preset's sizes over it, --image-rewards. */
  stages: Record<StageName, StageFields>;
  /**
   * The image rewards (name -> weight) of stage 1, and of every run that generates (the recipe's, or
   * --image-rewards).
   */
  imageRewards: Record<string, number>;
}

/** What a preset is beside its recipe: the sizes of the world, the evaluation, the report, and the runs. */
interface PresetSizes {
  world: PipelinePreset['world'];
  pretrain: string;
  eval: PipelinePreset['eval'];
  studyEval: PipelinePreset['studyEval'];
  gridPrompts: number;
  validity: PipelinePreset['validity'];
  /** Over the recipe's stage-1 YAML, and over every stage-2 YAML (none: the YAMLs' own sizes). */
  stage1?: RunSizes;
  stage2?: RunSizes;
}

const PRESETS: Record<string, PresetSizes> = {
  'world-tiny': {
    world: { train: 2000, test: 600 },
    pretrain: 'world-tiny',
    // 150 prompts x 4 images and 500 questions per family: 95% item intervals of about +-0.04 on MCQ / OE /
    // POPE F1 and +-0.02-0.04 on GenEval for one evaluation; paired changes against the base +-0.01-0.03
    // (docs/recipe.md); an evaluation takes 20-40 s on 2 cores
    eval: { genPrompts: 150, maxQuestions: 500, examples: 4 },
    // 200 prompts x 4 images and 600 questions per family (all of the split's MCQ and OE): one evaluation's
    // 95% item interval about +-0.035 on a family at 0.75, so a 0.05 change is outside it (docs/science.md)
    studyEval: { genPrompts: 200, maxQuestions: 600, examples: 0 },
    gridPrompts: 6,
    // the report's reward-validity table: 48 prompts, about 540 candidates, about 30 s (docs/rewards.md)
    validity: { prompts: 48, imagesPerPrompt: 4, bootstrap: 1000 },
  },
  'world-micro': {
    world: { train: 40, test: 12 },
    pretrain: 'world-micro',
    eval: { genPrompts: 4, maxQuestions: 6, examples: 2 },
    studyEval: { genPrompts: 4, maxQuestions: 6, examples: 0 },
    gridPrompts: 2,
    validity: { prompts: 2, imagesPerPrompt: 1, bootstrap: 100 },
    // every run a step or two of a couple of short samples; the held-out path at a smoke run's cost: 2 rows
    // after every step
    stage1: {
      steps: 2,
      batch_size: 2,
      num_generations: 2,
      micro_batch_size: 2,
      max_completion_length: 8,
      recaption_max_tokens: 8,
      eval_rows: 2,
      eval_every: 1,
    },
    stage2: {
      steps: 1,
      batch_size: 2,
      num_generations: 2,
      micro_batch_size: 2,
      max_completion_length: 8,
      recaption_max_tokens: 8,
      eval_rows: 2,
      eval_every: 1,
    },
  },
};

export const PIPELINE_PRESETS = Object.keys(PRESETS);

/**
 * A preset by name with a recipe applied (default `corl`, recipes.ts), and the image rewards of every run
 * that generates replaced when `imageRewards` is given (parseImageRewards).
 */
export function pipelinePreset(
  name: string,
  o: { imageRewards?: string; recipe?: string } = {},
): PipelinePreset {
  const sizes = PRESETS[name];
  if (!sizes) throw new UserError(`unknown preset "${name}" (known: ${PIPELINE_PRESETS.join(', ')})`);
  const recipe = recipeByName(o.recipe ?? 'corl');
  const image = o.imageRewards === undefined ? undefined : parseImageRewards(o.imageRewards);
  const stages = Object.fromEntries(
    STAGES.map((s) => {
      const fields = {
        ...recipe.stages[s],
        ...checkSizes((s === 'stage1' ? sizes.stage1 : sizes.stage2) ?? {}),
      };
      if (image !== undefined && fields.tasks.includes('t2i')) fields.rewards = { ...fields.rewards, image };
      return [s, fields];
    }),
  ) as PipelinePreset['stages'];
  const { world, pretrain, eval: evalSizes, studyEval, gridPrompts, validity } = sizes;
  return {
    name,
    world,
    pretrain,
    eval: evalSizes,
    studyEval,
    gridPrompts,
    validity,
    recipe,
    stages,
    imageRewards: stages.stage1.rewards.image,
  };
}

function checkSizes(sizes: RunSizes): RunSizes {
  const known: readonly string[] = SIZE_FIELDS;
  for (const k of Object.keys(sizes))
    if (!known.includes(k)) throw new Error(`a preset sets ${k}, which is a recipe's (configs/), not a size`);
  return sizes;
}

/** A stage-2 branch's fields. */
export function branchFields(p: PipelinePreset, branch: Stage2Branch): StageFields {
  return p.stages[`stage2-${branch}`];
}

/**
 * The train-config fields of one RL run of a preset: a stage's fields, then what the run starts from and
 * trains on, its tasks (default: the stage's), and the stage's rewards for those tasks.
 */
export function runFields(
  p: PipelinePreset,
  stage: StageName,
  run: { model: string; data: string; seed: number; tasks?: string[] },
): TrainOverrides {
  const fields = p.stages[stage];
  const tasks = run.tasks ?? fields.tasks;
  return { ...fields, ...run, tasks, rewards: rewardsFor(fields, tasks) };
}

/** A stage's rewards for a run training `tasks`: image rewards only if it generates, text only if it answers. */
export function rewardsFor(fields: StageFields, tasks: readonly string[]): StageFields['rewards'] {
  return {
    image: tasks.includes('t2i') ? fields.rewards.image : {},
    text: tasks.includes('mm2t') ? fields.rewards.text : {},
  };
}

/** One line for the report cards: which rewards the runs used. */
export function rewardsNote(p: PipelinePreset): string {
  const image = Object.entries(p.imageRewards)
    .map(([k, w]) => `${k} x ${w}`)
    .join(' + ');
  const text = Object.keys(p.stages.stage1.rewards.text).join(' + ');
  return `Image rewards (stage 1, separate and alternating runs, the generation branch): ${image}; text rewards: ${text}.`;
}

/**
 * `--image-rewards` text -> name -> weight: "geneval", "t2i_bid_cycle_reward,t2i_ti_sim" (weight 1 each) or
 * "geneval=2,t2i_ti_sim=0.5"; "paper" = the image rewards of the paper's recipe (configs/paper/stage1.yaml: cycle + TIM).
 */
export function parseImageRewards(text: string): Record<string, number> {
  if (text.trim() === 'paper') return { ...recipeByName('paper').stages.stage1.rewards.image };
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

/** One line for the report cards: the recipe and where it departs from the paper. */
export function recipeNote(p: PipelinePreset): string {
  const r = p.recipe;
  return r.departures.length === 0
    ? `Recipe "${r.name}": ${r.description}.`
    : `Recipe "${r.name}" (${r.description}); it departs from the paper in: ${r.departures.join('; ')}. The paper's recipe is one flag away: --recipe paper.`;
}
