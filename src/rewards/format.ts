/**
 * `format`: 1 when the completion is exactly `<think>...</think>` then `<answer>...</answer>` (whitespace
 * between them and around the whole ignored, a non-blank answer, no nested tags), else 0. A thin wrapper over
 * src/world/answers.ts `formatReward`, the one implementation shared with `corl score --task format`.
 * Never NaN: any text can be judged.
 */
import { formatReward as formatScore } from '../world/answers.js';
import type { TextBatch, TextRewardFn } from './types.js';

export function formatReward(): TextRewardFn {
  return {
    name: 'format',
    modality: 'text',
    score: (batch: TextBatch) => batch.samples.map((s) => formatScore(s.completion)),
  };
}
