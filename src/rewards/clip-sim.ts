/**
 * `t2i_clip_sim`: a CLIP-score-style global similarity baseline (SimpleAR's reward in spirit), on the same
 * inputs as TIM: for row b,
 *   reward_b = (cos(mean_i h_i, mean_t h_t) + 1) / 2
 * with h_i the image-token and h_t the text-token last hidden states (masks, not offsets). One global vector
 * per modality, where TIM matches token to token. NaN when a row has no image or no text tokens.
 */
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { unitNormalize } from './greedy-match.js';
import { cosTo01, hiddenOrNaN } from './tim.js';
import type { HiddenSpans, ImageBatch, ImageRewardFn } from './types.js';

/** Raw cosine of the mean-pooled spans per row, in [-1, 1]. */
export function clipSimRaw(h: HiddenSpans): number[] {
  const [cos, ni, nt] = torch.tidy(() =>
    torch.noGrad(() => {
      const x = h.hidden.detach().float();
      const pool = (mask: Tensor) => {
        const m = mask.float().unsqueeze(-1); // [B, S, 1]
        return x.mul(m).sum(1).div(m.sum(1).clamp(1)); // [B, D]
      };
      const a = unitNormalize(pool(h.imageMask));
      const b = unitNormalize(pool(h.textMask));
      return [a.mul(b).sum(-1), h.imageMask.float().sum(1), h.textMask.float().sum(1)].map((t) =>
        t.toArray(),
      );
    }),
  ) as [number[], number[], number[]];
  return cos.map((c, i) => (ni[i]! > 0 && nt[i]! > 0 ? c : NaN));
}

export function clipSimScores(h: HiddenSpans): number[] {
  return clipSimRaw(h).map(cosTo01);
}

export function clipSimReward(): ImageRewardFn {
  return {
    name: 't2i_clip_sim',
    modality: 'image',
    score(batch: ImageBatch) {
      const h = hiddenOrNaN(batch, 't2i_clip_sim');
      return 'values' in h ? h : clipSimScores(h);
    },
  };
}
