/**
 * Optimisers. AdamW's update runs in one native call over all parameters (native/src/optim.cc) with
 * torch.optim.AdamW's maths; its moment tensors live here so checkpoints can save and restore them.
 */
import { native } from './native.js';
import { Tensor } from './tensor.js';
import { zerosLike } from './creation.js';
import { noGrad } from './autograd.js';

export interface AdamWOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

export class AdamW {
  lr: number;
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  /** Optimizer steps taken (PyTorch's per-parameter `step`, shared here). */
  stepCount = 0;
  readonly expAvg: Tensor[];
  readonly expAvgSq: Tensor[];

  /** Defaults follow torch.optim.AdamW: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight decay 0.01. */
  constructor(
    readonly params: Tensor[],
    opts: AdamWOptions = {},
  ) {
    this.lr = opts.lr ?? 1e-3;
    this.betas = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0.01;
    this.expAvg = noGrad(() => params.map((p) => zerosLike(p).keep()));
    this.expAvgSq = noGrad(() => params.map((p) => zerosLike(p).keep()));
  }

  step(): void {
    this.stepCount += 1;
    native.adamwStep(
      this.params.map((p) => p.handle),
      this.expAvg.map((t) => t.handle),
      this.expAvgSq.map((t) => t.handle),
      this.stepCount,
      this.lr,
      this.betas[0],
      this.betas[1],
      this.eps,
      this.weightDecay,
    );
  }

  /** Clears gradients (set to none, as PyTorch's default). */
  zeroGrad(): void {
    for (const p of this.params) p.grad = null;
  }

  /** The optimizer state by name: `exp_avg.N`, `exp_avg_sq.N` tensors (own handles, not copies) and the step. */
  stateDict(): { step: number; tensors: Map<string, Tensor> } {
    const tensors = new Map<string, Tensor>();
    this.expAvg.forEach((t, i) => tensors.set(`exp_avg.${i}`, t));
    this.expAvgSq.forEach((t, i) => tensors.set(`exp_avg_sq.${i}`, t));
    return { step: this.stepCount, tensors };
  }

  loadStateDict(state: { step: number; tensors: Map<string, Tensor> }): void {
    noGrad(() => {
      for (const [list, prefix] of [
        [this.expAvg, 'exp_avg'],
        [this.expAvgSq, 'exp_avg_sq'],
      ] as const) {
        list.forEach((t, i) => {
          const src = state.tensors.get(`${prefix}.${i}`);
          if (src === undefined) throw new Error(`optimizer state is missing ${prefix}.${i}`);
          t.copy_(src);
        });
      }
    });
    this.stepCount = state.step;
  }

  dispose(): void {
    for (const t of [...this.expAvg, ...this.expAvgSq]) t.dispose();
  }
}

/** Adam is AdamW without weight decay (torch.optim.Adam with weight_decay=0). */
export function adam(params: Tensor[], opts: Omit<AdamWOptions, 'weightDecay'> = {}): AdamW {
  return new AdamW(params, { ...opts, weightDecay: 0 });
}

/** Plain SGD step: p -= lr * grad. */
export function sgdStep(params: Tensor[], lr: number): void {
  native.sgdStep(
    params.map((p) => p.handle),
    lr,
  );
}

/**
 * Scales all gradients so their global L2 norm is at most maxNorm (torch.nn.utils.clip_grad_norm_);
 * returns the norm before clipping.
 */
export function clipGradNorm(params: Tensor[], maxNorm: number): number {
  return native.clipGradNorm(
    params.map((p) => p.handle),
    maxNorm,
  );
}
