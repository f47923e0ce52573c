/**
 * The ULM configuration: one type for every size, shaped exactly like Janus's Hugging Face `config.json`
 * (`language_config` is a LlamaConfig; the five other sections are `{cls, model_type, params}` as in
 * janus/models/modeling_vlm.py), so a real Janus-Pro config.json parses unchanged.
 *
 * Where Janus hard-codes an architecture (the SigLIP size comes from `vision_config.params.model_name`; the VQ
 * model is `VQ_16()` built with no arguments), corl reads optional extra `params` fields instead, falling back
 * to Janus's values: `vision_config.params.{patch_size, width, layers, heads, mlp_ratio, global_pool,
 * image_mean, image_std, min_size, rescale_factor, background_color, do_normalize}` (the last six are Janus's
 * preprocessor_config.json, merged in by loadConfig) and `gen_vision_config.params.{image_size, ch, ch_mult,
 * num_res_blocks, z_channels, norm_groups, use_attn, codebook_embed_dim, codebook_l2_norm, codebook_show_usage,
 * commit_loss_beta}`.
 * Janus ignores unknown params, so a corl config still loads in Janus when the sizes match its tables.
 * Unknown fields are kept (loose objects) and written back on save.
 */
import { z } from 'zod';
import { UserError } from '../util/errors.js';

const int = (min = 1) => z.number().int().min(min);

const LanguageConfig = z.looseObject({
  model_type: z.string().default('llama'),
  vocab_size: int(),
  hidden_size: int(),
  intermediate_size: int(),
  num_hidden_layers: int(),
  num_attention_heads: int(),
  /** Grouped-query attention; defaults to num_attention_heads (Janus-Pro 1B and 7B use plain MHA). */
  num_key_value_heads: int().optional(),
  hidden_act: z.literal('silu').default('silu'),
  rms_norm_eps: z.number().positive().default(1e-6),
  rope_theta: z.number().positive().default(10000),
  max_position_embeddings: int().default(2048),
  tie_word_embeddings: z.literal(false).default(false),
  attention_bias: z.literal(false).default(false),
});

const VisionParams = z.looseObject({
  model_name: z.string().default('siglip_large_patch16_384'),
  image_size: int().default(384),
  select_feature: z.string().default('same'),
  select_layer: z.number().int().default(-1),
  // corl extensions (default: the SigLIP table entry named by model_name)
  patch_size: int().optional(),
  width: int().optional(),
  layers: int().optional(),
  heads: int().optional(),
  mlp_ratio: z.number().positive().optional(),
  /** 'map' builds timm's attention-pool head (unused by Janus: its weights are carried, not run). */
  global_pool: z.enum(['map', '']).optional(),
  /** Preprocessing (Janus keeps these in preprocessor_config.json; Janus-Pro uses 0.5 / 0.5). */
  image_mean: z.array(z.number()).length(3).default([0.5, 0.5, 0.5]),
  image_std: z.array(z.number().positive()).length(3).default([0.5, 0.5, 0.5]),
  // the rest of Janus's VLMImageProcessor settings (preprocessor_config.json), absent = Janus's defaults:
  // min_size 14, rescale_factor 1/255, background_color int(image_mean * 255), do_normalize true
  min_size: int().optional(),
  rescale_factor: z.number().positive().optional(),
  background_color: z.array(int(0).max(255)).length(3).optional(),
  do_normalize: z.boolean().optional(),
});

const MlpParams = z.looseObject({
  projector_type: z.literal('mlp_gelu').default('mlp_gelu'),
  depth: int().default(2),
  input_dim: int(),
  n_embed: int(),
});

const GenVisionParams = z.looseObject({
  image_token_size: int(),
  n_embed: int(),
  // corl extensions (default: Janus's VQ-16)
  image_size: int().default(384),
  codebook_embed_dim: int().optional(),
  ch: int().default(128),
  ch_mult: z.array(int()).min(1).default([1, 1, 2, 2, 4]),
  num_res_blocks: int().default(2),
  z_channels: int().default(256),
  norm_groups: int().default(32),
  /** Attention blocks in the mid section and the lowest-resolution level (VQ-16 has them). */
  use_attn: z.boolean().default(true),
  codebook_l2_norm: z.boolean().default(true),
  codebook_show_usage: z.boolean().default(true),
  commit_loss_beta: z.number().min(0).default(0.25),
});

const GenHeadParams = z.looseObject({
  n_embed: int(),
  image_token_embed: int(),
  image_token_size: int(),
});

const section = <P extends z.ZodType>(cls: string, modelType: string, params: P) =>
  z.looseObject({ cls: z.string().default(cls), model_type: z.string().default(modelType), params });

export const ULMConfigSchema = z
  .looseObject({
    model_type: z.string().default('multi_modality'),
    language_config: LanguageConfig,
    vision_config: section('CLIPVisionTower', 'vision', VisionParams),
    aligner_config: section('MlpProjector', 'aligner', MlpParams),
    gen_vision_config: section('VQ-16', 'gen_vision', GenVisionParams),
    gen_aligner_config: section('MlpProjector', 'gen_aligner', MlpParams),
    gen_head_config: section('vision_head', 'gen_head', GenHeadParams),
  })
  .superRefine((c, ctx) => {
    const fail = (path: string, message: string) =>
      ctx.addIssue({ code: 'custom', path: path.split('.'), message });
    const lm = c.language_config;
    const d = lm.hidden_size;
    if (d % lm.num_attention_heads !== 0)
      fail('language_config.hidden_size', `not divisible by num_attention_heads`);
    if ((d / lm.num_attention_heads) % 2 !== 0)
      fail('language_config.hidden_size', 'head dim must be even (RoPE)');
    const kv = lm.num_key_value_heads ?? lm.num_attention_heads;
    if (lm.num_attention_heads % kv !== 0)
      fail('language_config.num_key_value_heads', `${kv} does not divide num_attention_heads`);
    let vit: VisionDims | null = null;
    try {
      vit = visionDimsOf(c.vision_config.params);
    } catch (e) {
      fail('vision_config.params', (e as Error).message);
    }
    if (vit && c.aligner_config.params.input_dim !== vit.width)
      fail('aligner_config.params.input_dim', `must equal the ViT width ${vit.width}`);
    if (c.aligner_config.params.n_embed !== d)
      fail('aligner_config.params.n_embed', `must equal hidden_size ${d}`);
    const g = c.gen_vision_config.params;
    if (c.gen_aligner_config.params.input_dim !== g.n_embed)
      fail('gen_aligner_config.params.input_dim', `must equal gen_vision_config.params.n_embed ${g.n_embed}`);
    if (c.gen_aligner_config.params.n_embed !== d)
      fail('gen_aligner_config.params.n_embed', `must equal hidden_size ${d}`);
    if (c.gen_head_config.params.n_embed !== d)
      fail('gen_head_config.params.n_embed', `must equal hidden_size ${d}`);
    if (c.gen_head_config.params.image_token_size !== g.image_token_size)
      fail('gen_head_config.params.image_token_size', `must equal gen_vision_config.params.image_token_size`);
    const down = 2 ** (g.ch_mult.length - 1);
    if (g.image_size % down !== 0)
      fail('gen_vision_config.params.image_size', `must be divisible by ${down} (2^(len(ch_mult)-1))`);
    for (const m of [1, ...g.ch_mult])
      if ((g.ch * m) % g.norm_groups !== 0)
        fail('gen_vision_config.params.norm_groups', `${g.norm_groups} does not divide ${g.ch * m} channels`);
  });

export type ULMConfig = z.output<typeof ULMConfigSchema>;
/** What config.json may hold before defaults are filled in. */
export type ULMConfigInput = z.input<typeof ULMConfigSchema>;

/** timm SigLIP sizes Janus knows by name (janus/models/siglip_vit.py). */
const SIGLIP_TABLE: Record<string, Omit<VisionDims, 'imageSize' | 'numPatches'>> = {
  siglip_large_patch16_384: {
    patchSize: 16,
    width: 1024,
    layers: 24,
    heads: 16,
    mlpRatio: 4,
    globalPool: 'map',
  },
  siglip_so400m_patch14_384: {
    patchSize: 14,
    width: 1152,
    layers: 27,
    heads: 16,
    mlpRatio: 3.7362,
    globalPool: 'map',
  },
  siglip_so400m_patch14_224: {
    patchSize: 14,
    width: 1152,
    layers: 27,
    heads: 16,
    mlpRatio: 3.7362,
    globalPool: 'map',
  },
};

export interface VisionDims {
  imageSize: number;
  patchSize: number;
  width: number;
  /** Blocks actually built (Janus truncates to select_layer). */
  layers: number;
  heads: number;
  mlpRatio: number;
  globalPool: 'map' | '';
  numPatches: number;
}

function visionDimsOf(p: ULMConfig['vision_config']['params']): VisionDims {
  const base = SIGLIP_TABLE[p.model_name];
  const pick = <T>(own: T | undefined, fallback: T | undefined, name: string): T => {
    if (own !== undefined) return own;
    if (fallback !== undefined) return fallback;
    throw new Error(`unknown model_name "${p.model_name}": give ${name} explicitly`);
  };
  const patchSize = pick(p.patch_size, base?.patchSize, 'patch_size');
  const total = pick(p.layers, base?.layers, 'layers');
  // create_siglip_vit: select_layer <= 0 keeps layers + select_layer + 1 blocks, else select_layer blocks
  const layers =
    p.select_layer <= 0 ? Math.min(total, total + p.select_layer + 1) : Math.min(total, p.select_layer);
  if (layers < 1) throw new Error(`select_layer ${p.select_layer} leaves no ViT blocks`);
  const width = pick(p.width, base?.width, 'width');
  const heads = pick(p.heads, base?.heads, 'heads');
  if (width % heads !== 0) throw new Error(`width ${width} is not divisible by heads ${heads}`);
  if (p.image_size % patchSize !== 0)
    throw new Error(`image_size ${p.image_size} is not divisible by ${patchSize}`);
  return {
    imageSize: p.image_size,
    patchSize,
    width,
    layers,
    heads,
    mlpRatio: pick(p.mlp_ratio, base?.mlpRatio, 'mlp_ratio'),
    globalPool: pick(p.global_pool, base?.globalPool, 'global_pool'),
    numPatches: (p.image_size / patchSize) ** 2,
  };
}

/** The understanding ViT's resolved sizes. */
export function visionDims(cfg: ULMConfig): VisionDims {
  return visionDimsOf(cfg.vision_config.params);
}

/** Image tokens per understanding image (576 for Janus-Pro). */
export function numImageTokens(cfg: ULMConfig): number {
  return visionDims(cfg).numPatches;
}

/** The VQ token grid [h, w] of a generated image (24 x 24 for Janus-Pro). */
export function genGrid(cfg: ULMConfig): [number, number] {
  const g = cfg.gen_vision_config.params;
  const side = g.image_size / 2 ** (g.ch_mult.length - 1);
  return [side, side];
}

/** Tokens per generated image (576 for Janus-Pro). */
export function numGenTokens(cfg: ULMConfig): number {
  const [h, w] = genGrid(cfg);
  return h * w;
}

/** Parses and validates a config object; errors become one UserError listing every problem. */
export function parseConfig(json: unknown, source = 'config'): ULMConfig {
  const r = ULMConfigSchema.safeParse(json);
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
  throw new UserError(`${source}: invalid ULM config: ${problems.join('; ')}`);
}

// ---- presets ----------------------------------------------------------------------------------------------

export const PRESET_NAMES = ['janus-pro-1b', 'janus-pro-7b', 'world-tiny', 'test-micro'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

function janusPro(hidden: number, inter: number, layers: number, heads: number): ULMConfigInput {
  const mlp = (input: number) => ({
    projector_type: 'mlp_gelu' as const,
    depth: 2,
    input_dim: input,
    n_embed: hidden,
  });
  return {
    model_type: 'multi_modality',
    architectures: ['MultiModalityCausalLM'],
    torch_dtype: 'bfloat16',
    language_config: {
      model_type: 'llama',
      vocab_size: 102400,
      hidden_size: hidden,
      intermediate_size: inter,
      num_hidden_layers: layers,
      num_attention_heads: heads,
      num_key_value_heads: heads,
      max_position_embeddings: 16384,
      torch_dtype: 'bfloat16',
    },
    vision_config: {
      cls: 'CLIPVisionTower',
      model_type: 'vision',
      params: {
        image_size: 384,
        model_name: 'siglip_large_patch16_384',
        select_feature: 'same',
        select_layer: -1,
      },
    },
    aligner_config: { cls: 'MlpProjector', model_type: 'aligner', params: mlp(1024) },
    gen_vision_config: {
      cls: 'VQ-16',
      model_type: 'gen_vision',
      params: { image_token_size: 16384, n_embed: 8 },
    },
    gen_aligner_config: { cls: 'MlpProjector', model_type: 'gen_aligner', params: mlp(8) },
    gen_head_config: {
      cls: 'vision_head',
      model_type: 'gen_head',
      params: { image_token_embed: hidden, image_token_size: 16384, n_embed: hidden },
    },
  };
}

/**
 * The ShapesWorld model (sizes calibrated for 2 CPU cores, docs/pretrain.md): LLM d=128, 4 layers, 4 heads, SwiGLU 352; ViT patch 4 on
 * 32x32 (64 tokens), 2 blocks of width 128; VQ 32x32 -> 8x8 codes with channels 32/32/64, one res block per
 * level (VQ-16's layout, ~0.73M parameters), codebook 128 x 16 (L2-normalised), no attention blocks;
 * gen_embed 128 -> 16. About 1.3M parameters besides the VQ, as the calibration model.
 */
function worldTiny(vocab: number): ULMConfigInput {
  const d = 128;
  return {
    model_type: 'multi_modality',
    architectures: ['MultiModalityCausalLM'],
    language_config: {
      vocab_size: vocab,
      hidden_size: d,
      intermediate_size: 352,
      num_hidden_layers: 4,
      num_attention_heads: 4,
      num_key_value_heads: 4,
      max_position_embeddings: 512,
    },
    vision_config: {
      params: {
        model_name: 'corl_tiny_vit',
        image_size: 32,
        patch_size: 4,
        width: 128,
        layers: 2,
        heads: 4,
        mlp_ratio: 4,
        global_pool: '',
        select_layer: -1,
      },
    },
    aligner_config: { params: { depth: 2, input_dim: 128, n_embed: d } },
    gen_vision_config: {
      params: {
        image_token_size: 128,
        n_embed: 16,
        codebook_embed_dim: 16,
        image_size: 32,
        ch: 32,
        ch_mult: [1, 1, 2],
        num_res_blocks: 1,
        z_channels: 32,
        norm_groups: 8,
        use_attn: false,
        codebook_show_usage: false,
      },
    },
    gen_aligner_config: { params: { depth: 2, input_dim: 16, n_embed: d } },
    gen_head_config: { params: { n_embed: d, image_token_embed: d, image_token_size: 128 } },
  };
}

/** Unit-test size: 2 layers, d=32, grouped-query attention (4 heads, 2 KV heads), 16 ViT and 16 VQ tokens. */
function testMicro(vocab: number): ULMConfigInput {
  const d = 32;
  return {
    language_config: {
      vocab_size: vocab,
      hidden_size: d,
      intermediate_size: 64,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      max_position_embeddings: 256,
      rope_theta: 500,
    },
    vision_config: {
      params: {
        model_name: 'corl_micro_vit',
        image_size: 16,
        patch_size: 4,
        width: 16,
        layers: 1,
        heads: 2,
        mlp_ratio: 2,
        global_pool: '',
      },
    },
    aligner_config: { params: { depth: 2, input_dim: 16, n_embed: d } },
    gen_vision_config: {
      params: {
        image_token_size: 32,
        n_embed: 8,
        codebook_embed_dim: 8,
        image_size: 16,
        ch: 8,
        ch_mult: [1, 2, 2],
        num_res_blocks: 1,
        z_channels: 8,
        norm_groups: 4,
        use_attn: true,
        codebook_show_usage: false,
      },
    },
    gen_aligner_config: { params: { depth: 2, input_dim: 8, n_embed: d } },
    gen_head_config: { params: { n_embed: d, image_token_embed: d, image_token_size: 32 } },
  };
}

/**
 * A preset config. `vocabSize` sets language_config.vocab_size (the tiny presets need the tokenizer's size;
 * the Janus presets keep 102400 unless given).
 */
export function presetConfig(name: PresetName, opts: { vocabSize?: number } = {}): ULMConfig {
  let raw: ULMConfigInput;
  switch (name) {
    case 'janus-pro-1b':
      raw = janusPro(2048, 5632, 24, 16);
      break;
    case 'janus-pro-7b':
      raw = janusPro(4096, 11008, 30, 32);
      break;
    case 'world-tiny':
      raw = worldTiny(opts.vocabSize ?? 64);
      break;
    case 'test-micro':
      raw = testMicro(opts.vocabSize ?? 48);
      break;
    default:
      throw new UserError(`unknown model preset "${String(name)}" (known: ${PRESET_NAMES.join(', ')})`);
  }
  if (opts.vocabSize !== undefined) raw.language_config.vocab_size = opts.vocabSize;
  return parseConfig(raw, `preset ${name}`);
}

/** A deep copy of a config with language_config.vocab_size replaced. */
export function withVocabSize(cfg: ULMConfig, vocabSize: number): ULMConfig {
  const c = structuredClone(cfg);
  c.language_config.vocab_size = vocabSize;
  return parseConfig(c);
}
