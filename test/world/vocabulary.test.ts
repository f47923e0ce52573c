import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildWordLevelTokenizer, ULMTokenizer } from '../../src/model/tokenizer.js';
import { describeScene } from '../../src/world/caption.js';
import { SceneStream } from '../../src/world/dataset.js';
import { QuestionGenerator } from '../../src/world/questions.js';
import { Rng } from '../../src/world/rng.js';
import { difficultyOptions, sampleScene } from '../../src/world/scene.js';
import { CAPTION_QUESTION, formatCompletion } from '../../src/world/templates.js';
import { tokenizeWorldText, worldVocabulary } from '../../src/world/vocabulary.js';

/** Every text the world produces for a few thousand scenes. */
function worldTexts(): string[] {
  const texts: string[] = [CAPTION_QUESTION];
  const stream = new SceneStream(5, 'train');
  const gen = new QuestionGenerator(new Rng(6));
  const rng = new Rng(7);
  for (let i = 0; i < 3000; i++) {
    const item = stream.next();
    const scene = i % 2 === 0 ? item.scene : sampleScene(rng, difficultyOptions('hard'));
    texts.push(item.prompt, item.caption, describeScene(scene));
    for (const q of [gen.mcq(scene), gen.oe(scene), gen.pope(scene)]) {
      texts.push(q.problem, q.think, q.solution, formatCompletion(q.think, q.answer), ...(q.options ?? []));
    }
  }
  return texts;
}

test('tokenisation splits tags, punctuation and words', () => {
  assert.deepEqual(tokenizeWorldText('<think> the circle is red . B is red </think> <answer>B</answer>'), [
    '<think>',
    'the',
    'circle',
    'is',
    'red',
    '.',
    'B',
    'is',
    'red',
    '</think>',
    '<answer>',
    'B',
    '</answer>',
  ]);
  assert.deepEqual(tokenizeWorldText('Question: what color is the circle?\nOptions:\nA. red'), [
    'Question',
    ':',
    'what',
    'color',
    'is',
    'the',
    'circle',
    '?',
    'Options',
    ':',
    'A',
    '.',
    'red',
  ]);
});

test('the vocabulary is small, sorted, and covers every text the grammar produces', () => {
  const vocab = worldVocabulary();
  assert.deepEqual(vocab, [...new Set(vocab)].sort());
  assert.ok(vocab.length < 128, `${vocab.length} tokens`);
  for (const w of [
    'A',
    'a',
    '<think>',
    '</answer>',
    'circle',
    'circles',
    'red',
    'left',
    '16',
    'yes',
    'no',
    'Question',
  ])
    assert.ok(vocab.includes(w), w);
  const set = new Set(vocab);
  const missing = new Set<string>();
  for (const t of worldTexts()) for (const tok of tokenizeWorldText(t)) if (!set.has(tok)) missing.add(tok);
  assert.deepEqual([...missing], []);
});

test('a word-level tokenizer.json built from it encodes every world text without <unk>', () => {
  const tk = ULMTokenizer.fromJSON(buildWordLevelTokenizer(worldVocabulary()));
  const unk = tk.tokenToId('<unk>');
  assert.notEqual(unk, undefined);
  for (const t of worldTexts().slice(0, 3000)) {
    const ids = tk.encode(t);
    assert.ok(!ids.includes(unk!), `<unk> in ${JSON.stringify(t)}`);
    assert.equal(ids.length, tokenizeWorldText(t).length, t);
  }
});
