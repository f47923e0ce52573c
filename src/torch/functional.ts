/**
 * torch.nn.functional, camelCased: stateless ops that take several tensors, plus sampling helpers.
 * Tensor methods (tensor.ts) cover the one-tensor ops.
 */
import { native } from './native.js';
import { Tensor } from './tensor.js';

export function cat(ts: readonly Tensor[], dim = 0): Tensor {
  return new Tensor(
    native.cat(
      ts.map((t) => t.handle),
      dim,
    ),
  );
}
export function stack(ts: readonly Tensor[], dim = 0): Tensor {
  return new Tensor(
    native.stack(
      ts.map((t) => t.handle),
      dim,
    ),
  );
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
  return new Tensor(
    native.conv2d(x.handle, weight.handle, bias?.handle ?? null, [s, s], [p, p], [d, d], opts.groups ?? 1),
  );
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
  return new Tensor(
    native.layerNorm(x.handle, normalizedShape, weight?.handle ?? null, bias?.handle ?? null, eps),
  );
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
/**
 * Below this many elements in k (B x H x S x Dh), one query's attention on the CPU is a broadcast product and
 * a sum rather than two batched matmuls: libtorch runs a [1, Dh] x [Dh, S] bmm as one BLAS call per (row,
 * head), whose fixed cost dominates at these sizes. Measured on this repository's 2-core machine
 * (docs/distributed.md, "Sampling"): 2-4x faster at B x H = 16-256, S <= 1,200, Dh 32-128; at 39M elements
 * the product's memory traffic makes it 2-4x slower than bmm.
 */
export const DECODE_PRODUCT_MAX_ELEMENTS = 1 << 22;

/**
 * softmax(q k^T * scale, hiding `blocked`) v, as torch's scaled_dot_product_attention computes it (its math
 * path): q [B, H, T, Dh], k and v [B, H, S, Dh], blocked a bool mask broadcastable to [B, H, T, S] (true =
 * hidden), scale 1 / sqrt(Dh) by default. The softmax of bf16 / f16 scores runs in float32. Returns
 * [B, H, T, Dh]. One query position (T = 1, incremental decoding) of a small product on the CPU takes the
 * broadcast-and-sum path (DECODE_PRODUCT_MAX_ELEMENTS): equal to the matmuls up to float rounding.
 */
export function scaledDotProductAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  opts: { blocked?: Tensor; scale?: number } = {},
): Tensor {
  const scale = opts.scale ?? 1 / Math.sqrt(q.size(-1));
  const T = q.size(-2);
  const product = T === 1 && k.numel <= DECODE_PRODUCT_MAX_ELEMENTS && q.device === 'cpu';
  // [B, H, T, S]
  let scores = product ? q.mul(k).sum(-1).unsqueeze(-2).mul(scale) : q.matmul(k.transpose(-2, -1)).mul(scale);
  if (opts.blocked) scores = scores.maskedFill(opts.blocked, -Infinity);
  const half = scores.dtype === 'bfloat16' || scores.dtype === 'float16';
  const probs = half ? scores.float().softmax(-1).to(scores.dtype) : scores.softmax(-1);
  // [B, H, S, 1] x [B, H, S, Dh] summed over S
  return product ? probs.transpose(-2, -1).mul(v).sum(-2, true) : probs.matmul(v);
}
/** The weights of one Llama decoder layer, in the order `llamaDecodeLayer` takes them. */
export interface LlamaLayerWeights {
  inputNorm: Tensor;
  q: Tensor;
  k: Tensor;
  v: Tensor;
  o: Tensor;
  postNorm: Tensor;
  gate: Tensor;
  up: Tensor;
  down: Tensor;
}

/**
 * One Llama decoder layer for one new token per row, in one native call (native/src/decode.cc): the same ops
 * in the same order as src/model/llm.ts, so bit-identical to it. Writes the token's key and value at position
 * `at` of the cache buffers `kBuf` / `vBuf` [B, kvHeads, capacity, headDim] (the caller has made room) and
 * returns the layer's output [B, 1, D]. Inference only (under noGrad); linears without bias or adapters.
 */
export function llamaDecodeLayer(
  x: Tensor,
  w: LlamaLayerWeights,
  o: {
    eps: number;
    heads: number;
    kvHeads: number;
    cos: Tensor;
    sin: Tensor;
    blocked: Tensor;
    kBuf: Tensor;
    vBuf: Tensor;
    at: number;
  },
): Tensor {
  const weights = [w.inputNorm, w.q, w.k, w.v, w.o, w.postNorm, w.gate, w.up, w.down].map((t) => t.handle);
  return new Tensor(
    native.llamaDecodeLayer(
      x.handle,
      weights,
      o.eps,
      o.heads,
      o.kvHeads,
      o.cos.handle,
      o.sin.handle,
      o.blocked.handle,
      o.kBuf.handle,
      o.vBuf.handle,
      o.at,
      DECODE_PRODUCT_MAX_ELEMENTS,
    ),
  );
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
  const onDevice = targets.to(logits.device);
  const idx = onDevice.unsqueeze(-1);
  const picked = lp.gather(-1, idx);
  const out = picked.squeeze(-1);
  for (const t of [lp, onDevice, idx, picked]) t.dispose();
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
