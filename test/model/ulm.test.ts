/**
 * The unified model's inputs: placeholders expand to <begin_of_image> + N image tokens + <end_of_image>
 * (ids from the tokenizer), ViT+aligner features land exactly on the image positions (in order, across rows
 * and rows without images), text positions keep their token embeddings; preprocessing as Janus.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import {
  expandImageTokens,
  generationBatch,
  leftPad,
  understandingBatch,
  unconditionalRows,
} from '../../src/model/inputs.js';
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
