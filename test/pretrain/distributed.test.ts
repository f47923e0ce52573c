/**
 * Data-parallel pretraining and evaluation over Gloo on 127.0.0.1 (docs/distributed.md):
 * - one step of SFT, of the VQ and of the vision encoder (world-micro) with 2 ranks equals one process's step
 *   on the same batch: the gradients the optimizer gets and the parameters after it within 1e-6 relative;
 * - `corl eval --nproc 2` gives one process's JSON (every item and score), with several batches per rank so
 *   that a rank skips the image draws of the other's batches; skipImageDraws leaves the generator where
 *   sampling the same images would;
 * - `corl pretrain sft --nproc 2` writes one checkpoint and prints one report.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { compareTensors, runNode, runOneAndTwoRanks } from '../helpers/data-parallel.js';
import { buildDataset } from '../../src/world/dataset.js';
import { worldVocabulary } from '../../src/world/vocabulary.js';
import {
  MultiModalityCausalLM,
  ULMTokenizer,
  buildWordLevelTokenizer,
  presetConfig,
  saveULM,
} from '../../src/model/index.js';
import { drawImages } from '../../src/model/draw.js';
import { skipImageDraws } from '../../src/eval/evaluate.js';
import { dealParts, splitRuns } from '../../src/pretrain/sft.js';

const dir = mkdtempSync(join(tmpdir(), 'corl-dp-pretrain-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const CLI = join(import.meta.dirname, '..', '..', 'bin', 'corl.js');
const WORKER = join(import.meta.dirname, 'dp-worker.ts');
const load = (f: string) => torch.safetensors.loadSafetensors(f).tensors;

async function oneStep(mode: 'sft' | 'vq' | 'vision'): Promise<void> {
  const single = join(dir, `${mode}-single`);
  const dp = join(dir, `${mode}-dp`);
  await runOneAndTwoRanks(WORKER, [mode], single, dp);
  // the gradients the optimizer got: one process's, and the sum over the 2 ranks' shares
  const g = compareTensors(load(`${single}.grads.safetensors`), load(`${dp}.grads.safetensors`));
  // SFT: each rank runs one process's own micro-batches, so only the sum over ranks is in another order. VQ and
  // vision: each rank runs half the images through the convolutions and the means, another float32 rounding
  const bound = mode === 'sft' ? 1e-6 : 1e-5;
  assert.ok(
    g.total <= bound,
    `${mode}: the 2-rank gradient differs from 1 process's by ${g.total} (relative)`,
  );
  assert.ok(g.worst[1] <= 1e-5, `${mode}: ${g.worst[0]}'s gradient differs by ${g.worst[1]} (relative)`);
  // the parameters after the step: all together within 1e-6 (Adam's first step g / (|g| + eps) turns the
  // float32 rounding of near-zero gradient entries into larger per-entry differences; see docs/distributed.md)
  const p = compareTensors(load(`${single}.safetensors`), load(`${dp}.safetensors`));
  assert.ok(
    p.total <= 1e-6,
    `${mode}: the 2-rank parameters differ from 1 process's by ${p.total} (relative)`,
  );
  // the logged losses: the whole batch's on rank 0
  type Log = Record<string, number | Record<string, number>>;
  const la = (JSON.parse(readFileSync(`${single}.json`, 'utf8')) as Log[])[0]!;
  const lb = (JSON.parse(readFileSync(`${dp}.json`, 'utf8')) as Log[])[0]!;
  const flat = (l: Log) =>
    Object.entries(l).flatMap(([k, v]) =>
      k === 'seconds' || typeof v === 'string'
        ? []
        : typeof v === 'number'
          ? [[k, v] as const]
          : Object.entries(v).map(([j, w]) => [`${k}.${j}`, w] as const),
    );
  const fb = new Map(flat(lb));
  for (const [k, v] of flat(la))
    assert.ok(
      Math.abs(fb.get(k)! - v) <= 1e-6 * Math.max(1, Math.abs(v)),
      `${mode} log ${k}: ${fb.get(k)} vs ${v}`,
    );
}

test('dealParts: the costliest micro-batch first, each to the least loaded rank', () => {
  assert.deepEqual(dealParts([5, 3, 3, 2, 1], 2), [0, 1, 1, 0, 1]);
  assert.deepEqual(dealParts([2, 9, 2], 2), [1, 0, 1]);
  assert.deepEqual(dealParts([1, 1], 3), [0, 1]);
  assert.deepEqual(dealParts([], 2), []);
});

test('splitRuns: contiguous runs of about equal cost, at most n', () => {
  const id = (x: number) => x;
  assert.deepEqual(splitRuns([1, 1, 1, 1], 2, id), [
    [1, 1],
    [1, 1],
  ]);
  assert.deepEqual(splitRuns([1, 1, 1, 1, 1], 2, id), [
    [1, 1],
    [1, 1, 1],
  ]);
  assert.deepEqual(splitRuns([5, 1, 1, 1], 2, id), [[5], [1, 1, 1]]);
  assert.deepEqual(splitRuns([1, 2, 3, 4, 5, 6], 3, id), [[1, 2, 3], [4, 5], [6]]);
  assert.deepEqual(splitRuns([7], 2, id), [[7]]);
  assert.deepEqual(splitRuns([2, 2], 4, id), [[2], [2]]);
  assert.deepEqual(splitRuns([], 2, id), []);
});

test('one SFT step of 2 ranks equals one process on the same batch', async () => {
  await oneStep('sft');
  // both ranks ran some of the step's micro-batches
  const share = (r: number) =>
    JSON.parse(readFileSync(join(dir, `sft-dp.share-${r}.json`), 'utf8')) as { own: number; of: number };
  const [a, b] = [share(0), share(1)];
  assert.ok(a.own > 0 && b.own > 0, `rank shares ${a.own} + ${b.own} of ${a.of}`);
  assert.equal(a.own + b.own, a.of);
});

test('one VQ step and one vision-encoder step of 2 ranks equal one process', async () => {
  await oneStep('vq');
  await oneStep('vision');
});

// a tiny random model and eval set: 5 prompts and 25 questions, in batches of 2 and 4
const world = join(dir, 'world');
buildDataset({ out: world, seed: 4, train: 2, test: 5 });
const tok = ULMTokenizer.fromJSON(buildWordLevelTokenizer(worldVocabulary()));
const model = new MultiModalityCausalLM(presetConfig('test-micro', { vocabSize: tok.vocabSize }), {
  generator: new torch.Generator(11),
});
const modelDir = join(dir, 'model');
saveULM(model, tok, modelDir);

test('skipImageDraws leaves the generator where sampling the images would', () => {
  const a = new torch.Generator(9);
  const b = new torch.Generator(9);
  drawImages(model, tok, ['a red circle', 'two blue squares', 'a green star'], {
    imagesPerPrompt: 2,
    generator: a,
  });
  skipImageDraws(b, 3 * 2, model.numGenTokens, model.config.gen_head_config.params.image_token_size);
  assert.deepEqual(b.getState(), a.getState());
  // what comes next is the same
  const [x, y] = [a, b].map((g) => torch.tidy(() => torch.rand([4], { generator: g }).toArray()));
  assert.deepEqual(x, y);
});

test('corl eval --nproc 2 gives one process JSON: every item and score', async () => {
  const args = [CLI, 'eval', '--model', modelDir, '--data', world, '--json', '--images-per-prompt', '2'];
  const batches = ['--gen-batch', '2', '--text-batch', '4'];
  const one = await runNode([...args, ...batches]);
  assert.equal(one.code, 0, one.err);
  const two = await runNode([...args, ...batches, '--nproc', '2']);
  assert.equal(two.code, 0, two.err);
  const lines = two.out.trim().split('\n');
  assert.equal(lines.length, 1, `rank 0 alone prints: ${two.out}`);
  const strip = (s: string) => {
    const r = JSON.parse(s) as Record<string, unknown>;
    delete r.seconds;
    return r;
  };
  const a = strip(one.out.trim().split('\n').at(-1)!);
  const b = strip(lines[0]!);
  assert.deepEqual(b, a);
  const items = a.items as { geneval: unknown[]; mcq: unknown[]; oe: unknown[]; pope: unknown[] };
  assert.deepEqual(
    [items.geneval.length, items.mcq.length, items.oe.length, items.pope.length],
    [5, 5, 5, 15],
  );
  // the default batches (one of each here: rank 1 has no generation batch) give the same too
  const oneDefault = await runNode(args);
  assert.equal(oneDefault.code, 0, oneDefault.err);
  const twoDefault = await runNode([...args, '--nproc', '2']);
  assert.equal(twoDefault.code, 0, twoDefault.err);
  assert.deepEqual(strip(twoDefault.out.trim()), strip(oneDefault.out.trim().split('\n').at(-1)!));
});

/**
 * `corl pretrain STAGE --preset world-micro --out OUT ARGS --json --nproc 2`: its one printed line (rank 0
 * alone prints), parsed, after asserting a clean exit.
 */
async function pretrainTwoRanks<T>(stage: 'vq' | 'sft', out: string, args: string[]): Promise<T> {
  const r = await runNode([
    CLI,
    'pretrain',
    stage,
    '--preset',
    'world-micro',
    '--out',
    out,
    ...args,
    '--json',
    '--nproc',
    '2',
  ]);
  assert.equal(r.code, 0, r.err);
  const lines = r.out.trim().split('\n');
  assert.equal(lines.length, 1, r.out);
  return JSON.parse(lines[0]!) as T;
}

test('corl pretrain sft --nproc 2 writes one checkpoint and one report', async () => {
  const vq = join(dir, 'vq');
  await pretrainTwoRanks('vq', vq, ['--steps', '2']);
  assert.ok(existsSync(join(vq, 'vq.json')));
  const out = join(dir, 'sft');
  const r = await pretrainTwoRanks<{ sft: { steps: number }; eval: { geneval: unknown } }>('sft', out, [
    '--vq',
    vq,
    '--steps',
    '2',
  ]);
  assert.equal(r.sft.steps, 2);
  assert.ok(r.eval.geneval !== null);
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'pretrain.json'])
    assert.ok(existsSync(join(out, f)), f);
});

test("corl pretrain vq --nproc 2 on a time budget: rank 0's clock ends both ranks on the same step", async () => {
  // a step budget needs no collective (every rank counts the same steps); a time budget broadcasts rank 0's
  // progress each step, and ranks that disagreed on the last step would leave one rank waiting in a collective
  const out = join(dir, 'vq-timed');
  const r = await pretrainTwoRanks<{ vq: { steps: number } }>('vq', out, ['--seconds', '1.5']);
  assert.ok(r.vq.steps > 1, `steps ${r.vq.steps}`);
  assert.ok(existsSync(join(out, 'vq.json')));
});
