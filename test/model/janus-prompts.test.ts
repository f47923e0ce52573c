/**
 * Prompts and token batches as Janus builds them (janus/models/processing_vlm.py, janus/utils/conversation.py,
 * generation_inference.py), on a byte-level BPE tokenizer shaped like Janus-Pro's whose special tokens sit at
 * ids of the test's choosing: the special ids come from the folder's files by content (tokenizer.json,
 * special_tokens_map.json, processor_config.json); the deepseek template with and without Janus's system
 * prompt; `<image_placeholder>` expanded to `<begin_of_image>` + 576 placeholders + `<end_of_image>`; left
 * padding with the pad tag's id; generation prompts ending in `<begin_of_image>`; CFG's unconditional rows
 * (the pad id everywhere but the first and the last token of the prompt).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as torch from '../../src/torch/index.js';
import { generationBatch, understandingBatch, unconditionalRows } from '../../src/model/inputs.js';
import {
  generationPrompt,
  JANUS_SYSTEM_PROMPT,
  sftFormat,
  understandingPrompt,
} from '../../src/model/templates.js';
import { SPECIAL_TOKENS, ULMTokenizer } from '../../src/model/tokenizer.js';
import { byteLevelTokenizer, processorConfig, specialTokensMap } from '../helpers/janus-tokenizer.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'corl-janus-prompts-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A folder with tokenizer.json (specials at 100000 + 7i) and, optionally, the side files. */
function folder(name: string, side: Record<string, object> = {}, extra: string[] = []): ULMTokenizer {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(byteLevelTokenizer(100000, 7, extra)));
  for (const [f, json] of Object.entries(side)) fs.writeFileSync(path.join(dir, f), JSON.stringify(json));
  return ULMTokenizer.load(path.join(dir, 'tokenizer.json'));
}

const tok = folder('janus', {
  'special_tokens_map.json': specialTokensMap(),
  'processor_config.json': processorConfig(),
});
const sp = tok.special;
const N = 576;
const str = (ids: readonly number[]) => tok.decode(ids, { skipSpecial: false });

test('special ids are looked up by content in the files, never fixed', () => {
  const ids = Object.values(SPECIAL_TOKENS).map((_, i) => 100000 + 7 * i);
  assert.deepEqual([sp.bos, sp.eos, sp.pad, sp.image, sp.boi, sp.eoi], ids);
  // another folder naming another EOS (special_tokens_map.json) and another pad tag (processor_config.json)
  const other = folder(
    'renamed',
    {
      'special_tokens_map.json': specialTokensMap(SPECIAL_TOKENS.bos, '<|EOT|>'),
      'processor_config.json': { ...processorConfig(), pad_tag: '<|PAD2|>' },
    },
    ['<|EOT|>', '<|PAD2|>'],
  );
  assert.equal(other.special.eos, other.tokenToId('<|EOT|>'));
  assert.equal(other.special.pad, other.tokenToId('<|PAD2|>'));
  assert.equal(other.special.bos, sp.bos);
  // tokenizer_config.json names EOS when special_tokens_map.json does not
  const dir = path.join(tmp, 'config-only');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(byteLevelTokenizer(500, 2, ['<|EOT|>'])));
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ eos_token: '<|EOT|>' }));
  const viaConfig = ULMTokenizer.load(path.join(dir, 'tokenizer.json'));
  assert.equal(viaConfig.special.eos, viaConfig.tokenToId('<|EOT|>'));
});

test("the deepseek template as Janus formats it, with and without Janus's system prompt", () => {
  const q = 'What is in the picture?';
  // VLChatProcessor(conversations=...) uses its system prompt; ULM-R1 (corl's default) an empty one
  assert.equal(
    understandingPrompt(q, { systemPrompt: JANUS_SYSTEM_PROMPT }),
    'You are a helpful language and vision assistant. You are able to understand the visual content that the ' +
      'user provides, and assist the user with a variety of tasks using natural language.\n\n' +
      `<|User|>: <image_placeholder>\n${q}\n\n<|Assistant|>:`,
  );
  assert.equal(understandingPrompt(q), `<|User|>: <image_placeholder>\n${q}\n\n<|Assistant|>:`);
  // multi-turn: "\n\n" after user turns, EOS after assistant turns, the empty last turn "<|Assistant|>:"
  assert.equal(
    sftFormat([
      { role: '<|User|>', content: ' hi ' },
      { role: '<|Assistant|>', content: 'hello' },
      { role: '<|User|>', content: 'and?' },
      { role: '<|Assistant|>', content: '' },
    ]),
    '<|User|>: hi\n\n<|Assistant|>: hello<｜end▁of▁sentence｜><|User|>: and?\n\n<|Assistant|>:',
  );
  // generation_inference.py: the empty-system sft format, then the image start tag
  assert.equal(generationPrompt('a red cat'), '<|User|>: a red cat\n\n<|Assistant|>:<begin_of_image>');
});

test('understanding batches: BOS, placeholder -> BOI + 576 + EOI, left padding with the pad tag id', () => {
  torch.tidy(() => {
    const prompts = [
      understandingPrompt('Describe it.', { systemPrompt: JANUS_SYSTEM_PROMPT }),
      understandingPrompt('Describe it.'),
    ];
    const image = torch.zeros([3, 4, 4]);
    const b = understandingBatch(tok, prompts, [[image], [image]], N);
    const [B, S] = b.ids.shape as [number, number];
    assert.equal(B, 2);
    const ids = b.ids.toArray();
    const mask = b.attentionMask.toArray();
    const seq = b.imagesSeqMask.toArray();
    const expand = (p: string) =>
      SPECIAL_TOKENS.bos +
      p.replace(
        SPECIAL_TOKENS.image,
        SPECIAL_TOKENS.boi + SPECIAL_TOKENS.image.repeat(N) + SPECIAL_TOKENS.eoi,
      );
    for (let r = 0; r < B; r++) {
      const row = ids.slice(r * S, (r + 1) * S);
      const m = mask.slice(r * S, (r + 1) * S);
      const first = m.indexOf(1);
      // left padding: pad ids with mask 0, then the real tokens to the end
      assert.ok(row.slice(0, first).every((t) => t === sp.pad));
      assert.ok(m.slice(first).every((v) => v === 1) && m.slice(0, first).every((v) => v === 0));
      const real = row.slice(first);
      assert.equal(real[0], sp.bos);
      assert.equal(str(real), expand(prompts[r]!));
      const boi = real.indexOf(sp.boi);
      assert.equal(real[boi + N + 1], sp.eoi);
      assert.ok(real.slice(boi + 1, boi + 1 + N).every((t) => t === sp.image));
      assert.equal(seq.slice(r * S, (r + 1) * S).filter(Boolean).length, N);
    }
    assert.equal(mask.indexOf(1), 0, 'the longest row has no padding');
    assert.ok(mask.slice(S).indexOf(1) > 0, 'the shorter row is padded on the left');
  });
});

test("generation batches end in <begin_of_image>; CFG's unconditional rows are pad but first and last", () => {
  torch.tidy(() => {
    const prompts = [generationPrompt('a red cat'), generationPrompt('two small blue squares on a table')];
    const b = generationBatch(tok, prompts);
    const u = unconditionalRows(b, sp.pad);
    const S = b.ids.size(1);
    const ids = b.ids.toArray();
    const un = u.ids.toArray();
    const mask = b.attentionMask.toArray();
    for (let r = 0; r < 2; r++) {
      const first = mask.slice(r * S, (r + 1) * S).indexOf(1);
      const real = ids.slice(r * S + first, (r + 1) * S);
      assert.equal(str(real), SPECIAL_TOKENS.bos + prompts[r]);
      assert.equal(real[real.length - 1], sp.boi);
      // generation_inference.py: tokens[odd, 1:-1] = pad_id on the unpadded prompt
      const janus = real.map((t, i) => (i === 0 || i === real.length - 1 ? t : sp.pad));
      assert.deepEqual(un.slice(r * S + first, (r + 1) * S), janus);
      assert.ok(un.slice(r * S, r * S + first).every((t) => t === sp.pad));
    }
    assert.deepEqual(u.attentionMask.toArray(), mask);
  });
});
