/**
 * `eval_every`: held-out evaluations during training leave training alone (the same final weights, bit for
 * bit, as a run evaluated only before and after), log `eval/…` rows at the right steps, release their
 * tensors, and a run resumed from a checkpoint keeps the eval rows up to it and ends as an uninterrupted one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { loadTrainConfig } from '../../src/rl/config.js';
import { train } from '../../src/rl/trainer.js';
import { makeFixture, writeConfig } from './fixture.js';

const fx = makeFixture();

type Row = Record<string, number | null>;

function metrics(out: string): Row[] {
  return readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Row);
}

const evalRows = (out: string) => metrics(out).filter((m) => 'eval/gen_reward' in m);
const finalWeights = (out: string) => readFileSync(join(out, 'checkpoint-4', 'model', 'model.safetensors'));
/** An eval row without its wall time (the only field that differs between equal evaluations). */
const scores = (m: Row) => Object.fromEntries(Object.entries(m).filter(([k]) => k !== 'time/eval'));

const base = { steps: 4, eval_data: fx.test, eval_rows: 4, save_every: 2 };

test('eval_every 2: eval rows at steps 0, 2, 4 and the same final weights as eval_every 0', () => {
  const every = loadTrainConfig(writeConfig(fx, 'every', { ...base, eval_every: 2 }));
  const ends = loadTrainConfig(writeConfig(fx, 'ends', { ...base, eval_every: 0 }));
  const live0 = torch.liveTensors();
  train(every, { quiet: true });
  assert.equal(torch.liveTensors(), live0, 'every tensor of the run and its evaluations is released');
  train(ends, { quiet: true });

  assert.ok(finalWeights(every.out).equals(finalWeights(ends.out)), 'bit-identical final weights');
  assert.ok(
    readFileSync(join(every.out, 'checkpoint-2', 'model', 'model.safetensors')).equals(
      readFileSync(join(ends.out, 'checkpoint-2', 'model', 'model.safetensors')),
    ),
    'bit-identical weights at the mid-run checkpoint',
  );
  const a = evalRows(every.out);
  const b = evalRows(ends.out);
  assert.deepEqual(
    a.map((m) => m.step),
    [0, 2, 4],
  );
  assert.deepEqual(
    b.map((m) => m.step),
    [0, 4],
  );
  // same weights and the evaluation's fixed seed: the same scores before and after
  assert.deepEqual(scores(a[0]!), scores(b[0]!));
  assert.deepEqual(scores(a[2]!), scores(b[1]!));
  for (const m of a) {
    assert.equal(m['eval/n'], 4);
    assert.ok(typeof m['time/eval'] === 'number' && m['time/eval'] > 0);
    for (const k of ['eval/gen_reward', 'eval/geneval', 'eval/accuracy', 'eval/format'])
      assert.ok(m[k] === null || (typeof m[k] === 'number' && m[k] >= 0), `${k} = ${m[k]}`);
  }
  // the training rows are the same too (the eval rows sit between them)
  const train_ = (out: string) =>
    metrics(out)
      .filter((m) => 'step_time' in m)
      .map((m) => [m.step, m['t2i/reward'], m['mm2t/reward'], m.grad_norm]);
  assert.deepEqual(train_(every.out), train_(ends.out));
});

test('eval_every: a run resumed from checkpoint-2 keeps the eval rows up to it and ends the same', () => {
  const whole = loadTrainConfig(writeConfig(fx, 'whole', { ...base, eval_every: 2 }));
  train(whole, { quiet: true });
  // the same run stopped at step 2 (steps is not part of a constant-lr run's identity), then resumed to 4
  const part = writeConfig(fx, 'part', { ...base, eval_every: 2 });
  train(loadTrainConfig(part, { steps: 2 }), { quiet: true });
  assert.deepEqual(
    evalRows(join(fx.dir, 'part')).map((m) => m.step),
    [0, 2],
  );
  const resumed = loadTrainConfig(part);
  train(resumed, { quiet: true, resume: true });

  assert.ok(finalWeights(resumed.out).equals(finalWeights(whole.out)), 'bit-identical final weights');
  const a = evalRows(whole.out);
  const b = evalRows(resumed.out);
  assert.deepEqual(
    b.map((m) => m.step),
    [0, 2, 4],
    'one eval row per evaluated step, none repeated',
  );
  assert.deepEqual(b.map(scores), a.map(scores));
  assert.deepEqual(
    metrics(resumed.out).map((m) => m.step),
    metrics(whole.out).map((m) => m.step),
  );
});
