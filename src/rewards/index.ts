/**
 * corl's verifiable rewards, by name (ULM-R1's names where it has them):
 *
 *   text ("mm2t")   format                 1 if the completion fully matches <think>...</think>\s*<answer>...</answer>
 *                   qa_accuracy            MCQ letter / open-ended answer vs the solution (routes on qa_type)
 *                   think_match            bigram F1 of the think against the example's reference think (corl's)
 *   image ("t2i")   t2i_bid_cycle_reward   0.5 image side (1-LPIPS | SSIM | 1-RMSE) + 0.5 text side (SPICE | BERTScore)
 *                   t2i_ti_sim             TIM: token-level greedy cosine matching in the policy's hidden states
 *                   t2i_clip_sim           CLIP-style global cosine of the mean-pooled spans (a baseline)
 *                   geneval                scene parser + GenEval-style check of the prompt's spec (exact)
 *
 * Every reward returns values in [0, 1] or NaN ("cannot score"); the registry validates and combines them per
 * modality (registry.ts); src/rl/grpo.ts joins the two modalities (r = r_t2i + lambda r_mm2t).
 */
import { accuracyReward } from './accuracy.js';
import type { TokenEmbedder } from './bertscore.js';
import { clipSimReward } from './clip-sim.js';
import { cycleReward, type TextSimilarity } from './cycle.js';
import { formatReward } from './format.js';
import { genevalReward } from './geneval-reward.js';
import type { LpipsNet } from './lpips.js';
import { RewardRegistry, type RewardSpec } from './registry.js';
import { thinkMatchReward } from './think.js';
import { timReward } from './tim.js';
import { PAPER_REWARDS } from './names.js';
import type { DetectOptions } from '../world/detect.js';

export * from './types.js';
export * from './registry.js';
export { formatReward } from './format.js';
export { accuracyReward } from './accuracy.js';
export { thinkMatchReward, thinkF1, thinkWords } from './think.js';
export { imageSimilarity, imagesToTensor, rmse, ssim, type ImageSimilarityOptions } from './image-metrics.js';
export {
  loadLpips,
  createLpips,
  saveLpips,
  LpipsNet,
  ALEXNET_LPIPS,
  VGG16_LPIPS,
  type LpipsConfig,
} from './lpips.js';
export { bertScore, bertScoreBatch, type TokenEmbedder } from './bertscore.js';
export { cycleReward, cycleCombine, worldSpice, type CycleOptions, type TextSimilarity } from './cycle.js';
export { timReward, timScores, timRaw } from './tim.js';
export { clipSimReward, clipSimScores } from './clip-sim.js';
export { genevalReward } from './geneval-reward.js';

export interface RewardOptions {
  /** LPIPS network for the cycle reward's image side (else `imageFallback`). */
  lpips?: LpipsNet;
  /** Image side without LPIPS: 'ssim' (default) or 'rmse' (ULM-R1 v2). */
  imageFallback?: 'ssim' | 'rmse';
  /** Token embedder: the cycle reward's text side becomes BERTScore (else the world's SPICE-style F1). */
  encoder?: TokenEmbedder;
  /** Replaces the SPICE-style text similarity (default: the world caption parser's tuple F1). */
  spice?: TextSimilarity;
  /** Weight of the image side inside the cycle reward (default 0.5). */
  cycleImageWeight?: number;
  /** Scene-parser options for the `geneval` reward. */
  detect?: DetectOptions;
}

/** A registry holding every corl reward, configured by `opts`. */
export function createRewardRegistry(opts: RewardOptions = {}): RewardRegistry {
  return new RewardRegistry()
    .register(formatReward())
    .register(accuracyReward())
    .register(thinkMatchReward())
    .register(
      cycleReward({
        lpips: opts.lpips,
        fallback: opts.imageFallback,
        encoder: opts.encoder,
        spice: opts.spice,
        imageWeight: opts.cycleImageWeight,
      }),
    )
    .register(timReward())
    .register(clipSimReward())
    .register(genevalReward(opts.detect));
}

/** The paper's rewards (names.ts PAPER_REWARDS) as the registry's specs: per modality, weight 1 each. */
export const CORL_REWARDS: Readonly<{ text: readonly RewardSpec[]; image: readonly RewardSpec[] }> = {
  text: Object.entries(PAPER_REWARDS.text).map(([name, weight]) => ({ name, weight })),
  image: Object.entries(PAPER_REWARDS.image).map(([name, weight]) => ({ name, weight })),
};
