/**
 * `corl convert` through the real CLI: the official form (Janus layout, pytorch_model.bin sharded with its
 * index, bf16, with processor and tokenizer files) becomes transformers' layout as sharded safetensors whose
 * names and shapes are exactly transformers' JanusForConditionalGeneration state dict, and back to Janus's
 * layout with every weight bit-identical (codebook_used restored as zeros); --dtype f32 widens exactly; the
 * output-folder rule holds (no overwrite without --overwrite, never a folder corl did not write, never the
 * input); a hostile pickle is refused before anything is written.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as torch from '../../src/torch/index.js';
import { loadSafetensors, readSafetensorsHeader } from '../../src/torch/safetensors.js';
import { loadULM } from '../../src/model/checkpoint.js';
import { buildWordLevelTokenizer } from '../../src/model/tokenizer.js';
import { janusTensor, writeJanusCheckpoint } from '../helpers/janus-checkpoint.js';
import { writeTorchArchive, PickleWriter, OP } from '../helpers/torch-save.js';
import { hfTensorShapes, janusTensorShapes } from './janus-layout.js';
import { WORDS, microConfig, tinyTokenizer } from './helpers.js';

torch.setNumThreads(1);
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'corl-convert-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
const corl = (...args: string[]) =>
  spawnSync(process.execPath, ['bin/corl.js', ...args], {
    encoding: 'utf8',
    env: { ...process.env, CORL_THREADS: '1' },
  });

const tok = tinyTokenizer();
const config = microConfig(tok, (c) => {
  Object.assign(c.gen_vision_config.params, {
    codebook_show_usage: true,
    ch: 32,
    ch_mult: [1, 1, 2],
    z_channels: 32,
    norm_groups: 32,
    num_res_blocks: 2,
  });
  c.vision_config.params.global_pool = 'map';
});
const src = path.join(root, 'official');
writeJanusCheckpoint(src, {
  format: 'pytorch',
  layout: 'janus',
  config,
  tokenizer: buildWordLevelTokenizer(WORDS),
  seed: 9,
  shardBytes: 100 * 1024,
});
const EXTRA = { 'preprocessor_config.json': '{"image_size": 16}', 'special_tokens_map.json': '{}' };
for (const [f, text] of Object.entries(EXTRA)) fs.writeFileSync(path.join(src, f), text);

/** Every tensor of a safetensors folder (all shards). */
function folderTensors(dir: string): Map<string, torch.Tensor> {
  const out = new Map<string, torch.Tensor>();
  for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.safetensors')))
    for (const [n, t] of loadSafetensors(path.join(dir, f)).tensors) out.set(n, t);
  return out;
}

test("pytorch_model.bin (Janus layout) -> transformers' layout -> Janus's layout, every weight bit-identical", () => {
  const hf = path.join(root, 'hf');
  const r = corl('convert', '--from', src, '--to', hf, '--layout', 'hf', '--shard-mb', '1');
  assert.equal(r.status, 0, r.stderr);
  assert.match(
    r.stdout,
    /^converted \d+ tensors \(0\.\d\d GB\) from pytorch \(janus layout\) to safetensors \(hf layout\)/,
  );
  const files = fs.readdirSync(hf).sort();
  assert.ok(
    files.includes('model.safetensors.index.json') && files.includes('model-00001-of-00003.safetensors'),
    files.join(),
  );
  for (const f of [...Object.keys(EXTRA), 'tokenizer.json']) assert.ok(files.includes(f), f);
  assert.equal(JSON.parse(fs.readFileSync(path.join(hf, 'config.json'), 'utf8')).model_type, 'janus');
  const index = JSON.parse(fs.readFileSync(path.join(hf, 'model.safetensors.index.json'), 'utf8')) as {
    weight_map: Record<string, string>;
  };
  const want = hfTensorShapes(config);
  assert.deepEqual(Object.keys(index.weight_map).sort(), [...want.keys()].sort());
  for (const f of new Set(Object.values(index.weight_map)))
    for (const [n, e] of readSafetensorsHeader(path.join(hf, f)).entries) {
      assert.deepEqual(e.shape, want.get(n), n);
      assert.equal(e.dtype, 'bfloat16', n);
    }
  const back = path.join(root, 'back');
  const b = corl('convert', '--from', hf, '--to', back);
  assert.equal(b.status, 0, b.stderr);
  const janus = janusTensorShapes(config);
  torch.tidy(() => {
    const got = folderTensors(back);
    // everything but what transformers' layout drops (attn_pool), codebook_used restored
    assert.deepEqual(
      [...got.keys()].sort(),
      [...janus.keys()].filter((n) => !n.includes('.attn_pool.')).sort(),
    );
    for (const [n, t] of got)
      assert.deepEqual(t.toArray(), janusTensor(n, janus.get(n)!, 9, 'bfloat16').toArray(), n);
    assert.equal(got.get('gen_vision_model.quantize.codebook_used')!.dtype, 'bfloat16');
  });
  const c = JSON.parse(fs.readFileSync(path.join(back, 'config.json'), 'utf8'));
  assert.equal(c.model_type, 'multi_modality');
  // the converted folder is a model corl loads
  const { model } = loadULM(back);
  model.dispose();
});

test('--dtype f32 widens exactly and keeps the attention-pool head in Janus layout', () => {
  const out = path.join(root, 'f32');
  const r = corl('convert', '--from', src, '--to', out, '--dtype', 'f32');
  assert.equal(r.status, 0, r.stderr);
  const janus = janusTensorShapes(config);
  torch.tidy(() => {
    const got = folderTensors(out);
    assert.equal(got.size, janus.size);
    for (const [n, t] of got) {
      assert.equal(t.dtype, 'float32', n);
      assert.deepEqual(t.toArray(), janusTensor(n, janus.get(n)!, 9, 'bfloat16').toArray(), n);
    }
  });
  assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).torch_dtype, 'float32');
});

test('the output-folder rule: no overwrite without --overwrite, no foreign folder, not the input', () => {
  const out = path.join(root, 'twice');
  assert.equal(corl('convert', '--from', src, '--to', out).status, 0);
  const again = corl('convert', '--from', src, '--to', out);
  assert.equal(again.status, 2);
  assert.match(
    again.stderr,
    /^corl: error: --to .* holds a model checkpoint written by corl; pass --overwrite to replace it\n$/,
  );
  assert.equal(corl('convert', '--from', src, '--to', out, '--overwrite', '--layout', 'hf').status, 0);
  assert.ok(fs.existsSync(path.join(out, 'model.safetensors')));
  const foreign = path.join(root, 'foreign');
  fs.mkdirSync(foreign);
  fs.writeFileSync(path.join(foreign, 'notes.txt'), 'mine');
  const f = corl('convert', '--from', src, '--to', foreign);
  assert.equal(f.status, 2);
  assert.match(f.stderr, /is not empty and corl did not write it \(it holds "notes\.txt"\)/);
  const inside = corl('convert', '--from', src, '--to', path.join(src, 'sub'));
  assert.equal(inside.status, 2);
  assert.match(inside.stderr, /lies inside the input --from/);
  const bad = corl('convert', '--from', src, '--to', path.join(root, 'x'), '--dtype', 'f16');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /argument 'f16' is invalid/);
});

test('a hostile pytorch_model.bin is refused in one line before anything is written', () => {
  const evil = path.join(root, 'evil');
  fs.mkdirSync(evil);
  fs.copyFileSync(path.join(src, 'config.json'), path.join(evil, 'config.json'));
  fs.copyFileSync(path.join(src, 'tokenizer.json'), path.join(evil, 'tokenizer.json'));
  const w = new PickleWriter().proto(2).global('os', 'system').str('touch /tmp/corl-pwned').op(OP.TUPLE1);
  writeTorchArchive(path.join(evil, 'pytorch_model.bin'), w.op(OP.REDUCE).op(OP.STOP).bytes(), []);
  const out = path.join(root, 'evil-out');
  const r = corl('convert', '--from', evil, '--to', out);
  assert.equal(r.status, 2);
  assert.equal(
    r.stderr,
    `corl: error: ${path.join(evil, 'pytorch_model.bin')}: refusing to load: the pickle calls os.system (a state dict needs only tensors, storages and OrderedDict; nothing in a checkpoint is run)\n`,
  );
  assert.ok(!fs.existsSync(out));
  assert.ok(!fs.existsSync('/tmp/corl-pwned'));
});
