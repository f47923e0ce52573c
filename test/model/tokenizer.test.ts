/** Tokenizer files and templates: word-level round trip, special ids read from the file, Janus's formats. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildWordLevelTokenizer, SPECIAL_TOKENS, ULMTokenizer } from '../../src/model/tokenizer.js';
import {
  answerCompletion,
  generationPrompt,
  sftFormat,
  understandingPrompt,
  understandingPromptParts,
} from '../../src/model/templates.js';
import { UserError } from '../../src/util/errors.js';
import { WORDS, tinyTokenizer } from './helpers.js';

test('word-level round trip, unknown words, BOS on request', () => {
  const tok = tinyTokenizer();
  for (const s of [
    'a red circle',
    '<think> i see a red circle . </think> <answer> A </answer>',
    'what color is the square ?',
  ]) {
    const ids = tok.encode(s);
    const back = tok.decode(ids);
    const known = s
      .split(' ')
      .map((w) => (WORDS.includes(w) ? w : '<unk>'))
      .join(' ');
    assert.equal(tok.decode(ids, { skipSpecial: false }), known);
    assert.equal(back, known.replace(/<unk> ?/g, '').trim());
  }
  assert.equal(tok.encode('red', { bos: true })[0], tok.special.bos);
  assert.equal(tok.decode([]), '');
  // template markers survive tokenisation as single tokens
  const p = understandingPrompt('what color is the circle ?');
  const ids = tok.encode(p);
  assert.ok(ids.includes(tok.special.image));
  assert.ok(!ids.includes(tok.tokenToId('<unk>')!));
  assert.equal(tok.decode(tok.encode('<answer> B </answer>' + SPECIAL_TOKENS.eos)), '<answer> B </answer>');
});

test('special-token ids come from the file, not from fixed numbers', () => {
  // a file whose vocabulary starts with the words: every special id moves
  const json = buildWordLevelTokenizer(WORDS) as {
    model: { vocab: Record<string, number> };
    added_tokens: { id: number; content: string }[];
  };
  const n = Object.keys(json.model.vocab).length;
  const shifted = Object.fromEntries(Object.entries(json.model.vocab).map(([w, id]) => [w, (id + 17) % n]));
  json.model.vocab = shifted;
  for (const a of json.added_tokens) a.id = shifted[a.content]!;
  const tok = ULMTokenizer.fromJSON(json);
  for (const [name, str] of Object.entries(SPECIAL_TOKENS))
    assert.equal(tok.special[name as keyof typeof SPECIAL_TOKENS], shifted[str]);
  assert.equal(tok.decode(tok.encode('a red circle')), 'a red circle');
});

test('a tokenizer file without the special tokens is a clear UserError', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corl-tok-'));
  const file = path.join(dir, 'tokenizer.json');
  const json = buildWordLevelTokenizer(WORDS) as {
    model: { vocab: Record<string, number> };
    added_tokens: { content: string }[];
  };
  delete json.model.vocab[SPECIAL_TOKENS.boi];
  json.added_tokens = json.added_tokens.filter((a) => a.content !== SPECIAL_TOKENS.boi);
  fs.writeFileSync(file, JSON.stringify(json));
  assert.throws(
    () => ULMTokenizer.load(file),
    (e: Error) => e instanceof UserError && e.message.includes('<begin_of_image>'),
  );
  assert.throws(() => ULMTokenizer.load(path.join(dir, 'nope.json')), UserError);
  fs.rmSync(dir, { recursive: true });
});

test("Janus's deepseek templates (empty system prompt, as ULM-R1)", () => {
  assert.equal(understandingPrompt('Why?'), '<|User|>: <image_placeholder>\nWhy?\n\n<|Assistant|>:');
  assert.equal(generationPrompt('a red circle'), '<|User|>: a red circle\n\n<|Assistant|>:<begin_of_image>');
  assert.equal(
    sftFormat(
      [
        { role: '<|User|>', content: 'hi' },
        { role: '<|Assistant|>', content: 'yes' },
      ],
      { systemPrompt: 'SYS' },
    ),
    'SYS\n\n<|User|>: hi\n\n<|Assistant|>: yes<｜end▁of▁sentence｜>',
  );
  assert.equal(
    understandingPrompt('q') + answerCompletion('a'),
    sftFormat([
      { role: '<|User|>', content: '<image_placeholder>\nq' },
      { role: '<|Assistant|>', content: 'a' },
    ]),
  );
  const parts = understandingPromptParts('a red circle');
  assert.equal(parts.before + parts.text + parts.after, understandingPrompt('a red circle'));
  assert.equal(parts.text, 'a red circle');
});
