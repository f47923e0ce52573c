/**
 * Merging whole model checkpoints (CoRL's final step: the MCQ and open-ended refined models; or the two
 * single-task models of `separate_merge`): loads base, A and B, merges every tensor (merge.ts) and saves the
 * result with A's config and tokenizer.
 */
import * as torch from '../torch/index.js';
import { loadULM, saveULM } from '../model/index.js';
import { UserError } from '../util/errors.js';
import { mergeAverage, mergeGaussian } from './merge.js';

export type MergeMethod = 'gaussian' | 'average';

export function mergeCheckpoints(opts: {
  method: MergeMethod;
  base: string;
  a: string;
  b: string;
  out: string;
  lambda?: number;
}): { tensors: number } {
  const base = loadULM(opts.base);
  const a = loadULM(opts.a);
  const b = loadULM(opts.b);
  try {
    if (
      a.tokenizer.vocabSize !== b.tokenizer.vocabSize ||
      a.tokenizer.vocabSize !== base.tokenizer.vocabSize
    ) {
      throw new UserError('merge: the three models have different tokenizers');
    }
    const n = torch.tidy(() => {
      const sa = a.model.stateDict();
      const merged =
        opts.method === 'gaussian'
          ? mergeGaussian(base.model.stateDict(), sa, b.model.stateDict(), opts.lambda ?? 2)
          : mergeAverage(base.model.stateDict(), sa, b.model.stateDict());
      a.model.loadStateDict(merged);
      return merged.size;
    });
    saveULM(a.model, a.tokenizer, opts.out);
    return { tensors: n };
  } finally {
    for (const m of [base, a, b]) m.model.dispose();
  }
}
