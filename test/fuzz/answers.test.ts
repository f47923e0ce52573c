/**
 * Fuzzing the answer scorers (src/world/answers.ts), every task of SCORE_TASKS: arbitrary unicode, tag soup,
 * and near-valid completions. The file's contract: pure functions of strings returning numbers in [0, 1]
 * (there is no "cannot score" NaN: no answer scores 0). scoreAnswer's scorers give no partial credit, so
 * its result is exactly 0 or 1; oeAccuracy's `partial` Jaccard and popeMetrics stay in [0, 1]. Right answers
 * score 1, wrong ones 0, and scoring stays fast on long adversarial text (no regex backtracking blow-up).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  SCORE_TASKS,
  extractAnswer,
  formatReward,
  oeAccuracy,
  parseYesNo,
  popeMetrics,
  scoreAnswer,
} from '../../src/world/answers.js';
import { mcProblem } from '../../src/world/templates.js';
import { fc, fuzzParams } from './fuzz.js';

const inUnit = (x: number) => Number.isFinite(x) && x >= 0 && x <= 1;

/** Pieces that matter to the scorers, glued into tag soup. */
const piece = fc.oneof(
  fc.constantFrom(
    '<think>',
    '</think>',
    '<answer>',
    '</answer>',
    '<b>',
    '</',
    ' ',
    '\n',
    '.',
    'A',
    'B',
    'a',
    '(C)',
    'D.',
    'F)',
    'G',
    'Answer:',
    'answer is',
    'option',
    'final answer',
    'yes',
    'no',
    'Yes.',
    "isn't",
    'not',
    'none',
    '7',
    '-3.5',
    '1e400',
    '007',
    'seven',
    'twenty',
    'one',
    'red',
    'the',
    'it is',
    '\u0000',
    '\u2028',
    '\ud800',
    'ß',
    'İ',
    '𝐀',
  ),
  fc.string({ maxLength: 4 }),
);
const soup = fc.array(piece, { maxLength: 30 }).map((ps) => ps.join(''));
const anyText = fc.oneof(
  soup,
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
);
/** A completion in the expected shape with random content. */
const shaped = fc
  .tuple(soup, soup, fc.constantFrom('', ' ', '\n', ' . '))
  .map(([think, answer, sep]) => `<think>${think}</think>${sep}<answer>${answer}</answer>`);
const completion = fc.oneof(anyText, shaped);
const problem = fc.oneof(
  fc.constant(undefined),
  anyText,
  fc.array(soup, { minLength: 1, maxLength: 6 }).map((opts) => mcProblem('which one?', opts)),
);

test('fuzz scoreAnswer: every task returns 0 or 1 for any strings, never throws', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...SCORE_TASKS),
      completion,
      fc.oneof(
        anyText,
        soup.map((s) => `<answer>${s}</answer>`),
      ),
      problem,
      (task, c, solution, p) => {
        const s = scoreAnswer(task, c, solution, p);
        assert.ok(s === 0 || s === 1, `${task}: ${s}`);
      },
    ),
    fuzzParams(3000),
  );
});

test('fuzz oeAccuracy (partial) and popeMetrics stay in [0, 1]', () => {
  fc.assert(
    fc.property(completion, anyText, (c, solution) => {
      assert.ok(inUnit(oeAccuracy(c, solution, { partial: true })));
    }),
    fuzzParams(1500),
  );
  const yn = fc.constantFrom('yes' as const, 'no' as const);
  fc.assert(
    fc.property(fc.array(fc.record({ pred: fc.option(yn), gold: yn }), { maxLength: 20 }), (items) => {
      const m = popeMetrics(items);
      for (const k of ['accuracy', 'precision', 'recall', 'f1', 'yes_ratio'] as const)
        assert.ok(inUnit(m[k]), `${k} ${m[k]}`);
      assert.equal(m.n, items.length);
    }),
    fuzzParams(500),
  );
});

/** Text without tags or answer-ish words, for the content of right / wrong answers. */
const plainWords = fc.array(fc.constantFrom('red', 'blue', 'circle', 'big', 'left', 'of', 'x'), {
  minLength: 1,
  maxLength: 5,
});

test('fuzz: right answers score 1 and wrong ones 0', () => {
  const letters = ['A', 'B', 'C', 'D', 'E', 'F'];
  fc.assert(
    fc.property(
      fc.uniqueArray(
        plainWords.map((w) => w.join(' ')),
        { minLength: 2, maxLength: 6 },
      ),
      fc.nat(),
      fc.nat(),
      plainWords,
      (options, g, w, think) => {
        // Up to six options (A-F, what parseOptions reads); mcProblem writes at most four.
        const p = `Question: which one?\nOptions:\n${options.map((o, i) => `${letters[i]}. ${o}`).join('\n')}\n`;
        const gold = letters[g % options.length]!;
        const wrong = letters[(g + 1 + (w % (options.length - 1))) % options.length]!;
        const done = (a: string) => `<think> ${think.join(' ')} </think> <answer> ${a} </answer>`;
        assert.equal(formatReward(done(gold)), 1);
        assert.equal(scoreAnswer('mcq', done(gold), `<answer>${gold}</answer>`, p), 1);
        assert.equal(scoreAnswer('mcq', done(`(${gold})`), `<answer>${gold}</answer>`, p), 1);
        assert.equal(scoreAnswer('mcq', done(wrong), `<answer>${gold}</answer>`, p), 0);
      },
    ),
    fuzzParams(500),
  );
  fc.assert(
    fc.property(plainWords, fc.integer({ min: -99, max: 99 }), fc.boolean(), (words, n, yes) => {
      const a = words.join(' ');
      assert.equal(scoreAnswer('oe', `<answer>${a.toUpperCase()}.</answer>`, `<answer>${a}</answer>`), 1);
      assert.equal(scoreAnswer('oe', `<answer>there are ${n}</answer>`, `<answer>${n}</answer>`), 1);
      assert.equal(scoreAnswer('oe', `<answer>${n + 1}</answer>`, `<answer>${n}</answer>`), 0);
      const [y, no] = yes ? ['yes', 'no'] : ['no', 'yes'];
      assert.equal(parseYesNo(`<answer>${y}, ${a}</answer>`), y);
      assert.equal(
        scoreAnswer('pope', `<think>${a}</think><answer>${y}</answer>`, `<answer>${y}</answer>`),
        1,
      );
      assert.equal(scoreAnswer('pope', `<answer>${no}</answer>`, `<answer>${y}</answer>`), 0);
    }),
    fuzzParams(500),
  );
});

test('fuzz: scoring long adversarial completions stays fast (no quadratic regex backtracking)', () => {
  // Each scorer on ~40k characters: a head, then one piece repeated. Linear scorers take a few ms; the
  // quadratic backtracking some of these shapes caused took seconds ("answer" + 40k spaces: 1.3 s).
  const heads = ['', 'answer', 'Answer is', 'A.', '<think>', '<answer>', '<think>x</think>', 'final'];
  const units = [
    'answer ',
    ' ',
    '\n',
    '<think>',
    '</think> <answer>',
    '<answer>',
    '</think>',
    '</answer>',
    'A ',
    '(',
  ];
  const time = (head: string, u: string): number => {
    const text = head + u.repeat(Math.ceil(40_000 / u.length)) + '!';
    const t0 = performance.now();
    for (const task of SCORE_TASKS) {
      scoreAnswer(task, text, '<answer>B</answer>', text);
      scoreAnswer(task, 'B', text);
    }
    oeAccuracy(text, text, { partial: true });
    extractAnswer(text);
    return performance.now() - t0;
  };
  const slow: string[] = [];
  for (const head of heads)
    for (const u of units) {
      const ms = time(head, u);
      if (ms > 300) slow.push(`${JSON.stringify(head)} + ${JSON.stringify(u)} x n: ${ms.toFixed(0)} ms`);
    }
  assert.deepEqual(slow, []);
  fc.assert(
    fc.property(
      fc.constantFrom(...heads),
      fc
        .array(piece, { minLength: 1, maxLength: 3 })
        .map((ps) => ps.join(''))
        .filter((u) => u !== ''),
      (head, u) => {
        const ms = time(head, u);
        assert.ok(ms < 300, `${ms.toFixed(0)} ms`);
      },
    ),
    fuzzParams(40),
  );
});
