/**
 * Finite-difference gradient checks (float64) for every differentiable op of the engine: backward() must
 * match central differences of f = sum(op(x) * W) with fixed random weights W.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { F, type Tensor } from '../../src/torch/index.js';
import {
  awayFromZero64,
  gradcheck,
  randn64,
  uniform64,
  type GradcheckOptions,
} from '../helpers/gradcheck.js';

type Gen = torch.Generator;
type Case = [
  name: string,
  fn: (...xs: Tensor[]) => Tensor | Tensor[],
  inputs: (g: Gen) => Tensor[],
  opts?: GradcheckOptions,
];

const ids = (data: number[], shape?: number[]): Tensor => torch.tensor(data, { dtype: 'int64', shape });
const pos = (shape: number[], g: Gen) => uniform64(shape, g, 0.5, 2);

const cases: Case[] = [
  // ---- elementwise arithmetic -------------------------------------------------------------------------
  ['add (tensor, broadcast)', (a, b) => a.add(b), (g) => [randn64([3, 4], g), randn64([4], g)]],
  ['add (scalar)', (a) => a.add(2.5), (g) => [randn64([3, 4], g)]],
  [
    'sub (tensor, broadcast both ways)',
    (a, b) => a.sub(b),
    (g) => [randn64([2, 1, 3], g), randn64([4, 1], g)],
  ],
  ['sub (scalar)', (a) => a.sub(-1.25), (g) => [randn64([5], g)]],
  ['rsub', (a) => a.rsub(3), (g) => [randn64([2, 3], g)]],
  ['mul (tensor, broadcast)', (a, b) => a.mul(b), (g) => [randn64([3, 4], g), randn64([3, 1], g)]],
  ['mul (scalar)', (a) => a.mul(-0.75), (g) => [randn64([3, 4], g)]],
  ['div (tensor)', (a, b) => a.div(b), (g) => [randn64([3, 4], g), pos([3, 4], g)]],
  ['div (scalar)', (a) => a.div(3), (g) => [randn64([3, 4], g)]],
  ['pow (tensor exponent)', (a, b) => a.pow(b), (g) => [pos([3, 4], g), randn64([3, 4], g)]],
  ['pow (scalar exponent 3)', (a) => a.pow(3), (g) => [randn64([3, 4], g)]],
  ['pow (scalar exponent 2.5)', (a) => a.pow(2.5), (g) => [pos([3, 4], g)]],
  ['pow (scalar exponent -0.5)', (a) => a.pow(-0.5), (g) => [pos([3, 4], g)]],
  ['neg', (a) => a.neg(), (g) => [randn64([3, 4], g)]],
  ['abs (away from 0)', (a) => a.abs(), (g) => [awayFromZero64([3, 4], g)]],
  ['reciprocal', (a) => a.reciprocal(), (g) => [pos([3, 4], g)]],
  [
    'maximum (distinct values, broadcast)',
    (a, b) => a.maximum(b),
    (g) => [randn64([3, 4], g), randn64([4], g)],
  ],
  ['minimum (distinct values)', (a, b) => a.minimum(b), (g) => [randn64([3, 4], g), randn64([3, 4], g)]],
  ['maximum (scalar)', (a) => a.maximum(0.2), (g) => [randn64([3, 4], g)]],
  ['minimum (scalar)', (a) => a.minimum(-0.2), (g) => [randn64([3, 4], g)]],
  ['clamp (min and max)', (a) => a.clamp(-0.5, 0.5), (g) => [randn64([4, 5], g)]],
  ['clamp (min only)', (a) => a.clamp(0.1), (g) => [randn64([4, 5], g)]],
  ['clamp (max only)', (a) => a.clamp(null, -0.1), (g) => [randn64([4, 5], g)]],

  // ---- elementwise functions --------------------------------------------------------------------------
  ['exp', (a) => a.exp(), (g) => [randn64([3, 4], g)]],
  ['log', (a) => a.log(), (g) => [pos([3, 4], g)]],
  ['log1p', (a) => a.log1p(), (g) => [pos([3, 4], g)]],
  ['sqrt', (a) => a.sqrt(), (g) => [pos([3, 4], g)]],
  ['rsqrt', (a) => a.rsqrt(), (g) => [pos([3, 4], g)]],
  ['sin', (a) => a.sin(), (g) => [randn64([3, 4], g)]],
  ['cos', (a) => a.cos(), (g) => [randn64([3, 4], g)]],
  ['tanh', (a) => a.tanh(), (g) => [randn64([3, 4], g)]],
  ['sigmoid', (a) => a.sigmoid(), (g) => [randn64([3, 4], g)]],
  ['silu', (a) => a.silu(), (g) => [randn64([3, 4], g)]],
  ['gelu (exact)', (a) => a.gelu(), (g) => [randn64([3, 4], g)]],
  ['gelu (tanh)', (a) => a.gelu('tanh'), (g) => [randn64([3, 4], g)]],
  ['relu (away from 0)', (a) => a.relu(), (g) => [awayFromZero64([3, 4], g)]],

  // ---- reductions -------------------------------------------------------------------------------------
  ['sum (all)', (a) => a.sum(), (g) => [randn64([3, 4], g)]],
  ['sum (dim)', (a) => a.sum(1), (g) => [randn64([3, 4], g)]],
  ['sum (dims, keepdim, negative)', (a) => a.sum([0, -1], true), (g) => [randn64([2, 3, 4], g)]],
  ['mean (all)', (a) => a.mean(), (g) => [randn64([3, 4], g)]],
  ['mean (dim, keepdim)', (a) => a.mean(-1, true), (g) => [randn64([3, 4], g)]],
  ['var (all, unbiased)', (a) => a.var(), (g) => [randn64([3, 4], g)]],
  ['var (dim, unbiased)', (a) => a.var(1), (g) => [randn64([3, 4], g)]],
  [
    'var (dim, biased, keepdim)',
    (a) => a.var(0, { unbiased: false, keepdim: true }),
    (g) => [randn64([3, 4], g)],
  ],
  ['std (dim, unbiased)', (a) => a.std(-1), (g) => [randn64([3, 4], g)]],
  ['std (dims, biased)', (a) => a.std([0, 2], { unbiased: false }), (g) => [randn64([2, 3, 4], g)]],
  ['amax (dim)', (a) => a.amax(1), (g) => [randn64([3, 4], g)]],
  ['amax (all, keepdim)', (a) => a.amax(undefined, true), (g) => [randn64([3, 4], g)]],
  ['amin (dim)', (a) => a.amin(0), (g) => [randn64([3, 4], g)]],
  ['logsumexp (dim)', (a) => a.logsumexp(-1), (g) => [randn64([3, 4], g)]],
  ['logsumexp (dims, keepdim)', (a) => a.logsumexp([0, 1], true), (g) => [randn64([3, 4], g)]],
  ['max(dim) values', (a) => a.max(1).values, (g) => [randn64([3, 4], g)]],
  ['max(dim, keepdim) values', (a) => a.max(0, true).values, (g) => [randn64([3, 4], g)]],
  ['min(dim) values', (a) => a.min(-1).values, (g) => [randn64([3, 4], g)]],
  ['cumsum (dim 0)', (a) => a.cumsum(0), (g) => [randn64([3, 4], g)]],
  ['cumsum (dim -1)', (a) => a.cumsum(-1), (g) => [randn64([3, 4], g)]],
  ['norm (p=2)', (a) => a.norm(), (g) => [randn64([3, 4], g)]],

  // ---- matrix products and layers ---------------------------------------------------------------------
  ['matmul (2-D)', (a, b) => a.matmul(b), (g) => [randn64([3, 4], g), randn64([4, 2], g)]],
  ['matmul (batched, broadcast)', (a, b) => a.matmul(b), (g) => [randn64([2, 3, 4], g), randn64([4, 2], g)]],
  ['matmul (matrix @ vector)', (a, b) => a.matmul(b), (g) => [randn64([3, 4], g), randn64([4], g)]],
  ['bmm', (a, b) => a.bmm(b), (g) => [randn64([2, 3, 4], g), randn64([2, 4, 2], g)]],
  [
    'linear (with bias)',
    (x, w, b) => F.linear(x, w, b),
    (g) => [randn64([2, 3, 4], g), randn64([5, 4], g), randn64([5], g)],
  ],
  ['linear (no bias)', (x, w) => F.linear(x, w), (g) => [randn64([3, 4], g), randn64([2, 4], g)]],
  [
    'conv2d (stride 2, padding 1)',
    (x, w, b) => F.conv2d(x, w, b, { stride: 2, padding: 1 }),
    (g) => [randn64([1, 2, 5, 5], g), randn64([3, 2, 3, 3], g), randn64([3], g)],
  ],
  [
    'conv2d (stride 1, no padding, no bias, batch 2)',
    (x, w) => F.conv2d(x, w),
    (g) => [randn64([2, 1, 4, 4], g), randn64([2, 1, 2, 2], g)],
  ],
  ['upsampleNearest2d (x2)', (x) => F.upsampleNearest2d(x, [4, 6]), (g) => [randn64([1, 2, 2, 3], g)]],
  [
    'upsampleNearest2d (non-integer scale)',
    (x) => F.upsampleNearest2d(x, [3, 5]),
    (g) => [randn64([1, 2, 2, 3], g)],
  ],
  ['avgPool2d (kernel 2)', (x) => F.avgPool2d(x, 2), (g) => [randn64([1, 2, 4, 4], g)]],
  ['avgPool2d (kernel 3, stride 1)', (x) => F.avgPool2d(x, 3, 1), (g) => [randn64([1, 1, 4, 5], g)]],
  [
    'groupNorm (affine)',
    (x, w, b) => F.groupNorm(x, 2, w, b),
    (g) => [randn64([2, 4, 2, 2], g), randn64([4], g), randn64([4], g)],
  ],
  ['groupNorm (no affine)', (x) => F.groupNorm(x, 3, null, null, 1e-6), (g) => [randn64([1, 6, 3], g)]],
  [
    'layerNorm (affine)',
    (x, w, b) => F.layerNorm(x, [5], w, b),
    (g) => [randn64([3, 5], g), randn64([5], g), randn64([5], g)],
  ],
  [
    'layerNorm (no affine, 2-D normalized shape)',
    (x) => F.layerNorm(x, [2, 3]),
    (g) => [randn64([2, 2, 3], g)],
  ],
  ['rmsNorm (weight)', (x, w) => F.rmsNorm(x, w), (g) => [randn64([3, 5], g), randn64([5], g)]],
  ['rmsNorm (no weight)', (x) => F.rmsNorm(x, null, 1e-5), (g) => [randn64([2, 2, 4], g)]],
  ['softmax (dim -1)', (x) => x.softmax(-1), (g) => [randn64([3, 4], g)]],
  ['softmax (dim 0)', (x) => F.softmax(x, 0), (g) => [randn64([3, 4], g)]],
  ['logSoftmax (dim -1)', (x) => x.logSoftmax(-1), (g) => [randn64([3, 4], g)]],
  ['logSoftmax (dim 1 of 3)', (x) => F.logSoftmax(x, 1), (g) => [randn64([2, 3, 2], g)]],
  [
    'embedding (grad w.r.t. weight, repeated ids)',
    (i, w) => F.embedding(i, w),
    (g) => [ids([0, 2, 4, 2, 2, 1], [2, 3]), randn64([5, 4], g)],
  ],
  ['mseLoss', (a, b) => F.mseLoss(a, b), (g) => [randn64([3, 4], g), randn64([3, 4], g)]],
  [
    'attention block (softmax(QK^T / sqrt d) V)',
    (q, k, v) => q.matmul(k.transpose(-2, -1)).div(2).softmax(-1).matmul(v),
    (g) => [randn64([2, 3, 4], g), randn64([2, 3, 4], g), randn64([2, 3, 4], g)],
  ],

  // ---- losses -----------------------------------------------------------------------------------------
  ['crossEntropy (mean)', (x, t) => F.crossEntropy(x, t), (g) => [randn64([4, 5], g), ids([0, 3, 4, 1])]],
  [
    'crossEntropy (ignoreIndex)',
    (x, t) => F.crossEntropy(x, t, { ignoreIndex: -1 }),
    (g) => [randn64([4, 5], g), ids([2, -1, 4, -1])],
  ],
  [
    'crossEntropy (label smoothing + ignoreIndex)',
    (x, t) => F.crossEntropy(x, t, { ignoreIndex: 0, labelSmoothing: 0.1 }),
    (g) => [randn64([4, 5], g), ids([2, 0, 4, 1])],
  ],
  [
    'crossEntropy (sum, label smoothing)',
    (x, t) => F.crossEntropy(x, t, { reduction: 'sum', labelSmoothing: 0.2 }),
    (g) => [randn64([3, 4], g), ids([3, 0, 1])],
  ],
  [
    'crossEntropy (none)',
    (x, t) => F.crossEntropy(x, t, { reduction: 'none', ignoreIndex: 1 }),
    (g) => [randn64([3, 4], g), ids([3, 1, 2])],
  ],
  [
    'logProbsOf',
    (x, t) => F.logProbsOf(x, t),
    (g) => [randn64([2, 3, 5], g), ids([0, 4, 2, 2, 1, 3], [2, 3])],
  ],

  // ---- indexing and joins -----------------------------------------------------------------------------
  [
    'gather (dim 1, repeated indices)',
    (x, i) => x.gather(1, i),
    (g) => [randn64([3, 4], g), ids([0, 0, 3, 1, 2, 2], [3, 2])],
  ],
  [
    'gather (dim -1 of 3-D)',
    (x, i) => x.gather(-1, i),
    (g) => [randn64([2, 2, 3], g), ids([2, 0, 1, 1], [2, 2, 1])],
  ],
  ['indexSelect (dim 0)', (x, i) => x.indexSelect(0, i), (g) => [randn64([4, 3], g), ids([3, 0, 3])]],
  ['indexSelect (dim 1)', (x, i) => x.indexSelect(1, i), (g) => [randn64([2, 4], g), ids([1, 2])]],
  [
    'scatter (unique indices; self and src)',
    (x, i, s) => x.scatter(1, i, s),
    (g) => [randn64([2, 4], g), ids([3, 0, 1, 2], [2, 2]), randn64([2, 2], g)],
  ],
  [
    'maskedFill (broadcast mask)',
    (x, m) => x.maskedFill(m, -2),
    (g) => [randn64([3, 4], g), torch.tensor([true, false, false, true])],
  ],
  [
    'where (broadcast)',
    (c, a, b) => F.where(c, a, b),
    (g) => [torch.tensor([[true, false, true, false]]), randn64([3, 4], g), randn64([3, 1], g)],
  ],
  ['cat (dim 0)', (a, b) => F.cat([a, b], 0), (g) => [randn64([2, 3], g), randn64([1, 3], g)]],
  ['cat (dim -1)', (a, b) => torch.cat([a, b], -1), (g) => [randn64([2, 3], g), randn64([2, 2], g)]],
  ['stack (dim 1)', (a, b) => F.stack([a, b], 1), (g) => [randn64([2, 3], g), randn64([2, 3], g)]],
  [
    'stack (dim -1)',
    (a, b, c) => torch.stack([a, b, c], -1),
    (g) => [randn64([4], g), randn64([4], g), randn64([4], g)],
  ],
  ['split (sizes)', (x) => x.split([2, 3], 0), (g) => [randn64([5, 3], g)]],
  ['split (chunk size, dim 1)', (x) => x.split(2, 1), (g) => [randn64([2, 5], g)]],
  ['chunk', (x) => x.chunk(3, -1), (g) => [randn64([2, 6], g)]],

  // ---- views and copies -------------------------------------------------------------------------------
  ['reshape', (x) => x.reshape([4, 3]).mul(x.reshape([4, 3])), (g) => [randn64([2, 6], g)]],
  ['reshape (-1)', (x) => x.reshape([-1]), (g) => [randn64([2, 3, 2], g)]],
  ['view', (x) => x.view([3, 4]), (g) => [randn64([2, 6], g)]],
  ['permute', (x) => x.permute([2, 0, 1]), (g) => [randn64([2, 3, 4], g)]],
  ['transpose', (x) => x.transpose(0, -1), (g) => [randn64([2, 3, 4], g)]],
  ['t', (x) => x.t(), (g) => [randn64([3, 4], g)]],
  ['slice (step 2)', (x) => x.slice(1, 1, 6, 2), (g) => [randn64([3, 6], g)]],
  ['slice (negative start)', (x) => x.slice(0, -2), (g) => [randn64([4, 3], g)]],
  ['narrow', (x) => x.narrow(-1, 1, 2), (g) => [randn64([3, 4], g)]],
  ['select', (x) => x.select(1, 2), (g) => [randn64([3, 4], g)]],
  ['expand', (x) => x.expand([3, 2, 4]), (g) => [randn64([2, 1], g)]],
  ['unsqueeze', (x) => x.unsqueeze(-1).mul(x.unsqueeze(0)), (g) => [randn64([3], g)]],
  ['squeeze (dim)', (x) => x.squeeze(1), (g) => [randn64([3, 1, 4], g)]],
  ['squeeze (all)', (x) => x.squeeze(), (g) => [randn64([1, 3, 1, 2], g)]],
  ['flatten', (x) => x.flatten(1), (g) => [randn64([2, 3, 2], g)]],
  ['repeat', (x) => x.repeat([2, 3]), (g) => [randn64([2, 2], g)]],
  ['repeatInterleave', (x) => x.repeatInterleave(2, 1), (g) => [randn64([2, 3], g)]],
  ['flip', (x) => x.flip([0, 1]), (g) => [randn64([3, 4], g)]],
  ['triu', (x) => x.triu(), (g) => [randn64([4, 4], g)]],
  ['tril (diagonal -1)', (x) => x.tril(-1), (g) => [randn64([4, 4], g)]],
  ['contiguous of a transpose', (x) => x.t().contiguous(), (g) => [randn64([3, 4], g)]],
  ['clone', (x) => x.clone().mul(x), (g) => [randn64([3, 4], g)]],
  [
    'to(float32) and back (cast; eps sized for float32)',
    (x) => x.to('float32').to('float64'),
    (g) => [randn64([3], g)],
    { eps: 1e-2, rtol: 1e-4, atol: 1e-5 },
  ],
];

for (const [name, fn, make, opts] of cases) {
  test(`gradcheck: ${name}`, () => {
    torch.tidy(() => {
      const gen = new torch.Generator(7);
      const inputs = make(gen);
      const r = gradcheck(fn, inputs, opts);
      assert.ok(r.checked > 0);
    });
  });
}

test('gradcheck itself detects a wrong gradient', () => {
  torch.tidy(() => {
    const gen = new torch.Generator(3);
    const x = randn64([3, 4], gen);
    // detach() hides part of the function from autograd, so the analytic gradient is wrong
    assert.throws(() => gradcheck((a) => a.mul(a.detach()), [x]), /gradient mismatch/);
    // an op that does not depend on its input proves nothing
    assert.throws(() => gradcheck((a) => a.mul(0), [x]), /proves nothing/);
  });
});

test('gradcheck leaves no tensors behind', () => {
  const before = torch.liveTensors();
  torch.tidy(() => {
    const gen = new torch.Generator(5);
    gradcheck((a, b) => a.matmul(b).tanh(), [randn64([2, 3], gen), randn64([3, 2], gen)]);
  });
  assert.equal(torch.liveTensors(), before);
});
