/** Config: a real Janus-Pro config.json parses; presets have the documented sizes; mistakes are clear errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  genGrid,
  numGenTokens,
  numImageTokens,
  parseConfig,
  PRESET_NAMES,
  presetConfig,
  visionDims,
} from '../../src/model/config.js';
import { UserError } from '../../src/util/errors.js';

/** Janus-Pro-1B's config.json as published (fields Janus reads, plus HF bookkeeping). */
const JANUS_PRO_1B = {
  aligner_config: {
    cls: 'MlpProjector',
    model_type: 'aligner',
    params: { depth: 2, input_dim: 1024, n_embed: 2048, projector_type: 'mlp_gelu' },
  },
  architectures: ['MultiModalityCausalLM'],
  gen_aligner_config: {
    cls: 'MlpProjector',
    model_type: 'gen_aligner',
    params: { depth: 2, input_dim: 8, n_embed: 2048, projector_type: 'mlp_gelu' },
  },
  gen_head_config: {
    cls: 'vision_head',
    model_type: 'gen_head',
    params: { image_token_embed: 2048, image_token_size: 16384, n_embed: 2048 },
  },
  gen_vision_config: {
    cls: 'VQ-16',
    model_type: 'gen_vision',
    params: { image_token_size: 16384, n_embed: 8 },
  },
  language_config: {
    hidden_size: 2048,
    intermediate_size: 5632,
    max_position_embeddings: 16384,
    model_type: 'llama',
    num_attention_heads: 16,
    num_hidden_layers: 24,
    num_key_value_heads: 16,
    torch_dtype: 'bfloat16',
    vocab_size: 102400,
    _attn_implementation: 'flash_attention_2',
  },
  model_type: 'multi_modality',
  torch_dtype: 'bfloat16',
  transformers_version: '4.33.1',
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
};

test("a real Janus-Pro-1B config.json parses with Janus's sizes", () => {
  const c = parseConfig(structuredClone(JANUS_PRO_1B));
  assert.equal(numImageTokens(c), 576);
  assert.equal(numGenTokens(c), 576);
  assert.deepEqual(genGrid(c), [24, 24]);
  const v = visionDims(c);
  assert.deepEqual([v.width, v.layers, v.heads, v.patchSize, v.globalPool], [1024, 24, 16, 16, 'map']);
  const g = c.gen_vision_config.params;
  assert.deepEqual(
    [g.ch, g.ch_mult, g.z_channels, g.norm_groups, g.codebook_show_usage],
    [128, [1, 1, 2, 2, 4], 256, 32, true],
  );
  assert.equal(c.language_config.rope_theta, 10000);
  assert.equal(c.language_config.rms_norm_eps, 1e-6);
  // unknown fields are kept
  assert.equal((c as Record<string, unknown>).transformers_version, '4.33.1');
  assert.equal((c.language_config as Record<string, unknown>)._attn_implementation, 'flash_attention_2');
  // the preset is the same model
  const p = presetConfig('janus-pro-1b');
  assert.deepEqual(p.language_config.hidden_size, c.language_config.hidden_size);
  assert.deepEqual(visionDims(p), v);
});

test('presets: sizes', () => {
  for (const n of PRESET_NAMES) presetConfig(n, { vocabSize: 60 });
  const seven = presetConfig('janus-pro-7b');
  assert.deepEqual(
    [
      seven.language_config.hidden_size,
      seven.language_config.num_hidden_layers,
      seven.language_config.vocab_size,
    ],
    [4096, 30, 102400],
  );
  const w = presetConfig('world-tiny', { vocabSize: 52 });
  assert.equal(w.language_config.hidden_size, 128);
  assert.equal(w.language_config.intermediate_size, 352);
  assert.equal(numImageTokens(w), 64);
  assert.equal(numGenTokens(w), 64);
  assert.equal(w.gen_vision_config.params.image_token_size, 128);
  assert.equal(w.gen_vision_config.params.codebook_embed_dim, 16);
});

test('invalid configs are one UserError naming every problem', () => {
  const bad = structuredClone(JANUS_PRO_1B) as Record<string, unknown> & typeof JANUS_PRO_1B;
  (bad.language_config as Record<string, unknown>).hidden_size = 'big';
  bad.gen_head_config.params.image_token_size = 100;
  assert.throws(
    () => parseConfig(bad, 'x/config.json'),
    (e: Error) =>
      e instanceof UserError &&
      e.message.startsWith('x/config.json: invalid ULM config') &&
      e.message.includes('language_config.hidden_size') &&
      !e.message.includes('\n'),
  );
  const inconsistent = structuredClone(JANUS_PRO_1B);
  inconsistent.aligner_config.params.input_dim = 512;
  assert.throws(
    () => parseConfig(inconsistent),
    /aligner_config.params.input_dim: must equal the ViT width 1024/,
  );
  const unknownVit = structuredClone(JANUS_PRO_1B);
  unknownVit.vision_config.params.model_name = 'mystery';
  assert.throws(() => parseConfig(unknownVit), /unknown model_name "mystery"/);
});
