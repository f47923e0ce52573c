/**
 * Images for text prompts, drawn the way every command draws them (`corl generate`, the evaluation, the
 * reward-validity check, the report's grid): each prompt in the generation template, `imagesPerPrompt`
 * images per prompt by CFG sampling, decoded by the VQ to RGB. Runs without gradients; every tensor freed.
 */
import * as torch from '../torch/index.js';
import { generationBatch } from './inputs.js';
import { toRGBImages, type RGBImage } from './preprocess.js';
import { sampleImages } from './sample.js';
import { generationPrompt } from './templates.js';
import type { ULMTokenizer } from './tokenizer.js';
import type { MultiModalityCausalLM } from './ulm.js';

export interface DrawOptions {
  /** Images per prompt (default 1), in prompt order: prompt i's images are [i G, (i + 1) G). */
  imagesPerPrompt?: number;
  /** CFG weight (default 5, Janus). */
  cfgWeight?: number;
  /** Sampling temperature (default 1; 0 = greedy). */
  temperature?: number;
  generator?: torch.Generator;
}

export function drawImages(
  model: MultiModalityCausalLM,
  tok: ULMTokenizer,
  prompts: readonly string[],
  o: DrawOptions = {},
): RGBImage[] {
  return torch.noGrad(() =>
    torch.tidy(() => {
      const batch = generationBatch(
        tok,
        prompts.map((p) => generationPrompt(p)),
      );
      const s = sampleImages(model, batch, {
        imagesPerPrompt: o.imagesPerPrompt ?? 1,
        cfgWeight: o.cfgWeight ?? 5,
        temperature: o.temperature ?? 1,
        padId: tok.special.pad,
        generator: o.generator,
      });
      return toRGBImages(model.gen_vision_model.decode(s.codes));
    }),
  );
}
