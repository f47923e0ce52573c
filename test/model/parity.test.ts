/**
 * Parity with an independent PyTorch implementation of Janus (scripts/parity/janus_reference.py): on a tiny
 * random Janus-layout checkpoint, corl's understanding logits, generation logits (conditional and CFG
 * unconditional rows), VQ decode and VQ encode equal the reference's within 1e-4 on every real position.
 *
 * Regenerate the fixture (test/fixtures/parity/) from the repository root:
 *   npx tsx scripts/parity/make-checkpoint.ts
 *   /usr/bin/python3 scripts/parity/janus_reference.py
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import { loadSafetensors } from '../../src/torch/safetensors.js';
import { loadULM } from '../../src/model/checkpoint.js';
import { unconditionalRows } from '../../src/model/inputs.js';

torch.setNumThreads(1);
const DIR = path.join('test', 'fixtures', 'parity');
const TOL = 1e-4;
const { model } = loadULM(path.join(DIR, 'model'));
const inputs = loadSafetensors(path.join(DIR, 'inputs.safetensors'));
const X = inputs.tensors;
const expected = loadSafetensors(path.join(DIR, 'expected.safetensors')).tensors;
const padId = Number(inputs.metadata.pad_id);
const get = (m: Map<string, Tensor>, k: string) => m.get(k) ?? assert.fail(`fixture lacks ${k}`);

/** max |a - b| over rows/positions where mask [B, S] is 1 (a, b: [B, S, ...]). */
function maskedMaxDiff(a: Tensor, b: Tensor, mask: Tensor): number {
  return torch.tidy(() => {
    const d = a.sub(b).abs().flatten(2).amax(-1); // [B, S]
    return d.maskedFill(mask.eq(0), 0).amax().item();
  });
}

const report: Record<string, number> = {};

test('understanding logits match the reference', () => {
  torch.noGrad(() =>
    torch.tidy(() => {
      const batch = {
        ids: get(X, 'und_input_ids'),
        attentionMask: get(X, 'und_attention_mask'),
        imagesSeqMask: get(X, 'und_images_seq_mask').bool(),
        pixelValues: get(X, 'und_pixel_values'),
      };
      const { logits } = model.forward({
        inputsEmbeds: model.embedBatch(batch),
        attentionMask: batch.attentionMask,
      });
      const err = maskedMaxDiff(logits!, get(expected, 'und_logits'), batch.attentionMask);
      report.und_logits = err;
      assert.ok(err < TOL, `max |corl - reference| = ${err}`);
    }),
  );
});

test('generation logits match the reference (conditional and unconditional rows)', () => {
  torch.noGrad(() =>
    torch.tidy(() => {
      const prompt = { ids: get(X, 'gen_input_ids'), attentionMask: get(X, 'gen_attention_mask') };
      const codes = get(X, 'gen_codes');
      const [R, N] = codes.shape as [number, number];
      const S = prompt.ids.size(1);
      const run = (p: typeof prompt) => {
        const embeds = torch.cat([model.embedBatch(p), model.genImageEmbeds(codes.narrow(1, 0, N - 1))], 1);
        const mask = torch.cat([p.attentionMask, torch.ones([R, N - 1], { dtype: 'int64' })], 1);
        const { hidden } = model.forward({ inputsEmbeds: embeds, attentionMask: mask, logits: false });
        return model.genLogits(hidden.narrow(1, S - 1, N));
      };
      const all = torch.ones([R, N], { dtype: 'int64' });
      const c = maskedMaxDiff(run(prompt), get(expected, 'gen_logits'), all);
      const u = maskedMaxDiff(run(unconditionalRows(prompt, padId)), get(expected, 'gen_logits_uncond'), all);
      report.gen_logits = c;
      report.gen_logits_uncond = u;
      assert.ok(c < TOL, `cond: ${c}`);
      assert.ok(u < TOL, `uncond: ${u}`);
    }),
  );
});

test('VQ decode and encode match the reference', () => {
  torch.noGrad(() =>
    torch.tidy(() => {
      const dec = model.gen_vision_model.decode(get(X, 'gen_codes'));
      const err = dec.sub(get(expected, 'vq_decoded')).abs().amax().item();
      report.vq_decoded = err;
      assert.ok(err < TOL, `decode: ${err}`);
      const codes = model.gen_vision_model.encode(get(X, 'und_pixel_values'));
      assert.deepEqual(codes.toArray(), get(expected, 'vq_codes').toArray());
    }),
  );
  console.log(`parity max abs error: ${JSON.stringify(report)}`);
});
