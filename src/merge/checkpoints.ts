/**
 * Merging whole model checkpoints (CoRL's final step: the MCQ and open-ended refined models; or the two
 * single-task models of `separate_merge`): loads base, A and B, merges every tensor (merge.ts) and saves the
 * result with A's config and tokenizer. Inputs holding NaN/Inf are refused by loadULM; a merged tensor that is
 * not finite (e.g. an overflow of huge weights) is a UserError naming it, and nothing is written.
 */
import * as torch from '../torch/index.js';
import { describeNonFinite, loadULM, nonFiniteTensors, saveULM, type LoadedULM } from '../model/index.js';
import { UserError } from '../util/errors.js';
import { mergeAverage, mergeGaussian } from './merge.js';
import { foldAdapter, readAdapter } from '../model/lora.js';

export type MergeMethod = 'gaussian' | 'average';

export function mergeCheckpoints(opts: {
  method: MergeMethod;
  base: string;
  a: string;
  b: string;
  out: string;
  lambda?: number;
}): { tensors: number } {
  const loaded: LoadedULM[] = [];
  try {
    // loaded one by one, so that a later one failing (e.g. NaN weights) frees the earlier ones
    for (const dir of [opts.base, opts.a, opts.b]) loaded.push(loadULM(dir));
    const [base, a, b] = loaded as [LoadedULM, LoadedULM, LoadedULM];
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
      const bad = nonFiniteTensors(merged);
      if (bad.length > 0)
        throw new UserError(
          `merge: the merged weights are not all finite: ${describeNonFinite(bad)}; nothing was written to ${opts.out}`,
        );
      a.model.loadStateDict(merged);
      return merged.size;
    });
    saveULM(a.model, a.tokenizer, opts.out);
    return { tensors: n };
  } finally {
    for (const m of loaded) m.model.dispose();
  }
}

/**
 * `corl merge-lora`: the base checkpoint with a PEFT LoRA adapter folded into its weights (W + scale B A) as a
 * full checkpoint, which `corl merge` (Gaussian merging of two LoRA-trained branches), eval and training take
 * as any other model.
 */
export function mergeLoraCheckpoint(opts: { base: string; adapter: string; out: string }): {
  modules: number;
} {
  const read = readAdapter(opts.adapter);
  let loaded: LoadedULM | null = null;
  try {
    loaded = loadULM(opts.base);
    const modules = foldAdapter(loaded.model, read, opts.adapter);
    const bad = nonFiniteTensors(loaded.model.stateDict());
    if (bad.length > 0)
      throw new UserError(
        `merge-lora: the folded weights are not all finite: ${describeNonFinite(bad)}; nothing was written to ${opts.out}`,
      );
    saveULM(loaded.model, loaded.tokenizer, opts.out);
    return { modules };
  } finally {
    read.dispose();
    loaded?.model.dispose();
  }
}
