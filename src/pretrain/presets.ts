/**
 * Pretraining presets: the model, the VQ and SFT budgets and hyper-parameters, the SFT curriculum, and the
 * held-out evaluation. The numbers live in configs/pretrain/<name>.yaml (each field commented there, the
 * measurements behind them in docs/pretrain.md); only the ULM-config builder of each preset lives here.
 *
 *   world-tiny   the default base model for ShapesWorld (model preset world-tiny with a lighter VQ, see below)
 *   world-micro  the unit-test size (model preset test-micro at 32 px): a few seconds each, for tests and CI
 *
 * Each stage's default budget is its `steps` (the same seed gives the same base on any machine); `seconds` is
 * the time budget used when a run asks for one (`--seconds`), split in these proportions by `pretrain all`.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { UserError } from '../util/errors.js';
import { parseConfig, presetConfig, type ULMConfig } from '../model/config.js';
import type { EvalOptions } from '../eval/evaluate.js';
import type { Phase } from './sft.js';
import type { McAnswer, PopeThink, PositionThink } from './data.js';
import { ROW_KINDS } from './row-kinds.js';

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

/** Each preset's ULM config builder; its numbers are configs/pretrain/<name>.yaml. */
const MODELS: Readonly<Record<string, PretrainPreset['model']>> = {
  'world-tiny': (v) => withVQ(presetConfig('world-tiny', { vocabSize: v }), WORLD_TINY_VQ),
  'world-micro': worldMicro,
};

export const PRETRAIN_PRESET_NAMES = Object.keys(MODELS);

/** Where the presets' YAML files are: configs/pretrain/ of the repository. */
export const PRETRAIN_CONFIGS = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'configs',
  'pretrain',
);

const positive = () => z.number().positive().finite();
const count = () => z.number().int().positive();

/** A configs/pretrain/<name>.yaml file: every PretrainPreset field but `name` and `model`. */
const PretrainFileSchema = z
  .object({
    description: z.string(),
    vq: z
      .object({
        steps: count(),
        seconds: positive(),
        batchSize: count(),
        lr: positive(),
        restartEvery: count(),
        evalImages: count(),
      })
      .strict(),
    vision: z
      .object({
        seconds: z.number().min(0).finite(),
        steps: count(),
        batchSize: count(),
        lr: positive(),
        freeze: z.boolean(),
      })
      .strict(),
    sft: z
      .object({
        steps: count(),
        seconds: positive(),
        lr: positive(),
        weightDecay: z.number().min(0).finite(),
        warmup: z.number().min(0).max(1),
        finalLr: z.number().min(0).max(1),
        clip: positive(),
        uncondProb: z.number().min(0).max(1),
        genWeight: z.number().min(0).finite(),
        textWeight: z.number().min(0).finite(),
        mcAnswer: z.enum(['letter', 'text'] satisfies McAnswer[]),
        popeThink: z.enum(['world', 'shape', 'object', 'colors', 'match'] satisfies PopeThink[]),
        positionThink: z.enum(['world', 'cells'] satisfies PositionThink[]).optional(),
        perImage: count(),
        curriculum: z
          .array(
            z
              .object({
                name: z.string().optional(),
                until: z.number().gt(0).max(1),
                mix: z.partialRecord(z.enum(ROW_KINDS), z.number().int().min(0)),
              })
              .strict(),
          )
          .min(1),
      })
      .strict(),
    eval: z
      .object({
        scenes: count(),
        genPrompts: z.number().int().min(0),
        maxQuestions: z.number().int().min(0),
        imagesPerPrompt: count(),
        cfgWeight: z.number().min(0).finite(),
      })
      .strict(),
  })
  .strict();

/** A pretraining preset by name: configs/pretrain/<name>.yaml, validated, with the preset's model builder. */
export function pretrainPreset(name: string): PretrainPreset {
  const model = MODELS[name];
  if (!model)
    throw new UserError(`unknown pretrain preset "${name}" (known: ${PRETRAIN_PRESET_NAMES.join(', ')})`);
  const file = join(PRETRAIN_CONFIGS, `${name}.yaml`);
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UserError(
      `pretrain preset ${name}: cannot read ${file} (${(e as Error).message.split('\n')[0]})`,
    );
  }
  const r = PretrainFileSchema.safeParse(raw);
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new UserError(`${file}: invalid pretrain preset (${problems})`);
  }
  return { name, model, ...r.data };
}
