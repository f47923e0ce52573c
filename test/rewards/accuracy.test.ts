/**
 * `format` and `qa_accuracy` as thin wrappers over src/world/answers.ts: routing on qa_type, yes/no golds to
 * the POPE rule, NaN for unusable gold answers, and the answer_found part.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatReward } from '../../src/rewards/format.js';
import { accuracyReward, qaAccuracy } from '../../src/rewards/accuracy.js';
import { oeAccuracy } from '../../src/world/answers.js';
import type { RewardOutput, TextSample } from '../../src/rewards/types.js';
import { close, closeAll } from './helpers.js';

const PROBLEM = 'Question: What colour is the circle?\nOptions:\nA. red\nB. blue\nC. green\nD. yellow';

test('format: full think/answer match only', () => {
  const texts = [
    '<think>the circle is red</think><answer>A</answer>', // 1
    ' <think>x</think>\n\n<answer>A</answer>\n', // surrounding and middle whitespace: 1
    '<answer>A</answer>', // no think: 0
    '<think>x</think><answer> </answer>', // blank answer: 0
    '<think>x</think><answer>A</answer> and more', // trailing text: 0
  ];
  const out = formatReward().score({ samples: texts.map((completion) => ({ completion, qa_solution: '' })) });
  assert.deepEqual(out, [1, 1, 0, 0, 0]);
});

test('qa_accuracy: MC letters and option texts, OE numbers, yes/no, partial credit, NaN gold', () => {
  const mc = (completion: string, qa_solution = '<answer>A</answer>'): TextSample => ({
    completion,
    qa_solution,
    qa_type: 'MC',
    qa_problem: PROBLEM,
  });
  const oe = (completion: string, qa_solution: string): TextSample => ({
    completion,
    qa_solution,
    qa_type: 'OE',
  });
  const samples = [
    mc('<think>red</think><answer>A</answer>'), // 1
    mc('<think>red</think><answer>B</answer>'), // 0
    mc('<think>...</think><answer>red</answer>'), // option text -> A: 1
    mc('<think>A or B</think>'), // no answer block, fallback text names two letters: 0
    mc('<answer>A</answer>', '<answer>Z</answer>'), // gold names no option: NaN
    oe('<think>3 + 4</think><answer>seven</answer>', '<answer>7</answer>'), // 1
    oe('<answer>6</answer>', '<answer>7</answer>'), // 0
    oe('<answer>Yes, there is a red circle.</answer>', '<answer>yes</answer>'), // POPE rule: 1
    oe('<answer>No.</answer>', '<answer>yes</answer>'), // 0
    oe('<answer>red</answer>', '<answer></answer>'), // no gold: NaN
  ];
  const out = accuracyReward().score({ samples }) as RewardOutput;
  closeAll(out.values, [1, 0, 1, 0, NaN, 1, 0, 1, 0, NaN]);
  closeAll(out.parts!.answer_found!, [1, 1, 1, 0, 1, 1, 1, 1, 1, 1]);
  assert.match(out.note!, /2 with no usable gold answer/);
  // routing matters: the OE rule alone would not accept the sentence
  assert.equal(oeAccuracy(samples[7]!.completion, samples[7]!.qa_solution), 0);
  // partial credit: {red, circle} vs {red, square}: Jaccard 1 / 3
  const p = oe('<answer>red square</answer>', 'red circle');
  close(qaAccuracy(p), 0);
  close(qaAccuracy(p, { partial: true }), 1 / 3);
});
