/**
 * Full-width conformance with Janus-Pro-1B as released: a random-weight checkpoint with every tensor name,
 * shape and dtype of the official file (LLM 2048 wide with its 102,400-token vocabulary, SigLIP-L/16 at
 * 384 px with the attention-pool head Janus carries but never runs, both aligners, VQ-16 with its
 * codebook_used buffer, gen head and embed; bf16), at reduced depth (2 LLM layers, 2 ViT blocks: 1.36 GB).
 * It is written once per run into a temp folder in the official form (Janus layout, one pytorch_model.bin)
 * and in transformers' layout (pytorch_model.bin shards with their index); `corl convert` makes the two
 * safetensors forms from them. All four load with nothing missing and nothing unexpected and hold the same
 * weights bit for bit; the model (bf16, as Janus runs it: on CPU 5x faster than float32 here, the steps being
 * memory-bound) then answers a question about a 384-px image and draws one 384-px image with CFG. About
 * 3 GiB of memory and 5.5 GB of temp disk; the whole file's time and its parts are printed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as torch from '../../src/torch/index.js';
import { presetConfig } from '../../src/model/config.js';
import { loadULM, type LoadedULM } from '../../src/model/checkpoint.js';
import { convertCheckpoint } from '../../src/model/convert.js';
import { generationBatch, understandingBatch } from '../../src/model/inputs.js';
import { preprocessImage } from '../../src/model/preprocess.js';
import { sampleImages, sampleText } from '../../src/model/sample.js';
import { generationPrompt, understandingPrompt } from '../../src/model/templates.js';
import { buildWordLevelTokenizer } from '../../src/model/tokenizer.js';
import { readSafetensorsHeader } from '../../src/torch/safetensors.js';
import { janusTensor, writeJanusCheckpoint } from '../helpers/janus-checkpoint.js';
import { hfTensorShapes, janusTensorShapes } from './janus-layout.js';
import { WORDS } from './helpers.js';

torch.setNumThreads(Number(process.env.CORL_THREADS ?? 1));
const t0 = Date.now();
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'corl-janus-pro-'));
after(() => {
  fs.rmSync(root, { recursive: true, force: true });
  console.log(`# janus-pro conformance: ${((Date.now() - t0) / 1000).toFixed(1)} s in all`);
});

const tokJSON = buildWordLevelTokenizer(WORDS);
const config = presetConfig('janus-pro-1b');
config.language_config.num_hidden_layers = 2;
config.vision_config.params.layers = 2;
const SEED = 7;
const dirs = {
  janusBin: path.join(root, 'janus-bin'),
  hfBin: path.join(root, 'hf-bin'),
  hfSafetensors: path.join(root, 'hf-safetensors'),
  janusSafetensors: path.join(root, 'janus-safetensors'),
};
const timings: Record<string, number> = {};
const timed = <T>(what: string, fn: () => T): T => {
  const s = Date.now();
  try {
    return fn();
  } finally {
    timings[what] = (Date.now() - s) / 1000;
  }
};

before(() => {
  timed('write janus pytorch_model.bin', () =>
    writeJanusCheckpoint(dirs.janusBin, {
      format: 'pytorch',
      layout: 'janus',
      config,
      tokenizer: tokJSON,
      seed: SEED,
    }),
  );
  timed('write hf pytorch_model.bin shards', () =>
    writeJanusCheckpoint(dirs.hfBin, {
      format: 'pytorch',
      layout: 'hf',
      config,
      tokenizer: tokJSON,
      seed: SEED,
      shardBytes: 800_000_000,
    }),
  );
  timed('convert janus bin -> hf safetensors', () =>
    convertCheckpoint({
      from: dirs.janusBin,
      to: dirs.hfSafetensors,
      layout: 'hf',
      maxShardBytes: 1_000_000_000,
    }),
  );
  timed('convert hf bin -> janus safetensors', () =>
    convertCheckpoint({ from: dirs.hfBin, to: dirs.janusSafetensors, layout: 'janus' }),
  );
});

let reference: LoadedULM | null = null;
after(() => reference?.model.dispose());

test('the files hold every tensor of the release, in bf16, nothing else', () => {
  const janus = janusTensorShapes(config);
  assert.equal(janus.size, 882 - 22 * 9 - 22 * 12); // 22 LLM layers of 9 and 22 ViT blocks of 12 tensors fewer
  // transformers' layout as its converter writes it (checked against the hand-written list)
  const hf = hfTensorShapes(config);
  const idx = JSON.parse(
    fs.readFileSync(path.join(dirs.hfSafetensors, 'model.safetensors.index.json'), 'utf8'),
  ) as {
    weight_map: Record<string, string>;
  };
  assert.deepEqual(Object.keys(idx.weight_map).sort(), [...hf.keys()].sort());
  for (const f of new Set(Object.values(idx.weight_map)))
    for (const [n, e] of readSafetensorsHeader(path.join(dirs.hfSafetensors, f)).entries) {
      assert.deepEqual(e.shape, hf.get(n), n);
      assert.equal(e.dtype, 'bfloat16');
    }
  assert.ok(fs.existsSync(path.join(dirs.hfBin, 'pytorch_model.bin.index.json')));
  const st = readSafetensorsHeader(path.join(dirs.janusSafetensors, 'model.safetensors'));
  // back from transformers' layout: all but the attention-pool head, which that layout does not carry
  assert.deepEqual(
    [...st.entries.keys()].sort(),
    [...janus.keys()].filter((n) => !n.includes('.attn_pool.')).sort(),
  );
});

test('the four forms load in bf16 with nothing missing or unexpected, holding the same weights', () => {
  reference = timed('load janus bin (bf16)', () => loadULM(dirs.janusBin, { dtype: 'bfloat16' }));
  const own = reference.model.stateDict();
  const shapes = janusTensorShapes(config);
  assert.equal(own.size + reference.model.passthrough.size, shapes.size);
  // the file holds what was written (spot checks: a fused qkv, pos_embed, the VQ codebook, a 2048x16384 head)
  torch.tidy(() => {
    for (const n of [
      'vision_model.vision_tower.blocks.1.attn.qkv.weight',
      'vision_model.vision_tower.pos_embed',
      'gen_vision_model.quantize.embedding.weight',
      'gen_vision_model.quantize.codebook_used',
      'gen_head.vision_head.weight',
    ]) {
      const want = janusTensor(n, shapes.get(n)!, SEED, 'bfloat16');
      assert.equal(own.get(n)!.ne(want).any().item(), 0, n);
    }
  });
  for (const [what, dir] of [
    ['hf bin', dirs.hfBin],
    ['hf safetensors', dirs.hfSafetensors],
    ['janus safetensors', dirs.janusSafetensors],
  ] as const) {
    const other = timed(`load ${what} (bf16)`, () => loadULM(dir, { dtype: 'bfloat16' }));
    try {
      torch.tidy(() => {
        for (const [n, t] of other.model.stateDict()) {
          assert.equal(t.dtype, 'bfloat16');
          assert.equal(t.ne(own.get(n)!).any().item(), 0, `${what}: ${n}`);
        }
      });
      assert.equal(
        other.model.passthrough.size,
        what === 'janus safetensors' || what.startsWith('hf') ? 0 : 13,
      );
    } finally {
      other.model.dispose();
    }
  }
});

test('the model, in bf16 as Janus runs it, answers about a 384-px image and draws one 384-px image with CFG', () => {
  assert.ok(reference !== null);
  const { model, tokenizer } = reference;
  const image = {
    width: 384,
    height: 288,
    data: new Uint8Array(384 * 288 * 3).map((_, i) => (i * 37) % 256),
  };
  timed('answer 4 tokens', () =>
    torch.tidy(() => {
      const pixels = preprocessImage(image, model.config);
      assert.deepEqual(pixels.shape, [3, 384, 384]);
      const batch = understandingBatch(
        tokenizer,
        [understandingPrompt('what color is the circle ?')],
        [[pixels]],
        model.numImageTokens,
      );
      assert.equal(model.numImageTokens, 576);
      const s = sampleText(model, batch, {
        maxNewTokens: 4,
        temperature: 0,
        eosId: tokenizer.special.eos,
        padId: tokenizer.special.pad,
        generator: new torch.Generator(0),
      });
      const ids = s.ids[0]!;
      assert.ok(ids.length >= 1 && ids.length <= 4);
      assert.ok(
        ids.every((id) => Number.isInteger(id) && id >= 0 && id < 102400),
        String(ids),
      );
    }),
  );
  timed('draw one image (CFG 5)', () =>
    torch.tidy(() => {
      const prompt = generationBatch(tokenizer, [generationPrompt('a red circle')]);
      const s = sampleImages(model, prompt, {
        imagesPerPrompt: 1,
        cfgWeight: 5,
        temperature: 1,
        padId: tokenizer.special.pad,
        generator: new torch.Generator(1),
      });
      assert.deepEqual(s.codes.shape, [1, 576]);
      const img = torch.noGrad(() => model.gen_vision_model.decode(s.codes));
      assert.deepEqual(img.shape, [1, 3, 384, 384]);
      assert.equal(img.isfinite().all().item(), 1);
    }),
  );
  console.log(`# janus-pro conformance timings (s): ${JSON.stringify(timings)}`);
});
