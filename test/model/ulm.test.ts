/**
 * The unified model's inputs: placeholders expand to <begin_of_image> + N image tokens + <end_of_image>
 * (ids from the tokenizer), ViT+aligner features land exactly on the image positions (in order, across rows
 * and rows without images), text positions keep their token embeddings; preprocessing as Janus. A prompt that
 * does not fit the context with what is generated after it is a UserError, at batch building and sampling.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import {
  contextLimit,
  expandImageTokens,
  generationBatch,
  leftPad,
  understandingBatch,
  unconditionalRows,
} from '../../src/model/inputs.js';
import { sampleImages, sampleText } from '../../src/model/sample.js';
import { UserError } from '../../src/util/errors.js';
import { generationPrompt, understandingPrompt } from '../../src/model/templates.js';
import { expandToSquare, preprocessImage, toRGBImages } from '../../src/model/preprocess.js';
import { maxAbsDiff, microModel, randomImages, tinyTokenizer } from './helpers.js';

torch.setNumThreads(1);
const tok = tinyTokenizer();
const model = microModel(tok, 2);
const s = tok.special;

test('placeholders expand to BOI + N image tokens + EOI', () => {
  assert.deepEqual(expandImageTokens([7, s.image, 8], s, 3), [7, s.boi, s.image, s.image, s.image, s.eoi, 8]);
  const b = understandingBatch(
    tok,
    [understandingPrompt('what ?')],
    [[randomImages(1, 16).select(0, 0)]],
    model.numImageTokens,
  );
  const ids = b.ids.toArray();
  assert.equal(ids[0], s.bos);
  assert.equal(ids.filter((i) => i === s.image).length, model.numImageTokens);
  assert.equal(ids[ids.indexOf(s.boi) + model.numImageTokens + 1], s.eoi);
  assert.equal(b.imagesSeqMask.toArray().filter(Boolean).length, model.numImageTokens);
});

test('image features are scattered onto the image positions in order; text positions keep token embeddings', () => {
  torch.noGrad(() =>
    torch.tidy(() => {
      const imgs = randomImages(3, 16, 9);
      const b = understandingBatch(
        tok,
        [understandingPrompt('a'), 'red', `${understandingPrompt('b')} <image_placeholder> circle`],
        [[imgs.select(0, 0)], [], [imgs.select(0, 1), imgs.select(0, 2)]],
        model.numImageTokens,
      );
      const e = model.embedBatch(b);
      const feats = model.imageEmbeds(imgs); // [3, P, D]
      const text = model.language_model.embed(b.ids);
      const mask = b.imagesSeqMask.toArray();
      const [B, S] = b.ids.shape as [number, number];
      let k = 0;
      for (let r = 0; r < B; r++)
        for (let p = 0; p < S; p++) {
          const got = e.select(0, r).select(0, p);
          const want = mask[r * S + p]
            ? feats.reshape([-1, model.hiddenSize]).select(0, k++)
            : text.select(0, r).select(0, p);
          assert.ok(maxAbsDiff(got, want) === 0, `row ${r} pos ${p}`);
        }
      assert.equal(k, 3 * model.numImageTokens);
    }),
  );
});

test('unconditional CFG rows keep BOS and <begin_of_image>, pad the rest, keep the mask', () => {
  torch.tidy(() => {
    const b = generationBatch(tok, [
      generationPrompt('a red circle'),
      generationPrompt('a small blue square above a circle'),
    ]);
    const u = unconditionalRows(b, s.pad);
    const S = b.ids.size(1);
    const ids = u.ids.toArray();
    const mask = b.attentionMask.toArray();
    assert.deepEqual(u.attentionMask.toArray(), mask);
    for (let r = 0; r < 2; r++) {
      const row = ids.slice(r * S, (r + 1) * S);
      const first = mask.slice(r * S, (r + 1) * S).indexOf(1);
      assert.equal(row[first], s.bos);
      assert.equal(row[S - 1], s.boi);
      assert.ok(row.every((t, i) => i === first || i === S - 1 || t === s.pad));
    }
  });
});

test('leftPad pads on the left with the pad id', () => {
  torch.tidy(() => {
    const b = leftPad([[5, 6, 7], [8]], s.pad);
    assert.deepEqual(b.ids.toArray(), [5, 6, 7, s.pad, s.pad, 8]);
    assert.deepEqual(b.attentionMask.toArray(), [1, 1, 1, 0, 0, 1]);
  });
});

test('preprocess: pad to square with the mean colour, rescale, normalise; postprocess inverts [-1, 1]', () => {
  torch.tidy(() => {
    const cfg = model.config;
    const S = cfg.vision_config.params.image_size; // 16
    const img = { width: 16, height: 8, data: new Uint8Array(16 * 8 * 3).fill(255) };
    const sq = expandToSquare(img, [127, 127, 127]);
    assert.equal(sq.height, 16);
    assert.equal(sq.data[0], 127); // top rows are background
    assert.equal(sq.data[4 * 16 * 3], 255); // image starts at row (16 - 8) / 2
    const t = preprocessImage(img, cfg);
    assert.deepEqual(t.shape, [3, S, S]);
    const v = t.toArray();
    assert.ok(Math.abs(v[0]! - (127 / 255 - 0.5) / 0.5) < 1e-6);
    assert.ok(Math.abs(v[8 * S]! - 1) < 1e-6);
    const rgb = toRGBImages(torch.tensor([[[[-1]], [[0]], [[1]]]]));
    assert.deepEqual([...rgb[0]!.data], [0, 127, 255]);
  });
});

test("a prompt that does not fit the model's context with what follows it is a UserError before sampling", () => {
  const ctx = model.config.language_config.max_position_embeddings; // 256
  const N = model.numGenTokens; // 16
  const words = (n: number) => new Array<string>(n).fill('red').join(' ');
  const idsOf = (p: string) => tok.encode(generationPrompt(p), { bos: true }).length;
  // a prompt of exactly ctx - N tokens fits with its image tokens; one more token does not
  const base = idsOf('');
  const fits = generationPrompt(words(ctx - N - base));
  const over = generationPrompt(words(ctx - N - base + 1));
  assert.equal(idsOf(words(ctx - N - base)), ctx - N);
  const live = torch.liveTensors();
  torch.tidy(() => {
    const b = generationBatch(tok, [fits], contextLimit(model.config, N, 'image tokens'));
    const out = sampleImages(model, b, { padId: s.pad, cfgWeight: null, generator: new torch.Generator(1) });
    assert.deepEqual(out.codes.shape, [1, N]);
  });
  const tooLong = (e: Error) =>
    e instanceof UserError &&
    e.message ===
      `prompt 1 is ${ctx - N + 1} tokens and ${N} image tokens are to follow it (${ctx + 1} in all), ` +
        `but the model's context is ${ctx} (language_config.max_position_embeddings in config.json)`;
  assert.throws(
    () => generationBatch(tok, [fits, over], contextLimit(model.config, N, 'image tokens')),
    tooLong,
  );
  // without a limit the batch builds, and the sampler refuses it before running the model
  torch.tidy(() => {
    const b = generationBatch(tok, [fits, over]);
    assert.throws(() => sampleImages(model, b, { padId: s.pad }), tooLong);
  });
  // a prompt longer than the context by itself
  const huge = generationPrompt(words(ctx));
  assert.throws(
    () => torch.tidy(() => sampleImages(model, generationBatch(tok, [huge]), { padId: s.pad })),
    (e: Error) =>
      e instanceof UserError &&
      e.message ===
        `the prompt is ${ctx + base} tokens but the model's context is ${ctx} (language_config.max_position_embeddings in config.json)`,
  );
  // text: the image tokens and the longest answer count; a short question with too many new tokens fails
  const img = randomImages(1, 16);
  const q = understandingPrompt('what color is the circle ?');
  const len = tok.encode(q, { bos: true }).length + model.numImageTokens + 1; // the placeholder -> BOI + N + EOI
  torch.tidy(() => {
    const b = understandingBatch(tok, [q], [[img.select(0, 0)]], model.numImageTokens);
    const o = { eosId: s.eos, padId: s.pad, temperature: 0 };
    assert.equal(sampleText(model, b, { ...o, maxNewTokens: ctx - len }).ids.length, 1);
    assert.throws(
      () => sampleText(model, b, { ...o, maxNewTokens: ctx - len + 1 }),
      (e: Error) =>
        e instanceof UserError &&
        e.message.startsWith(`the prompt is ${len} tokens and ${ctx - len + 1} new tokens are to follow it`),
    );
    assert.throws(
      () =>
        understandingBatch(
          tok,
          [understandingPrompt(words(ctx))],
          [[img.select(0, 0)]],
          model.numImageTokens,
          contextLimit(model.config, 8, 'new tokens'),
        ),
      /the prompt is \d+ tokens but the model's context is 256/,
    );
  });
  img.dispose();
  assert.equal(torch.liveTensors(), live);
});
