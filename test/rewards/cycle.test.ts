/**
 * The cycle reward: 0.5 image side + 0.5 text side, one side alone when the other is missing, NaN when both
 * are, with a stub SPICE function and with a one-hot token embedder for the BERTScore side.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { cycleCombine, cycleReward, cycleTextSide, worldSpice } from '../../src/rewards/cycle.js';
import type { TokenEmbedder } from '../../src/rewards/bertscore.js';
import type { ImageSample, RewardOutput } from '../../src/rewards/types.js';
import { close, closeAll, solid } from './helpers.js';

torch.setNumThreads(1);

test('cycleCombine: halves, one side alone, both missing', () => {
  close(cycleCombine(0.8, 0.4), 0.6); // 0.5 * 0.8 + 0.5 * 0.4
  close(cycleCombine(0.8, NaN), 0.8);
  close(cycleCombine(NaN, 0.4), 0.4);
  close(cycleCombine(NaN, NaN), NaN);
  close(cycleCombine(0.8, 0.4, 0.75), 0.7); // 0.75 * 0.8 + 0.25 * 0.4
});

/** Words -> one-hot rows over a tiny vocabulary (unknown words are dropped). */
const VOCAB = ['a', 'red', 'blue', 'circle', 'square'];
const oneHot: TokenEmbedder = {
  embed: (texts) =>
    texts.map((t) => {
      const ids = t.split(' ').filter((w) => VOCAB.includes(w));
      const rows = ids.map((w) => VOCAB.map((v) => (v === w ? 1 : 0)));
      return rows.length === 0 ? torch.zeros([0, VOCAB.length]) : torch.tensor(rows);
    }),
};

const black = solid(2, 2, [0, 0, 0]);
const gray = solid(2, 2, [51, 51, 51]); // 1 - RMSE vs black = 0.8

test('cycle reward with a SPICE function: image and text halves, missing sides', () => {
  const calls: [string, string][] = [];
  const spice = (p: string, c: string) => {
    calls.push([p, c]);
    return c === p ? 1 : 0.5;
  };
  const fn = cycleReward({ fallback: 'rmse', spice });
  const samples: ImageSample[] = [
    { image: gray, realImage: black, prompt: 'a red circle', recaption: 'a red square' }, // 0.5*0.8 + 0.5*0.5
    { image: gray, realImage: black, prompt: 'a red circle' }, // no re-caption: image side alone, 0.8
    { image: gray, prompt: 'a red circle', recaption: 'a red circle' }, // no real image: text side alone, 1
    { image: gray, prompt: 'a red circle' }, // nothing: NaN
  ];
  const out = fn.score({ samples }) as RewardOutput;
  closeAll(out.values, [0.65, 0.8, 1, NaN]);
  closeAll(out.parts!.image_side!, [0.8, 0.8, NaN, NaN]);
  closeAll(out.parts!.text_side!, [0.5, NaN, 1, NaN]);
  assert.deepEqual(calls, [
    ['a red circle', 'a red square'],
    ['a red circle', 'a red circle'],
  ]);
  assert.match(
    out.note!,
    /image side rmse, text side spice; 2 without re-caption: image side alone; 2 without real image/,
  );
});

test('cycle reward with a token embedder: BERTScore text side', () => {
  // "a red square" (candidate) vs "a red circle" (reference), one-hot tokens:
  // P = (1 + 1 + 0) / 3 = 2/3, R = 2/3, F1 = 2/3; reward = 0.5 * 0.8 + 0.5 * 2/3 = 0.7333333
  const fn = cycleReward({ fallback: 'rmse', encoder: oneHot });
  const out = fn.score({
    samples: [
      { image: gray, realImage: black, prompt: 'a red circle', recaption: 'a red square' },
      { image: black, realImage: black, prompt: 'a red circle', recaption: 'a red circle' }, // 1 and 1
      { image: black, realImage: black, prompt: 'a red circle', recaption: 'nothing known' }, // empty: text NaN
    ],
  }) as RewardOutput;
  closeAll(out.values, [0.4 + 1 / 3, 1, 1], 1e-6);
  closeAll(out.parts!.text_side!, [2 / 3, 1, NaN], 1e-6);
  assert.match(out.note!, /text side bertscore/);
});

test('cycle text side defaults to the world SPICE; bad weights rejected; no leaks', () => {
  // prompt "a red circle": tuples {circle, circle|red}
  // re-caption "a red circle to the left of a blue square": {circle, circle|red, square, square|blue,
  //   circle|left of|square}; 2 hits -> P = 2/5, R = 2/2 = 1, F1 = 2 * 0.4 * 1 / 1.4 = 0.5714286
  closeAll(
    cycleTextSide(['a red circle'], ['a red circle to the left of a blue square'], {}),
    [0.8 / 1.4],
    1e-9,
  );
  close(worldSpice('a red circle', 'a red circle to the left of a blue square'), 0.8 / 1.4, 1e-9);
  closeAll(cycleTextSide(['a'], [undefined], {}), [NaN]);
  assert.throws(() => cycleReward({ imageWeight: 2 }), /imageWeight/);
  const fn = cycleReward({ encoder: oneHot });
  const batch = {
    samples: [{ image: gray, realImage: black, prompt: 'a red circle', recaption: 'a blue circle' }],
  };
  fn.score(batch);
  const before = torch.liveTensors();
  for (let i = 0; i < 50; i++) fn.score(batch);
  assert.equal(torch.liveTensors(), before);
});
