/**
 * The fused decode step (native llamaDecodeLayer, used by LlamaDecoderLayer for one new token with a KV cache
 * under noGrad) is bit-identical to the layer's own ops: the same hidden states, token by token, as the
 * step-by-step path (taken here by decoding with gradients recorded), with grouped-query attention and a cache
 * that grows while decoding; the cache holds the same keys; and no tensor is left behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import { leftPad } from '../../src/model/inputs.js';
import { maxAbsDiff, microModel, tinyTokenizer } from './helpers.js';

torch.setNumThreads(1);
const tok = tinyTokenizer();
const V = tok.vocabSize;
const gen = new torch.Generator(5);
const randIds = (n: number) => torch.randint(4, V, [n], { generator: gen }).toArray();

/** Hidden states of `steps` tokens decoded one at a time (fused under noGrad, the layer's ops otherwise). */
function decode(
  model: ReturnType<typeof microModel>,
  fused: boolean,
  steps: number,
): { hidden: Tensor; cache: torch.KVCache } {
  const run = () =>
    torch.tidy(() => {
      const p = leftPad([randIdsFixed[0]!, randIdsFixed[1]!], tok.special.pad);
      const cache = new torch.KVCache(); // no capacity hint: the buffers grow while decoding
      let mask = p.attentionMask;
      // the prompt (prefill, T > 1: the layer's ops in both runs)
      model.language_model.forward({ inputIds: p.ids, attentionMask: mask, cache, logits: false });
      const out: Tensor[] = [];
      for (let t = 0; t < steps; t++) {
        const ids = torch.tensor([[nextIds[t]![0]!], [nextIds[t]![1]!]], { dtype: 'int64' });
        mask = torch.cat([mask, torch.ones([2, 1], { dtype: 'int64' })], 1);
        const { hidden } = model.language_model.forward({
          inputIds: ids,
          attentionMask: mask,
          cache,
          logits: false,
        });
        out.push(hidden.detach());
      }
      return { hidden: torch.cat(out, 1).keep(), cache };
    });
  return fused ? torch.noGrad(run) : torch.enableGrad(run);
}
const randIdsFixed = [randIds(7), randIds(3)];
const nextIds = Array.from({ length: 12 }, () => randIds(2));

for (const kvHeads of [undefined, 1]) {
  test(`fused decode step = the layer's ops, bit for bit (${kvHeads === undefined ? 'MHA' : 'GQA'})`, () => {
    const model = microModel(tok, 3, (c) => {
      if (kvHeads !== undefined) c.language_config.num_key_value_heads = kvHeads;
    });
    const before = torch.liveTensors();
    const a = decode(model, true, 12);
    const b = decode(model, false, 12);
    assert.equal(maxAbsDiff(a.hidden, b.hidden), 0, 'hidden states differ');
    // the cache written by the fused step holds exactly the keys the layer's ops wrote
    for (let layer = 0; layer < model.config.language_config.num_hidden_layers; layer++) {
      const lc = model.config.language_config;
      const spec = {
        B: 2,
        H: lc.num_key_value_heads ?? lc.num_attention_heads,
        D: lc.hidden_size / lc.num_attention_heads,
        dtype: 'float32' as const,
        device: 'cpu',
      };
      const sa = a.cache.slot(layer, spec, 0);
      const sb = b.cache.slot(layer, spec, 0);
      assert.equal(sa.at, sb.at);
      torch.tidy(() => {
        assert.equal(maxAbsDiff(sa.kBuf.narrow(2, 0, sa.at), sb.kBuf.narrow(2, 0, sb.at)), 0);
        assert.equal(maxAbsDiff(sa.vBuf.narrow(2, 0, sa.at), sb.vBuf.narrow(2, 0, sb.at)), 0);
      });
    }
    torch.dispose([a.hidden, b.hidden]);
    a.cache.dispose();
    b.cache.dispose();
    assert.equal(torch.liveTensors(), before);
  });
}

test('KVCache.advance refuses positions it has no room for', () => {
  const cache = new torch.KVCache();
  assert.throws(() => cache.advance(0, 1), /no room reserved/);
  cache.slot(0, { B: 1, H: 1, D: 2, dtype: 'float32', device: 'cpu' }, 2);
  cache.advance(0, 2);
  assert.equal(cache.length, 2);
  assert.throws(() => cache.advance(0, 1), /no room reserved/);
  cache.dispose();
});
