/**
 * TIM (`t2i_ti_sim`) and the CLIP-style baseline (`t2i_clip_sim`) on hand-made hidden states: orthogonal
 * -> 0.5, identical -> 1, hand-computed 2-D cases with the arithmetic in comments, padding and template
 * positions ignored, NaN rows, and no leaked tensors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { timRaw, timReward, timScores } from '../../src/rewards/tim.js';
import { clipSimRaw, clipSimReward, clipSimScores } from '../../src/rewards/clip-sim.js';
import { greedyCosineMatch } from '../../src/rewards/greedy-match.js';
import type { HiddenSpans, ImageBatch } from '../../src/rewards/types.js';
import { close, closeAll, solid } from './helpers.js';

torch.setNumThreads(1);
const S2 = Math.SQRT1_2; // cos 45 degrees = 0.7071067812

/** Rows of [vector, 'i' | 't' | '-'] -> hidden [B, S, D] and the two masks. */
function spans(rows: [number[], 'i' | 't' | '-'][][]): HiddenSpans {
  const S = rows[0]!.length;
  for (const r of rows) assert.equal(r.length, S);
  return {
    hidden: torch.tensor(rows.map((r) => r.map(([v]) => v))),
    imageMask: torch.tensor(rows.map((r) => r.map(([, k]) => k === 'i'))),
    textMask: torch.tensor(rows.map((r) => r.map(([, k]) => k === 't'))),
  };
}

test('TIM: orthogonal -> 0.5, identical -> 1, opposite -> 0', () => {
  torch.tidy(() => {
    // prettier-ignore
    const h = spans([
      [[[1, 0], 'i'], [[0, 1], 't']], // cos 0 -> TIM 0 -> (0 + 1) / 2 = 0.5
      [[[2, 3], 'i'], [[4, 6], 't']], // parallel: cos 1 -> 1
      [[[1, 1], 'i'], [[-2, -2], 't']], // opposite: cos -1 -> 0
    ]);
    closeAll(timScores(h), [0.5, 1, 0]);
    closeAll(timRaw(h), [0, 1, -1]);
  });
});

test('TIM: a hand case with padding and template tokens ignored', () => {
  // image tokens i1 = (1,0), i2 = (0,1); text tokens t1 = (1,1), t2 = (1,0), t3 = (-1,0).
  // cos: i1.t1 = 1/sqrt2, i1.t2 = 1, i1.t3 = -1;  i2.t1 = 1/sqrt2, i2.t2 = 0, i2.t3 = 0
  // mean_i max_t = (max(.7071, 1, -1) + max(.7071, 0, 0)) / 2 = (1 + .7071068) / 2 = 0.8535534
  // mean_t max_i = (max(.7071, .7071) + max(1, 0) + max(-1, 0)) / 3 = (.7071068 + 1 + 0) / 3 = 0.5690356
  // TIM = 0.5 (0.8535534 + 0.5690356) = 0.7112945; reward = (1 + 0.7112945) / 2 = 0.8556472
  const i2t = (1 + S2) / 2;
  const t2i = (S2 + 1 + 0) / 3;
  const tim = 0.5 * (i2t + t2i);
  torch.tidy(() => {
    // row 0: left padding (a vector that would win every max if it counted), a template token between spans
    // row 1: the same spans without padding, at other offsets: same score
    // row 2: no text tokens -> NaN; row 3: no image tokens -> NaN
    const pad: [number[], '-'] = [[5, 5], '-'];
    const tpl: [number[], '-'] = [[-1, 0.2], '-'];
    // prettier-ignore
    const h = spans([
      [pad, pad, [[1, 0], 'i'], [[0, 1], 'i'], tpl, [[1, 1], 't'], [[1, 0], 't'], [[-1, 0], 't']],
      [[[1, 0], 'i'], [[0, 1], 'i'], tpl, [[1, 1], 't'], [[1, 0], 't'], [[-1, 0], 't'], tpl, pad],
      [pad, pad, pad, [[1, 0], 'i'], [[0, 1], 'i'], tpl, tpl, tpl],
      [pad, pad, pad, pad, [[1, 0], 't'], tpl, tpl, tpl],
    ]);
    closeAll(timRaw(h), [tim, tim, NaN, NaN], 1e-6);
    closeAll(timScores(h), [(1 + tim) / 2, (1 + tim) / 2, NaN, NaN], 1e-6);
    close((1 + tim) / 2, 0.8556472, 1e-6);
    // the greedy match halves separately
    const m = greedyCosineMatch(h.hidden, h.imageMask, h.hidden, h.textMask);
    close(m.aToB[0]!, 0.8535534, 1e-6);
    close(m.bToA[0]!, 0.5690356, 1e-6);
  });
});

test('CLIP-style similarity: cosine of mean-pooled spans, by hand', () => {
  // image mean = ((1,0) + (0,1)) / 2 = (0.5, 0.5); text mean = ((1,1) + (1,0)) / 2 = (1, 0.5)
  // cos = (0.5 + 0.25) / (|(0.5,0.5)| |(1,0.5)|) = 0.75 / (0.7071068 * 1.1180340) = 0.9486833
  // reward = (1 + 0.9486833) / 2 = 0.9743416
  torch.tidy(() => {
    // prettier-ignore
    const h = spans([
      [[[9, -9], '-'], [[1, 0], 'i'], [[0, 1], 'i'], [[1, 1], 't'], [[1, 0], 't']],
      [[[1, 0], 'i'], [[0, 1], 't'], [[0, 0], '-'], [[0, 0], '-'], [[0, 0], '-']], // orthogonal -> 0.5
      [[[1, 0], 'i'], [[0, 1], 'i'], [[0, 0], '-'], [[0, 0], '-'], [[0, 0], '-']], // no text -> NaN
    ]);
    closeAll(clipSimRaw(h), [0.75 / (Math.SQRT1_2 * Math.sqrt(1.25)), 0, NaN], 1e-6);
    closeAll(clipSimScores(h), [0.9743416, 0.5, NaN], 1e-6);
  });
});

test('TIM and CLIP rewards: NaN with a note without hidden states; row count checked', () => {
  const samples = [{ image: solid(2, 2, [0, 0, 0]), prompt: 'a red circle' }];
  for (const fn of [timReward(), clipSimReward()]) {
    const out = fn.score({ samples });
    assert.ok(!Array.isArray(out));
    closeAll(out.values, [NaN]);
    assert.match(out.note ?? '', /no hidden states/);
    torch.tidy(() => {
      // prettier-ignore
      const hidden = spans([
        [[[1, 0], 'i'], [[0, 1], 't']],
        [[[1, 0], 'i'], [[0, 1], 't']],
      ]);
      assert.throws(() => fn.score({ samples, hidden }), /2 rows for 1 samples/);
    });
  }
});

test('TIM and CLIP rewards leak no tensors (50 runs), bf16 hidden states with grad accepted', () => {
  const hidden = torch.randn([3, 10, 16]).requiresGrad_(true).keep();
  const mask = (f: (s: number) => boolean) =>
    torch.tensor(Array.from({ length: 3 }, () => Array.from({ length: 10 }, (_, s) => f(s)))).keep();
  const batch: ImageBatch = {
    samples: [0, 1, 2].map(() => ({ image: solid(2, 2, [0, 0, 0]), prompt: 'x' })),
    hidden: { hidden, imageMask: mask((s) => s >= 2 && s < 6), textMask: mask((s) => s >= 7) },
  };
  const tim = timReward();
  const clip = clipSimReward();
  tim.score(batch);
  clip.score(batch);
  const before = torch.liveTensors();
  for (let i = 0; i < 50; i++) {
    tim.score(batch);
    clip.score(batch);
  }
  assert.equal(torch.liveTensors(), before);
  const bf = torch.tidy(() => hidden.to('bfloat16').detach().keep());
  const viaBf16 = timScores({ ...batch.hidden!, hidden: bf });
  closeAll(viaBf16, timScores(batch.hidden!), 2e-2);
  for (const t of [hidden, bf, batch.hidden!.imageMask, batch.hidden!.textMask]) t.dispose();
});
