/**
 * Pretraining presets: the model, the VQ and SFT budgets and hyper-parameters, the SFT curriculum, and the
 * held-out evaluation. See docs/pretrain.md for the measurements behind the choices.
 *
 *   world-tiny   the default base model for ShapesWorld (model preset world-tiny with a lighter VQ, see
 *                below): VQ 1,350 + vision encoder 1,200 + SFT 745 steps (about 120 + 90 + 360 s on 2 idle cores)
 *   world-micro  the unit-test size (model preset test-micro at 32 px): a few seconds each, for tests and CI
 *
 * Each stage's default budget is its `steps` (the same seed gives the same base on any machine); `seconds` is
 * the time budget used when a run asks for one (`--seconds`), split in these proportions by `pretrain all`.
 */
import { UserError } from '../util/errors.js';
import { parseConfig, presetConfig, type ULMConfig } from '../model/config.js';
import type { EvalOptions } from '../eval/evaluate.js';
import type { Phase } from './sft.js';
import type { McAnswer, PopeThink, PositionThink } from './data.js';

export interface PretrainPreset {
  name: string;
  description: string;
  /** The ULM config for a tokenizer of `vocabSize` ids (its gen_vision_config is the VQ's). */
  model: (vocabSize: number) => ULMConfig;
  vq: {
    steps: number;
    seconds: number;
    batchSize: number;
    lr: number;
    restartEvery: number;
    evalImages: number;
  };
  /**
   * Vision-encoder pretraining on the world's patch labels (vision.ts), run on the fresh ULM before SFT;
   * `freeze` keeps the ViT fixed during SFT (as a pretrained SigLIP). seconds 0 = no such stage. `steps` is
   * its default budget (about what `seconds` buys on an idle 2-core machine).
   */
  vision: { seconds: number; steps: number; batchSize: number; lr: number; freeze: boolean };
  sft: {
    steps: number;
    seconds: number;
    lr: number;
    weightDecay: number;
    warmup: number;
    finalLr: number;
    clip: number;
    uncondProb: number;
    genWeight: number;
    textWeight: number;
    /** How MC rows are answered and what POPE rows think (data.ts). */
    mcAnswer: McAnswer;
    popeThink: PopeThink;
    positionThink?: PositionThink;
    /** Questions per scene in a batch (the image prefix runs once for them). */
    perImage: number;
    curriculum: Phase[];
  };
  /** Held-out evaluation after SFT: `scenes` test scenes (seed = the run's seed + 1000), and limits. */
  eval: { scenes: number } & Pick<
    EvalOptions,
    'genPrompts' | 'maxQuestions' | 'imagesPerPrompt' | 'cfgWeight'
  >;
}

/**
 * The world-tiny VQ, lighter than the model preset's (channels 32/32/64, ~0.73M parameters): channels 8/16/32
 * with 4 GroupNorm groups (~0.18M). At 32 px the Janus layout spends its time in the full-resolution
 * convolutions; this one trains ~4x faster per image on 2 cores and reconstructs as well (docs/pretrain.md).
 */
const WORLD_TINY_VQ = { ch: 8, ch_mult: [1, 2, 4], norm_groups: 4 };

function withVQ(cfg: ULMConfig, vq: Record<string, unknown>): ULMConfig {
  const c = structuredClone(cfg) as ULMConfig;
  Object.assign(c.gen_vision_config.params, vq);
  return parseConfig(c, 'pretrain preset');
}

/** test-micro at 32 px: ViT patch 8 (16 image tokens), VQ 32 -> 4x4 codes. */
function worldMicro(vocabSize: number): ULMConfig {
  const c = structuredClone(presetConfig('test-micro', { vocabSize })) as ULMConfig;
  Object.assign(c.vision_config.params, { image_size: 32, patch_size: 8 });
  Object.assign(c.gen_vision_config.params, { image_size: 32, ch: 8, ch_mult: [1, 1, 2, 2], norm_groups: 4 });
  c.language_config.max_position_embeddings = 256;
  return parseConfig(c, 'pretrain preset world-micro');
}

export const PRETRAIN_PRESETS: Readonly<Record<string, PretrainPreset>> = {
  'world-tiny': {
    name: 'world-tiny',
    description: 'the default ShapesWorld base: VQ 1,350 + vision 1,200 + SFT 745 steps (~10 min on 2 cores)',
    model: (v) => withVQ(presetConfig('world-tiny', { vocabSize: v }), WORLD_TINY_VQ),
    vq: { steps: 1350, seconds: 120, batchSize: 16, lr: 2e-3, restartEvery: 50, evalImages: 256 },
    vision: { seconds: 90, steps: 1200, batchSize: 16, lr: 4e-3, freeze: true },
    sft: {
      steps: 745,
      seconds: 360,
      lr: 2e-3,
      weightDecay: 0.01,
      warmup: 0.03,
      finalLr: 0.1,
      clip: 1,
      uncondProb: 0.1,
      genWeight: 1,
      textWeight: 1,
      mcAnswer: 'text',
      popeThink: 'match',
      perImage: 3,
      curriculum: [
        { name: 'describe', until: 0.15, mix: { gen: 12, caption: 6, oe: 8, pope: 4 } },
        { name: 'answer', until: 1, mix: { gen: 12, caption: 4, oe: 8, pope: 6, mcq: 8 } },
      ],
    },
    eval: { scenes: 300, genPrompts: 120, maxQuestions: 300, imagesPerPrompt: 4, cfgWeight: 5 },
  },
  'world-micro': {
    name: 'world-micro',
    description: 'unit-test size (test-micro at 32 px): seconds, for tests and CI',
    model: worldMicro,
    vq: { steps: 100, seconds: 4, batchSize: 16, lr: 3e-3, restartEvery: 5, evalImages: 16 },
    vision: { seconds: 2, steps: 200, batchSize: 16, lr: 4e-3, freeze: true },
    sft: {
      steps: 300,
      seconds: 8,
      lr: 3e-3,
      weightDecay: 0.01,
      warmup: 0.05,
      finalLr: 0.1,
      clip: 1,
      uncondProb: 0.1,
      genWeight: 1,
      textWeight: 1,
      mcAnswer: 'text',
      popeThink: 'object',
      perImage: 3,
      curriculum: [
        { name: 'describe', until: 0.5, mix: { gen: 4, caption: 2, oe: 2, pope: 2, mcq_text: 2 } },
        { name: 'answer', until: 1, mix: { gen: 4, caption: 1, oe: 2, pope: 1, mcq: 2, mcq_text: 2 } },
      ],
    },
    eval: { scenes: 6, genPrompts: 6, maxQuestions: 6, imagesPerPrompt: 2, cfgWeight: 5 },
  },
};

export const PRETRAIN_PRESET_NAMES = Object.keys(PRETRAIN_PRESETS);

export function pretrainPreset(name: string): PretrainPreset {
  const p = PRETRAIN_PRESETS[name];
  if (!p)
    throw new UserError(`unknown pretrain preset "${name}" (known: ${PRETRAIN_PRESET_NAMES.join(', ')})`);
  return p;
}
