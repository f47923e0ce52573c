/**
 * Nothing lost, through the real CLI on a tiny random model: every path that used to delete or overwrite a
 * user's data (merge / pretrain / world build into the current folder, a folder of the user's, an input, a
 * file; train reruns over a finished run; a stale or damaged checkpoint on --resume) is refused with one line
 * and exit code 2, leaving every byte as it was, or handled as README says (--overwrite, --resume).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import { makeFixture, writeConfig } from '../rl/fixture.js';
import { MARKER } from '../../src/util/output-dir.js';
import { corl, snapshot, userMistake } from './helpers.js';

const fx = makeFixture();
const dir = fx.dir;
// a base as `corl pretrain all` leaves it: the model, its VQ folder and pretrain.json
fs.mkdirSync(path.join(fx.model, 'vq'));
fs.writeFileSync(path.join(fx.model, 'vq', 'vq.json'), '{}\n');
fs.writeFileSync(path.join(fx.model, 'pretrain.json'), '{}\n');
// a folder of the user's
const precious = path.join(dir, 'precious');
fs.mkdirSync(path.join(precious, 'photos'), { recursive: true });
fs.writeFileSync(path.join(precious, 'thesis.tex'), 'years of work');
fs.writeFileSync(path.join(precious, 'photos', 'cat.png'), 'meow');
const file = path.join(dir, 'notes.txt');
fs.writeFileSync(file, 'keep');

const mergeArgs = (out: string) => [
  'merge',
  '--base',
  fx.model,
  '--models',
  fx.model,
  fx.model,
  '--out',
  out,
];

test('merge, pretrain and world build never replace the current folder, a user folder, an input or a file', () => {
  const before = { precious: snapshot(precious), base: snapshot(fx.model), file: snapshot(file) };
  userMistake(mergeArgs('.'), /--out \. is the current folder/, { cwd: precious });
  userMistake(mergeArgs('..'), /a folder above the current one/, { cwd: path.join(precious, 'photos') });
  userMistake(mergeArgs(precious), /corl did not write it \(it holds "photos"\)/);
  userMistake([...mergeArgs(precious), '--overwrite'], /corl did not write it/);
  userMistake(mergeArgs(fx.model), /is the input --base/);
  userMistake([...mergeArgs(path.join(fx.model, 'vq')), '--overwrite'], /lies inside the input --base/);
  userMistake(mergeArgs(file), /is a file, not a folder/);
  for (const cmd of [
    ['pretrain', 'all', '--preset', 'world-micro'],
    ['pretrain', 'vq', '--preset', 'world-micro', '--steps', '1'],
    ['world', 'build', '--train', '2', '--test', '2'],
  ]) {
    userMistake([...cmd, '--out', file], /is a file, not a folder/);
    userMistake([...cmd, '--out', precious, '--overwrite'], /corl did not write it/);
    userMistake([...cmd, '--out', '.'], /the current folder/, { cwd: precious });
  }
  userMistake(
    ['pretrain', 'sft', '--preset', 'world-micro', '--init', fx.model, '--out', fx.model],
    /is the input --init/,
  );
  for (const cmd of [
    ['pipeline', '--preset', 'world-micro'],
    ['pilot', '--preset', 'world-micro', '--base', fx.model],
  ]) {
    userMistake([...cmd, '--out', precious], /corl did not write it/);
    userMistake([...cmd, '--out', file], /is a file, not a folder/);
    userMistake([...cmd, '--out', '.'], /the current folder/, { cwd: precious });
  }
  userMistake(
    ['pipeline', '--preset', 'world-micro', '--base', fx.model, '--out', fx.model],
    /is the input --base/,
  );
  userMistake(
    ['world', 'build', '--out', fx.model, '--overwrite'],
    /holds a model checkpoint, not a ShapesWorld dataset/,
  );
  assert.deepEqual(snapshot(precious), before.precious);
  assert.deepEqual(snapshot(fx.model), before.base);
  assert.deepEqual(snapshot(file), before.file);
});

test('a folder corl wrote is replaced only with --overwrite and only by its own kind', () => {
  const out = path.join(dir, 'merged');
  assert.equal(corl(mergeArgs(out)).status, 0);
  const first = snapshot(out);
  userMistake(mergeArgs(out), /holds a model checkpoint written by corl; pass --overwrite/);
  assert.deepEqual(snapshot(out), first);
  const r = corl([...mergeArgs(out), '--overwrite']);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(fs.existsSync(path.join(out, MARKER)));
  fs.writeFileSync(path.join(out, 'my-notes.md'), 'mine');
  const withNotes = snapshot(out);
  userMistake([...mergeArgs(out), '--overwrite'], /holds "my-notes\.md", which corl did not write/);
  assert.deepEqual(snapshot(out), withNotes);

  const world = path.join(dir, 'world-2');
  const build = ['world', 'build', '--out', world, '--train', '3', '--test', '2'];
  assert.equal(corl(build).status, 0);
  userMistake(build, /holds a ShapesWorld dataset written by corl; pass --overwrite/);
  const again = corl([...build, '--seed', '5', '--overwrite']);
  assert.equal(again.status, 0, again.stderr);
  assert.equal(JSON.parse(fs.readFileSync(path.join(world, 'manifest.json'), 'utf8')).seed, 5);
  assert.deepEqual(
    fs.readdirSync(dir).filter((n) => /\.(tmp|old)-/.test(n)),
    [],
    'no temp or old folders left beside the outputs',
  );
});

const metricsSteps = (out: string) =>
  fs
    .readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { step: number }).step);

test('a finished run survives every rerun: no flag, a bad config, --resume of another config, a past step', () => {
  const cfg = writeConfig(fx, 'run', { steps: 4, save_every: 2, sample_every: 0 });
  const out = path.join(dir, 'run');
  const first = corl(['train', '--config', cfg]);
  assert.equal(first.status, 0, first.stderr);
  const finished = snapshot(out);
  assert.ok('checkpoint-4/trainer_state.json' in finished && 'metrics.jsonl' in finished);

  userMistake(
    ['train', '--config', cfg],
    /holds a training run written by corl; pass --overwrite .* or --resume/,
  );
  const badReward = writeConfig(fx, 'bad-reward', {
    out,
    rewards: { image: { t2i_nope: 1 }, text: { format: 1 } },
  });
  userMistake(['train', '--config', badReward, '--overwrite'], /unknown image reward "t2i_nope"/);
  const badData = writeConfig(fx, 'bad-data', { out, data: path.join(dir, 'missing.jsonl') });
  userMistake(['train', '--config', badData, '--overwrite'], /missing\.jsonl/);
  userMistake(
    ['train', '--config', cfg, '--resume', '--seed', '3'],
    /holds a run of another config \(differs in: seed\)/,
  );
  userMistake(['train', '--config', cfg, '--resume', '--steps', '3'], /checkpoint-4 is past steps = 3/);
  userMistake(['train', '--config', cfg, '--resume', '--overwrite'], /not both/);
  const done = corl(['train', '--config', cfg, '--resume']);
  assert.equal(done.status, 0, done.stderr);
  assert.match(done.stderr, /already complete/);
  assert.deepEqual(snapshot(out), finished, 'every byte of the finished run is as it was');

  // --overwrite with fewer steps: the old run's checkpoints and metrics go first, so none survives beside the new
  const shorter = corl(['train', '--config', cfg, '--overwrite', '--steps', '2']);
  assert.equal(shorter.status, 0, shorter.stderr);
  assert.deepEqual(
    fs.readdirSync(out).filter((n) => n.startsWith('checkpoint-')),
    ['checkpoint-2'],
  );
  assert.deepEqual(metricsSteps(out), [1, 2]);
});

test('--resume falls back past a damaged checkpoint, removes leftovers, and continues', () => {
  const cfg = writeConfig(fx, 'resume', { steps: 4, save_every: 2, sample_every: 0 });
  const out = path.join(dir, 'resume');
  assert.equal(corl(['train', '--config', cfg]).status, 0);
  // damage the newest checkpoint and leave the temp folder of an interrupted write
  fs.writeFileSync(path.join(out, 'checkpoint-4', 'optimizer.safetensors'), 'truncated');
  fs.mkdirSync(path.join(out, 'checkpoint-6.tmp-123-456'));
  const r = corl(['train', '--config', cfg, '--resume', '--steps', '6']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /checkpoint-4 is damaged .*trying the one before/);
  assert.deepEqual(
    fs
      .readdirSync(out)
      .filter((n) => n.startsWith('checkpoint-'))
      .sort(),
    ['checkpoint-2', 'checkpoint-4', 'checkpoint-6'],
  );
  assert.notEqual(
    fs.readFileSync(path.join(out, 'checkpoint-4', 'optimizer.safetensors'), 'utf8'),
    'truncated',
    'the damaged checkpoint was removed and written again by the resumed run',
  );
  assert.deepEqual(metricsSteps(out), [1, 2, 3, 4, 5, 6], 'the log continues from step 2 without duplicates');
  // a folder that is not a run is never resumed into
  fs.writeFileSync(
    path.join(dir, 'resume-other.yaml'),
    stringify({ ...(parse(fs.readFileSync(cfg, 'utf8')) as object), out: precious }),
  );
  userMistake(
    ['train', '--config', path.join(dir, 'resume-other.yaml'), '--resume'],
    /corl did not write it/,
  );
});

test("a run folder being written by another live corl process is refused; a dead writer's lock is taken over", () => {
  const cfg = writeConfig(fx, 'locked', { steps: 2, save_every: 0, sample_every: 0 });
  const out = path.join(dir, 'locked');
  assert.equal(corl(['train', '--config', cfg]).status, 0);
  assert.ok(!fs.existsSync(path.join(out, '.corl-lock')), 'a finished run holds no lock');
  const writer = spawn('sleep', ['30']);
  try {
    fs.writeFileSync(path.join(out, '.corl-lock'), `${writer.pid}\n`);
    const before = snapshot(out);
    userMistake(
      ['train', '--config', cfg, '--overwrite'],
      new RegExp(`being written by another corl process \\(pid ${writer.pid}\\)`),
    );
    assert.deepEqual(snapshot(out), before);
  } finally {
    writer.kill('SIGKILL');
  }
  fs.writeFileSync(path.join(out, '.corl-lock'), '999999999\n'); // no such process
  const r = corl(['train', '--config', cfg, '--overwrite']);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(!fs.existsSync(path.join(out, '.corl-lock')), 'the lock is released at exit');
});
