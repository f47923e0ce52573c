/**
 * torch.nn.functional, camelCased: stateless ops that take several tensors, plus sampling helpers.
 * Tensor methods (tensor.ts) cover the one-tensor ops.
 */
import { native } from './native.js';
import { Tensor } from './tensor.js';

export function cat(ts: readonly Tensor[], dim = 0): Tensor {
  return new Tensor(native.cat(ts.map((t) => t.handle), dim));
}
export function stack(ts: readonly Tensor[], dim = 0): Tensor {
  return new Tensor(native.stack(ts.map((t) => t.handle), dim));
}
/** cond ? a : b, broadcasting. */
export function where(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  return new Tensor(native.where(cond.handle, a.handle, b.handle));
}
/** x @ weight^T + bias */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  return new Tensor(native.linear(x.handle, weight.handle, bias?.handle ?? null));
}
export function conv2d(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null = null,
  opts: { stride?: number; padding?: number; dilation?: number; groups?: number } = {},
): Tensor {
  const s = opts.stride ?? 1;
  const p = opts.padding ?? 0;
  const d = opts.dilation ?? 1;
  return new Tensor(native.conv2d(x.handle, weight.handle, bias?.handle ?? null, [s, s], [p, p], [d, d], opts.groups ?? 1));
}
export function upsampleNearest2d(x: Tensor, size: readonly [number, number]): Tensor {
  return new Tensor(native.upsampleNearest2d(x.handle, size));
}
export function avgPool2d(x: Tensor, kernel: number, stride = kernel): Tensor {
  return new Tensor(native.avgPool2d(x.handle, [kernel, kernel], [stride, stride]));
}
export function layerNorm(
  x: Tensor,
  normalizedShape: readonly number[],
  weight: Tensor | null = null,
  bias: Tensor | null = null,
  eps = 1e-5,
): Tensor {
  return new Tensor(native.layerNorm(x.handle, normalizedShape, weight?.handle ?? null, bias?.handle ?? null, eps));
}
export function groupNorm(
  x: Tensor,
  groups: number,
  weight: Tensor | null = null,
  bias: Tensor | null = null,
  eps = 1e-5,
): Tensor {
  return new Tensor(native.groupNorm(x.handle, groups, weight?.handle ?? null, bias?.handle ?? null, eps));
}
/** RMSNorm over the last dim: x / sqrt(mean(x^2) + eps) * weight (float32 maths for half inputs). */
export function rmsNorm(x: Tensor, weight: Tensor | null = null, eps = 1e-6): Tensor {
  return new Tensor(native.rmsNorm(x.handle, weight?.handle ?? null, eps));
}
export function embedding(ids: Tensor, weight: Tensor): Tensor {
  return new Tensor(native.embedding(weight.handle, ids.handle));
}
export function softmax(x: Tensor, dim: number): Tensor {
  return x.softmax(dim);
}
export function logSoftmax(x: Tensor, dim: number): Tensor {
  return x.logSoftmax(dim);
}
export function oneHot(ids: Tensor, numClasses: number): Tensor {
  return new Tensor(native.oneHot(ids.handle, numClasses));
}
export function dropout(x: Tensor, p: number, training: boolean): Tensor {
  return new Tensor(native.dropout(x.handle, p, training));
}

const REDUCTIONS = { none: 0, mean: 1, sum: 2 } as const;

/** Cross-entropy of logits [N, C] against int64 targets [N]; targets equal to ignoreIndex are skipped. */
export function crossEntropy(
  logits: Tensor,
  targets: Tensor,
  opts: { ignoreIndex?: number; reduction?: keyof typeof REDUCTIONS; labelSmoothing?: number } = {},
): Tensor {
  return new Tensor(
    native.crossEntropy(
      logits.handle,
      targets.handle,
      opts.ignoreIndex ?? -100,
      REDUCTIONS[opts.reduction ?? 'mean'],
      opts.labelSmoothing ?? 0,
    ),
  );
}

export function mseLoss(a: Tensor, b: Tensor): Tensor {
  const diff = a.sub(b);
  const sq = diff.pow(2);
  const out = sq.mean();
  diff.dispose();
  sq.dispose();
  return out;
}

/** log p(target) under logits: logSoftmax(logits)[..., target] (the per-token log-prob GRPO needs). */
export function logProbsOf(logits: Tensor, targets: Tensor): Tensor {
  const lp = logits.logSoftmax(-1);
  const idx = targets.unsqueeze(-1);
  const picked = lp.gather(-1, idx);
  const out = picked.squeeze(-1);
  for (const t of [lp, idx, picked]) t.dispose();
  return out;
}

/** Keeps the k largest logits per row, the rest set to -inf. */
export function topKFilter(logits: Tensor, k: number): Tensor {
  const vocab = logits.size(-1);
  if (k <= 0 || k >= vocab) return logits.clone();
  const { values, indices } = logits.topk(k, -1);
  indices.dispose();
  const kth = values.narrow(-1, k - 1, 1);
  const below = logits.lt(kth);
  const out = logits.maskedFill(below, -Infinity);
  for (const t of [values, kth, below]) t.dispose();
  return out;
}

/**
 * Nucleus filtering: keeps the smallest set of tokens whose probability mass reaches p (the top token is always
 * kept), the rest set to -inf.
 */
export function topPFilter(logits: Tensor, p: number): Tensor {
  if (p >= 1) return logits.clone();
  const { values: sorted, indices } = logits.sort(-1, true);
  const probs = sorted.softmax(-1);
  const cum = probs.cumsum(-1);
  // remove a token when the mass before it already reaches p
  const before = cum.sub(probs);
  const removeSorted = before.ge(p);
  const remove = removeSorted.scatter(-1, indices, removeSorted);
  const out = logits.maskedFill(remove, -Infinity);
  for (const t of [sorted, indices, probs, cum, before, removeSorted, remove]) t.dispose();
  return out;
}
