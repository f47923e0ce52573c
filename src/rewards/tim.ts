/**
 * `t2i_ti_sim`: the text-image matching (TIM) reward of CoRL, in the ULM's own feature space.
 *
 * For batch row b, with image-token hidden states {h_i} (imageMask) and text-token hidden states {h_t}
 * (textMask) taken from the policy's last hidden states over "image + caption" (src/model/logprobs.ts
 * `understandingHidden`, which re-encodes the generated image through the understanding path):
 *   TIM_b = 0.5 * ( mean_i max_t cos(h_i, h_t) + mean_t max_i cos(h_t, h_i) )      in [-1, 1]
 *   reward_b = (TIM_b + 1) / 2                                                      in [0, 1]
 * Decision: the paper's TIM lives in [-1, 1] and ULM-R1 adds it unnormalised; we map it to [0, 1] so every
 * reward is on one scale (the GRPO advantage is unchanged up to the group std; only its weight against the
 * other rewards halves). Spans come from the masks, never from fixed offsets (ULM-R1 slices [5:581] and
 * [586:], valid only without left padding, and its text slice includes the template's trailing tokens).
 * NaN when a row has no image or no text tokens, or when no hidden states are given.
 */
import { greedyCosineMatch } from './greedy-match.js';
import type { HiddenSpans, ImageBatch, ImageRewardFn, RewardOutput } from './types.js';

/** Maps a cosine-like score in [-1, 1] to [0, 1], clamped against rounding. */
export function cosTo01(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const v = (x + 1) / 2;
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

/** Raw TIM per row, in [-1, 1] (NaN for a row without image or text tokens). */
export function timRaw(h: HiddenSpans): number[] {
  const m = greedyCosineMatch(h.hidden, h.imageMask, h.hidden, h.textMask);
  return m.aToB.map((i2t, b) => 0.5 * (i2t + m.bToA[b]!));
}

/** TIM per row mapped to [0, 1]. */
export function timScores(h: HiddenSpans): number[] {
  return timRaw(h).map(cosTo01);
}

/** Checks that hidden states exist and have one row per sample; returns NaNs with a note if absent. */
export function hiddenOrNaN(batch: ImageBatch, name: string): HiddenSpans | RewardOutput {
  const n = batch.samples.length;
  if (batch.hidden === undefined)
    return { values: new Array<number>(n).fill(NaN), note: `${name}: no hidden states given` };
  const B = batch.hidden.hidden.size(0);
  if (B !== n) throw new RangeError(`${name}: hidden states have ${B} rows for ${n} samples`);
  return batch.hidden;
}

export function timReward(): ImageRewardFn {
  return {
    name: 't2i_ti_sim',
    modality: 'image',
    score(batch: ImageBatch) {
      const h = hiddenOrNaN(batch, 't2i_ti_sim');
      return 'values' in h ? h : timScores(h);
    },
  };
}
