/** Forward correctness of the tensor ops against hand-computed values. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { F } from '../../src/torch/index.js';
import { assertClose, assertShape } from '../helpers/gradcheck.js';

const t = (data: Parameters<typeof torch.tensor>[0], opts?: Parameters<typeof torch.tensor>[1]) =>
  torch.tensor(data, opts);
const long = (data: number[], shape?: number[]) => torch.tensor(data, { dtype: 'int64', shape });
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

describe('elementwise arithmetic', () => {
  test('broadcasting add/sub/mul/div', () =>
    torch.tidy(() => {
      const a = t([
        [1, 2, 3],
        [4, 5, 6],
      ]);
      const row = t([10, 20, 30]);
      const col = t([[2], [4]]);
      assertShape(a.add(row), [2, 3], 'float32');
      assertClose(a.add(row), [11, 22, 33, 14, 25, 36]);
      assertClose(a.sub(col), [-1, 0, 1, 0, 1, 2]);
      assertClose(a.mul(col), [2, 4, 6, 16, 20, 24]);
      assertClose(a.div(col), [0.5, 1, 1.5, 1, 1.25, 1.5]);
      // [2,1] op [3] broadcasts to [2,3]
      const outer = col.mul(t([1, 10, 100]));
      assertShape(outer, [2, 3]);
      assertClose(outer, [2, 20, 200, 4, 40, 400]);
    }));

  test('scalar operands, rsub, pow', () =>
    torch.tidy(() => {
      const a = t([1, 2, 4]);
      assertClose(a.add(0.5), [1.5, 2.5, 4.5]);
      assertClose(a.sub(1), [0, 1, 3]);
      assertClose(a.mul(-2), [-2, -4, -8]);
      assertClose(a.div(4), [0.25, 0.5, 1]);
      assertClose(a.rsub(10), [9, 8, 6]);
      assertClose(a.pow(2), [1, 4, 16]);
      assertClose(a.pow(0.5), [1, Math.SQRT2, 2]);
      assertClose(a.pow(t([3, 2, 0.5])), [1, 4, 2]);
      assertClose(a.maximum(2), [2, 2, 4]);
      assertClose(a.minimum(2), [1, 2, 2]);
      assertClose(a.maximum(t([0, 3, 3])), [1, 3, 4]);
      assertClose(a.minimum(t([0, 3, 3])), [0, 2, 3]);
    }));

  test('integer tensors keep their dtype under integer scalars, true division gives float', () =>
    torch.tidy(() => {
      const i = long([1, 2, 7]);
      assertShape(i.add(1), [3], 'int64');
      assert.deepEqual(i.add(1).toArray(), [2, 3, 8]);
      assert.equal(i.mul(3).dtype, 'int64');
      assert.equal(i.sub(i).dtype, 'int64');
      assert.equal(i.mul(0.5).dtype, 'float32');
      const half = i.div(2);
      assert.equal(half.dtype, 'float32');
      assertClose(half, [0.5, 1, 3.5]);
      assert.equal(t([1.5]).add(1).dtype, 'float32');
      assert.equal(t([1.5], { dtype: 'float64' }).mul(2).dtype, 'float64');
    }));

  test('unary functions', () =>
    torch.tidy(() => {
      const x = t([-2, -0.5, 0, 1, 2.5]);
      assertClose(x.neg(), [2, 0.5, -0, -1, -2.5]);
      assertClose(x.abs(), [2, 0.5, 0, 1, 2.5]);
      assertClose(x.sign(), [-1, -1, 0, 1, 1]);
      assertClose(x.relu(), [0, 0, 0, 1, 2.5]);
      assertClose(x.floor(), [-2, -1, 0, 1, 2]);
      // round half to even, as torch.round
      assertClose(x.round(), [-2, -0, 0, 1, 2]);
      assertClose(x.exp(), [-2, -0.5, 0, 1, 2.5].map(Math.exp));
      assertClose(x.sigmoid(), [-2, -0.5, 0, 1, 2.5].map(sigmoid));
      assertClose(x.tanh(), [-2, -0.5, 0, 1, 2.5].map(Math.tanh));
      assertClose(
        x.silu(),
        [-2, -0.5, 0, 1, 2.5].map((v) => v * sigmoid(v)),
      );
      assertClose(x.sin(), [-2, -0.5, 0, 1, 2.5].map(Math.sin));
      assertClose(x.cos(), [-2, -0.5, 0, 1, 2.5].map(Math.cos));
      const p = t([0.25, 1, 4]);
      assertClose(p.log(), [Math.log(0.25), 0, Math.log(4)]);
      assertClose(p.log1p(), [Math.log1p(0.25), Math.LN2, Math.log(5)]);
      assertClose(p.sqrt(), [0.5, 1, 2]);
      assertClose(p.rsqrt(), [2, 1, 0.5]);
      assertClose(p.reciprocal(), [4, 1, 0.25]);
    }));

  test('gelu exact and tanh approximation', () =>
    torch.tidy(() => {
      const x = t([-1, 0, 1, 2], { dtype: 'float64' });
      // 0.5 x (1 + erf(x / sqrt 2)); erf(1/sqrt2) = 0.682689492137086, erf(sqrt2) = 0.954499736103642
      assertClose(x.gelu(), [-0.15865525393145707, 0, 0.8413447460685429, 1.9544997361036416], {
        rtol: 1e-12,
      });
      const tanhGelu = (v: number) =>
        0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
      assertClose(x.gelu('tanh'), [-1, 0, 1, 2].map(tanhGelu), { rtol: 1e-12 });
      assert.notEqual(x.gelu().toArray()[2], x.gelu('tanh').toArray()[2]);
    }));

  test('clamp', () =>
    torch.tidy(() => {
      const x = t([-3, -1, 0, 2, 5]);
      assertClose(x.clamp(-1, 2), [-1, -1, 0, 2, 2]);
      assertClose(x.clamp(0), [0, 0, 0, 2, 5]);
      assertClose(x.clamp(null, 0), [-3, -1, 0, 0, 0]);
    }));

  test('comparisons and logical ops give bool tensors', () =>
    torch.tidy(() => {
      const a = t([1, 2, 3]);
      const b = t([3, 2, 1]);
      assertShape(a.lt(b), [3], 'bool');
      assert.deepEqual(a.eq(b).toArray(), [0, 1, 0]);
      assert.deepEqual(a.ne(b).toArray(), [1, 0, 1]);
      assert.deepEqual(a.lt(b).toArray(), [1, 0, 0]);
      assert.deepEqual(a.le(b).toArray(), [1, 1, 0]);
      assert.deepEqual(a.gt(2).toArray(), [0, 0, 1]);
      assert.deepEqual(a.ge(2).toArray(), [0, 1, 1]);
      const m = t([true, true, false, false]);
      const n = t([true, false, true, false]);
      assert.deepEqual(m.logicalAnd(n).toArray(), [1, 0, 0, 0]);
      assert.deepEqual(m.logicalOr(n).toArray(), [1, 1, 1, 0]);
      assert.deepEqual(m.logicalNot().toArray(), [0, 0, 1, 1]);
      assert.deepEqual(m.logicalAnd(true).toArray(), [1, 1, 0, 0]);
      const special = t([NaN, Infinity, 1]);
      assert.deepEqual(special.isnan().toArray(), [1, 0, 0]);
      assert.deepEqual(special.isfinite().toArray(), [0, 0, 1]);
    }));
});

describe('reductions', () => {
  const m = () =>
    t([
      [1, 5, 3],
      [4, 2, 6],
    ]);

  test('sum and mean over all, dims, negative dims, keepdim', () =>
    torch.tidy(() => {
      const x = m();
      assertShape(x.sum(), []);
      assert.equal(x.sum().item(), 21);
      assertClose(x.sum(0), [5, 7, 9]);
      assertClose(x.sum(-1), [9, 12]);
      assertShape(x.sum(1, true), [2, 1]);
      assertShape(x.sum([0, 1]), []);
      assertShape(x.sum(undefined, true), [1, 1]);
      assert.equal(x.sum(undefined, true).item(), 21);
      assert.equal(x.mean().item(), 3.5);
      assertClose(x.mean(0), [2.5, 3.5, 4.5]);
      assertShape(x.mean(-1, true), [2, 1]);
      assertClose(x.mean(-1, true), [3, 4]);
      assertShape(x.mean(undefined, true), [1, 1]);
      // integer and bool sums count in int64
      assert.equal(long([1, 2, 3]).sum().dtype, 'int64');
      assert.equal(long([1, 2, 3]).sum().item(), 6);
      const count = t([true, false, true]).sum();
      assert.equal(count.dtype, 'int64');
      assert.equal(count.item(), 2);
    }));

  test('var and std: unbiased (default) vs biased', () =>
    torch.tidy(() => {
      const x = t([1, 2, 3, 4]);
      // mean 2.5, squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5
      assertClose(x.var(), [5 / 3]);
      assertClose(x.var(undefined, { unbiased: false }), [1.25]);
      assertClose(x.std(), [Math.sqrt(5 / 3)]);
      assertClose(x.std(undefined, { unbiased: false }), [Math.sqrt(1.25)]);
      const y = m();
      // rows [1,5,3] (mean 3, ss 8) and [4,2,6] (mean 4, ss 8)
      assertClose(y.var(1), [4, 4]);
      assertClose(y.var(-1, { unbiased: false }), [8 / 3, 8 / 3]);
      assertShape(y.var(1, { keepdim: true }), [2, 1]);
      // columns [1,4], [5,2], [3,6]: ss 4.5 each
      assertClose(y.var(0), [4.5, 4.5, 4.5]);
      assertClose(y.std(0, { unbiased: false }), [1.5, 1.5, 1.5]);
    }));

  test('amax, amin, max/min(dim), argmax', () =>
    torch.tidy(() => {
      const x = m();
      assert.equal(x.amax().item(), 6);
      assert.equal(x.amin().item(), 1);
      assertClose(x.amax(0), [4, 5, 6]);
      assertClose(x.amin(-1), [1, 2]);
      assertShape(x.amax(1, true), [2, 1]);
      const { values, indices } = x.max(1);
      assertClose(values, [5, 6]);
      assertShape(indices, [2], 'int64');
      assert.deepEqual(indices.toArray(), [1, 2]);
      const mn = x.min(0, true);
      assertShape(mn.values, [1, 3]);
      assertClose(mn.values, [1, 2, 3]);
      assert.deepEqual(mn.indices.toArray(), [0, 1, 0]);
      const am = x.argmax();
      assertShape(am, [], 'int64');
      assert.equal(am.item(), 5);
      assert.deepEqual(x.argmax(0).toArray(), [1, 0, 1]);
      assertShape(x.argmax(-1, true), [2, 1]);
      assert.deepEqual(x.argmax(-1, true).toArray(), [1, 2]);
    }));

  test('logsumexp, cumsum, norm, all/any', () =>
    torch.tidy(() => {
      const x = t(
        [
          [0, Math.log(3)],
          [Math.log(2), Math.log(2)],
        ],
        { dtype: 'float64' },
      );
      assertClose(x.logsumexp(1), [Math.log(4), Math.log(4)], { rtol: 1e-12 });
      assertClose(x.logsumexp([0, 1]), [Math.log(8)], { rtol: 1e-12 });
      assertShape(x.logsumexp(-1, true), [2, 1]);
      // large values stay finite
      assertClose(t([1000, 1000]).logsumexp(0), [1000 + Math.LN2], { rtol: 1e-6 });
      assertClose(m().cumsum(1), [1, 6, 9, 4, 6, 12]);
      assertClose(m().cumsum(0), [1, 5, 3, 5, 7, 9]);
      assert.deepEqual(long([1, 2, 3]).cumsum(0).toArray(), [1, 3, 6]);
      assertClose(t([3, 4]).norm(), [5]);
      assertClose(t([3, -4]).norm(1), [7]);
      assert.equal(t([true, true]).all().item(), 1);
      assert.equal(t([true, false]).all().item(), 0);
      assert.equal(t([false, true]).any().item(), 1);
      assert.equal(t([false, false]).any().item(), 0);
    }));
});

describe('shapes, views and indexing', () => {
  const a23 = () =>
    t([
      [0, 1, 2],
      [3, 4, 5],
    ]);

  test('reshape, view, permute, transpose, t, flatten, contiguity', () =>
    torch.tidy(() => {
      const x = torch.arange(0, 24).reshape([2, 3, 4]);
      assertShape(x, [2, 3, 4], 'int64');
      assertShape(x.reshape([-1, 4]), [6, 4]);
      assertShape(x.view([6, -1]), [6, 4]);
      const p = x.permute([2, 0, 1]);
      assertShape(p, [4, 2, 3]);
      // p[i][j][k] = x[j][k][i] = 12j + 4k + i
      assert.deepEqual(p.select(0, 1).toArray(), [1, 5, 9, 13, 17, 21]);
      assert.equal(p.isContiguous(), false);
      assert.equal(p.contiguous().isContiguous(), true);
      const tr = a23().transpose(0, 1);
      assertShape(tr, [3, 2]);
      assertClose(tr, [0, 3, 1, 4, 2, 5]);
      assertClose(a23().t(), [0, 3, 1, 4, 2, 5]);
      assertClose(a23().transpose(-1, -2), [0, 3, 1, 4, 2, 5]);
      assertShape(x.flatten(), [24]);
      assertShape(x.flatten(1), [2, 12]);
      assertShape(x.flatten(0, 1), [6, 4]);
      assert.equal(x.numel, 24);
      assert.equal(x.ndim, 3);
      assert.equal(x.size(-1), 4);
      assert.throws(() => x.size(3), RangeError);
    }));

  test('squeeze, unsqueeze, expand, repeat, repeatInterleave, flip', () =>
    torch.tidy(() => {
      const x = torch.zeros([1, 3, 1]);
      assertShape(x.squeeze(), [3]);
      assertShape(x.squeeze(0), [3, 1]);
      assertShape(x.squeeze(-1), [1, 3]);
      assertShape(x.squeeze(1), [1, 3, 1]);
      assertShape(t([1, 2]).unsqueeze(0), [1, 2]);
      assertShape(t([1, 2]).unsqueeze(-1), [2, 1]);
      const e = t([[1], [2]]).expand([2, 3]);
      assertShape(e, [2, 3]);
      assertClose(e, [1, 1, 1, 2, 2, 2]);
      assertShape(t([1, 2]).expand([2, -1]), [2, 2]);
      assertClose(t([1, 2]).repeat([2, 2]), [1, 2, 1, 2, 1, 2, 1, 2]);
      assertShape(t([1, 2]).repeat([2, 2]), [2, 4]);
      assertClose(a23().repeatInterleave(2, 0), [0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5]);
      assertClose(a23().repeatInterleave(2, 1), [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
      assertClose(a23().flip([1]), [2, 1, 0, 5, 4, 3]);
      assertClose(a23().flip([0, 1]), [5, 4, 3, 2, 1, 0]);
    }));

  test('slice (steps, negatives), narrow, select, split, chunk', () =>
    torch.tidy(() => {
      const x = torch.arange(10);
      assert.deepEqual(x.slice(0, 2, 8, 3).toArray(), [2, 5]);
      assert.deepEqual(x.slice(0, -3).toArray(), [7, 8, 9]);
      assert.deepEqual(x.slice(0, 1, -7).toArray(), [1, 2]);
      assert.deepEqual(x.narrow(0, 4, 3).toArray(), [4, 5, 6]);
      assertClose(a23().slice(1, 1), [1, 2, 4, 5]);
      assertClose(a23().narrow(-1, 0, 2), [0, 1, 3, 4]);
      assertClose(a23().select(1, -1), [2, 5]);
      assertShape(a23().select(0, 1), [3]);
      const parts = x.split([3, 7]);
      assert.equal(parts.length, 2);
      assert.deepEqual(parts[0]!.toArray(), [0, 1, 2]);
      assertShape(parts[1]!, [7]);
      const even = x.split(4);
      assert.deepEqual(
        even.map((p) => p.shape[0]),
        [4, 4, 2],
      );
      const cols = a23().split(1, -1);
      assert.equal(cols.length, 3);
      assertClose(cols[2]!, [2, 5]);
      const ch = x.chunk(3);
      assert.deepEqual(
        ch.map((p) => p.numel),
        [4, 4, 2],
      );
    }));

  test('cat and stack, negative dims', () =>
    torch.tidy(() => {
      const a = a23();
      const b = t([[6, 7, 8]]);
      const c = F.cat([a, b], 0);
      assertShape(c, [3, 3]);
      assertClose(c, [0, 1, 2, 3, 4, 5, 6, 7, 8]);
      const d = torch.cat([a, t([[9], [10]])], -1);
      assertShape(d, [2, 4]);
      assertClose(d, [0, 1, 2, 9, 3, 4, 5, 10]);
      const s0 = torch.stack([t([1, 2]), t([3, 4])]);
      assertShape(s0, [2, 2]);
      assertClose(s0, [1, 2, 3, 4]);
      const s1 = F.stack([t([1, 2]), t([3, 4])], -1);
      assertClose(s1, [1, 3, 2, 4]);
    }));

  test('indexSelect, gather, scatter, maskedFill, where', () =>
    torch.tidy(() => {
      const a = a23();
      assertClose(a.indexSelect(1, long([2, 0, 2])), [2, 0, 2, 5, 3, 5]);
      assertClose(a.indexSelect(0, long([1])), [3, 4, 5]);
      const g = a.gather(1, long([2, 2, 0, 1], [2, 2]));
      assertShape(g, [2, 2]);
      assertClose(g, [2, 2, 3, 4]);
      assertClose(a.gather(0, long([1, 0, 1], [1, 3])), [3, 1, 5]);
      const sc = torch.zeros([2, 3]).scatter(1, long([2, 0], [2, 1]), t([[7], [8]]));
      assertClose(sc, [0, 0, 7, 8, 0, 0]);
      const mask = t([true, false, true]);
      assertClose(a.maskedFill(mask, -1), [-1, 1, -1, -1, 4, -1]);
      assertClose(a.maskedFill(t([[false], [true]]), 9), [0, 1, 2, 9, 9, 9]);
      const w = F.where(mask, a, t([100]));
      assertClose(w, [0, 100, 2, 3, 100, 5]);
      assertClose(torch.where(t([[true], [false]]), t([1, 2, 3]), t([-1, -2, -3])), [1, 2, 3, -1, -2, -3]);
      const ints = long([5, 6, 7]).maskedFill(mask, 0);
      assert.equal(ints.dtype, 'int64');
      assert.deepEqual(ints.toArray(), [0, 6, 0]);
    }));

  test('triu and tril with diagonals', () =>
    torch.tidy(() => {
      const o = torch.ones([3, 3]);
      assertClose(o.triu(), [1, 1, 1, 0, 1, 1, 0, 0, 1]);
      assertClose(o.triu(1), [0, 1, 1, 0, 0, 1, 0, 0, 0]);
      assertClose(o.tril(), [1, 0, 0, 1, 1, 0, 1, 1, 1]);
      assertClose(o.tril(-1), [0, 0, 0, 1, 0, 0, 1, 1, 0]);
      // a causal mask as attention builds it
      const causal = torch.ones([3, 3], { dtype: 'bool' }).triu(1);
      assert.equal(causal.dtype, 'bool');
      assert.deepEqual(causal.toArray(), [0, 1, 1, 0, 0, 1, 0, 0, 0]);
    }));

  test('oneHot', () =>
    torch.tidy(() => {
      const o = F.oneHot(long([2, 0, 1]), 4);
      assertShape(o, [3, 4], 'int64');
      assert.deepEqual(o.toArray(), [0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0]);
      assertShape(F.oneHot(long([1, 0, 2, 2], [2, 2]), 3), [2, 2, 3]);
    }));
});

describe('neural-network ops', () => {
  test('matmul, bmm, linear', () =>
    torch.tidy(() => {
      const a = t([
        [1, 2],
        [3, 4],
      ]);
      const b = t([
        [5, 6],
        [7, 8],
      ]);
      assertClose(a.matmul(b), [19, 22, 43, 50]);
      assertClose(a.matmul(t([1, -1])), [-1, -1]);
      const batched = torch.stack([a, b]).matmul(t([[1], [1]]));
      assertShape(batched, [2, 2, 1]);
      assertClose(batched, [3, 7, 11, 15]);
      const bm = torch.stack([a, b]).bmm(torch.stack([b, a]));
      assertClose(bm, [19, 22, 43, 50, 23, 34, 31, 46]);
      // linear(x, W, b) = x W^T + b
      const y = F.linear(t([[1, 2]]), a, t([10, 20]));
      assertClose(y, [15, 31]);
      assertClose(F.linear(t([[1, 2]]), a), [5, 11]);
    }));

  test('conv2d: values, stride, padding, bias', () =>
    torch.tidy(() => {
      const x = torch.arange(0, 9, 1, { dtype: 'float32' }).reshape([1, 1, 3, 3]);
      const w = torch.ones([1, 1, 2, 2]);
      const y = F.conv2d(x, w);
      assertShape(y, [1, 1, 2, 2]);
      // sums of 2x2 windows of [[0,1,2],[3,4,5],[6,7,8]]
      assertClose(y, [8, 12, 20, 24]);
      const yb = F.conv2d(x, w, t([0.5]), { stride: 2, padding: 1 });
      // padded 5x5, windows at (0,0),(0,2),(2,0),(2,2): [0], [1+2], [3+6], [4+5+7+8]
      assertShape(yb, [1, 1, 2, 2]);
      assertClose(yb, [0.5, 3.5, 9.5, 24.5]);
      // two output channels, the second a negated kernel
      const w2 = torch.cat([w, w.neg()], 0);
      assertClose(F.conv2d(x, w2), [8, 12, 20, 24, -8, -12, -20, -24]);
    }));

  test('upsampleNearest2d and avgPool2d', () =>
    torch.tidy(() => {
      const x = t([
        [1, 2],
        [3, 4],
      ]).reshape([1, 1, 2, 2]);
      const up = F.upsampleNearest2d(x, [4, 4]);
      assertShape(up, [1, 1, 4, 4]);
      assertClose(up, [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
      const up3 = F.upsampleNearest2d(x, [2, 3]);
      // nearest source column for output j is floor(j * 2/3): 0, 0, 1
      assertClose(up3, [1, 1, 2, 3, 3, 4]);
      const y = torch.arange(0, 16, 1, { dtype: 'float32' }).reshape([1, 1, 4, 4]);
      const pooled = F.avgPool2d(y, 2);
      assertShape(pooled, [1, 1, 2, 2]);
      assertClose(pooled, [2.5, 4.5, 10.5, 12.5]);
      const pooled3 = F.avgPool2d(y, 3, 1);
      assertClose(pooled3, [5, 6, 9, 10]);
    }));

  test('softmax and logSoftmax', () =>
    torch.tidy(() => {
      const x = t([[1, 2, 3]], { dtype: 'float64' });
      const z = Math.exp(1) + Math.exp(2) + Math.exp(3);
      assertClose(x.softmax(-1), [Math.exp(1) / z, Math.exp(2) / z, Math.exp(3) / z], { rtol: 1e-12 });
      assertClose(x.logSoftmax(1), [1 - Math.log(z), 2 - Math.log(z), 3 - Math.log(z)], { rtol: 1e-12 });
      const cols = t([
        [0, 0],
        [0, Math.log(3)],
      ]).softmax(0);
      assertClose(cols, [0.5, 0.25, 0.5, 0.75]);
      assertClose(t([1000, 1000]).softmax(0), [0.5, 0.5]);
    }));

  test('layerNorm, groupNorm, rmsNorm against hand values', () =>
    torch.tidy(() => {
      const x = t([[1, 2, 3, 4]], { dtype: 'float64' });
      // mean 2.5, biased var 1.25
      const s = Math.sqrt(1.25 + 1e-5);
      const norm = [1, 2, 3, 4].map((v) => (v - 2.5) / s);
      assertClose(F.layerNorm(x, [4]), norm, { rtol: 1e-10 });
      const w = t([1, 2, 3, 4], { dtype: 'float64' });
      const b = t([0, 0, 1, 1], { dtype: 'float64' });
      assertClose(
        F.layerNorm(x, [4], w, b),
        norm.map((v, i) => v * (i + 1) + (i >= 2 ? 1 : 0)),
        { rtol: 1e-10 },
      );
      // groupNorm over [N=1, C=4, L=1] with 2 groups: channels {1,2} and {3,4}, each mean ±0.5 around its centre
      const gx = x.reshape([1, 4, 1]);
      const gs = Math.sqrt(0.25 + 1e-5);
      assertClose(F.groupNorm(gx, 2), [-0.5 / gs, 0.5 / gs, -0.5 / gs, 0.5 / gs], { rtol: 1e-10 });
      assertClose(F.groupNorm(gx, 2, w, b, 1e-5), [-0.5 / gs, 1 / gs, 1 - 1.5 / gs, 1 + 2 / gs], {
        rtol: 1e-10,
      });
      // rmsNorm: mean(x^2) = 7.5
      const r = Math.sqrt(7.5 + 1e-6);
      assertClose(F.rmsNorm(x), [1 / r, 2 / r, 3 / r, 4 / r], { rtol: 1e-10 });
      assertClose(
        F.rmsNorm(x, w, 0.5),
        [1, 4, 9, 16].map((v) => v / Math.sqrt(8)),
        { rtol: 1e-10 },
      );
      // half inputs are normalised in float32 and cast back
      const h = F.rmsNorm(t([[3, 4]]).to('bfloat16'), null, 0);
      assert.equal(h.dtype, 'bfloat16');
      assertClose(h, [3 / Math.sqrt(12.5), 4 / Math.sqrt(12.5)], { rtol: 1e-2 });
    }));

  test('embedding', () =>
    torch.tidy(() => {
      const w = t([
        [0, 0.5],
        [1, 1.5],
        [2, 2.5],
      ]);
      const e = F.embedding(long([2, 0, 2, 1], [2, 2]), w);
      assertShape(e, [2, 2, 2]);
      assertClose(e, [2, 2.5, 0, 0.5, 2, 2.5, 1, 1.5]);
    }));

  test('crossEntropy: mean, ignoreIndex, sum, none, label smoothing (hand-computed)', () =>
    torch.tidy(() => {
      const rows = [
        [1, 2, 3],
        [1, 1, 1],
        [0, 0, 5],
      ];
      const logits = t(rows, { dtype: 'float64' });
      const targets = long([2, 1, 0]);
      const lse = rows.map((r) => Math.log(r.reduce((a, v) => a + Math.exp(v), 0)));
      const nll = rows.map((r, i) => lse[i]! - r[[2, 1, 0][i]!]!);
      assertClose(F.crossEntropy(logits, targets), [(nll[0]! + nll[1]! + nll[2]!) / 3], { rtol: 1e-12 });
      assertClose(F.crossEntropy(logits, targets, { reduction: 'sum' }), [nll[0]! + nll[1]! + nll[2]!], {
        rtol: 1e-12,
      });
      assertClose(F.crossEntropy(logits, targets, { reduction: 'none' }), nll, { rtol: 1e-12 });
      // ignoreIndex: the row whose target is 1 drops out of both the sum and the count
      const ign = F.crossEntropy(logits, targets, { ignoreIndex: 1 });
      assertClose(ign, [(nll[0]! + nll[2]!) / 2], { rtol: 1e-12 });
      const ignNone = F.crossEntropy(logits, targets, { ignoreIndex: 1, reduction: 'none' });
      assertClose(ignNone, [nll[0]!, 0, nll[2]!], { rtol: 1e-12 });
      // default ignoreIndex -100
      const withPad = F.crossEntropy(logits, long([2, -100, 0]));
      assertClose(withPad, [(nll[0]! + nll[2]!) / 2], { rtol: 1e-12 });
      // label smoothing eps: (1 - eps) * nll + eps * mean over classes of -log p
      const eps = 0.1;
      const smooth = rows.map(
        (r, i) => (r.reduce((a, v) => a + (lse[i]! - v), 0) / 3) * eps + (1 - eps) * nll[i]!,
      );
      assertClose(
        F.crossEntropy(logits, targets, { labelSmoothing: eps }),
        [(smooth[0]! + smooth[1]! + smooth[2]!) / 3],
        {
          rtol: 1e-12,
        },
      );
      assertClose(
        F.crossEntropy(logits, targets, { labelSmoothing: eps, ignoreIndex: 1 }),
        [(smooth[0]! + smooth[2]!) / 2],
        { rtol: 1e-12 },
      );
    }));

  test('logProbsOf', () =>
    torch.tidy(() => {
      const logits = t(
        [
          [
            [0, Math.log(3)],
            [Math.log(2), Math.log(2)],
          ],
        ],
        { dtype: 'float64' },
      );
      const lp = F.logProbsOf(logits, long([1, 0], [1, 2]));
      assertShape(lp, [1, 2], 'float64');
      assertClose(lp, [Math.log(0.75), Math.log(0.5)], { rtol: 1e-12 });
    }));

  test('dropout', () =>
    torch.tidy(() => {
      const x = torch.ones([1000]);
      assertClose(F.dropout(x, 0.5, false), new Array(1000).fill(1));
      assertClose(F.dropout(x, 0, true), new Array(1000).fill(1));
      torch.manualSeed(0);
      const d = F.dropout(x, 0.5, true).toArray();
      assert.ok(d.every((v) => v === 0 || v === 2));
      const kept = d.filter((v) => v === 2).length;
      assert.ok(kept > 400 && kept < 600, `kept ${kept} of 1000`);
    }));
});

describe('sorting and sampling helpers', () => {
  test('topk and sort: values, indices, shapes', () =>
    torch.tidy(() => {
      const x = t([
        [3, 1, 4, 1.5],
        [9, 2, 6, 5],
      ]);
      const top = x.topk(2);
      assertShape(top.values, [2, 2], 'float32');
      assertShape(top.indices, [2, 2], 'int64');
      assertClose(top.values, [4, 3, 9, 6]);
      assert.deepEqual(top.indices.toArray(), [2, 0, 0, 2]);
      const low = x.topk(1, -1, false);
      assertClose(low.values, [1, 2]);
      assert.deepEqual(low.indices.toArray(), [1, 1]);
      const col = x.topk(1, 0);
      assertShape(col.values, [1, 4]);
      assertClose(col.values, [9, 2, 6, 5]);
      const asc = x.sort();
      assertClose(asc.values, [1, 1.5, 3, 4, 2, 5, 6, 9]);
      assert.deepEqual(asc.indices.toArray(), [1, 3, 0, 2, 1, 3, 2, 0]);
      const desc = x.sort(-1, true);
      assertClose(desc.values, [4, 3, 1.5, 1, 9, 6, 5, 2]);
      assert.deepEqual(desc.indices.toArray(), [2, 0, 3, 1, 0, 2, 3, 1]);
      const bycol = x.sort(0);
      assertClose(bycol.values, [3, 1, 4, 1.5, 9, 2, 6, 5]);
    }));

  test('multinomial: shape, dtype, range, zero-probability classes never drawn', () =>
    torch.tidy(() => {
      const gen = new torch.Generator(11);
      const probs = t([
        [0, 0.2, 0, 0.8],
        [1, 0, 0, 0],
        [0, 0, 3, 1],
      ]);
      const s = torch.multinomial(probs, 50, { replacement: true, generator: gen });
      assertShape(s, [3, 50], 'int64');
      const v = s.toArray();
      assert.ok(v.slice(0, 50).every((i) => i === 1 || i === 3));
      assert.ok(v.slice(50, 100).every((i) => i === 0));
      assert.ok(v.slice(100).every((i) => i === 2 || i === 3));
      const noRep = torch.multinomial(t([0.1, 0.2, 0.3, 0.4]), 4, { generator: gen });
      assertShape(noRep, [4], 'int64');
      assert.deepEqual([...noRep.toArray()].sort(), [0, 1, 2, 3]);
      const one = torch.multinomial(probs, 1, { generator: gen });
      assertShape(one, [3, 1]);
      assert.equal(one.toArray()[1], 0);
    }));

  test('topKFilter keeps exactly the k largest tokens', () =>
    torch.tidy(() => {
      const logits = t([
        [1, 5, 3, 4, 2],
        [0, -1, 7, 6, -3],
      ]);
      const f = F.topKFilter(logits, 2);
      assertShape(f, [2, 5]);
      assertClose(f, [-Infinity, 5, -Infinity, 4, -Infinity, -Infinity, -Infinity, 7, 6, -Infinity]);
      assertClose(F.topKFilter(logits, 1), [
        -Infinity,
        5,
        -Infinity,
        -Infinity,
        -Infinity,
        -Infinity,
        -Infinity,
        7,
        -Infinity,
        -Infinity,
      ]);
      // k >= vocab or k <= 0: nothing filtered
      assertClose(F.topKFilter(logits, 5), logits.toArray());
      assertClose(F.topKFilter(logits, 0), logits.toArray());
    }));

  test('topPFilter keeps exactly the smallest nucleus reaching p', () =>
    torch.tidy(() => {
      // row 0 probabilities (in token order) 0.15, 0.5, 0.05, 0.3; row 1 is 0.25 each
      const probs = [
        [0.15, 0.5, 0.05, 0.3],
        [0.25, 0.25, 0.25, 0.25],
      ];
      const logits = t(probs, { dtype: 'float64' }).log();
      const kept = (p: number) =>
        F.topPFilter(logits, p)
          .toArray()
          .map((v): number => (v === -Infinity ? 0 : 1));
      // sorted mass before each token: 0 (0.5), 0.5 (0.3), 0.8 (0.15), 0.95 (0.05)
      assert.deepEqual(kept(0.7).slice(0, 4), [0, 1, 0, 1]);
      assert.deepEqual(kept(0.5).slice(0, 4), [0, 1, 0, 0]);
      assert.deepEqual(kept(0.81).slice(0, 4), [1, 1, 0, 1]);
      assert.deepEqual(kept(0.01).slice(0, 4), [0, 1, 0, 0]);
      assert.deepEqual(kept(0.96).slice(0, 4), [1, 1, 1, 1]);
      // uniform row: p = 0.6 needs three tokens
      assert.equal(
        kept(0.6)
          .slice(4)
          .reduce((a, b) => a + b, 0),
        3,
      );
      // kept logits are unchanged
      const f = F.topPFilter(logits, 0.7).toArray();
      assertClose([f[1]!, f[3]!], [Math.log(0.5), Math.log(0.3)], { rtol: 1e-12 });
      assertClose(F.topPFilter(logits, 1), logits.toArray());
    }));

  test('sampling helpers do not leak tensors', () => {
    const logits = t([[1, 5, 3, 4, 2]]).keep();
    const before = torch.liveTensors();
    for (const out of [
      F.topKFilter(logits, 2),
      F.topPFilter(logits, 0.5),
      F.logProbsOf(logits, long([1]).keep()),
    ]) {
      out.dispose();
    }
    // the kept target tensor above is the one tensor allowed to remain
    assert.equal(torch.liveTensors(), before + 1);
    const mse = F.mseLoss(logits, logits);
    assert.equal(mse.item(), 0);
    mse.dispose();
    assert.equal(torch.liveTensors(), before + 1);
    logits.dispose();
  });
});

describe('creation', () => {
  test('zeros, ones, full, empty, *Like, arange, scalarTensor', () =>
    torch.tidy(() => {
      assertShape(torch.zeros([2, 3]), [2, 3], 'float32');
      assert.deepEqual(torch.zeros([2]).toArray(), [0, 0]);
      assertShape(torch.ones([2], { dtype: 'int64' }), [2], 'int64');
      assert.deepEqual(torch.full([3], 7, { dtype: 'int32' }).toArray(), [7, 7, 7]);
      assert.equal(torch.full([3], 7, { dtype: 'int32' }).dtype, 'int32');
      assert.deepEqual(torch.full([2], true, { dtype: 'bool' }).toArray(), [1, 1]);
      assertClose(torch.full([2], 0.25), [0.25, 0.25]);
      assertShape(torch.empty([4, 0]), [4, 0]);
      const ref = t([[1, 2]], { dtype: 'float64' });
      assertShape(torch.zerosLike(ref), [1, 2], 'float64');
      assert.deepEqual(torch.onesLike(ref).toArray(), [1, 1]);
      assert.deepEqual(torch.fullLike(ref, 3).toArray(), [3, 3]);
      assertShape(torch.arange(5), [5], 'int64');
      assert.deepEqual(torch.arange(5).toArray(), [0, 1, 2, 3, 4]);
      assert.deepEqual(torch.arange(2, 11, 3).toArray(), [2, 5, 8]);
      assertClose(torch.arange(0, 1, 0.25, { dtype: 'float32' }), [0, 0.25, 0.5, 0.75]);
      const s = torch.scalarTensor(2.5);
      assertShape(s, []);
      assert.equal(s.item(), 2.5);
      assert.equal(s.numel, 1);
    }));
});
