/**
 * The reward-function interface shared by every reward in src/rewards.
 *
 * A reward scores a whole batch of samples at once and returns one number per sample, each in [0, 1] or NaN.
 * NaN means "cannot score" (no re-caption, no real image, no hidden states, an unparseable answer the scorer
 * refuses to judge): it is missing data, left out of group statistics upstream (src/rl/grpo.ts gives it
 * advantage 0), counted in the metrics, and never an exception. A value outside [0, 1] or a non-number is a
 * bug in the reward and the registry throws an internal error naming it (registry.ts).
 *
 * Two kinds, routed as in ULM-R1 (where a function whose name contains "t2i" scores images and the rest score
 * text); here each function declares its modality instead of relying on its name:
 * - text rewards ("mm2t"): a completion plus the example's ULM-R1 fields (`qa_solution`, `qa_type`,
 *   `qa_problem`);
 * - image rewards ("t2i"): a generated image plus its prompt, the example's real image and optional extras
 *   (a re-caption of the generated image, a structured spec, the policy's hidden states for TIM).
 *
 * Image format (decision): an `RgbImage`, `{ width, height, data }` with `data` = width*height*3 bytes,
 * row-major RGB, 0-255. It is what the world's renderer, scene parser and PNG IO use (src/world/image.ts) and
 * what the model's `toRGBImages` returns (src/model/preprocess.ts), both structurally identical. Plain bytes
 * cross the reward API without native memory to own or free; the metrics convert to float32 tensors
 * [N, 3, H, W] in [0, 1] internally (image-metrics.ts `imagesToTensor`).
 */
import type { Tensor } from '../torch/index.js';

/** An RGB image: `data` holds height*width*3 bytes, row-major, channels last (structurally = world RgbImage). */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

export type Modality = 'text' | 'image';

/** One understanding completion to score (ULM-R1 field names). */
export interface TextSample {
  /** The decoded completion (special tokens skipped), e.g. "<think>...</think><answer>B</answer>". */
  completion: string;
  /** Ground truth, "<answer>X</answer>" or the bare answer. */
  qa_solution: string;
  /** 'MC' for multiple choice; anything else (e.g. 'OE') is open-ended. */
  qa_type?: string;
  /** The question text, with the options ("A. red") for MC: used to map option text to a letter. */
  qa_problem?: string;
  /** The reference reasoning (the world's exact think text), for `think_match`; absent in most real data. */
  qa_think?: string;
}

/** One generated image to score. */
export interface ImageSample {
  /** The generated image. */
  image: RgbImage;
  /** The generation prompt (the caption the image should depict). */
  prompt: string;
  /** The example's real image (a scene satisfying the prompt); the image side of the cycle reward needs it. */
  realImage?: RgbImage;
  /**
   * A re-caption of the generated image, by the policy itself (ULM-R1 v2's default) or an external captioner;
   * supplied by the caller. Missing: the cycle reward's text side is NaN.
   */
  recaption?: string;
  /** The prompt's structured spec (the world's GenEval-style spec), for the `geneval` reward. */
  spec?: unknown;
}

/**
 * The policy's last hidden states over understanding inputs "image tokens + caption tokens", with boolean
 * masks of the two spans (structurally = src/model/logprobs.ts `UnderstandingHidden`). Row b belongs to
 * sample b. Positions outside both masks (padding, template tokens) are ignored.
 */
export interface HiddenSpans {
  /** [B, S, D] floating. Detached inside the rewards (a reward is a score, not a loss). */
  hidden: Tensor;
  /** [B, S] bool: image-token positions. */
  imageMask: Tensor;
  /** [B, S] bool: text-token positions. */
  textMask: Tensor;
}

export interface TextBatch {
  samples: readonly TextSample[];
}

export interface ImageBatch {
  samples: readonly ImageSample[];
  /** Hidden states for TIM / CLIP-style rewards (row b = samples[b]); absent: those rewards are NaN. */
  hidden?: HiddenSpans;
}

export type BatchOf<M extends Modality> = M extends 'text' ? TextBatch : ImageBatch;

/** What a reward returns for a batch. */
export interface RewardOutput {
  /** One value per sample, in [0, 1] or NaN. */
  values: number[];
  /** Optional per-sample components (e.g. the cycle reward's image_side and text_side), for metrics only. */
  parts?: Record<string, number[]>;
  /** Why values are NaN, when one reason covers them (e.g. "no hidden states given"). */
  note?: string;
}

export interface RewardFn<M extends Modality = Modality> {
  /** The registry name (ULM-R1's where it has one: `format`, `qa_accuracy`, `t2i_bid_cycle_reward`, ...). */
  readonly name: string;
  readonly modality: M;
  /** Scores a batch: one value per sample. May return the bare array. */
  score(batch: BatchOf<M>): RewardOutput | number[];
}

export type TextRewardFn = RewardFn<'text'>;
export type ImageRewardFn = RewardFn<'image'>;

/** A reward that broke its contract (out of range, not a number, wrong length): an internal bug, not a user error. */
export class RewardContractError extends Error {
  constructor(
    readonly reward: string,
    message: string,
  ) {
    super(`reward "${reward}": ${message}`);
    this.name = 'RewardContractError';
  }
}
