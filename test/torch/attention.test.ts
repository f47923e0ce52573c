/**
 * F.scaledDotProductAttention: hand-computed values, the one-query product path against the two matmuls
 * (contiguous and on a KV cache's strided views), the mask, bf16 with a float32 softmax, and gradients of both
 * paths.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { F, type Tensor } from '../../src/torch/index.js';
import { assertClose, assertShape, gradcheck, randn64 } from '../helpers/gradcheck.js';

torch.setNumThreads(1);

/** The textbook form: softmax(q k^T * scale, masked) v, by matmuls. */
function reference(q: Tensor, k: Tensor, v: Tensor, blocked?: Tensor): Tensor {
  let s = q.matmul(k.transpose(-2, -1)).mul(1 / Math.sqrt(q.size(-1)));
  if (blocked) s = s.maskedFill(blocked, -Infinity);
  return s.softmax(-1).matmul(v);
}

test('one query, hand-computed: softmax([1, 0]) mixes the two values; a blocked key gets no weight', () => {
  torch.tidy(() => {
    const q = torch.tensor([1, 0], { shape: [1, 1, 1, 2] });
    const k = torch.tensor([1, 0, 0, 1], { shape: [1, 1, 2, 2] });
    const v = torch.tensor([1, 2, 3, 4], { shape: [1, 1, 2, 2] });
    // scores [1, 0] at scale 1: p = [e / (e + 1), 1 / (e + 1)]
    const p0 = Math.E / (Math.E + 1);
    const y = F.scaledDotProductAttention(q, k, v, { scale: 1 });
    assertShape(y, [1, 1, 1, 2], 'float32');
    assertClose(y, [p0 * 1 + (1 - p0) * 3, p0 * 2 + (1 - p0) * 4]);
    const blocked = torch.tensor([false, true], { shape: [1, 1, 1, 2], dtype: 'bool' });
    assertClose(F.scaledDotProductAttention(q, k, v, { scale: 1, blocked }), [1, 2]);
  });
});

test('the one-query product path equals the matmuls, on contiguous tensors and on KV-cache views', () => {
  torch.tidy(() => {
    const gen = new torch.Generator(3);
    const [B, H, S, Dh] = [3, 4, 7, 8];
    const q = torch.randn([B, H, 1, Dh], { generator: gen });
    const k = torch.randn([B, H, S, Dh], { generator: gen });
    const v = torch.randn([B, H, S, Dh], { generator: gen });
    const blocked = torch.rand([B, 1, 1, S], { generator: gen }).lt(0.3);
    assertClose(F.scaledDotProductAttention(q, k, v, { blocked }), reference(q, k, v, blocked).toArray(), {
      atol: 1e-6,
    });
    // the cache's views are narrowed from a longer buffer: strided along the batch and head dims
    const cache = new torch.KVCache(S + 5);
    const views = cache.append(0, k, v);
    assert.ok(!views.k.isContiguous());
    assertClose(F.scaledDotProductAttention(q, views.k, views.v), reference(q, k, v).toArray(), {
      atol: 1e-6,
    });
    cache.dispose();
  });
});

test('bf16: the softmax runs in float32 and the result stays bf16, close to the float32 one', () => {
  torch.tidy(() => {
    const gen = new torch.Generator(4);
    const [q, k, v] = [
      [2, 2, 1, 8],
      [2, 2, 5, 8],
      [2, 2, 5, 8],
    ].map((s) => torch.randn(s, { generator: gen }));
    for (const T of [1, 3]) {
      const qT = T === 1 ? q! : torch.randn([2, 2, T, 8], { generator: gen });
      const y = F.scaledDotProductAttention(qT.to('bfloat16'), k!.to('bfloat16'), v!.to('bfloat16'));
      assert.equal(y.dtype, 'bfloat16');
      assertClose(y.float(), reference(qT, k!, v!).toArray(), { atol: 0.05, rtol: 0.05, msg: `T ${T}` });
    }
  });
});

test('gradients of both paths match central differences', () => {
  torch.tidy(() => {
    const gen = new torch.Generator(5);
    for (const T of [1, 2]) {
      const q = randn64([1, 2, T, 3], gen);
      const k = randn64([1, 2, 4, 3], gen);
      const v = randn64([1, 2, 4, 3], gen);
      gradcheck((a, b, c) => F.scaledDotProductAttention(a, b, c), [q, k, v]);
    }
  });
});
