/**
 * The LLM's incremental decoding and left padding: KV-cached step-by-step logits equal a full forward over the
 * whole sequence (text tokens through lm_head, image codes through gen_aligner/gen_head), for a batch whose
 * rows have different prompt lengths; and a left-padded row equals the same row run alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import { leftPad } from '../../src/model/inputs.js';
import { maxAbsDiff, microModel, tinyTokenizer } from './helpers.js';

torch.setNumThreads(1);
const tok = tinyTokenizer();
const model = microModel(tok, 7);
const V = tok.vocabSize;
const gen = new torch.Generator(11);
const randIds = (n: number) => torch.randint(4, V, [n], { generator: gen }).toArray();
const prompts = [randIds(9), randIds(4), randIds(6)];
const B = prompts.length;

/** Logits of `steps` continuation inputs, one at a time through the cache, vs all at once. */
function cachedVsFull(contEmbeds: Tensor, head: (h: Tensor) => Tensor): number {
  return torch.noGrad(() =>
    torch.tidy(() => {
      const p = leftPad(prompts, tok.special.pad);
      const T = contEmbeds.size(1);
      const promptEmbeds = model.embedBatch(p);
      const fullMask = torch.cat([p.attentionMask, torch.ones([B, T], { dtype: 'int64' })], 1);
      const full = model.forward({
        inputsEmbeds: torch.cat([promptEmbeds, contEmbeds], 1),
        attentionMask: fullMask,
        logits: false,
      });
      const S = p.ids.size(1);
      const want = head(full.hidden.narrow(1, S - 1, T)); // positions that predict continuation 0..T-1

      const cache = new torch.KVCache();
      const got: Tensor[] = [];
      let h = model.forward({
        inputsEmbeds: promptEmbeds,
        attentionMask: p.attentionMask,
        cache,
        logits: false,
      }).hidden;
      for (let t = 0; t < T; t++) {
        got.push(head(h.narrow(1, h.size(1) - 1, 1)));
        h = model.forward({
          inputsEmbeds: contEmbeds.narrow(1, t, 1),
          attentionMask: fullMask.narrow(1, 0, S + t + 1),
          cache,
          logits: false,
        }).hidden;
      }
      cache.dispose();
      return maxAbsDiff(torch.cat(got, 1), want);
    }),
  );
}

test('KV-cached text decoding equals full recomputation (left-padded, GQA)', () => {
  const ids = torch.randint(4, V, [B, 6], { generator: gen });
  const err = cachedVsFull(model.language_model.embed(ids), (h) => model.textLogits(h));
  assert.ok(err < 1e-5, `max |cached - full| = ${err}`);
});

test('KV-cached image-code decoding equals full recomputation (left-padded)', () => {
  const codes = torch.randint(0, model.config.gen_vision_config.params.image_token_size, [B, 6], {
    generator: gen,
  });
  const err = cachedVsFull(model.genImageEmbeds(codes), (h) => model.genLogits(h));
  assert.ok(err < 1e-5, `max |cached - full| = ${err}`);
});

test('a left-padded row equals the same row run alone', () => {
  torch.noGrad(() =>
    torch.tidy(() => {
      const p = leftPad(prompts, tok.special.pad);
      const batched = model.forward({ inputIds: p.ids, attentionMask: p.attentionMask }).logits!;
      prompts.forEach((row, b) => {
        const alone = model.forward({ inputIds: torch.tensor([row], { dtype: 'int64' }) }).logits!;
        const S = p.ids.size(1);
        const mine = batched
          .select(0, b)
          .narrow(0, S - row.length, row.length)
          .unsqueeze(0);
        const err = maxAbsDiff(mine, alone);
        assert.ok(err < 1e-5, `row ${b}: max diff ${err}`);
      });
    }),
  );
});

test('position ids ignore the padding (same logits whatever the pad width)', () => {
  torch.noGrad(() =>
    torch.tidy(() => {
      const row = prompts[1]!;
      const a = leftPad([row], tok.special.pad);
      const b = leftPad([row, randIds(12)], tok.special.pad);
      const la = model.forward({ inputIds: a.ids, attentionMask: a.attentionMask, logits: 'last' }).logits!;
      const lb = model
        .forward({ inputIds: b.ids, attentionMask: b.attentionMask, logits: 'last' })
        .logits!.narrow(0, 0, 1);
      assert.ok(maxAbsDiff(la, lb) < 1e-5);
    }),
  );
});

test('the cache writes in place, regrows by doubling with its contents, and frees everything on dispose', () => {
  const live0 = torch.liveTensors();
  torch.tidy(() => {
    const parts = [3, 1, 1, 2, 4].map((T) => torch.randn([2, 2, T, 4], { generator: gen }));
    const cache = new torch.KVCache(); // no capacity hint: 3, then 6, then 12 positions
    let got = { k: parts[0]!, v: parts[0]! };
    parts.forEach((p, i) => {
      got = cache.append(0, p, p.neg());
      assert.equal(
        cache.length,
        parts.slice(0, i + 1).reduce((n, t) => n + t.size(2), 0),
      );
    });
    const want = torch.cat(parts, 2);
    assert.equal(maxAbsDiff(got.k, want), 0);
    assert.equal(maxAbsDiff(got.v, want.neg()), 0);
    cache.dispose();
  });
  assert.equal(torch.liveTensors(), live0);
});
