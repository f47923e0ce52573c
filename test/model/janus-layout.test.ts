/**
 * Janus's and transformers' key layouts: corl's mapping turns the official Janus-Pro-1B state dict (882
 * tensors, 2,089,232,011 parameters plus the codebook_used buffer) into exactly the state dict transformers'
 * JanusForConditionalGeneration holds (a hand-written list, test/model/janus-layout.ts); the configs map both
 * ways; a small Janus-structured checkpoint loads from every form (safetensors / pytorch_model.bin, single /
 * sharded, Janus / transformers names) with the same weights, and what does not match is a UserError naming
 * the file's tensors.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as torch from '../../src/torch/index.js';
import { parseConfig, presetConfig, type ULMConfig } from '../../src/model/config.js';
import { loadULM } from '../../src/model/checkpoint.js';
import { hfConfigFromJanus, hfTensorsOf, janusConfigFromHF } from '../../src/model/janus-layout.js';
import { buildWordLevelTokenizer } from '../../src/model/tokenizer.js';
import { UserError } from '../../src/util/errors.js';
import { loadSafetensors, saveSafetensors } from '../../src/torch/safetensors.js';
import {
  type Format,
  type LayoutName,
  janusTensor,
  writeJanusCheckpoint,
} from '../helpers/janus-checkpoint.js';
import { hfTensorShapes, janusTensorShapes } from './janus-layout.js';
import { WORDS, microConfig, tinyTokenizer } from './helpers.js';

torch.setNumThreads(1);
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'corl-layout-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
const tokJSON = buildWordLevelTokenizer(WORDS);
const tok = tinyTokenizer();
const ids = { image: tok.special.image, pad: tok.special.pad, bos: tok.special.bos, eos: tok.special.eos };
// Janus's VQ-16 structure at micro size (32 norm groups as transformers' VQ), the attention-pool head present
const config = microConfig(tok, (c) => {
  Object.assign(c.gen_vision_config.params, {
    codebook_show_usage: true,
    num_res_blocks: 2,
    ch: 32,
    ch_mult: [1, 1, 2],
    z_channels: 32,
    norm_groups: 32,
    use_attn: true,
    image_size: 16,
  });
  c.vision_config.params.global_pool = 'map';
});

function mapped(c: ULMConfig): Map<string, string> {
  const out = new Map<string, string>();
  for (const [n, s] of janusTensorShapes(c))
    for (const p of hfTensorsOf(n, s)) out.set(p.name, p.shape.join('x'));
  return out;
}
const shapesOf = (m: Map<string, number[]>) => new Map([...m].map(([n, s]) => [n, s.join('x')]));

test("Janus-Pro-1B's state dict maps onto exactly transformers' JanusForConditionalGeneration state dict", () => {
  const c = presetConfig('janus-pro-1b');
  const janus = janusTensorShapes(c);
  let params = 0;
  for (const [n, s] of janus) if (!n.endsWith('codebook_used')) params += s.reduce((a, d) => a * d, 1);
  // the official file (reference §8b): 882 tensors, 2,089,232,011 parameters plus the 65,536-element buffer
  assert.equal(janus.size, 882);
  assert.equal(params, 2_089_232_011);
  assert.deepEqual(janus.get('gen_vision_model.quantize.codebook_used'), [65536]);
  const hf = shapesOf(hfTensorShapes(c));
  assert.deepEqual(mapped(c), hf);
  // what transformers' converter drops: the attention-pool head and codebook_used, nothing else
  const dropped = [...janus].filter(([n, s]) => hfTensorsOf(n, s).length === 0).map(([n]) => n);
  assert.deepEqual(
    dropped.sort(),
    [...janus.keys()].filter((n) => n.includes('.attn_pool.') || n.endsWith('codebook_used')).sort(),
  );
  assert.equal(dropped.length, 14);
  // a few names spelled out
  const qkv = hfTensorsOf('vision_model.vision_tower.blocks.3.attn.qkv.weight', [3072, 1024]);
  assert.deepEqual(
    qkv.map((p) => [p.name, p.rows]),
    ['q', 'k', 'v'].map((x, i) => [
      `model.vision_model.encoder.layers.3.self_attn.${x}_proj.weight`,
      [i * 1024, 1024],
    ]),
  );
  assert.equal(
    hfTensorsOf('gen_vision_model.decoder.mid.1.proj_out.bias', [512])[0]!.name,
    'model.vqmodel.decoder.mid.attn_1.proj_out.bias',
  );
  assert.equal(
    hfTensorsOf('gen_vision_model.encoder.conv_blocks.4.res.1.nin_shortcut.weight', [1, 1, 1, 1])[0]!.name,
    'model.vqmodel.encoder.down.4.block.1.nin_shortcut.weight',
  );
  assert.deepEqual(hfTensorsOf('vision_model.vision_tower.pos_embed', [1, 576, 1024])[0]!.shape, [576, 1024]);
  assert.throws(
    () => hfTensorsOf('language_model.rotary_emb.inv_freq', [4]).length,
    /not part of Janus's layout/,
  );
  // the micro config too
  assert.deepEqual(mapped(config), shapesOf(hfTensorShapes(config)));
});

test('configs map both ways: JanusConfig -> Janus config -> JanusConfig, and the model keeps its shapes', () => {
  for (const c of [presetConfig('janus-pro-1b'), presetConfig('janus-pro-7b'), config]) {
    const hf = hfConfigFromJanus(c, ids, 'bfloat16');
    const back = parseConfig(janusConfigFromHF(JSON.parse(JSON.stringify(hf)), 'hf'), 'back');
    // the same model (the attention-pool head aside: transformers' layout does not carry it)
    assert.deepEqual(shapesOf(hfTensorShapes(back)), shapesOf(hfTensorShapes(c)));
    assert.deepEqual(hfConfigFromJanus(back, ids, 'bfloat16'), hf);
  }
  const hf1b = hfConfigFromJanus(presetConfig('janus-pro-1b'), ids, 'bfloat16') as Record<
    string,
    Record<string, unknown>
  >;
  assert.equal(hf1b.vision_config!.num_hidden_layers, 24);
  assert.equal(hf1b.vq_config!.num_patches, 24);
  assert.equal(hf1b.text_config!.intermediate_size, 5632);
  // fields transformers leaves out take its defaults (a minimal JanusConfig is Janus-Pro-1B's vision and VQ)
  const minimal = parseConfig(
    janusConfigFromHF(
      {
        model_type: 'janus',
        text_config: { vocab_size: 64, hidden_size: 2048, num_attention_heads: 16, num_hidden_layers: 1 },
      },
      'x',
    ),
  );
  assert.deepEqual(
    shapesOf(hfTensorShapes(minimal)).get('model.vqmodel.decoder.up.0.attn.2.q.weight'),
    '512x512x1x1',
  );
  assert.equal(minimal.language_config.intermediate_size, 11008);
  // what corl's model lacks is refused
  assert.throws(
    () => janusConfigFromHF({ model_type: 'janus', vision_config: { use_qk_norm: true } }, 'cfg.json'),
    (e: Error) =>
      e instanceof UserError &&
      /cfg\.json: vision_config\.use_qk_norm is true, which corl's Janus model does not have/.test(e.message),
  );
  const odd = microConfig(tok);
  assert.throws(
    () => hfConfigFromJanus(odd, ids, 'bfloat16'),
    /transformers' Janus cannot express this model: the VQ uses 4 norm groups/,
  );
});

const forms: [Format, LayoutName, number | undefined][] = [
  ['safetensors', 'janus', undefined],
  ['pytorch', 'janus', 64 * 1024],
  ['pytorch', 'hf', undefined],
  ['safetensors', 'hf', 64 * 1024],
];

for (const [format, layout, shardBytes] of forms) {
  test(`a ${format} checkpoint in ${layout} layout${shardBytes ? ', sharded,' : ''} loads with every weight as written`, () => {
    const dir = path.join(root, `${format}-${layout}`);
    torch.tidy(() =>
      writeJanusCheckpoint(dir, { format, layout, config, tokenizer: tokJSON, seed: 5, shardBytes }),
    );
    const files = fs.readdirSync(dir);
    const index = format === 'pytorch' ? 'pytorch_model.bin.index.json' : 'model.safetensors.index.json';
    assert.equal(files.includes(index), shardBytes !== undefined, files.join());
    const before = torch.liveTensors();
    const { model } = loadULM(dir);
    torch.tidy(() => {
      const own = model.stateDict();
      const shapes = janusTensorShapes(config);
      assert.equal(own.size, [...shapes.keys()].filter((n) => !n.includes('.attn_pool.')).length);
      for (const [n, t] of own) {
        const want = janusTensor(n, shapes.get(n)!, 5, 'bfloat16').float();
        assert.deepEqual(t.toArray(), want.toArray(), n);
      }
      // the attention-pool head is carried from Janus's layout; transformers' has none
      assert.equal(model.passthrough.size, layout === 'janus' ? 13 : 0);
      for (const [n, t] of model.passthrough)
        assert.deepEqual(t.toArray(), janusTensor(n, shapes.get(n)!, 5, 'bfloat16').float().toArray(), n);
    });
    model.dispose();
    assert.equal(torch.liveTensors(), before);
  });
}

test("transformers' layout with a tensor missing, one extra, or one mis-shaped: UserErrors naming the file's tensors", () => {
  const dir = path.join(root, 'hf-broken');
  torch.tidy(() =>
    writeJanusCheckpoint(dir, { format: 'safetensors', layout: 'hf', config, tokenizer: tokJSON }),
  );
  const st = path.join(dir, 'model.safetensors');
  const orig = fs.readFileSync(st);
  const rewrite = (edit: (m: Map<string, torch.Tensor>) => void) =>
    torch.tidy(() => {
      fs.writeFileSync(st, orig);
      const m = loadSafetensors(st).tensors;
      edit(m);
      saveSafetensors(st, m);
    });
  const k = 'model.vision_model.encoder.layers.0.self_attn.k_proj.bias';
  rewrite((m) => {
    m.delete(k);
    m.set('model.vision_model.head.probe', torch.zeros([1, 1, 16]));
  });
  assert.throws(
    () => loadULM(dir),
    (e: Error) =>
      e instanceof UserError &&
      e.message.includes(
        `${dir}: checkpoint does not match its config: 1 unmapped tensor(s): model.vision_model.head.probe; 1 missing tensor(s): ${k}`,
      ),
  );
  rewrite((m) => m.set(k, torch.zeros([15], { dtype: 'bfloat16' })));
  assert.throws(
    () => loadULM(dir),
    (e: Error) =>
      e instanceof UserError && e.message.includes(`tensor ${k} has shape [15] but the config expects [16]`),
  );
  // names of both layouts in one file
  rewrite((m) => m.set('language_model.model.norm.weight', torch.zeros([32])));
  assert.throws(() => loadULM(dir), /mix transformers' layout .* with Janus's/);
});

test('a folder without weights names the four files corl looks for', () => {
  const dir = path.join(root, 'empty');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tokJSON));
  assert.throws(
    () => loadULM(dir),
    (e: Error) =>
      e instanceof UserError &&
      e.message ===
        `${dir}: no weights: neither model.safetensors.index.json nor model.safetensors nor pytorch_model.bin.index.json nor pytorch_model.bin found`,
  );
});
