/**
 * Held-out evaluation used by the trainer before and after a run: on fresh prompts, the mean image reward (one
 * image per prompt, CFG, a fixed sampling seed so before/after see the same noise), the exact GenEval-style
 * score of those images (scene parser), and understanding accuracy and format rate of greedy answers.
 */
import * as torch from '../torch/index.js';
import * as dist from '../torch/distributed.js';
import { specsOf, type RewardRegistry } from '../rewards/index.js';
import type { TrainConfig } from './config.js';
import { answerSample, imageSample, type RLExample } from './data.js';
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
  const r = heldOutRows(policy, examples, rewards, cfg);
  return {
    gen_reward: mean(r.genReward),
    geneval: mean(r.geneval),
    accuracy: mean(r.acc),
    format: mean(r.fmt),
    n: examples.length,
  };
}

/**
 * The same evaluation sharded over data-parallel ranks: rank r scores rows [r n / N, (r + 1) n / N) (the
 * last shards one row shorter when N does not divide n), and the per-row scores are gathered, so every rank
 * returns the scores of all n rows. The sampling noise of a row depends on its shard (each rank's generator
 * starts from the same fixed seed), so the figures match one process's in distribution, not bit for bit.
 */
export function evaluateHeldOutSharded(
  policy: Policy,
  examples: readonly RLExample[],
  rewards: RewardRegistry,
  cfg: TrainConfig,
  world: { rank: number; size: number },
): HeldOutScores {
  const per = Math.ceil(examples.length / world.size);
  const shard = examples.slice(world.rank * per, (world.rank + 1) * per);
  const r = heldOutRows(policy, shard, rewards, cfg);
  // NaN pads a short shard: NaN is "cannot score" and every mean below leaves it out
  const pad = (xs: number[]) => [...xs, ...Array<number>(per - xs.length).fill(NaN)];
  const all = dist.allGatherNumbers([...pad(r.genReward), ...pad(r.geneval), ...pad(r.acc), ...pad(r.fmt)]);
  const col = (k: number) => all.flatMap((row) => row.slice(k * per, (k + 1) * per));
  return {
    gen_reward: mean(col(0)),
    geneval: mean(col(1)),
    accuracy: mean(col(2)),
    format: mean(col(3)),
    n: examples.length,
  };
}

function heldOutRows(
  policy: Policy,
  examples: readonly RLExample[],
  rewards: RewardRegistry,
  cfg: TrainConfig,
): { genReward: number[]; geneval: number[]; acc: number[]; fmt: number[] } {
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
      const samples = img.images.map((image, k) => imageSample(image, chunk[k]!, recaps[k]));
      genReward.push(...rewards.score('image', imageSpecs, { samples, hidden }).total);
      geneval.push(...rewards.score('image', [{ name: 'geneval' }], { samples }).total);
      const ans = rolloutAnswers(policy, chunk, 1, { ...s, textTemperature: 0 }, gen);
      const textSamples = ans.texts.map((completion, k) => answerSample(completion, chunk[k]!));
      acc.push(...rewards.score('text', [{ name: 'qa_accuracy' }], { samples: textSamples }).total);
      fmt.push(...rewards.score('text', [{ name: 'format' }], { samples: textSamples }).total);
    });
  }
  return { genReward, geneval, acc, fmt };
}

function mean(xs: readonly number[]): number {
  const f = xs.filter(Number.isFinite);
  return f.length === 0 ? NaN : f.reduce((a, b) => a + b, 0) / f.length;
}
