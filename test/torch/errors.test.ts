/**
 * Misuse must surface as a JS Error carrying libtorch's message (no crash, no C++ backtrace), and a failed
 * call must not leak native tensors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { F, type Tensor } from '../../src/torch/index.js';

/**
 * Runs fn, which must throw an Error matching `re`; checks that the failed call left no tensor behind (fn runs
 * in a tidy, which releases the intermediates fn itself made, so a leak here is a handle nobody tracks).
 */
function throwsClean(fn: () => unknown, re: RegExp): void {
  const before = torch.liveTensors();
  assert.throws(
    () => torch.tidy(fn),
    (e: unknown) => {
      assert.ok(e instanceof Error, `expected an Error, got ${String(e)}`);
      assert.match(e.message, re);
      // libtorch's C++ backtrace is stripped
      assert.doesNotMatch(e.message, /Exception raised from/);
      return true;
    },
  );
  assert.equal(torch.liveTensors(), before, 'a failed call leaked a tensor');
}

const long = (data: number[], shape?: number[]) => torch.tensor(data, { dtype: 'int64', shape });

test('shape mismatches carry libtorch messages', () =>
  torch.tidy(() => {
    const x = torch.ones([2, 2]);
    const v3 = torch.ones([3]);
    const m33 = torch.ones([3, 3]);
    throwsClean(() => x.add(v3), /size of tensor a \(2\) must match the size of tensor b \(3\)/);
    throwsClean(() => x.matmul(m33), /cannot be multiplied \(2x2 and 3x3\)/);
    throwsClean(() => x.bmm(x), /batch1 must be a 3D tensor/);
    throwsClean(() => x.reshape([3]), /shape '\[3\]' is invalid for input of size 4/);
    throwsClean(() => x.t().view([4]), /view size is not compatible/);
    throwsClean(
      () => x.expand([3, 3]),
      /expanded size of the tensor \(3\) must match the existing size \(2\)/,
    );
    throwsClean(() => F.cat([x, m33], 0), /Sizes of tensors must match except in dimension 0/);
    throwsClean(() => F.stack([x, m33]), /stack expects each tensor to be equal size/);
    throwsClean(() => x.split([1, 2]), /split_sizes to sum exactly to 2/);
    throwsClean(() => x.permute([0]), /number of dimensions in the tensor input does not match/);
    throwsClean(() => x.sum(5), /Dimension out of range \(expected to be in range of \[-2, 1\], but got 5\)/);
    throwsClean(() => F.linear(x, m33), /cannot be multiplied/);
    throwsClean(() => F.layerNorm(x, [3]), /normalized_shape=\[3\]/);
    throwsClean(
      () => F.conv2d(torch.ones([1, 2, 3, 3]), torch.ones([1, 3, 2, 2])),
      /expected input\[1, 2, 3, 3\] to have 3 channels, but got 2 channels/,
    );
    throwsClean(() => F.where(torch.ones([3], { dtype: 'bool' }), x, x), /must match the size/);
    throwsClean(() => x.item(), /a Tensor with 4 elements cannot be converted to Scalar/);
    throwsClean(() => torch.tensor([[1, 2], [3]]), /fromBuffer: 12 bytes given, shape needs 16/);
  }));

test('index, dtype and value errors', () =>
  torch.tidy(() => {
    const x = torch.ones([2, 2]);
    const w = torch.ones([3, 2]);
    const idx5 = long([5]);
    const floatIdx = torch.tensor([0]);
    throwsClean(() => F.embedding(idx5, w), /index out of range in self/);
    throwsClean(() => x.gather(1, long([5], [1, 1])), /index 5 is out of bounds for dimension 1 with size 2/);
    throwsClean(() => x.indexSelect(0, floatIdx), /Expected dtype int32 or int64 for index/);
    throwsClean(() => F.crossEntropy(x, long([7, 0])), /Target 7 is out of bounds/);
    throwsClean(() => F.crossEntropy(x, torch.tensor([1, 0])), /expected scalar type Long but found Float/);
    throwsClean(() => x.matmul(x.double()), /expected scalar type Float but found Double/);
    throwsClean(() => F.oneHot(idx5, 3), /Class values must be smaller than num_classes/);
    throwsClean(() => torch.multinomial(torch.tensor([-1, 2]), 1), /element < 0/);
    throwsClean(
      () => torch.multinomial(torch.tensor([1, 2]), 3),
      /cannot sample n_sample > prob_dist.size\(-1\)/,
    );
    throwsClean(() => torch.randint(5, 2, [3]), /expects 'from' to be less than 'to'/);
    throwsClean(() => x.gelu('erf' as 'none'), /approximate argument must be either none or tanh/);
    throwsClean(() => x.clamp(null, null), /At least one of 'min' or 'max' must not be None/);
    throwsClean(() => F.cat([]), /expected a non-empty list of Tensors/);
    throwsClean(() => x.to('tpu'), /Expected one of cpu, cuda/);
    throwsClean(() => torch.zeros([2], { dtype: 'float8' as torch.DType }), /unknown dtype float8/);
    throwsClean(() => new torch.Generator(1).setState(new Uint8Array(3)), /RNG state size to be 3/);
  }));

test('autograd misuse', () =>
  torch.tidy(() => {
    const x = torch.ones([2, 2]);
    const p = torch.ones([2]).requiresGrad_();
    const y = p.mul(2);
    throwsClean(() => y.backward(), /grad can be implicitly created only for scalar outputs/);
    throwsClean(() => x.sum().backward(), /does not require grad and does not have a grad_fn/);
    throwsClean(
      () => p.fill_(0),
      /a leaf Variable that requires grad is being used in an in-place operation/,
    );
    throwsClean(
      () => torch.arange(3).requiresGrad_(),
      /Only Tensors of floating point and complex dtype can require gradients/,
    );
    // exp saves its result for backward; the first backward frees it
    const loss = p.exp().sum();
    loss.backward();
    throwsClean(() => loss.backward(), /Trying to backward through the graph a second time/);
  }));

test('using a disposed tensor is an Error, and dispose() is idempotent', () => {
  const x = torch.tensor([1, 2, 3]);
  const y = torch.tensor([1, 1, 1]);
  x.dispose();
  assert.equal(x.isDisposed, true);
  throwsClean(() => x.add(1), /tensor used after dispose\(\)/);
  throwsClean(() => y.add(x), /tensor used after dispose\(\)/);
  throwsClean(() => x.toArray(), /tensor used after dispose\(\)/);
  throwsClean(() => F.cat([y, x]), /tensor used after dispose\(\)/);
  const before = torch.liveTensors();
  x.dispose();
  x.dispose();
  assert.equal(torch.liveTensors(), before);
  // a view outlives the disposed handle it came from: disposing a handle drops one reference, not the storage
  const z = torch.tensor([4, 5, 6]);
  const v = z.slice(0, 1);
  z.dispose();
  assert.deepEqual(v.toArray(), [5, 6]);
  v.dispose();
  y.dispose();
});

test('wrong argument types are Errors, not crashes', () =>
  torch.tidy(() => {
    const x = torch.ones([2, 2]);
    throwsClean(() => x.add('a' as unknown as number), /expected a number/);
    throwsClean(() => x.add(null as unknown as number), /expected a number/);
    throwsClean(() => x.reshape(3 as unknown as number[]), /expected an array of integers/);
    throwsClean(() => x.reshape(['a', 2] as unknown as number[]), /expected an integer/);
    throwsClean(() => x.sum(0.5), /expected an integer, got 0\.5/);
    throwsClean(() => x.reshape([4.5]), /expected an integer/);
    throwsClean(() => x.transpose(0, NaN), /expected an integer/);
    throwsClean(() => F.linear(x, {} as Tensor), /expected a tensor handle/);
    throwsClean(() => F.cat(x as unknown as Tensor[]), /map is not a function|expected an array/);
    throwsClean(() => new torch.Generator('seed' as unknown as number), /expected an integer/);
    throwsClean(() => torch.tidy(async () => 1), /tidy\(\) takes a synchronous function/);
    throwsClean(() => torch.noGrad(async () => 1), /synchronous function/);
  }));

test('a failed Generator.setState outside any tidy releases its staging tensor', () => {
  const gen = new torch.Generator(1);
  const before = torch.liveTensors();
  assert.throws(() => gen.setState(new Uint8Array(3)), /RNG state size to be 3/);
  assert.throws(() => torch.setRngState(new Uint8Array(5)), /RNG state size to be 5/);
  assert.equal(torch.liveTensors(), before);
});

test('the process keeps working after errors', () =>
  torch.tidy(() => {
    for (let i = 0; i < 50; i++) {
      assert.throws(() => torch.ones([2]).matmul(torch.ones([3])));
    }
    assert.equal(torch.tensor([1, 2]).add(1).sum().item(), 5);
  }));
