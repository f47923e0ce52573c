/**
 * `max_prompt_length` (src/rl/data.ts withinPromptLength): prompt lengths as rollouts build them, rows over the
 * limit left out with a count, a limit no row fits is one clear error before any training.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { loadExamples, promptLength, withinPromptLength } from '../../src/rl/data.js';
import { ULMTokenizer, buildWordLevelTokenizer, presetConfig } from '../../src/model/index.js';
import { numImageTokens } from '../../src/model/config.js';
import { understandingPrompt } from '../../src/model/templates.js';
import { worldVocabulary } from '../../src/world/vocabulary.js';
import { UserError } from '../../src/util/errors.js';
import { makeFixture, writeConfig } from './fixture.js';
import { CLI } from '../helpers/micro-base.js';

const tok = ULMTokenizer.fromJSON(buildWordLevelTokenizer(worldVocabulary()));
const m = { tok, numImageTokens: 16 };

test('a question counts its image as the image tokens plus <begin_of_image> and <end_of_image>', () => {
  const fx = makeFixture();
  const [e] = loadExamples(fx.data);
  const text = tok.encode(understandingPrompt(e!.qaProblem), { bos: true }).length; // one <image_placeholder>
  assert.equal(promptLength(e!, ['mm2t'], m), text - 1 + 16 + 2);
  assert.equal(promptLength(e!, ['mm2t'], { tok, numImageTokens: 4 }), text - 1 + 4 + 2);
  // both tasks: the longer of the two (a question with its image is longer than a caption here)
  assert.equal(promptLength(e!, ['t2i', 'mm2t'], m), promptLength(e!, ['mm2t'], m));
  assert.ok(promptLength(e!, ['t2i'], m) < promptLength(e!, ['mm2t'], m));
});

test('withinPromptLength keeps rows up to the limit, counts the rest, and refuses a limit no row fits', () => {
  const fx = makeFixture();
  const examples = loadExamples(fx.data);
  const lengths = examples.map((e) => promptLength(e, ['mm2t'], m));
  const longest = Math.max(...lengths);
  const all = withinPromptLength(examples, longest, ['mm2t'], m, 'train.jsonl');
  assert.equal(all.kept.length, examples.length);
  assert.equal(all.dropped, 0);
  const cut = withinPromptLength(examples, longest - 1, ['mm2t'], m, 'train.jsonl');
  assert.equal(cut.dropped, lengths.filter((n) => n === longest).length);
  assert.ok(cut.dropped > 0 && cut.kept.every((e) => promptLength(e, ['mm2t'], m) < longest));
  assert.equal(withinPromptLength(examples, undefined, ['mm2t'], m, 'x').kept.length, examples.length);
  assert.throws(
    () => withinPromptLength(examples, Math.min(...lengths) - 1, ['mm2t'], m, 'train.jsonl'),
    (e: unknown) =>
      e instanceof UserError &&
      /^max_prompt_length \d+: every prompt of train\.jsonl is longer/.test(e.message),
  );
});

test('corl train with max_prompt_length says how many rows it left out, and trains on the rest', () => {
  const fx = makeFixture();
  const examples = loadExamples(fx.data);
  const micro = {
    tok,
    numImageTokens: numImageTokens(presetConfig('test-micro', { vocabSize: tok.vocabSize })),
  };
  const lengths = examples.map((e) => promptLength(e, ['mm2t'], micro));
  const longest = Math.max(...lengths);
  const over = lengths.filter((n) => n === longest).length;
  const config = writeConfig(fx, 'short', { tasks: ['mm2t'], steps: 1, sample_every: 0, save_every: 0 });
  const r = spawnSync(
    process.execPath,
    [CLI, 'train', '--config', config, '--set', `max_prompt_length=${longest - 1}`],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(
    r.stderr,
    new RegExp(
      `max_prompt_length ${longest - 1}: left out ${over} of ${examples.length} rows \\(the longest prompt: ${longest} tokens\\)`,
    ),
  );
  const bad = spawnSync(
    process.execPath,
    [CLI, 'train', '--config', config, '--set', 'max_prompt_length=1', '--overwrite'],
    { encoding: 'utf8' },
  );
  assert.equal(bad.status, 2);
  assert.match(
    bad.stderr.trim(),
    /^corl: error: max_prompt_length 1: every prompt of .*train\.jsonl is longer/,
  );
});
