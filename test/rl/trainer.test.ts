/**
 * The RL trainer end to end on a tiny random model: a run writes TRL-named metrics, samples and atomic
 * checkpoints with a flat live-tensor count; a run killed after a checkpoint and resumed ends bit-identical to
 * an uninterrupted one; the shuffled-reward control and the single-task / KL variants run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { loadTrainConfig } from '../../src/rl/config.js';
import { train } from '../../src/rl/trainer.js';
import { makeFixture, writeConfig } from './fixture.js';

const fx = makeFixture();
const CLI = join(import.meta.dirname, '..', '..', 'bin', 'corl.js');

function metrics(out: string): Record<string, number | null>[] {
  return readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, number | null>);
}

test('a unified run logs TRL metrics per modality, samples and checkpoints, with flat live tensors', () => {
  const cfg = loadTrainConfig(writeConfig(fx, 'unified', { eval_data: fx.test, eval_rows: 4 }));
  const live0 = torch.liveTensors();
  const r = train(cfg, { quiet: true });
  assert.equal(torch.liveTensors(), live0, 'every tensor of the run is released');
  assert.ok(r.before && r.after);
  const rows = metrics(cfg.out).filter((m) => m['step_time'] !== undefined);
  assert.equal(rows.length, 4);
  for (const key of [
    't2i/reward',
    't2i/reward_std',
    't2i/frac_reward_zero_std',
    't2i/rewards/t2i_bid_cycle_reward/mean',
    't2i/rewards/t2i_ti_sim/mean',
    't2i/clip_ratio/region_mean',
    't2i/sampler_logp_gap',
    'mm2t/reward',
    'mm2t/rewards/qa_accuracy/mean',
    'mm2t/rewards/format/mean',
    'mm2t/completions/mean_length',
    'mm2t/entropy',
    'reward',
    'grad_norm',
    'time/rollout',
    'time/reward',
    'time/update',
  ]) {
    assert.ok(key in rows[0]!, `metric ${key} missing`);
  }
  // at mu = 1 the ratio is exactly 1 before the update
  assert.equal(rows[0]!['t2i/ratio_mean'], 1);
  assert.equal(rows[0]!['mm2t/ratio_mean'], 1);
  for (const m of rows) {
    const rw = m['t2i/reward'];
    assert.ok(rw === null || (rw >= 0 && rw <= 2), `t2i reward ${rw} in [0, 2]`);
  }
  assert.ok(existsSync(join(cfg.out, 'samples', 'step-2', 'images.png')));
  assert.ok(existsSync(join(cfg.out, 'checkpoint-2', 'trainer_state.json')));
  assert.ok(existsSync(join(cfg.out, 'checkpoint-4', 'model', 'model.safetensors')));
  assert.deepEqual(
    readdirSync(cfg.out).filter((n) => n.includes('.tmp')),
    [],
    'no temp folders left behind',
  );
});

test('a run killed after its first checkpoint resumes bit-exactly', async () => {
  const full = writeConfig(fx, 'full', { save_every: 2 });
  const killed = writeConfig(fx, 'killed', { save_every: 2 });
  const a = spawnSync(process.execPath, [CLI, 'train', '--config', full], { encoding: 'utf8' });
  assert.equal(a.status, 0, a.stderr);

  // start the second run and kill it hard as soon as checkpoint-2 exists
  const out = join(fx.dir, 'killed');
  const child = spawn(process.execPath, [CLI, 'train', '--config', killed], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  while (!existsSync(join(out, 'checkpoint-2', 'trainer_state.json'))) {
    await new Promise((r) => setTimeout(r, 50));
    if (child.exitCode !== null) break;
  }
  child.kill('SIGKILL');
  await exited;
  assert.ok(!existsSync(join(out, 'checkpoint-4')), 'the run was killed before finishing');

  const b = spawnSync(process.execPath, [CLI, 'train', '--config', killed, '--resume'], { encoding: 'utf8' });
  assert.equal(b.status, 0, b.stderr);
  const wa = readFileSync(join(fx.dir, 'full', 'checkpoint-4', 'model', 'model.safetensors'));
  const wb = readFileSync(join(out, 'checkpoint-4', 'model', 'model.safetensors'));
  assert.ok(wa.equals(wb), 'final weights are bit-identical');
  const ma = metrics(join(fx.dir, 'full')).map((m) => m['t2i/reward']);
  const mb = metrics(out).map((m) => m['t2i/reward']);
  assert.deepEqual(mb, ma, 'the resumed metrics log matches');
});

test('control, single-task, alternating and KL-anchored variants run', () => {
  for (const [name, fields] of [
    ['control', { shuffle_rewards: true, steps: 2 }],
    ['gen-only', { tasks: ['t2i'], steps: 2, beta: 0.04, num_iterations: 2, image_logprob_mode: 'cfg' }],
    ['und-only', { tasks: ['mm2t'], steps: 2, beta: 0.04 }],
    ['alternating', { alternate: true, steps: 2, advantage: 'separate' }],
  ] as const) {
    const cfg = loadTrainConfig(writeConfig(fx, name, { ...fields, save_every: 0, sample_every: 0 }));
    train(cfg, { quiet: true });
    const rows = metrics(cfg.out);
    assert.equal(rows.length, 2, name);
    if (name === 'gen-only') {
      assert.ok(!('mm2t/reward' in rows[0]!));
      assert.ok('t2i/kl' in rows[0]!, 'kl logged when beta > 0');
    }
    if (name === 'alternating') {
      assert.ok('t2i/reward' in rows[0]! && !('mm2t/reward' in rows[0]!));
      assert.ok('mm2t/reward' in rows[1]! && !('t2i/reward' in rows[1]!));
    }
  }
});
