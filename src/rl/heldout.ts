/**
 * Held-out evaluation used by the trainer before and after a run: on fresh prompts, the mean image reward (one
 * image per prompt, CFG, a fixed sampling seed so before/after see the same noise), the exact GenEval-style
 * score of those images (scene parser), and understanding accuracy and format rate of greedy answers.
 */
import * as torch from '../torch/index.js';
import { specsOf, type RewardRegistry } from '../rewards/index.js';
import type { TrainConfig } from './config.js';
import type { RLExample } from './data.js';
import {
  recaption,
  rolloutAnswers,
  rolloutImages,
  samplingConfig,
  timHidden,
  type Policy,
  type SamplingConfig,
} from './rollout.js';

export interface HeldOutScores {
  /** Mean total image reward (the configured image rewards and weights). */
  gen_reward: number;
  /** Fraction of images whose parsed scene satisfies the prompt (GenEval rules). */
  geneval: number;
  /** Mean answer accuracy (greedy). */
  accuracy: number;
  format: number;
  n: number;
}

const CHUNK = 16;

export function evaluateHeldOut(
  policy: Policy,
  examples: readonly RLExample[],
  rewards: RewardRegistry,
  cfg: TrainConfig,
): HeldOutScores {
  const gen = new torch.Generator(12345);
  // the run's sampling, made greedy for answers and re-captions (images keep the run's CFG and temperature)
  const s: SamplingConfig = {
    ...samplingConfig(cfg),
    textTemperature: 0,
    topK: 0,
    topP: 1,
    recaptionTemperature: 0,
  };
  const genReward: number[] = [];
  const geneval: number[] = [];
  const acc: number[] = [];
  const fmt: number[] = [];
  const imageSpecs = specsOf(cfg.rewards.image);
  for (let i = 0; i < examples.length; i += CHUNK) {
    const chunk = examples.slice(i, i + CHUNK);
    torch.tidy(() => {
      const img = rolloutImages(policy, chunk, 1, s, gen);
      const recaps = recaption(policy, img.images, s, gen);
      const hidden = timHidden(
        policy,
        img.images,
        chunk.map((e) => e.prompt),
      );
      const samples = img.images.map((image, k) => ({
        image,
        prompt: chunk[k]!.prompt,
        realImage: chunk[k]!.realImage,
        recaption: recaps[k],
        spec: chunk[k]!.spec,
      }));
      genReward.push(...rewards.score('image', imageSpecs, { samples, hidden }).total);
      geneval.push(...rewards.score('image', [{ name: 'geneval' }], { samples }).total);
      const ans = rolloutAnswers(policy, chunk, 1, { ...s, textTemperature: 0 }, gen);
      const textSamples = ans.texts.map((completion, k) => ({
        completion,
        qa_solution: chunk[k]!.qaSolution,
        qa_type: chunk[k]!.qaType,
        qa_problem: chunk[k]!.qaProblem,
      }));
      acc.push(...rewards.score('text', [{ name: 'qa_accuracy' }], { samples: textSamples }).total);
      fmt.push(...rewards.score('text', [{ name: 'format' }], { samples: textSamples }).total);
    });
  }
  return {
    gen_reward: mean(genReward),
    geneval: mean(geneval),
    accuracy: mean(acc),
    format: mean(fmt),
    n: examples.length,
  };
}

function mean(xs: readonly number[]): number {
  const f = xs.filter(Number.isFinite);
  return f.length === 0 ? NaN : f.reduce((a, b) => a + b, 0) / f.length;
}
