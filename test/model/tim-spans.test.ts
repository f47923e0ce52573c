/**
 * The TIM reward's inputs: understandingHidden returns the LLM's last hidden states with the image-token span
 * (exactly numImageTokens positions per row, between <begin_of_image> and <end_of_image>) and the caption span
 * (exactly the caption's tokens), located from masks in a left-padded batch; gradients flow.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { understandingHidden } from '../../src/model/logprobs.js';
import { microModel, randomImages, tinyTokenizer } from './helpers.js';

torch.setNumThreads(1);
const tok = tinyTokenizer();
const model = microModel(tok, 5);

test('image and caption spans come from masks, with padding', () => {
  torch.tidy(() => {
    const captions = ['a red circle', 'a small blue square to the left of a large green triangle', 'two'];
    const images = randomImages(3, 16);
    const r = understandingHidden(model, tok, images, captions);
    const [B, S, D] = r.hidden.shape as [number, number, number];
    assert.equal(B, 3);
    assert.equal(D, model.hiddenSize);
    const ids = torch.tidy(() => {
      // rebuild the ids the function used, to check what the masks select
      const im = r.imageMask.toArray();
      const tm = r.textMask.toArray();
      const am = r.attentionMask.toArray();
      return { im, tm, am };
    });
    captions.forEach((c, b) => {
      const row = (a: number[]) => a.slice(b * S, (b + 1) * S);
      const im = row(ids.im);
      const tm = row(ids.tm);
      const am = row(ids.am);
      assert.equal(
        im.reduce((x, y) => x + y, 0),
        model.numImageTokens,
        `row ${b} image span`,
      );
      assert.equal(
        tm.reduce((x, y) => x + y, 0),
        tok.encode(c).length,
        `row ${b} caption span`,
      );
      // spans are contiguous, inside the real tokens, disjoint, caption after the image
      const first = (a: number[]) => a.indexOf(1);
      const last = (a: number[]) => a.lastIndexOf(1);
      assert.equal(last(im) - first(im) + 1, model.numImageTokens);
      assert.equal(last(tm) - first(tm) + 1, tok.encode(c).length);
      assert.ok(first(tm) > last(im) + 1, 'caption after <end_of_image>');
      assert.equal(am[first(im)], 1);
      assert.ok(am.slice(0, first(am)).every((v) => v === 0));
    });
    // the caption hidden states of a row do not depend on its padding
    const alone = understandingHidden(model, tok, images.narrow(0, 0, 1), [captions[0]!]);
    const pick = (h: torch.Tensor, m: torch.Tensor, b: number) =>
      h.select(0, b).indexSelect(
        0,
        torch.tensor(
          BigInt64Array.from(
            m
              .select(0, b)
              .toArray()
              .flatMap((v, i) => (v ? [BigInt(i)] : [])),
          ),
        ),
      );
    const err = pick(r.hidden, r.textMask, 0)
      .sub(pick(alone.hidden, alone.textMask, 0))
      .abs()
      .amax()
      .item();
    assert.ok(err < 1e-5, `padded vs alone: ${err}`);
  });
});

test('gradients flow through the TIM hidden states', () => {
  torch.tidy(() => {
    model.zeroGrad();
    const r = understandingHidden(model, tok, randomImages(1, 16), ['a red circle']);
    r.hidden.pow(2).mean().backward();
    assert.ok(model.language_model.model.layers.at(1).mlp.down_proj.weight.grad!.abs().sum().item() > 0);
    model.zeroGrad();
  });
});
