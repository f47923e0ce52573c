/**
 * Checkpoints: a tiny random checkpoint in Janus-Pro's exact layout (names and shapes from janus-layout.ts,
 * bf16 tensors, sharded with an index, the unused attn_pool head included) loads with nothing unmapped or
 * missing; save -> load -> save is byte-identical; wrong shapes, missing and unmapped tensors are UserErrors
 * naming them; a missing folder is a UserError; NaN/Inf weights are a UserError naming the folder, the
 * tensors and how many of their values are not finite.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import { saveSharded } from '../../src/torch/safetensors.js';
import { loadULM, saveULM } from '../../src/model/checkpoint.js';
import { buildWordLevelTokenizer } from '../../src/model/tokenizer.js';
import { UserError } from '../../src/util/errors.js';
import { janusTensorShapes } from './janus-layout.js';
import { WORDS, microConfig, tinyTokenizer } from './helpers.js';

torch.setNumThreads(1);
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'corl-ckpt-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
const tok = tinyTokenizer();
// Janus's VQ-16 structure at micro size: attention on, codebook_used present, 2 res blocks (identity and
// nin_shortcut cases), the ViT's attention-pool head present
const config = microConfig(tok, (c) => {
  Object.assign(c.gen_vision_config.params, {
    codebook_show_usage: true,
    num_res_blocks: 2,
    ch_mult: [1, 1, 2],
    use_attn: true,
  });
  c.vision_config.params.global_pool = 'map';
});
const shapes = janusTensorShapes(config);

/** Writes a Janus-layout checkpoint folder; `edit` may change the tensor map before writing. */
function writeJanusCheckpoint(dir: string, edit?: (t: Map<string, Tensor>) => void): Map<string, Tensor> {
  const gen = new torch.Generator(42);
  const tensors = new Map<string, Tensor>();
  for (const [name, shape] of shapes)
    tensors.set(name, torch.randn(shape, { generator: gen }).mul(0.05).to('bfloat16'));
  edit?.(tensors);
  fs.mkdirSync(dir, { recursive: true });
  saveSharded(dir, tensors, { maxShardBytes: 64 * 1024 });
  // config.json as Janus writes it: only the params Janus reads plus corl's size extensions
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config, torch_dtype: 'bfloat16' }));
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(buildWordLevelTokenizer(WORDS)));
  return tensors;
}

const filesOf = (dir: string) =>
  new Map(
    fs
      .readdirSync(dir)
      .sort()
      .map((f) => [f, fs.readFileSync(path.join(dir, f))]),
  );

test('a Janus-layout bf16 sharded checkpoint loads fully; save -> load -> save is byte-identical', () => {
  torch.tidy(() => {
    const dir = path.join(root, 'janus');
    const written = writeJanusCheckpoint(dir);
    assert.ok(fs.existsSync(path.join(dir, 'model.safetensors.index.json')), 'sharded');
    const { model, tokenizer } = loadULM(dir);
    // every modelled tensor got the file's values (bf16 -> f32 is exact)
    const own = model.stateDict();
    assert.equal(own.size + model.passthrough.size, shapes.size);
    assert.ok([...model.passthrough.keys()].every((n) => n.includes('.attn_pool.')));
    for (const [n, t] of own) {
      assert.equal(t.dtype, 'float32');
      assert.deepEqual(t.toArray(), written.get(n)!.toArray(), n);
    }
    const a = path.join(root, 'save-a');
    const b = path.join(root, 'save-b');
    saveULM(model, tokenizer, a, { maxShardBytes: 100 * 1024 });
    const again = loadULM(a);
    saveULM(again.model, again.tokenizer, b, { maxShardBytes: 100 * 1024 });
    const fa = filesOf(a);
    const fb = filesOf(b);
    assert.deepEqual([...fa.keys()], [...fb.keys()]);
    assert.ok([...fa.keys()].some((f) => f.startsWith('model-00001-of-')));
    for (const [f, bytes] of fa) assert.ok(bytes.equals(fb.get(f)!), `${f} differs`);
    // saving over an existing folder replaces it, leaving no temporary folders
    saveULM(again.model, again.tokenizer, b);
    assert.ok(fs.existsSync(path.join(b, 'model.safetensors')));
    assert.ok(!fs.existsSync(path.join(b, 'model.safetensors.index.json')));
    assert.deepEqual(
      fs.readdirSync(root).filter((f) => f.includes('.tmp-') || f.includes('.old-')),
      [],
    );
    // and a bf16 save round-trips the (bf16-representable) values
    const c = path.join(root, 'save-bf16');
    saveULM(again.model, again.tokenizer, c, { dtype: 'bfloat16' });
    const bf = loadULM(c);
    const name = 'language_model.model.layers.1.mlp.down_proj.weight';
    assert.deepEqual(bf.model.stateDict().get(name)!.toArray(), written.get(name)!.toArray());
    for (const m of [model, again.model, bf.model]) m.dispose();
  });
});

test('a wrong-shape tensor is a UserError naming it', () => {
  const dir = path.join(root, 'wrong-shape');
  const bad = 'gen_vision_model.decoder.conv_blocks.1.res.0.conv2.weight';
  torch.tidy(() =>
    writeJanusCheckpoint(dir, (t) => t.set(bad, torch.zeros([3, 3, 3, 3], { dtype: 'bfloat16' }))),
  );
  assert.throws(
    () => loadULM(dir),
    (e: Error) => e instanceof UserError && e.message.includes(bad) && e.message.includes('[3, 3, 3, 3]'),
  );
});

test('missing and unmapped tensors are a UserError listing them', () => {
  const dir = path.join(root, 'missing');
  const gone = 'language_model.model.layers.0.self_attn.k_proj.weight';
  const extra = 'language_model.model.layers.0.self_attn.rotary_emb.inv_freq';
  torch.tidy(() =>
    writeJanusCheckpoint(dir, (t) => {
      t.delete(gone);
      t.set(extra, torch.zeros([4]));
    }),
  );
  assert.throws(
    () => loadULM(dir),
    (e: Error) =>
      e instanceof UserError &&
      e.message.includes(`missing tensor(s): ${gone}`) &&
      e.message.includes(`unmapped tensor(s): ${extra}`),
  );
});

test('a missing model folder or config is a UserError', () => {
  assert.throws(
    () => loadULM(path.join(root, 'nope')),
    (e: Error) => e instanceof UserError && e.message.includes('does not exist'),
  );
  const dir = path.join(root, 'no-config');
  fs.mkdirSync(dir);
  assert.throws(
    () => loadULM(dir),
    (e: Error) => e instanceof UserError && e.message.includes('config.json'),
  );
});

test('the live tensor count returns to its start after load/save/dispose', () => {
  const dir = path.join(root, 'janus');
  const before = torch.liveTensors();
  const { model, tokenizer } = loadULM(dir);
  saveULM(model, tokenizer, path.join(root, 'live'));
  model.dispose();
  assert.equal(torch.liveTensors(), before);
});

test('loading with dtype bfloat16 keeps the weights as shipped; the model runs in bf16', () => {
  torch.tidy(() => {
    const dir = path.join(root, 'janus');
    const { model, tokenizer } = loadULM(dir, { dtype: 'bfloat16' });
    const file = loadULM(dir); // float32 view of the same file
    for (const [n, t] of model.stateDict()) {
      assert.equal(t.dtype, 'bfloat16', n);
      assert.deepEqual(t.toArray(), file.model.stateDict().get(n)!.toArray(), n);
    }
    assert.ok(model.language_model.lm_head.weight.requiresGrad, 'still a parameter');
    // a forward pass on both paths, in bf16
    const codes = torch.noGrad(() => model.gen_vision_model.encode(torch.zeros([1, 3, 16, 16])));
    const img = torch.noGrad(() => model.gen_vision_model.decode(codes));
    assert.equal(img.dtype, 'bfloat16');
    const ids = torch.tensor([tokenizer.encode('a red circle', { bos: true })], { dtype: 'int64' });
    const { logits } = torch.noGrad(() => model.forward({ inputIds: ids }));
    assert.equal(logits!.dtype, 'bfloat16');
    assert.ok(logits!.float().isfinite().all().item());
    // and saves back in bf16
    const out = path.join(root, 'bf16-kept');
    saveULM(model, tokenizer, out);
    const back = loadULM(out, { dtype: 'bfloat16' });
    const n = 'gen_head.vision_head.weight';
    assert.deepEqual(back.model.stateDict().get(n)!.toArray(), model.stateDict().get(n)!.toArray());
    for (const m of [model, file.model, back.model]) m.dispose();
  });
});

test('weights holding NaN or Inf are a UserError naming the folder, the tensors and the count', () => {
  const dir = path.join(root, 'nan');
  const nan = 'language_model.model.layers.1.mlp.down_proj.weight';
  const inf = 'gen_head.vision_head.bias';
  torch.tidy(() =>
    writeJanusCheckpoint(dir, (t) =>
      torch.noGrad(() => {
        t.get(nan)!.reshape([-1]).narrow(0, 5, 3).fill_(NaN);
        t.get(inf)!.fill_(Infinity);
      }),
    ),
  );
  const numel = (n: string) => shapes.get(n)!.reduce((a, b) => a * b, 1);
  const live = torch.liveTensors();
  for (const dtype of ['float32', 'bfloat16'] as const)
    assert.throws(
      () => loadULM(dir, { dtype }),
      (e: Error) =>
        e instanceof UserError &&
        e.message ===
          `${dir}: the checkpoint's weights are not all finite: 2 tensor(s) hold NaN/Inf: ` +
            `${inf} (all ${numel(inf)} values), ${nan} (3 of ${numel(nan)} values) ` +
            '(a corrupt file or a diverged training run)',
    );
  assert.equal(torch.liveTensors(), live);
  // saveULM of a model whose weights went NaN in memory writes a file that loadULM refuses
  const { model, tokenizer } = loadULM(path.join(root, 'janus'));
  torch.noGrad(() => torch.tidy(() => void model.gen_embed.weight.select(0, 1).fill_(NaN)));
  const out = path.join(root, 'nan-saved');
  saveULM(model, tokenizer, out);
  model.dispose();
  assert.throws(
    () => loadULM(out),
    (e: Error) =>
      e instanceof UserError && e.message.includes(`1 tensor(s) hold NaN/Inf: gen_embed.weight (`),
  );
});
