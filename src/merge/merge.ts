/**
 * Weight merging of two fine-tuned models that share a base (CoRL's last step: merging the MCQ and the
 * open-ended refined models, or the two single-task models of `separate_merge`).
 *
 * State dicts are `Map<string, Tensor>`. The merged tensors are new tensors owned by the caller's tidy scope
 * (or by nobody outside one: keep() or dispose() them). Inputs are never modified.
 */
import * as torch from '../torch/index.js';
import { isFloating, type Tensor, type DType } from '../torch/index.js';
import { UserError } from '../util/errors.js';

export type StateDict = Map<string, Tensor>;

function shapeStr(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
}

function checkShape(key: string, aShape: readonly number[], other: Tensor, otherName: string): void {
  const s = other.shape;
  if (s.length !== aShape.length || s.some((x, i) => x !== aShape[i])) {
    throw new UserError(
      `merge: tensor "${key}" has shape ${shapeStr(aShape)} in the first model but ${shapeStr(s)} in ${otherName}`,
    );
  }
}

/** float64 when any input is float64, else float32: the deltas of half-precision weights are taken in fp32. */
function computeDtype(...ts: Tensor[]): DType {
  return ts.some((t) => t.dtype === 'float64') ? 'float64' : 'float32';
}

function requireB(key: string, b: StateDict): Tensor {
  const t = b.get(key);
  if (t === undefined)
    throw new UserError(`merge: tensor "${key}" is in the first model but not in the second`);
  return t;
}

/**
 * Gaussian merging (ULM-R1 `weight_merging_gaussian`), per tensor with a base:
 *
 *   d_i = m_i - base                                  (i = 1, 2: the two models a and b)
 *   mu  = (mean(d_1) + mean(d_2)) / 2
 *   s   = min(std(d_1), std(d_2))
 *   in_i = mu - lambda s < d_i < mu + lambda s        (strict, element-wise)
 *   merged = base + (d_1 [not in_1] + d_2 [not in_2]) + 0.5 (d_1 [in_1] + d_2 [in_2])
 *
 * Small updates (inside the band) are averaged; outliers are added whole (task arithmetic), on the view that
 * an outlier is a task-specific update the other model did not make.
 *
 * - std is torch's `Tensor.std()`, unbiased (n - 1), as in ULM-R1; means and stds are over the whole tensor.
 * - A one-element tensor has no unbiased std (torch returns NaN, every comparison with NaN is false, so ULM-R1
 *   would add both deltas whole). Here every delta of such a tensor counts as inside: the two are averaged,
 *   which is the safe choice for biases and scalars (a sum doubles a shared update).
 * - When one delta is constant (std 0; e.g. a model that did not change this tensor) the band is empty and
 *   every delta is added whole: merged = a + b - base (task arithmetic), which keeps the other model's update.
 * - Keys absent from `base`, and non-floating tensors (ints, bools: step counters, index buffers), are copied
 *   from `a`. Keys only in `b` are ignored, as in ULM-R1. A key of `base` missing from `b`, or a shape that
 *   differs between the three, is a UserError naming the tensor.
 * - Maths in float32 (float64 if any input is float64); the result has `a`'s dtype.
 */
export function mergeGaussian(base: StateDict, a: StateDict, b: StateDict, lambda = 2): StateDict {
  const out: StateDict = new Map();
  for (const [key, ta] of a) {
    const tbase = base.get(key);
    if (tbase === undefined || !isFloating(ta.dtype)) {
      out.set(
        key,
        torch.noGrad(() => ta.clone()),
      );
      continue;
    }
    const tb = requireB(key, b);
    checkShape(key, ta.shape, tbase, 'the base');
    checkShape(key, ta.shape, tb, 'the second model');
    out.set(
      key,
      torch.noGrad(() =>
        torch.tidy(() => {
          if (ta.numel === 0) return ta.clone();
          const dt = computeDtype(tbase, ta, tb);
          const b0 = tbase.to(dt);
          const d1 = ta.to(dt).sub(b0);
          const d2 = tb.to(dt).sub(b0);
          let h1: Tensor;
          let h2: Tensor;
          if (ta.numel < 2) {
            // no unbiased std: everything is "inside", i.e. averaged
            h1 = d1.mul(0.5);
            h2 = d2.mul(0.5);
          } else {
            const mu = (d1.mean().item() + d2.mean().item()) / 2;
            const s = Math.min(d1.std().item(), d2.std().item());
            const lo = mu - lambda * s;
            const hi = mu + lambda * s;
            const half = (d: Tensor): Tensor => torch.where(d.gt(lo).logicalAnd(d.lt(hi)), d.mul(0.5), d);
            h1 = half(d1);
            h2 = half(d2);
          }
          return b0.add(h1).add(h2).to(ta.dtype);
        }),
      ),
    );
  }
  return out;
}

/**
 * Plain average: merged = (a + b) / 2 per tensor (= base + (d_1 + d_2) / 2 for any base). `base` is optional
 * and only applies mergeGaussian's key rule: when given, keys absent from it are copied from `a` (and its
 * shapes are checked). Non-floating tensors are copied from `a`; a key of `a` missing from `b` (and present
 * in base, when given) or a shape mismatch is a UserError naming the tensor.
 */
export function mergeAverage(base: StateDict | undefined, a: StateDict, b: StateDict): StateDict {
  const out: StateDict = new Map();
  for (const [key, ta] of a) {
    const tbase = base?.get(key);
    if ((base !== undefined && tbase === undefined) || !isFloating(ta.dtype)) {
      out.set(
        key,
        torch.noGrad(() => ta.clone()),
      );
      continue;
    }
    const tb = requireB(key, b);
    if (tbase !== undefined) checkShape(key, ta.shape, tbase, 'the base');
    checkShape(key, ta.shape, tb, 'the second model');
    out.set(
      key,
      torch.noGrad(() =>
        torch.tidy(() => {
          const dt = computeDtype(ta, tb);
          return ta.to(dt).add(tb.to(dt)).mul(0.5).to(ta.dtype);
        }),
      ),
    );
  }
  return out;
}
