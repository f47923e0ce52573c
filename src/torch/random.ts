/**
 * Seeded random numbers. A `Generator` is a libtorch CPU generator (Philox/MT as PyTorch's), so the same seed
 * gives the same numbers as PyTorch's CPU generator. Functions take an optional generator; without one they
 * use libtorch's default generator, seeded by `manualSeed`.
 */
import { native, type GenHandle, type Handle } from './native.js';
import { dtypeCode } from './dtype.js';
import { Tensor } from './tensor.js';
import type { TensorOptions } from './creation.js';

export class Generator {
  readonly handle: GenHandle;
  constructor(seed = 0) {
    this.handle = native.generatorCreate(seed) as GenHandle;
  }
  manualSeed(seed: number): this {
    native.manualSeed(this.handle, seed);
    return this;
  }
  /** The full generator state as bytes (for bit-exact resume). */
  getState(): Uint8Array {
    return rngStateBytes(this.handle);
  }
  setState(state: Uint8Array): void {
    setRngStateBytes(this.handle, state);
  }
}

function rngStateBytes(h: GenHandle | null): Uint8Array {
  const t = new Tensor(native.getRngState(h) as Handle);
  try {
    return t.data() as Uint8Array;
  } finally {
    t.dispose();
  }
}

function setRngStateBytes(h: GenHandle | null, state: Uint8Array): void {
  const t = new Tensor(native.fromBuffer(state, [state.length], dtypeCode('uint8'), null));
  try {
    native.setRngState(h, t.handle);
  } finally {
    t.dispose();
  }
}

/** Seeds libtorch's default CPU generator (torch.manual_seed). */
export function manualSeed(seed: number): void {
  native.manualSeed(null, seed);
}
export function getRngState(): Uint8Array {
  return rngStateBytes(null);
}
export function setRngState(state: Uint8Array): void {
  setRngStateBytes(null, state);
}

export interface RandomOptions extends TensorOptions {
  generator?: Generator;
}

const gen = (o: RandomOptions) => o.generator?.handle ?? null;
const dt = (o: RandomOptions) => (o.dtype === undefined ? null : dtypeCode(o.dtype));

export function randn(shape: readonly number[], opts: RandomOptions = {}): Tensor {
  return new Tensor(native.randn(shape, gen(opts), dt(opts), opts.device ?? null));
}
export function rand(shape: readonly number[], opts: RandomOptions = {}): Tensor {
  return new Tensor(native.rand(shape, gen(opts), dt(opts), opts.device ?? null));
}
/** Integers in [low, high), int64. */
export function randint(
  low: number,
  high: number,
  shape: readonly number[],
  opts: RandomOptions = {},
): Tensor {
  return new Tensor(native.randint(low, high, shape, gen(opts), opts.device ?? null));
}
export function randperm(n: number, opts: RandomOptions = {}): Tensor {
  return new Tensor(native.randperm(n, gen(opts)));
}
/** Draws `numSamples` indices per row of `probs` (rows need not be normalised). */
export function multinomial(
  probs: Tensor,
  numSamples: number,
  opts: { replacement?: boolean; generator?: Generator } = {},
): Tensor {
  return new Tensor(native.multinomial(probs.handle, numSamples, opts.replacement ?? false, gen(opts)));
}
export function bernoulli(probs: Tensor, opts: { generator?: Generator } = {}): Tensor {
  return new Tensor(native.bernoulli(probs.handle, gen(opts)));
}
