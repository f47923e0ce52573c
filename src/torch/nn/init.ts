/** Parameter initialisers (PyTorch's defaults), drawing from libtorch's default generator or a given one. */
import { empty } from '../creation.js';
import type { Tensor } from '../tensor.js';
import type { Generator } from '../random.js';
import { noGrad } from '../autograd.js';
import type { DType } from '../dtype.js';

let uninitialised: DType | null = null;

/**
 * Builds modules (`fn`) whose initialised weights (every Linear, Conv2d and Embedding weight, and the biases
 * drawn with them) are left uninitialised, allocated in `dtype`: for loading a checkpoint that overwrites every
 * one of them, as PyTorch's skip_init / transformers' empty-weights loading. Saves the random draws' time and,
 * since untouched pages cost no memory, a float32 copy of the model. Norm weights and zero biases are created
 * as usual (in float32; module.to(dtype) converts them).
 */
export function withoutInit<T>(dtype: DType, fn: () => T): T {
  const before = uninitialised;
  uninitialised = dtype;
  try {
    return fn();
  } finally {
    uninitialised = before;
  }
}

/** U(-bound, bound) with bound = 1/sqrt(fanIn): PyTorch's default for Linear/Conv weights and biases. */
export function uniformFanIn(shape: readonly number[], fanIn: number, generator?: Generator): Tensor {
  if (uninitialised !== null) return empty(shape, { dtype: uninitialised });
  const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
  const t = empty(shape);
  noGrad(() => t.uniform_(-bound, bound, generator));
  return t;
}

export function normal(shape: readonly number[], std = 1, generator?: Generator): Tensor {
  if (uninitialised !== null) return empty(shape, { dtype: uninitialised });
  const t = empty(shape);
  noGrad(() => t.normal_(0, std, generator));
  return t;
}
