/**
 * `corl pretrain vq | sft` and `corl eval` as commands (world-micro, step budgets): JSON lines with every key,
 * the eval's --data forms (a world build folder, one JSONL file), and user mistakes as one line, exit code 2.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildDataset } from '../../src/world/dataset.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'corl-pretrain-cli-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const corl = (...args: string[]) =>
  spawnSync(process.execPath, ['bin/corl.js', ...args], {
    encoding: 'utf8',
    env: { ...process.env, CORL_THREADS: '1' },
  });
const lastJson = (stdout: string) => JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;

const vqDir = path.join(tmp, 'vq');
const modelDir = path.join(tmp, 'model');
const world = path.join(tmp, 'world');
buildDataset({ out: world, seed: 4, train: 2, test: 3 });

test('pretrain vq, then pretrain sft on it, print one JSON line each', () => {
  const v = corl('pretrain', 'vq', '--preset', 'world-micro', '--out', vqDir, '--steps', '4', '--json');
  assert.equal(v.status, 0, v.stderr);
  const vr = lastJson(v.stdout) as { vq: { steps: number; eval: object } };
  assert.equal(vr.vq.steps, 4);
  assert.ok('recon_exact' in vr.vq.eval);
  assert.ok(!('logs' in vr.vq), 'the loss logs stay in pretrain.json');
  assert.ok(fs.existsSync(path.join(vqDir, 'pretrain.json')));

  const s = corl(
    'pretrain',
    'sft',
    '--preset',
    'world-micro',
    '--vq',
    vqDir,
    '--out',
    modelDir,
    '--steps',
    '3',
    '--json',
  );
  assert.equal(s.status, 0, s.stderr);
  const sr = lastJson(s.stdout) as { sft: { steps: number; final: Record<string, number> }; eval: object };
  assert.equal(sr.sft.steps, 3);
  assert.ok('gen' in sr.sft.final);
  assert.ok(sr.eval && 'geneval' in sr.eval);
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'pretrain.json'])
    assert.ok(fs.existsSync(path.join(modelDir, f)), f);
});

test('eval reads a world build folder (eval/*.jsonl) or one JSONL file', () => {
  const e = corl('eval', '--model', modelDir, '--data', world, '--json', '--images-per-prompt', '1');
  assert.equal(e.status, 0, e.stderr);
  const r = lastJson(e.stdout) as {
    geneval: { prompts: number };
    mcq: { n: number };
    oe: { n: number };
    pope: { n: number; splits: object };
    format: { rate: number };
  };
  assert.deepEqual([r.geneval.prompts, r.mcq.n, r.oe.n, r.pope.n], [3, 3, 3, 9]);
  // the stage-1 file: each row a prompt and a question
  const u = corl(
    'eval',
    '--model',
    modelDir,
    '--data',
    path.join(world, 'test.jsonl'),
    '--json',
    '--images-per-prompt',
    '1',
  );
  assert.equal(u.status, 0, u.stderr);
  const ur = lastJson(u.stdout) as { geneval: { prompts: number }; format: { n: number } };
  assert.equal(ur.geneval.prompts, 3);
  assert.equal(ur.format.n, 3);
  const t = corl('eval', '--model', modelDir, '--data', world, '--max-questions', '1', '--no-gen');
  assert.equal(t.status, 0, t.stderr);
  assert.match(t.stdout, /Multiple choice[\s\S]*POPE[\s\S]*Format/);
});

test('user mistakes end in one line and exit code 2', () => {
  const cases: [string[], RegExp][] = [
    [['eval', '--model', path.join(tmp, 'nope'), '--data', world], /model directory .* does not exist/],
    [['eval', '--model', modelDir, '--data', path.join(tmp, 'nope.jsonl')], /does not exist/],
    [['eval', '--model', modelDir, '--data', tmp], /no eval\/\{gen,mcq,oe,pope\}\.jsonl/],
    [
      ['pretrain', 'sft', '--vq', path.join(tmp, 'world'), '--out', path.join(tmp, 'x'), '--steps', '1'],
      /not a VQ folder/,
    ],
    [['pretrain', 'sft', '--vq', tmp, '--out', path.join(tmp, 'x'), '--steps', '1'], /lies inside the input --vq/],
    [
      ['pretrain', 'vq', '--out', path.join(tmp, 'y'), '--preset', 'nope', '--steps', '1'],
      /unknown pretrain preset/,
    ],
    [['pretrain', 'vq', '--out', path.join(tmp, 'y'), '--seconds', '1', '--steps', '1'], /not both/],
  ];
  for (const [args, re] of cases) {
    const r = corl(...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});
