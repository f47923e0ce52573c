/**
 * `corl ask`, `generate`, `eval` and `train` on a folder shaped like the official release, unchanged: Janus's key layout
 * in one `pytorch_model.bin` (bf16, the ViT's attention-pool head included; written by the conformance test's
 * checkpoint writer at test-micro size), a byte-level BPE tokenizer whose special tokens sit at ids far from
 * corl's own, and the release's special_tokens_map.json, processor_config.json and preprocessor_config.json.
 * ask reads an odd-sized PNG through the image processor; generate writes a PNG; eval answers world
 * questions (32-px images through the processor to the model's 16 px) and train runs a GRPO step whose model
 * answers again. A processor_config.json that does not fit the model is one line and exit code 2.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { numImageTokens, presetConfig } from '../../src/model/config.js';
import { writePNG } from '../../src/model/image-io.js';
import { writeJanusCheckpoint } from '../helpers/janus-checkpoint.js';
import { byteLevelTokenizer, processorConfig, specialTokensMap } from '../helpers/janus-tokenizer.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'corl-janus-cli-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const MODEL = path.join(tmp, 'janus-micro');
const config = presetConfig('test-micro', { vocabSize: 340 });
config.vision_config.params.global_pool = 'map'; // the attention-pool head Janus carries
config.gen_vision_config.params.codebook_show_usage = true; // and codebook_used, as the release
config.language_config.max_position_embeddings = 1024; // byte-level BPE: a world question is ~200 tokens
const S = config.vision_config.params.image_size; // 16

const corl = (...args: string[]) =>
  spawnSync(process.execPath, ['bin/corl.js', ...args], {
    encoding: 'utf8',
    env: { ...process.env, CORL_THREADS: '1' },
  });

before(() => {
  writeJanusCheckpoint(MODEL, {
    format: 'pytorch',
    layout: 'janus',
    config,
    tokenizer: byteLevelTokenizer(300, 3),
    seed: 3,
  });
  const side = {
    'special_tokens_map.json': specialTokensMap(),
    'processor_config.json': processorConfig(numImageTokens(config)),
    'preprocessor_config.json': {
      background_color: [127, 127, 127],
      do_normalize: true,
      image_mean: [0.5, 0.5, 0.5],
      image_processor_type: 'VLMImageProcessor',
      image_size: S,
      image_std: [0.5, 0.5, 0.5],
      min_size: 14,
      processor_class: 'VLChatProcessor',
      rescale_factor: 0.00392156862745098,
    },
  };
  for (const [f, json] of Object.entries(side)) fs.writeFileSync(path.join(MODEL, f), JSON.stringify(json));
  const w = 517;
  const h = 301;
  const data = new Uint8Array(w * h * 3).map((_, i) => (i * 37 + (i % 3) * 91) % 256);
  writePNG(path.join(tmp, 'photo.png'), { width: w, height: h, data });
});

test('the folder is the release form: one pytorch_model.bin, no safetensors', () => {
  const files = fs.readdirSync(MODEL).sort();
  assert.ok(files.includes('pytorch_model.bin'));
  assert.ok(!files.some((f) => f.endsWith('.safetensors')));
});

test('corl ask answers about a 517x301 PNG; corl generate draws a PNG', () => {
  const a = corl(
    'ask',
    '--model',
    MODEL,
    '--image',
    path.join(tmp, 'photo.png'),
    '--question',
    'What is in the picture?',
    '--max-tokens',
    '6',
  );
  assert.equal(a.status, 0, a.stderr);
  assert.equal(a.stderr, '');
  assert.ok(a.stdout.endsWith('\n') && Buffer.byteLength(a.stdout.trim()) <= 6 * 4, JSON.stringify(a.stdout));
  const out = path.join(tmp, 'drawn.png');
  const g = corl(
    'generate',
    '--model',
    MODEL,
    '--prompt',
    'a red cat',
    '--n',
    '1',
    '--cfg',
    '5',
    '--out',
    out,
  );
  assert.equal(g.status, 0, g.stderr);
  assert.match(g.stdout, /wrote .*drawn\.png: 1 image/);
  const png = PNG.sync.read(fs.readFileSync(out));
  assert.deepEqual([png.width, png.height], [S + 4, S + 4]); // one image with the grid's 2-px border
});

test('a processor_config.json that does not fit the model is one line, exit code 2', () => {
  const bad = path.join(tmp, 'bad-proc');
  fs.cpSync(MODEL, bad, { recursive: true });
  fs.writeFileSync(path.join(bad, 'processor_config.json'), JSON.stringify(processorConfig(576)));
  const a = corl('ask', '--model', bad, '--image', path.join(tmp, 'photo.png'), '--question', 'q');
  assert.equal(a.status, 2);
  assert.match(a.stderr.trim(), /processor_config\.json: num_image_tokens 576 but the ViT gives 16 tokens/);
  assert.equal(a.stderr.trim().split('\n').length, 1);
});

test('corl eval and corl train run on the release-shaped folder; the trained model answers again', () => {
  const world = path.join(tmp, 'world');
  const w = corl('world', 'build', '--out', world, '--seed', '1', '--train', '6', '--test', '4', '--json');
  assert.equal(w.status, 0, w.stderr);
  const e = corl(
    'eval',
    '--model',
    MODEL,
    '--data',
    path.join(world, 'eval'),
    '--no-gen',
    '--max-questions',
    '4',
    '--json',
  );
  assert.equal(e.status, 0, e.stderr);
  const scores = JSON.parse(e.stdout.trim().split('\n').pop()!) as Record<string, { n: number }>;
  for (const family of ['mcq', 'oe', 'pope']) assert.equal(scores[family]!.n, 4, family);
  const config = path.join(tmp, 'train.yaml');
  const out = path.join(tmp, 'run');
  fs.writeFileSync(
    config,
    [
      `model: ${MODEL}`,
      `data: ${path.join(world, 'train.jsonl')}`,
      `out: ${out}`,
      'tasks: [mm2t]',
      'steps: 1',
      'batch_size: 2',
      'num_generations: 2',
      'micro_batch_size: 2',
      'max_completion_length: 6',
      'sample_every: 0',
      'save_every: 0',
      'eval_rows: 0',
      'rewards: { image: {}, text: { qa_accuracy: 1, format: 1 } }',
    ].join('\n') + '\n',
  );
  const t = corl('train', '--config', config, '--json');
  assert.equal(t.status, 0, t.stderr);
  const trained = (JSON.parse(t.stdout.trim().split('\n').pop()!) as { model: string }).model;
  const a = corl(
    'ask',
    '--model',
    trained,
    '--image',
    path.join(tmp, 'photo.png'),
    '--question',
    'q',
    '--max-tokens',
    '4',
  );
  assert.equal(a.status, 0, a.stderr);
});
