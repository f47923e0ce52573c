/** Data in and out of tensors: tensor() from JS data, typed arrays, dtype conversions and round trips. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { assertClose, assertShape } from '../helpers/gradcheck.js';

test('tensor() from nested arrays infers shape and float32', () =>
  torch.tidy(() => {
    const x = torch.tensor([
      [
        [1, 2],
        [3, 4],
      ],
      [
        [5, 6],
        [7, 8.5],
      ],
    ]);
    assertShape(x, [2, 2, 2], 'float32');
    assert.deepEqual(x.toArray(), [1, 2, 3, 4, 5, 6, 7, 8.5]);
    assert.ok(x.data() instanceof Float32Array);
    assertShape(torch.tensor(3), [], 'float32');
    assert.equal(torch.tensor(3).item(), 3);
    assertShape(torch.tensor([]), [0]);
    // a flat array with an explicit shape
    assertShape(torch.tensor([1, 2, 3, 4, 5, 6], { shape: [3, 2] }), [3, 2]);
    // float32 rounding is visible on the way out
    assert.equal(torch.tensor([0.1]).toArray()[0], Math.fround(0.1));
    assert.equal(torch.tensor([0.1], { dtype: 'float64' }).toArray()[0], 0.1);
  }));

test('tensor() with integer dtypes, BigInt64Array and large int64 values', () =>
  torch.tidy(() => {
    const i = torch.tensor([[1, -2, 3]], { dtype: 'int64' });
    assertShape(i, [1, 3], 'int64');
    const raw = i.data();
    assert.ok(raw instanceof BigInt64Array);
    assert.deepEqual(Array.from(raw as BigInt64Array), [1n, -2n, 3n]);
    assert.deepEqual(i.toArray(), [1, -2, 3]);
    // non-integers are truncated toward zero
    assert.deepEqual(torch.tensor([1.9, -1.9], { dtype: 'int64' }).toArray(), [1, -1]);
    const big = new BigInt64Array([2n ** 40n + 1n, -(2n ** 62n), 0n]);
    const b = torch.tensor(big);
    assertShape(b, [3], 'int64');
    assert.deepEqual(Array.from(b.data() as BigInt64Array), Array.from(big));
    assert.equal(torch.tensor(new BigInt64Array([5n, 6n]), { shape: [2, 1] }).shape[0], 2);
    assert.deepEqual(torch.tensor(new BigInt64Array([5n, 6n]), { dtype: 'float32' }).toArray(), [5, 6]);
    const i32 = torch.tensor(new Int32Array([7, -8]));
    assertShape(i32, [2], 'int32');
    assert.deepEqual(Array.from(i32.data() as Int32Array), [7, -8]);
    const u8 = torch.tensor(new Uint8Array([0, 255, 3]));
    assertShape(u8, [3], 'uint8');
    assert.deepEqual(u8.toArray(), [0, 255, 3]);
    const f64 = torch.tensor(new Float64Array([Math.PI]));
    assert.equal(f64.dtype, 'float64');
    assert.equal(f64.item(), Math.PI);
    assert.equal(torch.tensor(new Float32Array([1.5, 2])).dtype, 'float32');
    assert.deepEqual(torch.tensor([1, 2], { dtype: 'int32' }).toArray(), [1, 2]);
  }));

test('booleans: tensor(), data(), item(), conversions', () =>
  torch.tidy(() => {
    const b = torch.tensor([
      [true, false],
      [false, true],
    ]);
    assertShape(b, [2, 2], 'bool');
    assert.deepEqual(b.toArray(), [1, 0, 0, 1]);
    const raw = b.data();
    assert.ok(raw instanceof Uint8Array);
    assert.deepEqual(Array.from(raw), [1, 0, 0, 1]);
    assert.equal(torch.tensor([true]).item(), 1);
    assert.equal(torch.tensor([false]).item(), 0);
    assert.deepEqual(b.to('float32').toArray(), [1, 0, 0, 1]);
    assert.deepEqual(torch.tensor([0, 2, -1]).bool().toArray(), [0, 1, 1]);
    assert.deepEqual(torch.tensor([1, 0], { dtype: 'bool' }).toArray(), [1, 0]);
    assert.deepEqual(b.long().toArray(), [1, 0, 0, 1]);
  }));

test('float16 and bfloat16 conversions round as IEEE half / bfloat16', () =>
  torch.tidy(() => {
    const x = torch.tensor([1, 0.5, -2, 65504, 1 / 3, 70000, 1e-8]);
    const h = x.to('float16');
    assertShape(h, [7], 'float16');
    // 1/3 -> 0x3555 = 0.333251953125; 70000 overflows; 1e-8 underflows to 0
    assert.deepEqual(h.toArray(), [1, 0.5, -2, 65504, 0.333251953125, Infinity, 0]);
    const hbits = h.data();
    assert.ok(hbits instanceof Uint16Array);
    assert.deepEqual(Array.from(hbits).slice(0, 3), [0x3c00, 0x3800, 0xc000]);
    const bf = x.to('bfloat16');
    assertShape(bf, [7], 'bfloat16');
    // bfloat16 keeps float32's range: 70000 -> 70144 (0x4789), 1/3 -> 0x3eab = 0.333984375
    const bv = bf.toArray();
    assert.deepEqual(bv.slice(0, 3), [1, 0.5, -2]);
    assert.equal(bv[3], 65536);
    assert.equal(bv[4], 0.333984375);
    assert.equal(bv[5], 70144);
    assertClose([bv[6]!], [1e-8], { rtol: 1e-2, atol: 0 });
    assert.deepEqual(Array.from(bf.data() as Uint16Array).slice(0, 3), [0x3f80, 0x3f00, 0xc000]);
    // round trip back to float32 and float64
    assert.deepEqual(Array.from(h.toFloat32Array()).slice(0, 4), [1, 0.5, -2, 65504]);
    assert.equal(bf.to('float64').dtype, 'float64');
    assert.equal(bf.to('float64').toArray()[4], 0.333984375);
    // arithmetic in half precision stays in that dtype
    assert.equal(h.add(h).dtype, 'float16');
    assert.equal(bf.mul(2).toArray()[0], 2);
    // tensor() refuses half dtypes from JS numbers (it would have to round them itself)
    assert.throws(() => torch.tensor([1], { dtype: 'float16' }), /float32 data with \.to\('float16'\)/);
  }));

test('dtype conversions: float <-> int, double/long/float/bool helpers, fromBytes', () =>
  torch.tidy(() => {
    const x = torch.tensor([-1.5, 0.5, 2.75]);
    assertShape(x.double(), [3], 'float64');
    assert.deepEqual(x.double().toArray(), [-1.5, 0.5, 2.75]);
    assert.deepEqual(x.long().toArray(), [-1, 0, 2]);
    assert.equal(x.to('int32').dtype, 'int32');
    assert.deepEqual(x.abs().to('uint8').toArray(), [1, 0, 2]);
    assert.equal(torch.arange(3).float().dtype, 'float32');
    assert.equal(x.to('float32').dtype, 'float32');
    const copy = x.to('float32', { copy: true });
    copy.fill_(0);
    assert.deepEqual(x.toArray(), [-1.5, 0.5, 2.75], 'a copying to() does not share storage');
    assert.equal(x.device, 'cpu');
    assert.match(x.toString(), /shape=\[3\], dtype=float32, device=cpu/);
    const bytes = new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer);
    const fb = torch.fromBytes(bytes, [2, 2], 'float32');
    assertShape(fb, [2, 2], 'float32');
    assert.deepEqual(fb.toArray(), [1, 2, 3, 4]);
    assert.deepEqual(Array.from(new Uint8Array(fb.data().buffer)), Array.from(bytes));
    // a byte view with an offset into a larger buffer
    const big = new Uint8Array(12);
    big.set(new Uint8Array(new Int32Array([9, -9]).buffer), 4);
    assert.deepEqual(torch.fromBytes(big.subarray(4), [2], 'int32').toArray(), [9, -9]);
  }));

test('toArray and item on non-contiguous views', () =>
  torch.tidy(() => {
    const x = torch.tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    assert.deepEqual(x.t().toArray(), [1, 4, 2, 5, 3, 6]);
    assert.deepEqual(x.slice(1, 0, 3, 2).toArray(), [1, 3, 4, 6]);
    assert.equal(x.select(0, 1).select(0, 2).item(), 6);
    assert.deepEqual(x.expand([2, 2, 3]).toArray(), [1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6]);
  }));
