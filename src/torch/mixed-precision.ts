/**
 * Mixed-precision training with fp32 master weights (Micikevicius et al. 2018; what DeepSpeed / Megatron do for
 * bf16): the model's parameters hold a low-precision copy (bfloat16) that the forward and backward use, and
 * an fp32 copy of each trained tensor (the master) is what the optimizer updates. A step is
 *
 *   backward of each micro-batch (bf16 gradients on the model's parameters)
 *   -> gradsToMaster (master.grad += float32(param.grad); the bf16 gradient is dropped)
 *   -> clip / all-reduce / AdamW on the masters (fp32 moments)
 *   -> copyToModel (param <- bf16(master), round to nearest even)
 *
 * so small updates accumulate in fp32 instead of being rounded away in bf16 (8 mantissa bits: an update below
 * ~2^-9 of a weight is lost there).
 */
import type { DType } from './dtype.js';
import type { Tensor } from './tensor.js';
import { noGrad } from './autograd.js';
import { tidy } from './scope.js';

export class MasterWeights {
  /** The fp32 masters, one per parameter (the tensors the optimizer is built on). */
  readonly master: Tensor[];

  /**
   * Takes fp32 copies of `params` (which must be float32 now) as the masters and converts each parameter to
   * `dtype` in place (its identity kept, as Module.to: references held by layers stay valid).
   */
  constructor(
    readonly params: readonly Tensor[],
    readonly dtype: DType,
  ) {
    for (const p of params)
      if (p.dtype !== 'float32') throw new Error(`MasterWeights: a parameter is ${p.dtype}, not float32`);
    this.master = noGrad(() => params.map((p) => tidy(() => p.detach().clone().requiresGrad_(true).keep())));
    noGrad(() => {
      for (const p of params) {
        p.grad = null;
        const low = p.to(dtype);
        p.setData_(low);
        low.dispose();
      }
    });
  }

  /**
   * Moves each parameter's gradient onto its master in float32, added to what the master holds (gradient
   * accumulation over micro-batches happens in fp32: call this after each backward); the parameter's gradient
   * is cleared.
   */
  gradsToMaster(): void {
    noGrad(() => {
      this.params.forEach((p, i) => {
        const g = p.grad;
        if (g === null) return;
        const m = this.master[i]!;
        const prev = m.grad;
        const g32 = tidy(() => (prev === null ? g.to('float32', { copy: true }) : prev.add(g.to('float32'))));
        m.grad = g32;
        for (const t of [g32, g, prev]) t?.dispose();
        p.grad = null;
      });
    });
  }

  /** Writes the masters into the model's parameters (rounded to the low dtype). */
  copyToModel(): void {
    noGrad(() => this.params.forEach((p, i) => p.copy_(this.master[i]!)));
  }

  /** Clears both the parameters' and the masters' gradients. */
  zeroGrad(): void {
    for (const p of this.params) p.grad = null;
    for (const m of this.master) m.grad = null;
  }

  /**
   * Runs `fn` with each parameter holding its master's fp32 data (shared storage, e.g. to save a checkpoint at
   * full precision), then puts the low-precision data back.
   */
  withMasterData<T>(fn: () => T): T {
    const low = this.params.map((p) => p.detach().keep());
    try {
      this.params.forEach((p, i) => p.setData_(this.master[i]!));
      return fn();
    } finally {
      this.params.forEach((p, i) => p.setData_(low[i]!));
      for (const t of low) t.dispose();
    }
  }

  dispose(): void {
    for (const m of this.master) m.dispose();
  }
}
