/** The VQ-VAE: shapes, code range, L2-normalised codebook, straight-through gradients, finite losses. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { VQModel } from '../../src/model/vq.js';
import { microConfig, randomImages, tinyTokenizer } from './helpers.js';

torch.setNumThreads(1);
const cfg = microConfig(tinyTokenizer());
const p = cfg.gen_vision_config.params;

for (const useAttn of [true, false]) {
  test(`encode/decode shapes and code range (attention ${useAttn ? 'on' : 'off'})`, () => {
    torch.tidy(() => {
      const vq = new VQModel({ ...p, use_attn: useAttn }, { generator: new torch.Generator(1) });
      const x = randomImages(3, p.image_size);
      const codes = torch.noGrad(() => vq.encode(x));
      const side = p.image_size / 2 ** (p.ch_mult.length - 1);
      assert.deepEqual(codes.shape, [3, side * side]);
      assert.equal(codes.dtype, 'int64');
      const c = codes.toArray();
      assert.ok(c.every((v) => v >= 0 && v < p.image_token_size));
      const img = torch.noGrad(() => vq.decode(codes));
      assert.deepEqual(img.shape, [3, 3, p.image_size, p.image_size]);
      assert.ok(img.amax().item() <= 1 && img.amin().item() >= -1);
      vq.dispose();
    });
  });
}

test('the codebook is L2-normalised and decode uses it', () => {
  torch.tidy(() => {
    const vq = new VQModel(p, { generator: new torch.Generator(2) });
    const norms = vq.quantize.codebook().pow(2).sum(1).sqrt();
    assert.ok(norms.sub(1).abs().amax().item() < 1e-5);
    vq.dispose();
  });
});

test('straight-through: the reconstruction loss reaches the encoder; losses are finite', () => {
  torch.tidy(() => {
    const vq = new VQModel(p, { generator: new torch.Generator(3) });
    const x = randomImages(2, p.image_size, 4);
    const out = vq.forward(x);
    const loss = torch.F.mseLoss(out.recon, x).add(out.codebookLoss).add(out.commitLoss);
    for (const l of [out.codebookLoss, out.commitLoss, loss]) assert.ok(Number.isFinite(l.item()));
    assert.ok(out.commitLoss.item() > 0);
    loss.backward();
    assert.ok(vq.encoder.conv_in.weight.grad!.abs().sum().item() > 0, 'encoder gets gradient');
    assert.ok(vq.quantize.embedding.weight.grad!.abs().sum().item() > 0, 'codebook gets gradient');
    assert.ok(vq.decoder.conv_out.weight.grad!.abs().sum().item() > 0);
    // the codes the training forward picks are the ones encode() returns
    assert.deepEqual(out.codes.toArray(), torch.noGrad(() => vq.encode(x)).toArray());
    vq.dispose();
  });
});

test('a few Adam steps reduce the reconstruction loss', () => {
  torch.tidy(() => {
    const vq = new VQModel(p, { generator: new torch.Generator(5) });
    const x = randomImages(4, p.image_size, 6);
    const opt = new torch.optim.AdamW(vq.parameters(), { lr: 3e-3, weightDecay: 0 });
    const lossAt = () =>
      torch.tidy(() => {
        const o = vq.forward(x);
        const l = torch.F.mseLoss(o.recon, x).add(o.codebookLoss).add(o.commitLoss);
        opt.zeroGrad();
        l.backward();
        opt.step();
        return l.item();
      });
    const first = lossAt();
    let last = first;
    for (let i = 0; i < 15; i++) last = lossAt();
    assert.ok(last < first, `${first} -> ${last}`);
    opt.dispose();
    vq.dispose();
  });
});
