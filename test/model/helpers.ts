/** Shared fixtures for the model tests: a tiny word-level tokenizer and seeded random test-micro models. */
import * as torch from '../../src/torch/index.js';
import { presetConfig, type ULMConfig } from '../../src/model/config.js';
import { MultiModalityCausalLM } from '../../src/model/ulm.js';
import { buildWordLevelTokenizer, ULMTokenizer } from '../../src/model/tokenizer.js';

export const WORDS = (
  'a an the red green blue yellow purple orange circle square triangle diamond small large left right of ' +
  'above below to is what color shape how many objects ? . <think> </think> <answer> </answer> A B C D 1 2 3 4'
).split(' ');

export function tinyTokenizer(): ULMTokenizer {
  return ULMTokenizer.fromJSON(buildWordLevelTokenizer(WORDS));
}

export function microConfig(tok: ULMTokenizer, edit?: (c: ULMConfig) => void): ULMConfig {
  const c = presetConfig('test-micro', { vocabSize: tok.vocabSize });
  edit?.(c);
  return c;
}

export function microModel(
  tok: ULMTokenizer,
  seed = 0,
  edit?: (c: ULMConfig) => void,
): MultiModalityCausalLM {
  return new MultiModalityCausalLM(microConfig(tok, edit), { generator: new torch.Generator(seed) }).eval();
}

/** Random preprocessed images [n, 3, size, size] in [-1, 1]. */
export function randomImages(n: number, size: number, seed = 1): torch.Tensor {
  return torch.tidy(() =>
    torch
      .rand([n, 3, size, size], { generator: new torch.Generator(seed) })
      .mul(2)
      .sub(1),
  );
}

export function maxAbsDiff(a: torch.Tensor, b: torch.Tensor): number {
  return torch.tidy(() => a.float().sub(b.float()).abs().amax().item());
}
