/**
 * Activation checkpointing (PyTorch's reentrant torch.utils.checkpoint): `checkpoint(fn, inputs)` runs fn
 * without recording its activations and returns its outputs attached to one autograd node that keeps only the
 * inputs; backward runs fn again on them with gradients on and back-propagates through that recomputation
 * (native/src/checkpoint.cc). The gradients are the same as without checkpointing; the peak memory of a stack
 * of checkpointed layers holds one layer's activations at a time instead of all of them.
 *
 * fn must compute the same function both times: it may read parameters (their gradients accumulate as usual)
 * and draw random numbers (libtorch's default generator is set back to its state at the first run for the
 * recomputation, then restored, so dropout masks repeat), but must not change state. Without grad mode, fn
 * simply runs. CPU tensors only (the recomputation is a JS call from the backward pass).
 */
import { native, type Handle } from './native.js';
import { Tensor } from './tensor.js';
import { isGradEnabled, noGrad, enableGrad } from './autograd.js';
import { tidy } from './scope.js';
import { getRngState, setRngState } from './random.js';

/** How many checkpointed first runs (without gradients, to be recomputed with them) are in progress. */
let firstRuns = 0;

/**
 * Whether the forward now running will be back-propagated: grad mode is on, or it is the first run of a
 * checkpointed function (its recomputation records gradients). Training-only randomness (dropout) keys on
 * this, so that the first run and the recomputation draw the same masks.
 */
export function isRecording(): boolean {
  return isGradEnabled() || firstRuns > 0;
}

export function checkpoint(fn: (inputs: Tensor[]) => Tensor[], inputs: readonly Tensor[]): Tensor[] {
  if (!isGradEnabled()) return fn([...inputs]);
  const rng = getRngState();
  firstRuns++;
  let outputs: Tensor[];
  try {
    outputs = noGrad(() => tidy(() => fn([...inputs])));
  } finally {
    firstRuns--;
  }
  const recompute = (handles: Handle[]): Handle[] => {
    const ins = handles.map((h) => new Tensor(h).keep());
    const now = getRngState();
    setRngState(rng);
    try {
      const outs = enableGrad(() => tidy(() => fn(ins)));
      return outs.map((t) => t.keep().handle);
    } finally {
      setRngState(now);
      for (const t of ins) t.dispose();
    }
  };
  const handles = native.checkpoint(
    recompute,
    inputs.map((t) => t.handle),
    outputs.map((t) => t.handle),
  ) as Handle[];
  for (const t of outputs) t.dispose();
  return handles.map((h) => new Tensor(h));
}
