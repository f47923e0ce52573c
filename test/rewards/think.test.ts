/**
 * `think_match`: bigram F1 of the completion's think against the reference think, hand-computed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { thinkF1, thinkMatch, thinkMatchReward, thinkWords } from '../../src/rewards/think.js';
import { createRewardRegistry } from '../../src/rewards/index.js';
import { close, closeAll } from './helpers.js';

test('thinkWords: lower-cased, "." and "," removed', () => {
  assert.deepEqual(thinkWords(' I see a red circle , a blue square . B is red'), [
    'i',
    'see',
    'a',
    'red',
    'circle',
    'a',
    'blue',
    'square',
    'b',
    'is',
    'red',
  ]);
  assert.deepEqual(thinkWords(' . , '), []);
});

test('thinkF1: hand-computed bigram F1', () => {
  // identical: 1
  close(thinkF1('the circle is red', 'the circle is red'), 1);
  // "i see 1 circle" vs "i see 2 circles": bigrams <s>-i, i-see, see-1, 1-circle, circle-</s> (5) against
  // <s>-i, i-see, see-2, 2-circles, circles-</s> (5): 2 in common -> 2*2/10 = 0.4
  close(thinkF1('i see 1 circle', 'i see 2 circles'), 0.4);
  // a swapped relation: P = <s>-the, the-square, square-is, is-left, left-of, of-the, the-red, red-circle,
  // circle-</s> (9); R = <s>-the, the-red, red-circle, circle-is, is-left, left-of, of-the, the-square,
  // square-</s> (9). Common: <s>-the, the-square, is-left, left-of, of-the, the-red, red-circle = 7 -> 14/18
  close(thinkF1('the square is left of the red circle', 'the red circle is left of the square'), 14 / 18);
  // multiset: a repeated bigram counts once per occurrence in both. P = "a a a" -> <s>-a, a-a, a-a, a-</s>;
  // R = "a a" -> <s>-a, a-a, a-</s>. Common 3 -> 6 / 7
  close(thinkF1('a a a', 'a a'), 6 / 7);
  // nothing in common, and no words
  close(thinkF1('blue', 'the circle is red'), 0);
  close(thinkF1(' . ', 'the circle is red'), 0);
});

test('think_match: the first think block, 0 without one, NaN without a reference', () => {
  const s = (completion: string, qa_think?: string) => ({ completion, qa_solution: 'A', qa_think });
  closeAll(
    thinkMatchReward().score({
      samples: [
        s('<think>the circle is red . A is red</think><answer>A</answer>', 'the circle is red . A is red'),
        s('<think>i see 1 circle</think> <answer>1</answer>', 'i see 2 circles'),
        s('<answer>A</answer>', 'the circle is red'),
        s('<think></think><answer>A</answer>', 'the circle is red'),
        s('<think>the circle is red</think><answer>A</answer>'),
        s('<think>the circle is red</think><answer>A</answer>', '  '),
      ],
    }) as number[],
    [1, 0.4, 0, 0, NaN, NaN],
  );
  // not the think after the answer
  close(
    thinkMatch(s('<think>x</think><answer>A</answer><think>the circle is red</think>', 'the circle is red')),
    0,
  );
});

test('think_match is in the default registry and weighs in a text total', () => {
  const reg = createRewardRegistry();
  const out = reg.score('text', [{ name: 'qa_accuracy' }, { name: 'think_match', weight: 0.5 }], {
    samples: [
      {
        completion: '<think>i see 1 circle</think><answer>2</answer>',
        qa_solution: '<answer>2</answer>',
        qa_type: 'OE',
        qa_think: 'i see 2 circles',
      },
    ],
  });
  // accuracy 1 + 0.5 * 0.4 = 1.2
  closeAll(out.total, [1.2]);
});
