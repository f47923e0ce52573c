/** BERTScore-style greedy-matching F1 on hand vectors (arithmetic in the comments). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { bertScore, bertScoreBatch, f1Reward } from '../../src/rewards/bertscore.js';
import { close } from './helpers.js';

torch.setNumThreads(1);

test('greedy F1 on three hand vectors', () => {
  // candidate c1 = (1,0,0), c2 = (0,1,0); reference r1 = (1,0,0), r2 = (0,1,1), r3 = (0,0,2)
  // cos: c1.r1 = 1, c1.r2 = 0, c1.r3 = 0; c2.r1 = 0, c2.r2 = 1/sqrt2, c2.r3 = 0
  // P = mean over candidate of its best = (1 + 0.7071068) / 2 = 0.8535534
  // R = mean over reference of its best = (1 + 0.7071068 + 0) / 3 = 0.5690356
  // F1 = 2PR / (P + R) = 2 * 0.8535534 * 0.5690356 / 1.4225890 = 0.6828427
  torch.tidy(() => {
    const c = torch.tensor([
      [1, 0, 0],
      [0, 1, 0],
    ]);
    const r = torch.tensor([
      [1, 0, 0],
      [0, 1, 1],
      [0, 0, 2],
    ]);
    const s = bertScore(c, r);
    close(s.precision, 0.8535534, 1e-6);
    close(s.recall, 0.5690356, 1e-6);
    close(s.f1, 0.6828427, 1e-6);
    // swapping the texts swaps P and R, F1 is symmetric
    const t = bertScore(r, c);
    close(t.precision, s.recall, 1e-6);
    close(t.f1, s.f1, 1e-6);
  });
});

test('greedy F1: identical -> 1, opposite -> 0 (reward form), empty text -> NaN, batched with padding', () => {
  torch.tidy(() => {
    const a = torch.tensor([
      [1, 2],
      [3, -1],
    ]);
    const opp = torch.tensor([[-1, 0]]);
    const one = torch.tensor([[1, 0]]);
    const empty = torch.zeros([0, 2]);
    const eye = torch.tensor([
      [1, 0],
      [0, 1],
    ]);
    const s = bertScoreBatch([a, one, empty, one], [a, opp, one, eye]);
    close(s[0]!.f1, 1, 1e-6);
    // P = R = -1: F1 would be -1; the reward form is 0
    close(s[1]!.precision, -1, 1e-6);
    close(s[1]!.f1, 0);
    close(s[2]!.f1, NaN);
    // one = (1,0) vs {(1,0), (0,1)}: P = 1, R = (1 + 0) / 2 = 0.5, F1 = 2 * 0.5 / 1.5 = 0.6666667
    close(s[3]!.f1, 2 / 3, 1e-6);
  });
  close(f1Reward(0.5, -0.2), 0);
  close(f1Reward(NaN, 0.5), NaN);
  assert.deepEqual(bertScoreBatch([], []), []);
});

test('bertScoreBatch leaks no tensors (50 runs)', () => {
  const c = torch.randn([4, 8]).keep();
  const r = torch.randn([6, 8]).keep();
  bertScoreBatch([c, r], [r, c]);
  const before = torch.liveTensors();
  for (let i = 0; i < 50; i++) bertScoreBatch([c, r], [r, c]);
  assert.equal(torch.liveTensors(), before);
  c.dispose();
  r.dispose();
});
