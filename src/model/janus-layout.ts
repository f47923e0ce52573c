/**
 * The two key layouts a Janus-Pro checkpoint comes in, mapped both ways, with their config files.
 *
 * - `janus`: the official release (deepseek-ai/Janus-Pro-1B / -7B, `MultiModalityCausalLM`): the names of
 *   corl's module tree (`language_model.model.layers.N...`, `vision_model.vision_tower...`, `aligner`,
 *   `gen_vision_model`, `gen_aligner`, `gen_head`, `gen_embed`) and Janus's config.json (config.ts).
 * - `hf`: transformers' `JanusForConditionalGeneration`, as its converter (convert_janus_weights_to_hf.py)
 *   writes it: everything under `model.` except `lm_head.weight`; the ViT's fused `attn.qkv` split into
 *   `self_attn.{q,k,v}_proj`, `pos_embed` [1, N, D] squeezed to `position_embedding.weight` [N, D]; the
 *   attention-pool head and `quantize.codebook_used` dropped; a `JanusConfig` config.json (`text_config`,
 *   `vision_config`, `vq_config`).
 *
 * `hfTensorsOf` is the one statement of the name mapping; loading an hf folder asks it which hf tensors make
 * each Janus tensor (rows concatenated along the first dimension), and converting to hf asks it which rows of
 * each Janus tensor make each hf tensor.
 */
import { UserError } from '../util/errors.js';
import { type ULMConfig, type ULMConfigInput, genGrid, visionDims } from './config.js';

export type Layout = 'janus' | 'hf';
export const LAYOUTS: readonly Layout[] = ['janus', 'hf'];

/** One hf tensor made from rows [start, start + count) of a Janus tensor (all rows when `rows` is absent). */
export interface HFPart {
  name: string;
  shape: number[];
  rows?: [number, number];
}

/** Janus tensors transformers' layout does not carry: the unused attention-pool head, the VQ usage counter. */
export const HF_DROPPED =
  /^vision_model\.vision_tower\.attn_pool\.|^gen_vision_model\.quantize\.codebook_used$/;

/**
 * The hf tensors that hold Janus tensor `name` of `shape`, in row order; [] when transformers drops it.
 * A UserError for a name outside Janus's layout.
 */
export function hfTensorsOf(name: string, shape: readonly number[]): HFPart[] {
  if (HF_DROPPED.test(name)) return [];
  const one = (n: string, s: readonly number[] = shape): HFPart[] => [{ name: n, shape: [...s] }];
  let m: RegExpExecArray | null;
  if ((m = /^language_model\.model\.(.+)$/.exec(name))) return one(`model.language_model.${m[1]}`);
  if (name === 'language_model.lm_head.weight') return one('lm_head.weight');
  if ((m = /^vision_model\.vision_tower\.(.+)$/.exec(name))) {
    const v = 'model.vision_model';
    const rest = m[1]!;
    if (rest === 'pos_embed') return one(`${v}.embeddings.position_embedding.weight`, shape.slice(1));
    if ((m = /^patch_embed\.proj\.(weight|bias)$/.exec(rest)))
      return one(`${v}.embeddings.patch_embedding.${m[1]}`);
    if ((m = /^norm\.(weight|bias)$/.exec(rest))) return one(`${v}.post_layernorm.${m[1]}`);
    if ((m = /^blocks\.(\d+)\.(.+)$/.exec(rest))) {
      const l = `${v}.encoder.layers.${m[1]}`;
      const part = m[2]!;
      let k: RegExpExecArray | null;
      if ((k = /^norm([12])\.(weight|bias)$/.exec(part))) return one(`${l}.layer_norm${k[1]}.${k[2]}`);
      if ((k = /^attn\.proj\.(weight|bias)$/.exec(part)))
        return one(`${l}.self_attn.projection_layer.${k[1]}`);
      if ((k = /^mlp\.(fc[12])\.(weight|bias)$/.exec(part))) return one(`${l}.mlp.${k[1]}.${k[2]}`);
      if ((k = /^attn\.qkv\.(weight|bias)$/.exec(part))) {
        if (shape[0]! % 3 !== 0)
          throw new UserError(`tensor ${name}: ${shape[0]} rows do not split into q, k, v`);
        const d = shape[0]! / 3;
        return ['q', 'k', 'v'].map((p, i) => ({
          name: `${l}.self_attn.${p}_proj.${k![1]}`,
          shape: [d, ...shape.slice(1)],
          rows: [i * d, d] as [number, number],
        }));
      }
    }
  }
  if ((m = /^(gen_aligner|aligner)\.layers\.(\d+)\.(weight|bias)$/.exec(name))) {
    const i = Number(m[2]);
    const owner = m[1] === 'aligner' ? 'model.aligner' : 'model.generation_aligner';
    // Janus's Sequential: Linear at 0, 2, 4, ... (GELUs between); transformers: fc1, then hidden_layers.0, 1, ...
    if (i % 2 === 0)
      return one(i === 0 ? `${owner}.fc1.${m[3]}` : `${owner}.hidden_layers.${i / 2 - 1}.${m[3]}`);
  }
  if ((m = /^gen_head\.output_mlp_projector\.(weight|bias)$/.exec(name)))
    return one(`model.generation_head.proj_out.${m[1]}`);
  if ((m = /^gen_head\.vision_head\.(weight|bias)$/.exec(name)))
    return one(`model.generation_head.vision_head.${m[1]}`);
  if (name === 'gen_embed.weight') return one('model.generation_embeddings.weight');
  if ((m = /^gen_vision_model\.(.+)$/.exec(name))) {
    const rest = m[1]!
      .replace(/^encoder\.conv_blocks\./, 'encoder.down.')
      .replace(/^decoder\.conv_blocks\./, 'decoder.up.')
      .replace(/\.res\./, '.block.')
      .replace(
        /^(encoder|decoder)\.mid\.([012])\./,
        (_, side: string, k: string) => `${side}.mid.${['block_1', 'attn_1', 'block_2'][Number(k)]}.`,
      );
    return one(`model.vqmodel.${rest}`);
  }
  throw new UserError(`tensor ${name} is not part of Janus's layout`);
}

/** The layout of a set of tensor names: hf when they live under `model.` / `lm_head.`, else janus. */
export function detectLayout(names: Iterable<string>, source: string): Layout {
  let hf = 0;
  let janus = 0;
  for (const n of names) {
    if (n.startsWith('model.') || n === 'lm_head.weight') hf++;
    else janus++;
  }
  if (hf > 0 && janus > 0)
    throw new UserError(
      `${source}: the tensor names mix transformers' layout (model.*, lm_head.weight) with Janus's; not a checkpoint corl knows`,
    );
  return hf > 0 ? 'hf' : 'janus';
}

// ---- config.json: transformers' JanusConfig <-> Janus's config ------------------------------------------

type Json = Record<string, unknown>;
const isObject = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);

/** True for transformers' JanusConfig (`model_type: "janus"`), false for Janus's own config.json. */
export function isHFConfig(json: unknown): boolean {
  return isObject(json) && json.model_type === 'janus';
}

/**
 * Janus's config (the shape config.ts parses) from transformers' JanusConfig JSON. Fields transformers left
 * out of the file take its defaults (LlamaConfig, JanusVisionConfig, JanusVQVAEConfig), as transformers does.
 * A feature corl's model does not have (qk-norm, a double latent, a non-GELU activation) is a UserError.
 */
/** A field of transformers' config, or transformers' default when the file leaves it out. */
function get<T>(o: Json, k: string, dflt: T): T {
  return o[k] === undefined || o[k] === null ? dflt : (o[k] as T);
}

/** A feature corl's Janus model does not have (qk-norm, a double latent, a non-GELU activation, ...) is a UserError. */
function hfUnsupported(t: Json, v: Json, q: Json, source: string): void {
  const need = (cond: boolean, what: string) => {
    if (!cond) throw new UserError(`${source}: ${what}, which corl's Janus model does not have`);
  };
  need(get(v, 'use_qk_norm', false) === false, 'vision_config.use_qk_norm is true');
  need(
    get(v, 'hidden_act', 'gelu') === 'gelu',
    `vision_config.hidden_act is ${JSON.stringify(v.hidden_act)}`,
  );
  need(get(v, 'attention_bias', true) === true, 'vision_config.attention_bias is false');
  need(get(v, 'num_channels', 3) === 3, 'vision_config.num_channels is not 3');
  need(get(v, 'layer_norm_eps', 1e-6) === 1e-6, 'vision_config.layer_norm_eps is not 1e-6');
  need(get(q, 'double_latent', false) === false, 'vq_config.double_latent is true');
  need(get(q, 'hidden_act', 'gelu') === 'gelu', `vq_config.hidden_act is ${JSON.stringify(q.hidden_act)}`);
  need(
    get(q, 'in_channels', 3) === 3 && get(q, 'out_channels', 3) === 3,
    'vq_config has other than 3 channels',
  );
  need(t.rope_scaling === undefined || t.rope_scaling === null, 'text_config.rope_scaling is set');
}

/** Janus's language_config (a LlamaConfig) from transformers' text_config, with LlamaConfig's defaults. */
function hfLanguageConfig(t: Json): Json {
  const heads = get(t, 'num_attention_heads', 32);
  const language: Json = {
    model_type: 'llama',
    vocab_size: get(t, 'vocab_size', 32000),
    hidden_size: get(t, 'hidden_size', 4096),
    intermediate_size: get(t, 'intermediate_size', 11008),
    num_hidden_layers: get(t, 'num_hidden_layers', 32),
    num_attention_heads: heads,
    num_key_value_heads: get(t, 'num_key_value_heads', heads),
    hidden_act: get(t, 'hidden_act', 'silu'),
    rms_norm_eps: get(t, 'rms_norm_eps', 1e-6),
    rope_theta: get(t, 'rope_theta', 10000),
    max_position_embeddings: get(t, 'max_position_embeddings', 2048),
    tie_word_embeddings: get(t, 'tie_word_embeddings', false),
    attention_bias: get(t, 'attention_bias', false),
  };
  if (t.torch_dtype !== undefined) language.torch_dtype = t.torch_dtype;
  return language;
}

export function janusConfigFromHF(json: unknown, source: string): ULMConfigInput {
  if (!isObject(json)) throw new UserError(`${source}: not a JSON object`);
  const sub = (k: string): Json => {
    const v = json[k] ?? {};
    if (!isObject(v)) throw new UserError(`${source}: ${k} is not an object`);
    return v;
  };
  const t = sub('text_config');
  const v = sub('vision_config');
  const q = sub('vq_config');
  hfUnsupported(t, v, q, source);

  const width = get(v, 'hidden_size', 1024);
  const patch = get(v, 'patch_size', 16);
  const imageSize = get(v, 'image_size', 384);
  const vHeads = get(v, 'num_attention_heads', 16);
  const mlpRatio = get(v, 'mlp_ratio', 4.0);
  const embedDim = get(q, 'embed_dim', 8);
  const codes = get(q, 'num_embeddings', 16384);
  const chMult = get(q, 'channel_multiplier', [1, 1, 2, 2, 4]);
  // transformers decodes a grid of vision image_size / patch_size codes per side (JanusConfig sets num_patches)
  const grid = Math.floor(imageSize / patch);
  const projection = get(q, 'projection_dim', 2048);
  const siglipL = patch === 16 && width === 1024 && vHeads === 16 && mlpRatio === 4;
  const language = hfLanguageConfig(t);
  const config: Json = {
    model_type: 'multi_modality',
    architectures: ['MultiModalityCausalLM'],
    language_config: language,
    vision_config: {
      cls: 'CLIPVisionTower',
      model_type: 'vision',
      params: {
        model_name: siglipL ? 'siglip_large_patch16_384' : 'janus_hf_vision',
        image_size: imageSize,
        select_feature: 'same',
        select_layer: -1,
        patch_size: patch,
        width,
        layers: get(v, 'num_hidden_layers', 24),
        heads: vHeads,
        mlp_ratio: mlpRatio,
        global_pool: '',
      },
    },
    aligner_config: {
      cls: 'MlpProjector',
      model_type: 'aligner',
      params: {
        projector_type: 'mlp_gelu',
        depth: get(v, 'depth', 2),
        input_dim: width,
        n_embed: get(v, 'projection_dim', 2048),
      },
    },
    gen_vision_config: {
      cls: 'VQ-16',
      model_type: 'gen_vision',
      params: {
        image_token_size: codes,
        n_embed: embedDim,
        codebook_embed_dim: embedDim,
        image_size: grid * 2 ** (chMult.length - 1),
        ch: get(q, 'base_channels', 128),
        ch_mult: chMult,
        num_res_blocks: get(q, 'num_res_blocks', 2),
        z_channels: get(q, 'latent_channels', 256),
        norm_groups: 32,
        use_attn: true,
        codebook_l2_norm: true,
        codebook_show_usage: true,
      },
    },
    gen_aligner_config: {
      cls: 'MlpProjector',
      model_type: 'gen_aligner',
      params: {
        projector_type: 'mlp_gelu',
        depth: get(q, 'num_hidden_layers', 2),
        input_dim: embedDim,
        n_embed: projection,
      },
    },
    gen_head_config: {
      cls: 'vision_head',
      model_type: 'gen_head',
      params: {
        n_embed: get(q, 'image_token_embed_dim', 2048),
        image_token_embed: projection,
        image_token_size: codes,
      },
    },
  };
  if (json.torch_dtype !== undefined) config.torch_dtype = json.torch_dtype;
  return config as ULMConfigInput;
}

/** Token ids transformers' config names (from the tokenizer files, by content). */
export interface HFTokenIds {
  image: number;
  pad: number;
  bos: number;
  eos: number;
}

/**
 * transformers' JanusConfig JSON for a Janus config; a UserError when the model has a shape transformers'
 * Janus cannot express (its VQ uses 32 norm groups and attention, a codebook as wide as gen_embed, ...).
 */
export function hfConfigFromJanus(c: ULMConfig, ids: HFTokenIds, torchDtype: string): Json {
  const v = visionDims(c);
  const g = c.gen_vision_config.params;
  const ga = c.gen_aligner_config.params;
  const gh = c.gen_head_config.params;
  const l = c.language_config;
  const need = (cond: boolean, what: string) => {
    if (!cond) throw new UserError(`transformers' Janus cannot express this model: ${what}`);
  };
  need((g.codebook_embed_dim ?? g.n_embed) === g.n_embed, 'the VQ codebook is not as wide as gen_embed');
  need(g.norm_groups === 32, `the VQ uses ${g.norm_groups} norm groups (transformers: 32)`);
  need(g.use_attn, 'the VQ has no attention blocks');
  need(g.codebook_l2_norm, 'the VQ codebook is not L2-normalised');
  need(gh.image_token_embed === ga.n_embed, 'gen_head.image_token_embed differs from gen_aligner.n_embed');
  need(genGrid(c)[0] === Math.floor(v.imageSize / v.patchSize), 'the VQ grid differs from the ViT grid');
  return {
    architectures: ['JanusForConditionalGeneration'],
    model_type: 'janus',
    image_token_id: ids.image,
    torch_dtype: torchDtype,
    text_config: {
      model_type: 'llama',
      vocab_size: l.vocab_size,
      hidden_size: l.hidden_size,
      intermediate_size: l.intermediate_size,
      num_hidden_layers: l.num_hidden_layers,
      num_attention_heads: l.num_attention_heads,
      num_key_value_heads: l.num_key_value_heads ?? l.num_attention_heads,
      hidden_act: l.hidden_act,
      rms_norm_eps: l.rms_norm_eps,
      rope_theta: l.rope_theta,
      max_position_embeddings: l.max_position_embeddings,
      tie_word_embeddings: false,
      attention_bias: false,
      pad_token_id: ids.pad,
      bos_token_id: ids.bos,
      eos_token_id: ids.eos,
      torch_dtype: torchDtype,
    },
    vision_config: {
      model_type: 'janus_vision_model',
      hidden_size: v.width,
      num_hidden_layers: v.layers,
      num_attention_heads: v.heads,
      num_channels: 3,
      patch_size: v.patchSize,
      image_size: v.imageSize,
      layer_norm_eps: 1e-6,
      hidden_act: 'gelu',
      mlp_ratio: v.mlpRatio,
      attention_bias: true,
      use_qk_norm: false,
      projection_dim: c.aligner_config.params.n_embed,
      depth: c.aligner_config.params.depth,
      num_image_tokens: v.numPatches,
    },
    vq_config: {
      model_type: 'janus_vqgan',
      embed_dim: g.n_embed,
      num_embeddings: g.image_token_size,
      double_latent: false,
      latent_channels: g.z_channels,
      num_patches: genGrid(c)[0],
      in_channels: 3,
      out_channels: 3,
      base_channels: g.ch,
      channel_multiplier: g.ch_mult,
      num_res_blocks: g.num_res_blocks,
      projection_dim: ga.n_embed,
      num_hidden_layers: ga.depth,
      hidden_act: 'gelu',
      image_token_embed_dim: gh.n_embed,
    },
  };
}
