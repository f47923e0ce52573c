/**
 * The sampler and the GRPO scorer agree: teacher-forced log-probs of the sampler's own tokens equal the
 * log-probs it reported (text, images in cond and cfg modes), so the policy ratio is exactly 1 before an
 * update. Also: CFG with w = 1 samples the conditional tokens, gradients reach the LLM from image log-probs,
 * cfg_detach_uncond equals cfg in value but not in gradient, and sampling leaks no native tensors. NaN
 * weights make sampling fail naming the step (greedy and sampled, text and images), leaking nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import { generationBatch, leftPad, repeatRows, understandingBatch } from '../../src/model/inputs.js';
import { generationPrompt, understandingPrompt } from '../../src/model/templates.js';
import { NonFiniteLogitsError, sampleImages, sampleText } from '../../src/model/sample.js';
import { scoreImage, scoreText } from '../../src/model/logprobs.js';
import { maxAbsDiff, microModel, randomImages, tinyTokenizer } from './helpers.js';

torch.setNumThreads(1);
const tok = tinyTokenizer();
const model = microModel(tok, 3);
const pad = tok.special.pad;
const images = randomImages(3, 16);
const und = understandingBatch(
  tok,
  ['what color is the circle ?', 'how many objects ?', 'what shape is the red object ? A B C D'].map((q) =>
    understandingPrompt(q),
  ),
  [0, 1, 2].map((i) => [images.select(0, i)]),
  model.numImageTokens,
);
const genPrompts = generationBatch(
  tok,
  ['a red circle', 'a small blue square left of a large green triangle'].map((p) => generationPrompt(p)),
);
const G = 2;

const masked = (lp: Tensor, mask: Tensor) => lp.maskedFill(mask.logicalNot(), 0);

for (const [name, o] of [
  ['T=1', { temperature: 1 }],
  ['T=0.7, top-k 5, top-p 0.9', { temperature: 0.7, topK: 5, topP: 0.9 }],
] as const) {
  test(`text: scoreText reproduces the sampler's log-probs (${name})`, () => {
    torch.tidy(() => {
      const s = sampleText(model, und, {
        maxNewTokens: 10,
        eosId: tok.special.eos,
        padId: pad,
        generator: new torch.Generator(5),
        ...o,
      });
      assert.equal(s.tokens.size(0), 3);
      const lp = torch.noGrad(() => scoreText(model, und, { ids: s.tokens, mask: s.mask }, o));
      const err = maxAbsDiff(lp, masked(s.logprobs, s.mask));
      assert.ok(err < 1e-5, `max |score - sampler| = ${err}`);
    });
  });
}

test('text: rows stop at EOS, the mask covers up to and including it', () => {
  torch.tidy(() => {
    // make EOS likely: a model whose lm_head favours EOS strongly
    const m = microModel(tok, 9);
    torch.noGrad(() => m.language_model.lm_head.weight.select(0, tok.special.eos).fill_(0.5));
    const s = sampleText(m, und, {
      maxNewTokens: 12,
      eosId: tok.special.eos,
      padId: pad,
      generator: new torch.Generator(1),
    });
    const toks = s.tokens.toArray();
    const mask = s.mask.toArray();
    const N = s.tokens.size(1);
    s.ids.forEach((row, b) => {
      const e = row.indexOf(tok.special.eos);
      if (e >= 0) assert.equal(e, row.length - 1);
      for (let i = 0; i < N; i++) {
        assert.equal(mask[b * N + i], i < row.length ? 1 : 0);
        if (i >= row.length) assert.equal(toks[b * N + i], pad);
      }
    });
    assert.ok(
      s.ids.some((r) => r[r.length - 1] === tok.special.eos),
      'some row ended with EOS',
    );
    m.dispose();
  });
});

test('text: greedy decoding is deterministic', () => {
  torch.tidy(() => {
    const a = sampleText(model, und, { maxNewTokens: 6, temperature: 0, eosId: tok.special.eos, padId: pad });
    const b = sampleText(model, und, { maxNewTokens: 6, temperature: 0, eosId: tok.special.eos, padId: pad });
    assert.deepEqual(a.ids, b.ids);
  });
});

for (const [mode, w] of [
  ['cond', null],
  ['cfg', 3],
] as const) {
  test(`images: scoreImage (${mode}) reproduces the sampler's log-probs`, () => {
    torch.tidy(() => {
      const s = sampleImages(model, genPrompts, {
        imagesPerPrompt: G,
        cfgWeight: w,
        padId: pad,
        temperature: 0.9,
        generator: new torch.Generator(2),
      });
      assert.deepEqual(s.codes.shape, [2 * G, model.numGenTokens]);
      const lp = torch.noGrad(() =>
        scoreImage(model, repeatRows(genPrompts, G), s.codes, {
          mode,
          cfgWeight: w ?? undefined,
          temperature: 0.9,
          padId: pad,
        }),
      );
      const err = maxAbsDiff(lp, s.logprobs);
      assert.ok(err < 1e-5, `max |score - sampler| = ${err}`);
    });
  });
}

test('images: CFG with w = 1 samples exactly the conditional tokens', () => {
  torch.tidy(() => {
    const cfg = sampleImages(model, genPrompts, {
      imagesPerPrompt: G,
      cfgWeight: 1,
      padId: pad,
      generator: new torch.Generator(8),
    });
    const cond = sampleImages(model, genPrompts, {
      imagesPerPrompt: G,
      cfgWeight: null,
      padId: pad,
      generator: new torch.Generator(8),
    });
    assert.deepEqual(cfg.codes.toArray(), cond.codes.toArray());
    assert.ok(maxAbsDiff(cfg.logprobs, cond.logprobs) < 1e-5);
  });
});

test('images: gradients flow from image log-probs to the LLM; cfg_detach_uncond = cfg in value, not in gradient', () => {
  const s = torch.tidy(() =>
    sampleImages(model, genPrompts, {
      imagesPerPrompt: 1,
      cfgWeight: 4,
      padId: pad,
      generator: new torch.Generator(4),
    }),
  );
  const q = model.language_model.model.layers.at(0).self_attn.q_proj.weight;
  const gradOf = (mode: 'cond' | 'cfg' | 'cfg_detach_uncond') =>
    torch.tidy(() => {
      model.zeroGrad();
      const lp = scoreImage(model, genPrompts, s.codes, { mode, cfgWeight: 4, padId: pad });
      lp.sum().backward();
      return { value: lp.detach(), grad: q.grad!.clone() };
    });
  torch.tidy(() => {
    const cond = gradOf('cond');
    const cfg = gradOf('cfg');
    const det = gradOf('cfg_detach_uncond');
    assert.ok(cond.grad.abs().sum().item() > 0, 'cond gradient reaches q_proj');
    assert.ok(cfg.grad.abs().sum().item() > 0, 'cfg gradient reaches q_proj');
    assert.ok(maxAbsDiff(cfg.value, det.value) < 1e-6, 'same log-probs');
    assert.ok(maxAbsDiff(cfg.grad, det.grad) > 1e-6, 'different gradients');
    assert.ok(maxAbsDiff(cfg.value, s.logprobs) < 1e-5);
  });
  model.zeroGrad();
  torch.dispose(s);
});

test('text: gradients flow from text log-probs to the LLM, the ViT and the aligner', () => {
  torch.tidy(() => {
    model.zeroGrad();
    const s = sampleText(model, und, {
      maxNewTokens: 4,
      eosId: tok.special.eos,
      padId: pad,
      generator: new torch.Generator(6),
    });
    scoreText(model, und, { ids: s.tokens, mask: s.mask }).sum().backward();
    for (const p of [
      model.language_model.lm_head.weight,
      model.aligner.layers.linears[0]!.weight,
      model.vision_model.vision_tower.patch_embed.proj.weight,
    ])
      assert.ok(p.grad!.abs().sum().item() > 0);
    model.zeroGrad();
  });
});

test('the live native tensor count stays flat across repeated sampling and scoring', () => {
  const round = () =>
    torch.tidy(() => {
      const t = sampleText(model, und, {
        maxNewTokens: 5,
        eosId: tok.special.eos,
        padId: pad,
        generator: new torch.Generator(1),
      });
      const i = sampleImages(model, genPrompts, {
        imagesPerPrompt: G,
        cfgWeight: 2,
        padId: pad,
        generator: new torch.Generator(1),
      });
      torch.noGrad(() =>
        scoreImage(model, repeatRows(genPrompts, G), i.codes, { mode: 'cfg', cfgWeight: 2, padId: pad }),
      );
      torch.noGrad(() => scoreText(model, und, { ids: t.tokens, mask: t.mask }));
    });
  round();
  const before = torch.liveTensors();
  for (let k = 0; k < 3; k++) round();
  assert.equal(torch.liveTensors(), before);
});

test('NaN weights: sampling fails naming the first step whose logits are not finite, leaking nothing', () => {
  const m = microModel(tok, 11);
  const opts = { padId: pad, cfgWeight: null, generator: new torch.Generator(3) };
  const textOpts = { maxNewTokens: 5, eosId: tok.special.eos, padId: pad, generator: new torch.Generator(3) };
  const promptIds = tok.encode('a red circle', { bos: true });
  const textPrompt = leftPad([promptIds], pad);
  // the first token each run samples from the clean model, for greedy and T=1 (same seed -> same draw)
  const firstCode = (temperature: number) =>
    torch.tidy(
      () =>
        sampleImages(m, genPrompts, {
          ...opts,
          temperature,
          generator: new torch.Generator(3),
        }).codes.toArray()[0]!,
    );
  const firstWord = (temperature: number) =>
    torch.tidy(
      () =>
        sampleText(m, textPrompt, { ...textOpts, temperature, generator: new torch.Generator(3) })
          .ids[0]![0]!,
    );
  const live = torch.liveTensors();
  for (const temperature of [0, 1]) {
    // the embedding of the first sampled code (token) becomes NaN: step 1 is fine, step 2 reads NaN
    const code = firstCode(temperature);
    const word = firstWord(temperature);
    assert.ok(!promptIds.includes(word), 'the NaN row is not read by the prompt');
    const rows = () => [
      m.gen_embed.weight.select(0, code),
      m.language_model.model.embed_tokens.weight.select(0, word),
    ];
    const saved = torch.noGrad(() => torch.tidy(() => rows().map((r) => r.clone())));
    torch.noGrad(() => torch.tidy(() => rows().forEach((r) => r.fill_(NaN))));
    const before = torch.liveTensors();
    assert.throws(
      () => sampleImages(m, genPrompts, { ...opts, temperature, generator: new torch.Generator(3) }),
      (e: Error) =>
        e instanceof NonFiniteLogitsError &&
        e.message ===
          `sampling: non-finite logits at image token 2 of ${m.numGenTokens} (the model's weights or inputs hold NaN/Inf)`,
    );
    assert.throws(
      () => sampleText(m, textPrompt, { ...textOpts, temperature, generator: new torch.Generator(3) }),
      (e: Error) => e instanceof NonFiniteLogitsError && e.message.includes('at text token 2 (of at most 5)'),
    );
    assert.equal(torch.liveTensors(), before, `T=${temperature}: nothing leaked`);
    torch.noGrad(() => torch.tidy(() => rows().forEach((r, i) => r.copy_(saved[i]!))));
    torch.dispose(saved);
  }
  assert.equal(torch.liveTensors(), live);
  torch.dispose(textPrompt);
  // every weight of the LLM's head NaN: the first step already fails
  torch.noGrad(() => m.language_model.lm_head.weight.fill_(NaN));
  assert.throws(() => sampleText(m, und, textOpts), /non-finite logits at text token 1 \(of at most 5\)/);
  m.dispose();
});
