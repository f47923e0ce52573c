/** Parameter initialisers (PyTorch's defaults), drawing from libtorch's default generator or a given one. */
import { empty } from '../creation.js';
import type { Tensor } from '../tensor.js';
import type { Generator } from '../random.js';
import { noGrad } from '../autograd.js';

/** U(-bound, bound) with bound = 1/sqrt(fanIn): PyTorch's default for Linear/Conv weights and biases. */
export function uniformFanIn(shape: readonly number[], fanIn: number, generator?: Generator): Tensor {
  const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
  const t = empty(shape);
  noGrad(() => t.uniform_(-bound, bound, generator));
  return t;
}

export function normal(shape: readonly number[], std = 1, generator?: Generator): Tensor {
  const t = empty(shape);
  noGrad(() => t.normal_(0, std, generator));
  return t;
}
