/**
 * The registry: routing by modality, validation of reward outputs (range, type, length), and the NaN-aware
 * weighted total, against hand-computed values (arithmetic in the comments).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  RewardRegistry,
  combine,
  rewardExtraMetrics,
  validateRewardOutput,
} from '../../src/rewards/registry.js';
import { RewardContractError, type RewardFn, type TextBatch } from '../../src/rewards/types.js';
import { closeAll, close } from './helpers.js';

test('combine: weighted sum, NaN components rescaled, all-NaN -> NaN', () => {
  const results = { a: [1, NaN, NaN, 0.5], b: [0.5, 0.25, NaN, 1] };
  const weights = { a: 1, b: 3 }; // W = 4
  // s0: 1*1 + 3*0.5 = 2.5 (both finite)
  // s1: a NaN -> 3*0.25 = 0.75 over finite weight 3, rescaled by 4/3 -> 1.0
  // s2: both NaN -> NaN
  // s3: 1*0.5 + 3*1 = 3.5
  const r = combine(results, weights);
  closeAll(r.total, [2.5, 1.0, NaN, 3.5]);
  assert.deepEqual(r.nanCount, { a: 2, b: 1 });
  assert.equal(r.partial, 1);
  // nansum (TRL): s1 = 0.75, no rescaling
  closeAll(combine(results, weights, { nanPolicy: 'nansum' }).total, [2.5, 0.75, NaN, 3.5]);
});

test('combine: default weight 1, zero weights ignored, bad weights and lengths rejected', () => {
  // default weights 1: 0.2 + 0.4 = 0.6
  closeAll(combine({ a: [0.2], b: [0.4] }).total, [0.6]);
  // a has weight 0: its NaN does not count as missing; total = 2 * 0.5 = 1, not partial
  const z = combine({ a: [NaN], b: [0.5] }, { a: 0, b: 2 });
  closeAll(z.total, [1]);
  assert.equal(z.partial, 0);
  // no positive weight at all -> nothing scores -> NaN
  closeAll(combine({ a: [0.5] }, { a: 0 }).total, [NaN]);
  assert.throws(() => combine({ a: [0.5] }, { a: -1 }), /weight must be a finite number >= 0/);
  assert.throws(() => combine({ a: [0.5] }, { a: NaN }), /weight/);
  assert.throws(() => combine({ a: [0.5], b: [0.1, 0.2] }), /different sample counts/);
  assert.deepEqual(combine({}).total, []);
});

test('validateRewardOutput: out of range, non-numbers and wrong lengths name the reward', () => {
  assert.deepEqual(validateRewardOutput('ok', [0, 1, NaN, 0.5], 4).values.length, 4);
  const bad: [unknown, RegExp][] = [
    [[0.5, 1.5], /reward "r": sample 1: 1.5 is outside \[0, 1\]/],
    [[-0.01, 0], /sample 0: -0.01 is outside/],
    [[Infinity, 0], /sample 0: Infinity is outside/],
    [[0, '1'], /sample 1: "1" is not a number/],
    [[0], /returned 1 values for 2 samples/],
    [{ values: [0, 0], parts: { x: [1] } }, /part "x" is not 2 numbers/],
    [null, /returned null, not an array/],
  ];
  for (const [out, re] of bad) {
    assert.throws(
      () => validateRewardOutput('r', out, 2),
      (e: unknown) => e instanceof RewardContractError && e.reward === 'r' && re.test(e.message),
    );
  }
});

function constant(name: string, values: number[]): RewardFn<'text'> {
  return { name, modality: 'text', score: () => values };
}

test('registry: scores one modality, weights, parts and notes, extra metrics', () => {
  const reg = new RewardRegistry()
    .register(constant('format', [1, 0, 1]))
    .register({
      name: 'qa_accuracy',
      modality: 'text',
      score: () => ({ values: [1, NaN, 0], parts: { letter_found: [1, 0, 1] }, note: 'one unparseable' }),
    })
    .register({ name: 't2i_x', modality: 'image', score: () => [0.5] });
  assert.deepEqual(reg.names('text'), ['format', 'qa_accuracy']);
  assert.equal(reg.modalityOf('t2i_x'), 'image');
  const batch: TextBatch = {
    samples: [0, 1, 2].map(() => ({ completion: '', qa_solution: 'A' })),
  };
  const s = reg.score('text', [{ name: 'format', weight: 0.5 }, { name: 'qa_accuracy' }], batch);
  // W = 1.5. s0: 0.5*1 + 1*1 = 1.5. s1: 0.5*0 = 0 over 0.5, rescaled * 3 -> 0. s2: 0.5*1 + 0 = 0.5
  closeAll(s.total, [1.5, 0, 0.5]);
  assert.equal(s.partial, 1);
  assert.deepEqual(s.notes, { qa_accuracy: 'one unparseable' });
  const m = rewardExtraMetrics(s);
  close(m['rewards/qa_accuracy/nan_frac']!, 1 / 3);
  close(m['rewards/format/nan_frac']!, 0);
  close(m['rewards/qa_accuracy/letter_found/mean']!, 2 / 3);
  close(m['rewards/partial_frac']!, 1 / 3);
  // routing and config errors
  assert.throws(() => reg.score('text', [{ name: 't2i_x' }], batch), /scores image, not text/);
  assert.throws(() => reg.score('text', [{ name: 'nope' }], batch), /unknown reward "nope" \(known: format/);
  assert.throws(() => reg.score('text', [{ name: 'format' }, { name: 'format' }], batch), /listed twice/);
  assert.throws(() => reg.register(constant('format', [])), /already registered/);
});

test('registry: a reward out of range throws an internal error naming it', () => {
  const reg = new RewardRegistry().register(constant('broken', [0.5, 2, 0]));
  const batch: TextBatch = { samples: [0, 1, 2].map(() => ({ completion: '', qa_solution: '' })) };
  assert.throws(
    () => reg.score('text', [{ name: 'broken' }], batch),
    (e: unknown) =>
      e instanceof RewardContractError && /reward "broken": sample 1: 2 is outside/.test(e.message),
  );
});

test('REWARD_NAMES (what the train config accepts) lists exactly the registry of corl rewards', async () => {
  const { createRewardRegistry } = await import('../../src/rewards/index.js');
  const { REWARD_NAMES } = await import('../../src/rewards/names.js');
  const reg = createRewardRegistry();
  assert.deepEqual([...REWARD_NAMES.text].sort(), reg.names('text').sort());
  assert.deepEqual([...REWARD_NAMES.image].sort(), reg.names('image').sort());
});
