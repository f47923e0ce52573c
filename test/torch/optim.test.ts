/** Optimisers against a JS reference of torch.optim.AdamW, gradient clipping, SGD and LR schedules. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { lr, optim, type Tensor } from '../../src/torch/index.js';
import { assertClose } from '../helpers/gradcheck.js';

interface RefOpts {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
}

/** torch.optim.AdamW's single-tensor update, in plain JS doubles. */
class RefAdamW {
  step = 0;
  readonly m: number[][];
  readonly v: number[][];
  constructor(
    readonly params: number[][],
    readonly o: RefOpts,
  ) {
    this.m = params.map((p) => p.map(() => 0));
    this.v = params.map((p) => p.map(() => 0));
  }
  update(grads: (number[] | null)[]): void {
    this.step += 1;
    const { lr: rate, betas, eps, weightDecay } = this.o;
    const [b1, b2] = betas;
    const bc1 = 1 - b1 ** this.step;
    const bc2 = 1 - b2 ** this.step;
    this.params.forEach((p, i) => {
      const g = grads[i];
      if (g === null || g === undefined) return;
      for (let j = 0; j < p.length; j++) {
        p[j] = p[j]! * (1 - rate * weightDecay);
        this.m[i]![j] = b1 * this.m[i]![j]! + (1 - b1) * g[j]!;
        this.v[i]![j] = b2 * this.v[i]![j]! + (1 - b2) * g[j]! * g[j]!;
        const denom = Math.sqrt(this.v[i]![j]!) / Math.sqrt(bc2) + eps;
        p[j] = p[j]! - (rate / bc1) * (this.m[i]![j]! / denom);
      }
    });
  }
}

/** A deterministic gradient for step s of parameter i (varied signs and magnitudes). */
const gradFor = (s: number, i: number, n: number): number[] =>
  Array.from({ length: n }, (_, j) => Math.sin(1.3 * s + 0.7 * i + 2.1 * j) * (1 + j) * (i === 0 ? 1 : 0.01));

/** Sets .grad (the JS handles are released by tidy; the parameter keeps the gradient). */
function setGrads(params: Tensor[], grads: (number[] | null)[]): void {
  torch.tidy(() =>
    params.forEach((p, i) => {
      const g = grads[i];
      p.grad = g === null || g === undefined ? null : torch.tensor(g, { dtype: p.dtype, shape: p.shape });
    }),
  );
}

function makeParams(dtype: 'float32' | 'float64'): { tensors: Tensor[]; values: number[][] } {
  const values = [
    [0.5, -1.25, 2, 0.125, -0.75, 3],
    [1, -2],
  ];
  const tensors = values.map((v) => torch.tensor(v, { dtype }).keep().requiresGrad_(true));
  return { tensors, values: values.map((v) => v.map((x) => (dtype === 'float32' ? Math.fround(x) : x))) };
}

describe('AdamW', () => {
  for (const weightDecay of [0, 0.1]) {
    test(`matches torch.optim.AdamW's formula over several steps (weight decay ${weightDecay}, float64)`, () => {
      const { tensors, values } = makeParams('float64');
      const o: RefOpts = { lr: 0.05, betas: [0.9, 0.98], eps: 1e-6, weightDecay };
      const opt = new optim.AdamW(tensors, o);
      const ref = new RefAdamW(values, { ...o });
      for (let s = 0; s < 6; s++) {
        // the learning rate may change between steps (schedules do this)
        opt.lr = ref.o.lr = 0.05 * (1 - s / 10);
        const grads = tensors.map((p, i) => gradFor(s, i, p.numel));
        setGrads(tensors, grads);
        opt.step();
        ref.update(grads);
        tensors.forEach((p, i) =>
          assertClose(p, ref.params[i]!, { rtol: 1e-12, atol: 1e-12, msg: `step ${s} p${i}` }),
        );
      }
      assert.equal(opt.stepCount, 6);
      tensors.forEach((_, i) => {
        assertClose(opt.expAvg[i]!, ref.m[i]!, { rtol: 1e-12, atol: 1e-15 });
        assertClose(opt.expAvgSq[i]!, ref.v[i]!, { rtol: 1e-12, atol: 1e-18 });
      });
      opt.zeroGrad();
      assert.ok(tensors.every((p) => p.grad === null));
      opt.dispose();
      torch.dispose(tensors);
    });
  }

  test('one step by hand (default betas and eps): the first step moves each weight by about lr', () => {
    const p = torch.tensor([1, -1], { dtype: 'float64' }).keep().requiresGrad_(true);
    setGrads([p], [[0.5, -2]]);
    const opt = new optim.AdamW([p], { lr: 0.1, weightDecay: 0.5 });
    opt.step();
    // decay: p *= 1 - 0.1 * 0.5 -> [0.95, -0.95]; m = 0.1 g, v = 0.001 g^2, so m/bc1 / (sqrt(v/bc2) + eps) = g/(|g| + 1e-8)
    const expected = [0.95 - 0.1 * (0.5 / (0.5 + 1e-8)), -0.95 + 0.1 * (2 / (2 + 1e-8))];
    assertClose(p, expected, { rtol: 1e-12 });
    opt.dispose();
    p.dispose();
  });

  test('float32 parameters agree with the double reference to 1e-6', () => {
    const { tensors, values } = makeParams('float32');
    const o: RefOpts = { lr: 1e-2, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 };
    const opt = new optim.AdamW(tensors, o);
    const ref = new RefAdamW(values, o);
    for (let s = 0; s < 5; s++) {
      const grads = tensors.map((p, i) => gradFor(s, i, p.numel).map(Math.fround));
      setGrads(tensors, grads);
      opt.step();
      ref.update(grads);
    }
    tensors.forEach((p, i) => assertClose(p, ref.params[i]!, { rtol: 1e-6, atol: 1e-6 }));
    opt.dispose();
    torch.dispose(tensors);
  });

  test('defaults follow torch.optim.AdamW; adam() has no weight decay', () => {
    const { tensors } = makeParams('float64');
    const opt = new optim.AdamW(tensors);
    assert.equal(opt.lr, 1e-3);
    assert.deepEqual(opt.betas, [0.9, 0.999]);
    assert.equal(opt.eps, 1e-8);
    assert.equal(opt.weightDecay, 0.01);
    const a = optim.adam(tensors, { lr: 0.5 });
    assert.equal(a.weightDecay, 0);
    assert.equal(a.lr, 0.5);
    opt.dispose();
    a.dispose();
    torch.dispose(tensors);
  });

  test('parameters without a gradient are skipped (value and state untouched)', () => {
    const { tensors, values } = makeParams('float64');
    const opt = new optim.AdamW(tensors, { lr: 0.1 });
    const ref = new RefAdamW(values, { lr: 0.1, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01 });
    const grads = [gradFor(0, 0, 6), null];
    setGrads(tensors, grads);
    opt.step();
    ref.update(grads);
    assertClose(tensors[0]!, ref.params[0]!, { rtol: 1e-12 });
    assert.deepEqual(tensors[1]!.toArray(), [1, -2]);
    assert.deepEqual(opt.expAvg[1]!.toArray(), [0, 0]);
    opt.dispose();
    torch.dispose(tensors);
  });

  test('stateDict/loadStateDict: a restored optimizer continues identically', () => {
    const a = makeParams('float64');
    const optA = new optim.AdamW(a.tensors, { lr: 0.03, weightDecay: 0.05 });
    for (let s = 0; s < 3; s++) {
      setGrads(
        a.tensors,
        a.tensors.map((p, i) => gradFor(s, i, p.numel)),
      );
      optA.step();
    }
    // snapshot: parameters and optimizer state, as a checkpoint would copy them
    const state = optA.stateDict();
    assert.equal(state.step, 3);
    assert.deepEqual([...state.tensors.keys()].sort(), [
      'exp_avg.0',
      'exp_avg.1',
      'exp_avg_sq.0',
      'exp_avg_sq.1',
    ]);
    const saved = new Map([...state.tensors].map(([k, t]) => [k, t.clone().keep()] as const));
    const b = makeParams('float64');
    const c = makeParams('float64');
    torch.noGrad(() => [...b.tensors, ...c.tensors].forEach((p, i) => p.copy_(a.tensors[i % 2]!)));
    const optB = new optim.AdamW(b.tensors, { lr: 0.03, weightDecay: 0.05 });
    optB.loadStateDict({ step: state.step, tensors: saved });
    assert.equal(optB.stepCount, 3);
    // control: same parameters, fresh optimizer state
    const optC = new optim.AdamW(c.tensors, { lr: 0.03, weightDecay: 0.05 });
    for (let s = 3; s < 6; s++) {
      for (const ps of [a.tensors, b.tensors, c.tensors]) {
        setGrads(
          ps,
          ps.map((p, i) => gradFor(s, i, p.numel)),
        );
      }
      optA.step();
      optB.step();
      optC.step();
    }
    a.tensors.forEach((p, i) => assert.deepEqual(b.tensors[i]!.toArray(), p.toArray()));
    assert.notDeepEqual(
      c.tensors[0]!.toArray(),
      a.tensors[0]!.toArray(),
      'without the state the run diverges',
    );
    assert.throws(
      () => optB.loadStateDict({ step: 1, tensors: new Map() }),
      /optimizer state is missing exp_avg\.0/,
    );
    for (const o of [optA, optB, optC]) o.dispose();
    torch.dispose([a.tensors, b.tensors, c.tensors, [...saved.values()]]);
  });
});

describe('gradient clipping and SGD', () => {
  test('clipGradNorm returns the pre-clip norm and scales the gradients', () =>
    torch.tidy(() => {
      const p1 = torch.zeros([2]).requiresGrad_(true);
      const p2 = torch.zeros([1]).requiresGrad_(true);
      const p3 = torch.zeros([1]).requiresGrad_(true); // no gradient: ignored
      p1.grad = torch.tensor([3, 4]);
      p2.grad = torch.tensor([12]);
      const norm = optim.clipGradNorm([p1, p2, p3], 6.5);
      assertClose([norm], [13]);
      const coef = 6.5 / (13 + 1e-6);
      assertClose(p1.grad!, [3 * coef, 4 * coef]);
      assertClose(p2.grad!, [12 * coef]);
      assert.equal(p3.grad, null);
      // below the limit: returned norm, gradients unchanged
      const again = optim.clipGradNorm([p1, p2], 100);
      assertClose([again], [6.5], { rtol: 1e-5 });
      assertClose(p1.grad!, [3 * coef, 4 * coef]);
      // no gradients at all
      assert.equal(optim.clipGradNorm([p3], 1), 0);
    }));

  test('sgdStep: p -= lr * grad, parameters without grad untouched', () => {
    const p = torch.tensor([1, 2], { dtype: 'float64' }).keep().requiresGrad_(true);
    const q = torch.tensor([5], { dtype: 'float64' }).keep().requiresGrad_(true);
    torch.tidy(() => p.mul(p).sum().backward()); // grad = 2p = [2, 4]
    optim.sgdStep([p, q], 0.25);
    assert.deepEqual(p.toArray(), [0.5, 1]);
    assert.deepEqual(q.toArray(), [5]);
    torch.dispose([p, q]);
  });
});

describe('learning-rate schedules', () => {
  const at = (s: lr.Schedule, steps: number[]) => steps.map((i) => s(i));

  test('constant', () => {
    assert.deepEqual(at(lr.constant(), [0, 1, 1000]), [1, 1, 1]);
  });

  test('linearWarmup ramps (step + 1) / warmup, then holds', () => {
    assertClose(at(lr.linearWarmup(4), [0, 1, 2, 3, 4, 100]), [0.25, 0.5, 0.75, 1, 1, 1], { rtol: 1e-15 });
    assert.deepEqual(at(lr.linearWarmup(0), [0, 5]), [1, 1]);
  });

  test('linearDecay: warm-up then linear to `final` at `total`', () => {
    // total 10, warmup 2: decay over steps 2..10
    assertClose(at(lr.linearDecay(10, 2), [0, 1, 2, 4, 6, 9, 10, 50]), [0.5, 1, 1, 0.75, 0.5, 0.125, 0, 0], {
      rtol: 1e-15,
      atol: 1e-15,
    });
    assertClose(at(lr.linearDecay(10, 2, 0.1), [2, 6, 10, 11]), [1, 0.55, 0.1, 0.1], {
      rtol: 1e-15,
      atol: 1e-15,
    });
    assertClose(at(lr.linearDecay(4), [0, 1, 2, 3, 4]), [1, 0.75, 0.5, 0.25, 0], {
      rtol: 1e-15,
      atol: 1e-15,
    });
  });

  test('cosine: warm-up then half a cosine to `final` at `total`', () => {
    const c = lr.cosine(10, 2);
    assertClose(
      at(c, [0, 1, 2, 4, 6, 8, 10, 20]),
      [0.5, 1, 1, 0.5 * (1 + Math.SQRT1_2), 0.5, 0.5 * (1 - Math.SQRT1_2), 0, 0],
      {
        rtol: 1e-12,
        atol: 1e-15,
      },
    );
    const cf = lr.cosine(10, 0, 0.1);
    assertClose(at(cf, [0, 5, 10, 15]), [1, 0.55, 0.1, 0.1], { rtol: 1e-12 });
  });

  test('scheduleByName', () => {
    assert.deepEqual(at(lr.scheduleByName('constant', 10), [0, 9]), [1, 1]);
    assertClose(at(lr.scheduleByName('constant', 10, 2), [0, 1, 5]), [0.5, 1, 1]);
    assertClose(at(lr.scheduleByName('linear', 10, 2), [6]), [0.5]);
    assertClose(at(lr.scheduleByName('cosine', 10, 0, 0.2), [10]), [0.2]);
  });
});
