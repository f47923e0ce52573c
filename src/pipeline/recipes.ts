/**
 * RL recipes of the pipeline: the settings of stage 1 and stage 2 apart from a preset's sizes.
 *
 *   corl    the default, chosen by measurement on ShapesWorld (docs/recipe.md): where and why it departs from
 *           the paper is listed in `departures` and printed on the report card.
 *   paper   the paper's Table 5 as written: cycle + TIM rewards, G 8 / 16, beta 0 / 0.02, batch
 *           16 / 16 / 32 / 32, lr 4e-6 / 1e-6, one joint advantage (unify_reward), conditional image log-probs
 *           (ULM-R1). Steps are scaled so each run sees as many prompts as the preset's default run.
 */
import { UserError } from '../util/errors.js';

/** Fields of a train config (src/rl/config.ts) that a preset or a recipe sets. */
export type TrainOverrides = Record<string, unknown>;

export type Stage2Branch = 'gen' | 'mcq' | 'oe';

export interface Recipe {
  name: string;
  description: string;
  /** Image rewards of stage 1 and the generation branch (name -> weight). */
  imageRewards: Record<string, number>;
  stage1: TrainOverrides;
  /** Every stage-2 branch, then per branch. */
  stage2: TrainOverrides;
  stage2Branch?: Partial<Record<Stage2Branch, TrainOverrides>>;
  /** How this recipe departs from the paper's (empty for the paper's own). */
  departures: string[];
}

/** The paper's generation rewards: bidirectional cycle consistency and text-image matching. */
export const PAPER_IMAGE_REWARDS = { t2i_bid_cycle_reward: 1, t2i_ti_sim: 1 };

export const RECIPES: Readonly<Record<string, Recipe>> = {
  corl: {
    name: 'corl',
    description:
      'the default: verifiable GenEval reward, per-task advantages, CFG log-probs (docs/recipe.md)',
    imageRewards: { geneval: 1 },
    stage1: { advantage: 'separate', image_logprob_mode: 'cfg', lr: 5e-5 },
    stage2: { image_logprob_mode: 'cfg' },
    departures: [
      'generation reward: the exact GenEval check (scene parser) instead of cycle + TIM, which rank correct images first in only 58% of pairs of the base model\u2019s own samples on this world (docs/rewards.md)',
      'advantages per task (advantage: separate) instead of one joint reward: the answers\u2019 advantage is not image-reward noise',
      'image log-probs of the CFG mixture that was sampled (image_logprob_mode: cfg) instead of the conditional logits',
      'learning rates 5e-5 / 5e-5 and batches of 4 / 2 prompts for a 1.3M-parameter model on 2 CPU cores (paper: 4e-6 / 1e-6, 16 / 16-32 on 8 GPUs)',
    ],
  },
  paper: {
    name: 'paper',
    description: "the paper's Table 5: cycle + TIM, G 8/16, beta 0/0.02, batch 16/16/32/32, lr 4e-6/1e-6",
    imageRewards: PAPER_IMAGE_REWARDS,
    stage1: {
      num_generations: 8,
      beta: 0,
      batch_size: 16,
      lr: 4e-6,
      lambda: 0.8,
      advantage: 'unify_reward',
      image_logprob_mode: 'cond',
    },
    stage2: { num_generations: 16, beta: 0.02, lr: 1e-6, image_logprob_mode: 'cond' },
    stage2Branch: { gen: { batch_size: 16 }, mcq: { batch_size: 32 }, oe: { batch_size: 32 } },
    departures: [],
  },
};

export const RECIPE_NAMES = Object.keys(RECIPES);

export function recipeByName(name: string): Recipe {
  const r = RECIPES[name];
  if (!r) throw new UserError(`unknown --recipe "${name}" (known: ${RECIPE_NAMES.join(', ')})`);
  return r;
}

/**
 * A run's fields: the preset's sizes, then the recipe's settings. When the recipe sets another batch size
 * than the preset's, the steps are scaled so the run sees as many prompts (at least one step), and the micro
 * batch is capped at the batch.
 */
export function withRecipe(sizes: TrainOverrides, recipe: TrainOverrides): TrainOverrides {
  const out = { ...sizes, ...recipe };
  const b0 = Number(sizes.batch_size);
  const b1 = Number(out.batch_size);
  if (b1 !== b0 && Number.isFinite(b0) && Number.isFinite(b1)) {
    out.steps = Math.max(1, Math.round((Number(sizes.steps) * b0) / b1));
    out.micro_batch_size = greatestDivisorAtMost(b1, Number(sizes.micro_batch_size ?? b0));
  }
  return out;
}

function greatestDivisorAtMost(n: number, cap: number): number {
  for (let d = Math.min(n, Math.max(1, cap)); d > 1; d--) if (n % d === 0) return d;
  return 1;
}
