/**
 * Janus-Pro's checkpoint layout written out by hand from Janus's module code (modeling_vlm.py, siglip_vit.py,
 * timm's AttentionPoolLatent, projector.py, vq_model.py, HF LlamaForCausalLM), independent of corl's module
 * tree: tensor name -> shape for a given config. The checkpoint tests build files from this list.
 */
import { type ULMConfig, visionDims } from '../../src/model/config.js';

export function janusTensorShapes(c: ULMConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const lin = (name: string, o: number, i: number, bias = true) => {
    m.set(`${name}.weight`, [o, i]);
    if (bias) m.set(`${name}.bias`, [o]);
  };
  const norm = (name: string, d: number) => {
    m.set(`${name}.weight`, [d]);
    m.set(`${name}.bias`, [d]);
  };
  const conv = (name: string, o: number, i: number, k: number) => {
    m.set(`${name}.weight`, [o, i, k, k]);
    m.set(`${name}.bias`, [o]);
  };
  // language model
  const l = c.language_config;
  const D = l.hidden_size;
  const Dh = D / l.num_attention_heads;
  const kv = l.num_key_value_heads ?? l.num_attention_heads;
  m.set('language_model.model.embed_tokens.weight', [l.vocab_size, D]);
  for (let i = 0; i < l.num_hidden_layers; i++) {
    const p = `language_model.model.layers.${i}`;
    lin(`${p}.self_attn.q_proj`, l.num_attention_heads * Dh, D, false);
    lin(`${p}.self_attn.k_proj`, kv * Dh, D, false);
    lin(`${p}.self_attn.v_proj`, kv * Dh, D, false);
    lin(`${p}.self_attn.o_proj`, D, l.num_attention_heads * Dh, false);
    lin(`${p}.mlp.gate_proj`, l.intermediate_size, D, false);
    lin(`${p}.mlp.up_proj`, l.intermediate_size, D, false);
    lin(`${p}.mlp.down_proj`, D, l.intermediate_size, false);
    m.set(`${p}.input_layernorm.weight`, [D]);
    m.set(`${p}.post_attention_layernorm.weight`, [D]);
  }
  m.set('language_model.model.norm.weight', [D]);
  m.set('language_model.lm_head.weight', [l.vocab_size, D]);
  // SigLIP ViT
  const v = visionDims(c);
  const W = v.width;
  const hid = Math.trunc(W * v.mlpRatio);
  const t = 'vision_model.vision_tower';
  conv(`${t}.patch_embed.proj`, W, 3, v.patchSize);
  m.set(`${t}.pos_embed`, [1, v.numPatches, W]);
  for (let i = 0; i < v.layers; i++) {
    norm(`${t}.blocks.${i}.norm1`, W);
    lin(`${t}.blocks.${i}.attn.qkv`, 3 * W, W);
    lin(`${t}.blocks.${i}.attn.proj`, W, W);
    norm(`${t}.blocks.${i}.norm2`, W);
    lin(`${t}.blocks.${i}.mlp.fc1`, hid, W);
    lin(`${t}.blocks.${i}.mlp.fc2`, W, hid);
  }
  norm(`${t}.norm`, W);
  if (v.globalPool === 'map') {
    m.set(`${t}.attn_pool.latent`, [1, 1, W]);
    lin(`${t}.attn_pool.q`, W, W);
    lin(`${t}.attn_pool.kv`, 2 * W, W);
    lin(`${t}.attn_pool.proj`, W, W);
    norm(`${t}.attn_pool.norm`, W);
    lin(`${t}.attn_pool.mlp.fc1`, hid, W);
    lin(`${t}.attn_pool.mlp.fc2`, W, hid);
  }
  // aligners and generation head
  for (const [name, p] of [
    ['aligner', c.aligner_config.params],
    ['gen_aligner', c.gen_aligner_config.params],
  ] as const)
    for (let i = 0; i < p.depth; i++)
      lin(`${name}.layers.${2 * i}`, p.n_embed, i === 0 ? p.input_dim : p.n_embed);
  const h = c.gen_head_config.params;
  lin('gen_head.output_mlp_projector', h.image_token_embed, h.n_embed);
  lin('gen_head.vision_head', h.image_token_size, h.image_token_embed);
  const g = c.gen_vision_config.params;
  m.set('gen_embed.weight', [g.image_token_size, g.n_embed]);
  // VQ-16
  const q = 'gen_vision_model';
  const e = g.codebook_embed_dim ?? g.n_embed;
  const res = (name: string, i: number, o: number) => {
    norm(`${name}.norm1`, i);
    conv(`${name}.conv1`, o, i, 3);
    norm(`${name}.norm2`, o);
    conv(`${name}.conv2`, o, o, 3);
    if (i !== o) conv(`${name}.nin_shortcut`, o, i, 1);
  };
  const attn = (name: string, ch: number) => {
    norm(`${name}.norm`, ch);
    for (const k of ['q', 'k', 'v', 'proj_out']) conv(`${name}.${k}`, ch, ch, 1);
  };
  const n = g.ch_mult.length;
  conv(`${q}.encoder.conv_in`, g.ch, 3, 3);
  let bin = g.ch;
  for (let i = 0; i < n; i++) {
    const bout = g.ch * g.ch_mult[i]!;
    for (let j = 0; j < g.num_res_blocks; j++) {
      res(`${q}.encoder.conv_blocks.${i}.res.${j}`, bin, bout);
      bin = bout;
      if (i === n - 1) attn(`${q}.encoder.conv_blocks.${i}.attn.${j}`, bin);
    }
    if (i !== n - 1) conv(`${q}.encoder.conv_blocks.${i}.downsample.conv`, bin, bin, 3);
  }
  res(`${q}.encoder.mid.0`, bin, bin);
  attn(`${q}.encoder.mid.1`, bin);
  res(`${q}.encoder.mid.2`, bin, bin);
  norm(`${q}.encoder.norm_out`, bin);
  conv(`${q}.encoder.conv_out`, g.z_channels, bin, 3);
  bin = g.ch * g.ch_mult[n - 1]!;
  conv(`${q}.decoder.conv_in`, bin, g.z_channels, 3);
  res(`${q}.decoder.mid.0`, bin, bin);
  attn(`${q}.decoder.mid.1`, bin);
  res(`${q}.decoder.mid.2`, bin, bin);
  for (let k = 0; k < n; k++) {
    const i = n - 1 - k;
    const bout = g.ch * g.ch_mult[i]!;
    for (let j = 0; j < g.num_res_blocks + 1; j++) {
      res(`${q}.decoder.conv_blocks.${k}.res.${j}`, bin, bout);
      bin = bout;
      if (i === n - 1) attn(`${q}.decoder.conv_blocks.${k}.attn.${j}`, bin);
    }
    if (i !== 0) conv(`${q}.decoder.conv_blocks.${k}.upsample.conv`, bin, bin, 3);
  }
  norm(`${q}.decoder.norm_out`, bin);
  conv(`${q}.decoder.conv_out`, 3, bin, 3);
  m.set(`${q}.quantize.embedding.weight`, [g.image_token_size, e]);
  m.set(`${q}.quantize.codebook_used`, [65536]);
  conv(`${q}.quant_conv`, e, g.z_channels, 1);
  conv(`${q}.post_quant_conv`, g.z_channels, e, 1);
  return m;
}

/**
 * transformers' `JanusForConditionalGeneration` state dict for the same config, written out by hand from its
 * module code (modeling_janus.py: JanusVisionEmbeddings / EncoderLayer / Attention, JanusVisionAlignerMLP,
 * JanusVQVAE{Encoder,Decoder,MidBlock,ResnetBlock,AttnBlock,VectorQuantizer}, JanusVQVAEAlignerMLP,
 * JanusVQVAEHead, LlamaModel), independent of corl's mapping (src/model/janus-layout.ts).
 */
export function hfTensorShapes(c: ULMConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const lin = (name: string, o: number, i: number, bias = true) => {
    m.set(`${name}.weight`, [o, i]);
    if (bias) m.set(`${name}.bias`, [o]);
  };
  const norm = (name: string, d: number) => {
    m.set(`${name}.weight`, [d]);
    m.set(`${name}.bias`, [d]);
  };
  const conv = (name: string, o: number, i: number, k: number) => {
    m.set(`${name}.weight`, [o, i, k, k]);
    m.set(`${name}.bias`, [o]);
  };
  const l = c.language_config;
  const D = l.hidden_size;
  const kv = (l.num_key_value_heads ?? l.num_attention_heads) * (D / l.num_attention_heads);
  m.set('model.language_model.embed_tokens.weight', [l.vocab_size, D]);
  for (let i = 0; i < l.num_hidden_layers; i++) {
    const p = `model.language_model.layers.${i}`;
    lin(`${p}.self_attn.q_proj`, D, D, false);
    lin(`${p}.self_attn.k_proj`, kv, D, false);
    lin(`${p}.self_attn.v_proj`, kv, D, false);
    lin(`${p}.self_attn.o_proj`, D, D, false);
    lin(`${p}.mlp.gate_proj`, l.intermediate_size, D, false);
    lin(`${p}.mlp.up_proj`, l.intermediate_size, D, false);
    lin(`${p}.mlp.down_proj`, D, l.intermediate_size, false);
    m.set(`${p}.input_layernorm.weight`, [D]);
    m.set(`${p}.post_attention_layernorm.weight`, [D]);
  }
  m.set('model.language_model.norm.weight', [D]);
  m.set('lm_head.weight', [l.vocab_size, D]);
  const v = visionDims(c);
  const W = v.width;
  const e = 'model.vision_model';
  conv(`${e}.embeddings.patch_embedding`, W, 3, v.patchSize);
  m.set(`${e}.embeddings.position_embedding.weight`, [v.numPatches, W]);
  for (let i = 0; i < v.layers; i++) {
    const p = `${e}.encoder.layers.${i}`;
    norm(`${p}.layer_norm1`, W);
    for (const x of ['q_proj', 'k_proj', 'v_proj', 'projection_layer']) lin(`${p}.self_attn.${x}`, W, W);
    norm(`${p}.layer_norm2`, W);
    lin(`${p}.mlp.fc1`, Math.trunc(W * v.mlpRatio), W);
    lin(`${p}.mlp.fc2`, W, Math.trunc(W * v.mlpRatio));
  }
  norm(`${e}.post_layernorm`, W);
  const a = c.aligner_config.params;
  lin('model.aligner.fc1', a.n_embed, W);
  for (let i = 1; i < a.depth; i++) lin(`model.aligner.hidden_layers.${i - 1}`, a.n_embed, a.n_embed);
  // VQ-VAE
  const g = c.gen_vision_config.params;
  const q = 'model.vqmodel';
  const res = (name: string, i: number, o: number) => {
    norm(`${name}.norm1`, i);
    conv(`${name}.conv1`, o, i, 3);
    norm(`${name}.norm2`, o);
    conv(`${name}.conv2`, o, o, 3);
    if (i !== o) conv(`${name}.nin_shortcut`, o, i, 1);
  };
  const attn = (name: string, ch: number) => {
    norm(`${name}.norm`, ch);
    for (const k of ['q', 'k', 'v', 'proj_out']) conv(`${name}.${k}`, ch, ch, 1);
  };
  const mid = (name: string, ch: number) => {
    res(`${name}.block_1`, ch, ch);
    attn(`${name}.attn_1`, ch);
    res(`${name}.block_2`, ch, ch);
  };
  const levels = g.ch_mult.length;
  const inMult = [1, ...g.ch_mult];
  conv(`${q}.encoder.conv_in`, g.ch, 3, 3);
  let blockIn = g.ch;
  for (let lv = 0; lv < levels; lv++) {
    blockIn = g.ch * inMult[lv]!;
    const blockOut = g.ch * g.ch_mult[lv]!;
    for (let b = 0; b < g.num_res_blocks; b++) {
      res(`${q}.encoder.down.${lv}.block.${b}`, blockIn, blockOut);
      blockIn = blockOut;
      if (lv === levels - 1) attn(`${q}.encoder.down.${lv}.attn.${b}`, blockIn);
    }
    if (lv !== levels - 1) conv(`${q}.encoder.down.${lv}.downsample.conv`, blockIn, blockIn, 3);
  }
  mid(`${q}.encoder.mid`, blockIn);
  norm(`${q}.encoder.norm_out`, blockIn);
  conv(`${q}.encoder.conv_out`, g.z_channels, blockIn, 3);
  const embed = g.codebook_embed_dim ?? g.n_embed;
  m.set(`${q}.quantize.embedding.weight`, [g.image_token_size, embed]);
  conv(`${q}.quant_conv`, embed, g.z_channels, 1);
  conv(`${q}.post_quant_conv`, g.z_channels, embed, 1);
  blockIn = g.ch * g.ch_mult[levels - 1]!;
  conv(`${q}.decoder.conv_in`, blockIn, g.z_channels, 3);
  mid(`${q}.decoder.mid`, blockIn);
  let up = 0;
  for (let lv = levels - 1; lv >= 0; lv--, up++) {
    const blockOut = g.ch * g.ch_mult[lv]!;
    for (let b = 0; b < g.num_res_blocks + 1; b++) {
      res(`${q}.decoder.up.${up}.block.${b}`, blockIn, blockOut);
      blockIn = blockOut;
      if (lv === levels - 1) attn(`${q}.decoder.up.${up}.attn.${b}`, blockIn);
    }
    if (lv !== 0) conv(`${q}.decoder.up.${up}.upsample.conv`, blockIn, blockIn, 3);
  }
  norm(`${q}.decoder.norm_out`, blockIn);
  conv(`${q}.decoder.conv_out`, 3, blockIn, 3);
  // generation path
  const ga = c.gen_aligner_config.params;
  m.set('model.generation_embeddings.weight', [g.image_token_size, g.n_embed]);
  lin('model.generation_aligner.fc1', ga.n_embed, g.n_embed);
  for (let i = 1; i < ga.depth; i++)
    lin(`model.generation_aligner.hidden_layers.${i - 1}`, ga.n_embed, ga.n_embed);
  const h = c.gen_head_config.params;
  lin('model.generation_head.proj_out', h.image_token_embed, h.n_embed);
  lin('model.generation_head.vision_head', h.image_token_size, h.image_token_embed);
  return m;
}
