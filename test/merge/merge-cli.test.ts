/** `corl merge` on whole checkpoints: average and Gaussian merges match the tensor-level functions. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { worldVocabulary } from '../../src/world/vocabulary.js';
import {
  MultiModalityCausalLM,
  ULMTokenizer,
  buildWordLevelTokenizer,
  loadULM,
  presetConfig,
  saveULM,
} from '../../src/model/index.js';
import { mergeGaussian } from '../../src/merge/merge.js';

const CLI = join(import.meta.dirname, '..', '..', 'bin', 'corl.js');
const dir = mkdtempSync(join(tmpdir(), 'corl-merge-'));
const tok = ULMTokenizer.fromJSON(buildWordLevelTokenizer(worldVocabulary()));
for (const [name, seed] of [
  ['base', 1],
  ['a', 2],
  ['b', 3],
] as const) {
  const m = new MultiModalityCausalLM(presetConfig('test-micro', { vocabSize: tok.vocabSize }), {
    generator: new torch.Generator(seed),
  });
  saveULM(m, tok, join(dir, name));
  m.dispose();
}

function corl(...args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
}

test('average merge is (A + B) / 2 for every tensor', () => {
  const r = corl(
    'merge',
    '--method',
    'average',
    '--base',
    join(dir, 'base'),
    '--models',
    join(dir, 'a'),
    join(dir, 'b'),
    '--out',
    join(dir, 'avg'),
  );
  assert.equal(r.status, 0, r.stderr);
  const [a, b, out] = ['a', 'b', 'avg'].map((n) => loadULM(join(dir, n)).model);
  torch.tidy(() => {
    const sa = a!.stateDict();
    const sb = b!.stateDict();
    for (const [k, t] of out!.stateDict()) {
      const want = sa.get(k)!.add(sb.get(k)!).div(2);
      assert.ok(t.sub(want).abs().amax().item() < 1e-6, k);
    }
  });
  for (const m of [a, b, out]) m!.dispose();
});

test('gaussian merge of checkpoints equals mergeGaussian on their state dicts', () => {
  const r = corl(
    'merge',
    '--base',
    join(dir, 'base'),
    '--models',
    join(dir, 'a'),
    join(dir, 'b'),
    '--out',
    join(dir, 'gauss'),
    '--lambda',
    '1',
  );
  assert.equal(r.status, 0, r.stderr);
  const [base, a, b, out] = ['base', 'a', 'b', 'gauss'].map((n) => loadULM(join(dir, n)).model);
  torch.tidy(() => {
    const want = mergeGaussian(base!.stateDict(), a!.stateDict(), b!.stateDict(), 1);
    for (const [k, t] of out!.stateDict()) assert.equal(t.sub(want.get(k)!).abs().amax().item(), 0, k);
  });
  for (const m of [base, a, b, out]) m!.dispose();
});

test('bad merge arguments end in one clear line', () => {
  const missing = corl(
    'merge',
    '--base',
    join(dir, 'base'),
    '--models',
    join(dir, 'a'),
    join(dir, 'nope'),
    '--out',
    join(dir, 'x'),
  );
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /^corl: error: model directory .*nope does not exist\n$/);
  const one = corl('merge', '--base', join(dir, 'base'), '--models', join(dir, 'a'), '--out', join(dir, 'x'));
  assert.equal(one.status, 2);
  assert.match(one.stderr, /--models takes exactly two folders/);
});
