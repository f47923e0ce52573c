import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  extractAnswer,
  extractChoice,
  formatReward,
  mcqAccuracy,
  normalizeAnswer,
  oeAccuracy,
  parseOptions,
  parseYesNo,
  popeAccuracy,
  popeMetrics,
  scoreAnswer,
  softJaccard,
} from '../../src/world/answers.js';
import { mcProblem } from '../../src/world/templates.js';

const PROBLEM = mcProblem('what color is the circle?', ['red', 'blue', 'green', 'yellow']);
const SOL_B = '<answer>B</answer>';

test('format: exactly think then answer', () => {
  const ok = [
    '<think> the circle is blue . B is blue </think> <answer> B </answer>',
    '<think>x</think><answer>B</answer>',
    '<think>a\nb</think>\n\n<answer>blue</answer>\n',
    '<think></think>.<answer>B</answer>',
  ];
  for (const t of ok) assert.equal(formatReward(t), 1, t);
  const bad = [
    '',
    '<answer>B</answer>',
    '<think>x</think>',
    'B',
    '<think>x</think><answer></answer>',
    '<think>x</think><answer>   </answer>',
    '<think>x</think> so <answer>B</answer>',
    'sure! <think>x</think><answer>B</answer>',
    '<think>x</think><answer>B</answer> done',
    '<think>x</think><answer>A</answer><answer>B</answer>',
    '<think><think>x</think><answer>B</answer>',
    '<think>x<answer>A</answer></think><answer>B</answer>',
    '<answer>B</answer><think>x</think>',
    '<think>x</think><answer>B',
  ];
  for (const t of bad) assert.equal(formatReward(t), 0, t);
});

test('extractAnswer: answer tags, empty tags, disagreeing tags, fallbacks', () => {
  assert.equal(extractAnswer('<think>B</think><answer> C </answer>'), 'C');
  assert.equal(extractAnswer('<answer></answer>'), null);
  assert.equal(extractAnswer('<think>the answer is B</think><answer> </answer>'), null);
  assert.equal(extractAnswer('<answer>A</answer> <answer>B</answer>'), null);
  assert.equal(extractAnswer('<answer>B</answer> <answer>b</answer>'), 'B');
  assert.equal(extractAnswer('<think>hmm</think> Answer: B'), 'B');
  assert.equal(extractAnswer('<think>hmm</think><answer> B'), 'B');
  assert.equal(extractAnswer('<think>unfinished thought'), null);
  assert.equal(extractAnswer(''), null);
});

test('MCQ letter extraction: the usual forms', () => {
  const cases: [string, string | null][] = [
    ['B', 'B'],
    ['b', 'B'],
    ['(B)', 'B'],
    ['B.', 'B'],
    ['B)', 'B'],
    ['Answer: B', 'B'],
    ['The answer is B', 'B'],
    ['option (B)', 'B'],
    ['B. blue', 'B'],
    ['I pick B because it is blue.', 'B'],
    ['blue', 'B'],
    ['Blue.', 'B'],
    ['the circle is blue', 'B'],
  ];
  for (const [answer, want] of cases) assert.equal(extractChoice(answer, PROBLEM), want, answer);
  assert.deepEqual(
    [...parseOptions(PROBLEM)],
    [
      ['A', 'red'],
      ['B', 'blue'],
      ['C', 'green'],
      ['D', 'yellow'],
    ],
  );
});

test('MCQ adversarial completions score 0', () => {
  const adversarial = [
    '<think>x</think><answer>A or B</answer>', // two letters
    '<think>x</think><answer>A B</answer>',
    '<think>x</think><answer>(A) (B)</answer>',
    '<think>x</think><answer>Answer: A, answer: B</answer>',
    '<think>x</think><answer>Bad</answer>', // a letter inside a word
    '<think>x</think><answer>ABCD</answer>',
    '<think>x</think><answer>Bblue</answer>',
    '<think>B is blue</think><answer></answer>', // empty answer tags: the think is not searched
    '<think>B</think><answer> </answer>',
    '<think>x</think><answer>A</answer><answer>B</answer>', // hedging across blocks
    '<think>x</think><answer>E</answer>', // not an option
    '<think>x</think><answer>blue or red</answer>', // two option texts
    '',
  ];
  for (const c of adversarial) assert.equal(mcqAccuracy(c, SOL_B, PROBLEM), 0, c);
  // The article "A" is not a letter; "A blue one" names option B by its text.
  assert.equal(extractChoice('A blue one', PROBLEM), 'B');
  assert.equal(mcqAccuracy('<think>x</think><answer>A blue one</answer>', SOL_B, PROBLEM), 1);
  assert.equal(mcqAccuracy('<think>x</think><answer>B</answer>', SOL_B, PROBLEM), 1);
  assert.equal(mcqAccuracy('<think>x</think><answer>A</answer>', SOL_B, PROBLEM), 0);
  // Without the problem, letters still work and option text does not.
  assert.equal(mcqAccuracy('<answer>(B)</answer>', SOL_B), 1);
  assert.equal(mcqAccuracy('<answer>blue</answer>', SOL_B), 0);
  assert.equal(mcqAccuracy('<answer>B</answer>', 'B'), 1);
});

test('open-ended normalisation: case, punctuation, articles, number words, numbers', () => {
  assert.equal(normalizeAnswer('The Red.'), 'red');
  assert.equal(normalizeAnswer('Twenty-one'), '21');
  assert.equal(normalizeAnswer('seven corners!'), '7 corners');
  assert.equal(normalizeAnswer('-3'), '-3');
  assert.equal(normalizeAnswer('7.50'), '7.50');
  const yes: [string, string][] = [
    ['<answer>red</answer>', '<answer>red</answer>'],
    ['<answer> Red. </answer>', 'red'],
    ['<answer>the red</answer>', 'red'],
    ['<answer>it is red</answer>', 'red'],
    ['<answer>seven</answer>', '<answer>7</answer>'],
    ['<answer>7</answer>', '<answer>seven</answer>'],
    ['<answer>7.0</answer>', '7'],
    ['<answer>there are 7</answer>', '7'],
    ['<answer>Seven corners</answer>', '7'],
    ['<answer>left of</answer>', 'left'],
    ['Answer: 3', '3'],
  ];
  for (const [c, s] of yes) assert.equal(oeAccuracy(c, s), 1, `${c} vs ${s}`);
  const no: [string, string][] = [
    ['<answer>blue</answer>', 'red'],
    ['<answer>redish</answer>', 'red'],
    ['<answer>3 + 4 = 7</answer>', '7'], // several numbers: which one is the answer?
    ['<answer>6 or 7</answer>', '7'],
    ['<answer>70</answer>', '7'],
    ['<answer>seventeen</answer>', '7'],
    ['<answer></answer>', 'red'],
    ['<think>red</think><answer> </answer>', 'red'],
    ['<answer>red</answer><answer>blue</answer>', 'red'],
    ['<answer>red and blue</answer>', 'red'],
  ];
  for (const [c, s] of no) assert.equal(oeAccuracy(c, s), 0, `${c} vs ${s}`);
  // Partial credit: token-set Jaccard.
  assert.equal(oeAccuracy('<answer>red and blue</answer>', 'red', { partial: true }), 1 / 3);
  assert.equal(softJaccard('a b', 'b c'), 1 / 3);
});

test('POPE yes/no parsing: whole words, first sentence, no inside not', () => {
  const cases: [string, 'yes' | 'no' | null][] = [
    ['<answer>yes</answer>', 'yes'],
    ['<answer>Yes.</answer>', 'yes'],
    ['<answer>No</answer>', 'no'],
    ['<answer>not</answer>', 'no'],
    ['<answer>there is not</answer>', 'no'],
    ["<answer>there isn't one</answer>", 'no'],
    ['<answer>Yes, there is a red circle.</answer>', 'yes'],
    ['<answer>No. Yes.</answer>', 'no'], // first sentence decides
    ['<answer>nothing</answer>', null], // "no" inside "nothing"
    ['<answer>I know</answer>', null], // "no" inside "know"
    ['<answer>note</answer>', null], // "no" inside "note"
    ['<answer>yesterday</answer>', null],
    ['<answer>yes no</answer>', null],
    ['<answer></answer>', null],
    ['<think>yes</think><answer></answer>', null],
    ['no', 'no'],
  ];
  for (const [c, want] of cases) assert.equal(parseYesNo(c), want, c);
  assert.equal(popeAccuracy('<think>x</think><answer>no</answer>', '<answer>no</answer>'), 1);
  assert.equal(popeAccuracy('<think>x</think><answer>not at all</answer>', 'no'), 1);
  assert.equal(popeAccuracy('<think>x</think><answer>nothing</answer>', 'no'), 0);
  assert.equal(popeAccuracy('<think>x</think><answer>yes</answer>', 'no'), 0);
});

test("POPE metrics (hand-computed), 'yes' positive", () => {
  const m = popeMetrics([
    { pred: 'yes', gold: 'yes' },
    { pred: 'yes', gold: 'no' },
    { pred: 'no', gold: 'no' },
    { pred: null, gold: 'yes' },
  ]);
  // tp 1, fp 1, tn 1, fn 1 (unparsed counts as no).
  assert.deepEqual(m, {
    accuracy: 0.5,
    precision: 0.5,
    recall: 0.5,
    f1: 0.5,
    yes_ratio: 0.5,
    unparsed: 1,
    n: 4,
  });
});

test('scoreAnswer dispatches by task', () => {
  const c = '<think> the circle is blue . B is blue </think> <answer> B </answer>';
  assert.equal(scoreAnswer('format', c, ''), 1);
  assert.equal(scoreAnswer('mcq', c, SOL_B, PROBLEM), 1);
  assert.equal(scoreAnswer('oe', '<think>x</think><answer>blue</answer>', '<answer>blue</answer>'), 1);
  assert.equal(scoreAnswer('pope', '<think>x</think><answer>yes</answer>', '<answer>yes</answer>'), 1);
});

test('long adversarial text scores fast: no quadratic regex backtracking (found by fuzzing)', () => {
  // Each of these took 0.4-5 s at 40k characters before (two adjacent \s*, \s* across lines around a lazy
  // capture, unclosed tags scanned to the end from every opening tag); linear scorers take milliseconds.
  const n = 40_000;
  const texts = [
    `answer${' '.repeat(n)}!`,
    `Answer is${'\n'.repeat(n)}!`,
    '\n'.repeat(n),
    '<think>'.repeat(n / 7),
    '<answer>'.repeat(n / 8),
    `<think>${'</think> <answer>'.repeat(n / 17)}`,
  ];
  for (const text of texts) {
    const t0 = performance.now();
    for (const task of ['mcq', 'oe', 'format', 'pope'] as const) {
      scoreAnswer(task, text, SOL_B, text);
      scoreAnswer(task, SOL_B, text, PROBLEM);
    }
    const ms = performance.now() - t0;
    assert.ok(ms < 250, `${JSON.stringify(text.slice(0, 20))}...: ${ms.toFixed(0)} ms`);
  }
});
