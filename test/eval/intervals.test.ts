/** Intervals of one evaluation's headline scores (src/eval/intervals.ts): hand-computed scores, bootstrap widths. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EvalItems } from '../../src/eval/evaluate.js';
import { evalIntervals, headlineScores, pairedDelta, quantile } from '../../src/eval/intervals.js';

const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);
const bits = (ones: number, n: number) => Array.from({ length: n }, (_, i) => (i < ones ? 1 : 0));

function items(o: Partial<EvalItems> = {}): EvalItems {
  return {
    geneval: [
      { tag: 'single_object', correct: 1 },
      { tag: 'single_object', correct: 0.5 },
      { tag: 'colors', correct: 0 },
      { tag: 'colors', correct: 0.25 },
    ],
    mcq: [1, 1, 0, 1],
    oe: [1, 0],
    // tp 2, fp 1, fn 1, tn 1 (a null prediction counts as "no")
    pope: [
      { pred: 'yes', gold: 'yes' },
      { pred: 'yes', gold: 'yes' },
      { pred: 'yes', gold: 'no' },
      { pred: null, gold: 'yes' },
      { pred: 'no', gold: 'no' },
    ],
    ...o,
  };
}

test('headline scores by hand: GenEval is the mean over categories, POPE F1, the understanding mean', () => {
  const s = headlineScores(items());
  close(s['geneval/overall'], (0.75 + 0.125) / 2);
  close(s['mcq/accuracy'], 0.75);
  close(s['oe/accuracy'], 0.5);
  // precision 2/3, recall 2/3 -> F1 2/3
  close(s['pope/f1'], 2 / 3);
  close(s['understanding/mean'], (0.75 + 0.5 + 2 / 3) / 3);
  assert.ok(Number.isNaN(headlineScores(items({ mcq: [] }))['mcq/accuracy']));
});

test('bootstrap half-widths: zero without spread, the binomial width for a coin, fixed by the seed', () => {
  const flat = evalIntervals(items({ mcq: bits(50, 50) }));
  assert.equal(flat['mcq/accuracy'], 0);
  const coin = evalIntervals(items({ mcq: bits(200, 400), oe: bits(320, 400) }));
  // 1.96 sqrt(p (1 - p) / n): 0.049 for p 0.5, 0.039 for p 0.8 (n 400)
  assert.ok(Math.abs(coin['mcq/accuracy'] - 0.049) < 0.006, `${coin['mcq/accuracy']}`);
  assert.ok(Math.abs(coin['oe/accuracy'] - 0.039) < 0.006, `${coin['oe/accuracy']}`);
  assert.deepEqual(
    evalIntervals(items({ mcq: bits(200, 400) }), 3),
    evalIntervals(items({ mcq: bits(200, 400) }), 3),
  );
  assert.equal(quantile([0, 10], 0.25), 2.5);
});

test('paired differences: zero for the same items, tighter than unpaired, NaN for different item sets', () => {
  const a = items({ mcq: bits(200, 400) });
  const same = pairedDelta(a, a);
  assert.equal(same.delta['mcq/accuracy'], 0);
  assert.equal(same.ci['mcq/accuracy'], 0);
  // b answers 40 more of the same questions right: +0.1, and the paired interval only sees those 40
  const b = items({ mcq: bits(240, 400) });
  const d = pairedDelta(a, b);
  close(d.delta['mcq/accuracy'], 0.1);
  const unpaired = Math.hypot(evalIntervals(a)['mcq/accuracy'], evalIntervals(b)['mcq/accuracy']);
  assert.ok(d.ci['mcq/accuracy'] < unpaired / 2, `${d.ci['mcq/accuracy']} vs ${unpaired}`);
  // 1.96 sqrt(0.1 * 0.9 / 400) = 0.029 for the share of changed answers
  assert.ok(Math.abs(d.ci['mcq/accuracy'] - 0.029) < 0.006, `${d.ci['mcq/accuracy']}`);
  assert.ok(Number.isNaN(pairedDelta(a, items({ mcq: bits(1, 3) })).ci['mcq/accuracy']));
});
