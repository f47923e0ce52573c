/**
 * Finite-difference gradient checking for the libtorch engine, plus small helpers the torch tests share.
 *
 *   gradcheck((x, w) => F.linear(x, w), [x, w]);
 *
 * The checked scalar is f = sum_k sum(out_k * W_k), with fixed random weights W_k (so the check is not the
 * trivial d(sum)/dx). The analytic gradient comes from backward(); the numeric one from central differences
 * (one element perturbed at a time, the tensor rebuilt from a Float64Array) evaluated under noGrad.
 * Only float64 inputs are checked; other inputs (int64 indices, bool masks) are passed through unchanged.
 */
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';

export interface GradcheckOptions {
  /** Central-difference step (default 1e-6). */
  eps?: number;
  /** Relative tolerance (default 1e-5). */
  rtol?: number;
  /** Absolute tolerance (default 1e-7). */
  atol?: number;
  /** Seed of the generator that draws the output weights W (default 1234). */
  seed?: number;
  /** Indices of the inputs to check (default: every float64 input). */
  wrt?: number[];
  /** Allow an all-zero numeric gradient (default false: such a check would prove nothing). */
  allowZero?: boolean;
}

export interface GradcheckResult {
  /** Largest |analytic - numeric| over every checked element. */
  maxAbsErr: number;
  /** Number of elements checked. */
  checked: number;
}

type Outputs = Tensor | readonly Tensor[];

function asList(o: Outputs): readonly Tensor[] {
  return Array.isArray(o) ? (o as readonly Tensor[]) : [o as Tensor];
}

function objective(out: Outputs, weights: readonly Tensor[]): Tensor {
  const outs = asList(out);
  assert.equal(outs.length, weights.length, 'the function returned a different number of outputs');
  let f = outs[0]!.mul(weights[0]!).sum();
  for (let k = 1; k < outs.length; k++) f = f.add(outs[k]!.mul(weights[k]!).sum());
  return f;
}

function f64(t: Tensor): Float64Array {
  assert.equal(t.dtype, 'float64', 'gradcheck works on float64 tensors');
  return t.data() as Float64Array;
}

/**
 * Checks backward() against central differences for `fn` at `inputs`; throws an AssertionError naming the
 * input and element on a mismatch. The inputs are not modified (the check runs on fresh copies).
 */
export function gradcheck(
  fn: (...xs: Tensor[]) => Outputs,
  inputs: readonly Tensor[],
  opts: GradcheckOptions = {},
): GradcheckResult {
  const eps = opts.eps ?? 1e-6;
  const rtol = opts.rtol ?? 1e-5;
  const atol = opts.atol ?? 1e-7;
  const wrt = opts.wrt ?? inputs.flatMap((t, i) => (t.dtype === 'float64' ? [i] : []));
  assert.ok(wrt.length > 0, 'gradcheck needs at least one float64 input');
  return torch.tidy(() => {
    const values = inputs.map((t) => (t.dtype === 'float64' ? f64(t) : null));
    const shapes = inputs.map((t) => t.shape);
    const rebuild = (i: number, data: Float64Array): Tensor =>
      torch.tensor(data, { shape: shapes[i], dtype: 'float64' });

    // analytic
    const leaves = inputs.map((t, i) => (wrt.includes(i) ? rebuild(i, values[i]!).requiresGrad_(true) : t));
    const out = fn(...leaves);
    const gen = new torch.Generator(opts.seed ?? 1234);
    const weights = asList(out).map((o) => {
      assert.ok(torch.isFloating(o.dtype), `gradcheck: output dtype ${o.dtype} is not floating`);
      return torch.randn(o.shape, { dtype: 'float64', generator: gen });
    });
    objective(out, weights).backward();
    const analytic = wrt.map((i) => {
      const g = leaves[i]!.grad;
      return g === null ? new Float64Array(values[i]!.length) : f64(g);
    });

    // numeric: central differences, one element at a time
    const evalAt = (i: number, data: Float64Array): number =>
      torch.tidy(() => {
        const xs = inputs.map((t, k) =>
          k === i ? rebuild(i, data) : wrt.includes(k) ? rebuild(k, values[k]!) : t,
        );
        return objective(fn(...xs), weights).item();
      });
    let maxAbsErr = 0;
    let checked = 0;
    let anyNonZero = false;
    torch.noGrad(() => {
      wrt.forEach((i, w) => {
        const data = Float64Array.from(values[i]!);
        for (let j = 0; j < data.length; j++) {
          const x0 = data[j]!;
          data[j] = x0 + eps;
          const fp = evalAt(i, data);
          data[j] = x0 - eps;
          const fm = evalAt(i, data);
          data[j] = x0;
          const numeric = (fp - fm) / (2 * eps);
          const a = analytic[w]![j]!;
          const err = Math.abs(a - numeric);
          if (numeric !== 0) anyNonZero = true;
          if (!(err <= atol + rtol * Math.abs(numeric))) {
            assert.fail(
              `gradient mismatch for input ${i} (shape [${shapes[i]!.join(', ')}]) at element ${j}: ` +
                `analytic ${a}, numeric ${numeric} (|diff| ${err.toExponential(3)})`,
            );
          }
          maxAbsErr = Math.max(maxAbsErr, err);
          checked++;
        }
      });
    });
    if (!(opts.allowZero ?? false))
      assert.ok(anyNonZero, 'every numeric gradient is zero: the check proves nothing');
    return { maxAbsErr, checked };
  });
}

// ---- shared helpers ------------------------------------------------------------------------------------

/** Seeded float64 standard-normal input. */
export function randn64(shape: readonly number[], gen: torch.Generator): Tensor {
  return torch.randn(shape, { dtype: 'float64', generator: gen });
}

/** Seeded float64 input uniform in [lo, hi). */
export function uniform64(shape: readonly number[], gen: torch.Generator, lo: number, hi: number): Tensor {
  return torch
    .rand(shape, { dtype: 'float64', generator: gen })
    .mul(hi - lo)
    .add(lo);
}

/** Seeded float64 input with every |x| >= margin (for ops with a kink at 0: relu, abs). */
export function awayFromZero64(shape: readonly number[], gen: torch.Generator, margin = 0.1): Tensor {
  const x = randn64(shape, gen);
  return x.sign().mul(x.abs().add(margin));
}

/** Asserts element-wise |actual - expected| <= atol + rtol * |expected| (NaN and infinities must match exactly). */
export function assertClose(
  actual: Tensor | ArrayLike<number>,
  expected: ArrayLike<number>,
  opts: { rtol?: number; atol?: number; msg?: string } = {},
): void {
  const a = actual instanceof torch.Tensor ? actual.toArray() : Array.from(actual);
  const e = Array.from(expected);
  const rtol = opts.rtol ?? 1e-6;
  const atol = opts.atol ?? 1e-6;
  const where = opts.msg ? `${opts.msg}: ` : '';
  assert.equal(a.length, e.length, `${where}length ${a.length} != expected ${e.length}`);
  for (let i = 0; i < e.length; i++) {
    const x = a[i]!;
    const y = e[i]!;
    if (Number.isNaN(y) || !Number.isFinite(y)) {
      assert.ok(Object.is(x, y), `${where}element ${i}: ${x} != ${y}`);
      continue;
    }
    assert.ok(
      Math.abs(x - y) <= atol + rtol * Math.abs(y),
      `${where}element ${i}: ${x} != ${y} (|diff| ${Math.abs(x - y)})\n  actual:   [${a.join(', ')}]\n  expected: [${e.join(', ')}]`,
    );
  }
}

/** Asserts a tensor's shape and (optionally) dtype. */
export function assertShape(t: Tensor, shape: readonly number[], dtype?: torch.DType): void {
  assert.deepEqual([...t.shape], [...shape], `shape [${t.shape.join(', ')}] != [${shape.join(', ')}]`);
  if (dtype !== undefined) assert.equal(t.dtype, dtype);
}
