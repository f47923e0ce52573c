/**
 * The pure maths of GRPO as CoRL (ULM-R1) uses it: group-relative advantages, the joint reward / advantage of
 * the two tasks (text-to-image "t2i" and multimodal understanding "mm2t"), the clipped policy-gradient loss
 * with an optional KL penalty and three loss aggregations, and TRL-named metrics.
 *
 * Everything here is a function of its inputs: rewards and advantages are plain number arrays (they come from
 * reward functions, one number per completion), log-probs and masks are tensors. Nothing holds state.
 *
 * Layout: a batch of P prompts with G completions each is flat, grouped contiguously by prompt:
 * index i = p * G + g.
 */
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';

// ---------------------------------------------------------------------------------------------------------
// Advantages
// ---------------------------------------------------------------------------------------------------------

/**
 * How rewards are scaled after the per-group mean is subtracted (TRL's `scale_rewards`):
 * - `group`: divide by the group's std (GRPO, ULM-R1, TRL's default);
 * - `batch`: divide by the std of the whole batch (the mean is still the group's, as TRL does);
 * - `none`: no division (Dr. GRPO).
 */
export type RewardScale = 'group' | 'batch' | 'none';

export interface AdvantageOptions {
  /** Default `group`. */
  scale?: RewardScale;
  /** Added to the std before dividing. Default 1e-4, as ULM-R1 (and TRL) use. */
  eps?: number;
  /**
   * Bessel-corrected std (divide by n - 1) when true, population std (divide by n) when false. Default true:
   * ULM-R1 and TRL call torch's `Tensor.std()`, which is unbiased, and the default reproduces them. With G = 8
   * the unbiased std is sqrt(8/7) ~ 1.069 times the population std, so advantages are ~6.5% smaller.
   */
  unbiasedStd?: boolean;
}

export interface AdvantageResult {
  /** One advantage per completion, same layout as the rewards; 0 for a reward that is NaN. */
  advantages: number[];
  /** Per group: mean of its finite rewards (NaN when the group has none). */
  groupMean: number[];
  /** Per group: std of its finite rewards; 0 when the group has fewer than 2 of them. */
  groupStd: number[];
  /** Std of every finite reward in the batch (what `scale: 'batch'` divides by); 0 below 2 values. */
  batchStd: number;
  /** Fraction of groups whose std is zero (|std| <= 1e-8, TRL's `isclose`): groups that teach nothing. */
  fracZeroStd: number;
  /** How many rewards were NaN (or otherwise non-finite): "cannot score". */
  nanCount: number;
}

/** TRL's `torch.isclose(std, 0)`: |std| <= atol with atol = 1e-8. */
const ZERO_STD_ATOL = 1e-8;

/** Mean and std of the finite values of xs (mean NaN when none; std 0 when fewer than 2). */
function finiteStats(xs: readonly number[], unbiased: boolean): { mean: number; std: number; n: number } {
  let n = 0;
  let sum = 0;
  for (const x of xs) {
    if (Number.isFinite(x)) {
      n++;
      sum += x;
    }
  }
  if (n === 0) return { mean: NaN, std: 0, n };
  const mean = sum / n;
  if (n < 2) return { mean, std: 0, n };
  let ss = 0;
  for (const x of xs) if (Number.isFinite(x)) ss += (x - mean) ** 2;
  return { mean, std: Math.sqrt(ss / (unbiased ? n - 1 : n)), n };
}

function checkGroups(n: number, G: number, what: string): number {
  if (!Number.isInteger(G) || G < 1)
    throw new RangeError(`${what}: group size G must be a positive integer, got ${G}`);
  if (n % G !== 0) throw new RangeError(`${what}: ${n} rewards are not a whole number of groups of ${G}`);
  return n / G;
}

/**
 * Group-relative advantages.
 *
 *   A_i = (r_i - mean_g) / (std + eps)
 *
 * where mean_g is the mean of the group of r_i, and std is the group's std (`scale: 'group'`), the whole
 * batch's std (`scale: 'batch'`), or the division is skipped (`scale: 'none'`: A_i = r_i - mean_g).
 *
 * NaN rewards ("cannot score"; also +-Infinity) are missing data: they are left out of every mean and std and
 * their completion gets advantage 0, so it neither pushes nor pulls. A group with one finite reward has std 0
 * and advantage 0 for that reward; a group with none has mean NaN and std 0. Both count as zero-std groups.
 *
 * `fracZeroStd` always uses the per-group std, even under `scale: 'batch'` (TRL then tests the batch std,
 * which says nothing about whether a prompt's group carried signal).
 */
export function groupAdvantages(
  rewards: readonly number[],
  G: number,
  opts: AdvantageOptions = {},
): AdvantageResult {
  const scale = opts.scale ?? 'group';
  const eps = opts.eps ?? 1e-4;
  const unbiased = opts.unbiasedStd ?? true;
  const P = checkGroups(rewards.length, G, 'groupAdvantages');

  const batchStd = finiteStats(rewards, unbiased).std;
  const groupMean: number[] = [];
  const groupStd: number[] = [];
  const advantages: number[] = new Array<number>(rewards.length).fill(0);
  let nanCount = 0;
  let zeroStd = 0;
  for (let p = 0; p < P; p++) {
    const group = rewards.slice(p * G, (p + 1) * G);
    const { mean, std } = finiteStats(group, unbiased);
    groupMean.push(mean);
    groupStd.push(std);
    if (Math.abs(std) <= ZERO_STD_ATOL) zeroStd++;
    const denom = scale === 'group' ? std + eps : scale === 'batch' ? batchStd + eps : 1;
    for (let g = 0; g < G; g++) {
      const i = p * G + g;
      const r = rewards[i] as number;
      if (!Number.isFinite(r)) {
        nanCount++;
        continue;
      }
      advantages[i] = (r - mean) / denom;
    }
  }
  return { advantages, groupMean, groupStd, batchStd, fracZeroStd: P === 0 ? 0 : zeroStd / P, nanCount };
}

/** ULM-R1's weight of the understanding reward in the joint reward (hard-coded 0.8 there). */
export const DEFAULT_LAMBDA = 0.8;

/**
 * The joint reward of ULM-R1: r = r_t2i + lambda * r_mm2t, per completion pair i.
 *
 * NaN handling: a NaN component is missing, not zero-valued-and-poisonous; the other component is used alone
 * (r = r_t2i when r_mm2t is NaN, r = lambda * r_mm2t when r_t2i is NaN), which is TRL's `nansum` over reward
 * functions. Only when both are NaN is the joint reward NaN (then groupAdvantages gives it advantage 0).
 * A half-scored pair is therefore compared with fully scored ones in its group; that is the price of not
 * discarding the half that could be scored.
 */
export function unifyRewards(
  rT2I: readonly number[],
  rMM2T: readonly number[],
  lambda = DEFAULT_LAMBDA,
): number[] {
  if (rT2I.length !== rMM2T.length) {
    throw new RangeError(`unifyRewards: ${rT2I.length} t2i rewards but ${rMM2T.length} mm2t rewards`);
  }
  return rT2I.map((t, i) => {
    const m = rMM2T[i] as number;
    const tOk = Number.isFinite(t);
    const mOk = Number.isFinite(m);
    if (!tOk && !mOk) return NaN;
    return (tOk ? t : 0) + (mOk ? lambda * m : 0);
  });
}

/**
 * ULM-R1's `unify_advantage`: A = A_t2i + lambda * A_mm2t, per completion pair. A NaN advantage (never produced
 * by groupAdvantages) counts as 0, i.e. no signal from that task.
 */
export function unifyAdvantages(
  aT2I: readonly number[],
  aMM2T: readonly number[],
  lambda = DEFAULT_LAMBDA,
): number[] {
  if (aT2I.length !== aMM2T.length) {
    throw new RangeError(
      `unifyAdvantages: ${aT2I.length} t2i advantages but ${aMM2T.length} mm2t advantages`,
    );
  }
  const z = (x: number): number => (Number.isFinite(x) ? x : 0);
  return aT2I.map((a, i) => z(a) + lambda * z(aMM2T[i] as number));
}

/**
 * How the two tasks' rewards become advantages (ULM-R1's flags):
 * - `unify_reward` (`unify_reward=True`, the released setting): one advantage from the joint reward
 *   r_t2i + lambda r_mm2t, applied to both the image tokens and the text tokens of pair i;
 * - `unify_advantage` (`unify_reward=False, unify_advantage=True`): A_t2i + lambda A_mm2t, applied to both;
 * - `separate` (both False): each task's tokens get their own task's advantage.
 */
export type JointMode = 'unify_reward' | 'unify_advantage' | 'separate';

export interface JointAdvantageResult {
  /** Advantages for the image (t2i) completions. */
  t2i: number[];
  /** Advantages for the text (mm2t) completions. */
  mm2t: number[];
  /** The joint reward (mode `unify_reward`), for logging. */
  unifiedReward?: number[];
}

export function jointAdvantages(
  rT2I: readonly number[],
  rMM2T: readonly number[],
  G: number,
  opts: AdvantageOptions & { mode?: JointMode; lambda?: number } = {},
): JointAdvantageResult {
  const mode = opts.mode ?? 'unify_reward';
  const lambda = opts.lambda ?? DEFAULT_LAMBDA;
  if (mode === 'unify_reward') {
    const r = unifyRewards(rT2I, rMM2T, lambda);
    const a = groupAdvantages(r, G, opts).advantages;
    return { t2i: a, mm2t: a.slice(), unifiedReward: r };
  }
  const aT = groupAdvantages(rT2I, G, opts).advantages;
  const aM = groupAdvantages(rMM2T, G, opts).advantages;
  if (mode === 'unify_advantage') {
    const a = unifyAdvantages(aT, aM, lambda);
    return { t2i: a, mm2t: a.slice() };
  }
  return { t2i: aT, mm2t: aM };
}

// ---------------------------------------------------------------------------------------------------------
// Policy loss
// ---------------------------------------------------------------------------------------------------------

/**
 * How the masked per-token losses l[b,t] (mask m[b,t]) become one scalar:
 * - `token-mean`: sum(l m) / sum(m), every token of the batch weighs the same (TRL `bnpo`/`dapo` per batch,
 *   verl `token-mean`, ULM-R1 v2 per modality);
 * - `seq-mean-token-mean`: mean_b( sum_t(l m) / sum_t(m) ), each sequence weighs the same (TRL `grpo`, verl
 *   `seq-mean-token-mean`, ULM-R1 v1); sequences with no active token are left out of the mean over b;
 * - `dr_grpo`: sum(l m) / (B * maxLen), a constant divisor (Dr. GRPO, TRL `dr_grpo`).
 * Empty masks give a loss of 0 (denominators are clamped to at least 1), never NaN.
 */
export type Aggregation = 'token-mean' | 'seq-mean-token-mean' | 'dr_grpo';

/**
 * KL estimators of KL(pi || ref) per token, with d = ref - logp:
 * - `k3` = exp(d) - d - 1 (>= 0, unbiased, low variance; ULM-R1, TRL, verl `low_var_kl` without its clamp);
 * - `k1` = logp - ref = -d (unbiased, can be negative).
 */
export type KlEstimator = 'k1' | 'k3';

/**
 * The denominators of an aggregation taken over more rows than this call sees (data parallel: a micro-batch
 * split across ranks). With them, each rank's loss is its share of the whole micro-batch's loss, and the
 * shares sum to the loss one process computes on all the rows:
 * - `tokens`: sum of the mask over all rows (`token-mean`);
 * - `sequences`: rows with at least one active token, over all rows (`seq-mean-token-mean`);
 * - `rows`: all rows (`dr_grpo`'s B).
 * Each is clamped to at least 1, as the local ones are.
 */
export interface LossDenominators {
  tokens: number;
  sequences: number;
  rows: number;
}

export interface PolicyLossInput {
  /** Log-probs of the sampled tokens under the current policy, [B, L], with grad. */
  logp: Tensor;
  /** Log-probs under the policy that sampled them, [B, L]. Default logp.detach(): mu = 1, ratio exactly 1. */
  oldLogp?: Tensor;
  /** One advantage per sequence, [B] (a tensor or numbers). */
  advantages: Tensor | readonly number[];
  /** 1 on completion tokens that count, 0 elsewhere (padding, after EOS), [B, L]; bool or float. */
  mask: Tensor;
  /** Lower clip: ratios below 1 - epsLow stop helping a negative advantage. Default 0.2. */
  epsLow?: number;
  /** Upper clip: ratios above 1 + epsHigh stop helping a positive advantage. Default epsLow (DAPO: 0.28). */
  epsHigh?: number;
  /** KL coefficient. Default 0 (stage 1: no reference model). Needs refLogp when non-zero. */
  beta?: number;
  /** Log-probs under the reference policy, [B, L]. When given, the KL is measured even with beta 0. */
  refLogp?: Tensor;
  /** Default `k3`. */
  kl?: KlEstimator;
  /** Default `token-mean`. */
  aggregation?: Aggregation;
  /** The constant length of `dr_grpo` (max_completion_length). Default L. */
  maxLen?: number;
  /** Denominators over all the rows of the batch when this call sees only some of them (data parallel). */
  denominators?: LossDenominators;
}

export interface PolicyMetrics {
  /** Masked token mean of [rho < 1 - epsLow and A < 0] (TRL clip_ratio/low_mean). */
  clipRatioLowMean: number;
  /** Masked token mean of [rho > 1 + epsHigh and A > 0] (TRL clip_ratio/high_mean). */
  clipRatioHighMean: number;
  /** Masked token mean of either (TRL clip_ratio/region_mean). */
  clipRatioRegionMean: number;
  /** Masked token mean of the KL estimate; only when refLogp was given. */
  klMean?: number;
  /** Masked token mean of rho. */
  ratioMean: number;
  /** The loss value. */
  loss: number;
  /** Active tokens (sum of the mask). */
  tokens: number;
}

export interface PolicyLossResult {
  /** Scalar loss, differentiable w.r.t. logp. */
  loss: Tensor;
  metrics: PolicyMetrics;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function shapeStr(s: readonly number[]): string {
  return `[${s.join(', ')}]`;
}

/** Sum(x * mask) / max(sum(mask), 1). */
function maskedMean(x: Tensor, mask: Tensor): Tensor {
  return x.mul(mask).sum().div(mask.sum().clamp(1));
}

/** The per-token KL estimate (see KlEstimator). */
export function klPerToken(logp: Tensor, refLogp: Tensor, kind: KlEstimator = 'k3'): Tensor {
  return torch.tidy(() => {
    if (kind === 'k1') return logp.sub(refLogp);
    const d = refLogp.sub(logp);
    return d.exp().sub(d).sub(1);
  });
}

/** Reduces masked per-token losses [B, L] to a scalar (see Aggregation). */
export function aggregateLoss(
  perToken: Tensor,
  mask: Tensor,
  aggregation: Aggregation,
  maxLen?: number,
  denominators?: LossDenominators,
): Tensor {
  return torch.tidy(() => {
    const masked = perToken.mul(mask);
    const d = denominators;
    switch (aggregation) {
      case 'token-mean':
        return d ? masked.sum().div(Math.max(d.tokens, 1)) : masked.sum().div(mask.sum().clamp(1));
      case 'seq-mean-token-mean': {
        const count = mask.sum(1);
        const seqLoss = masked.sum(1).div(count.clamp(1));
        const live = count.gt(0).to(seqLoss.dtype);
        const kept = seqLoss.mul(live).sum();
        return d ? kept.div(Math.max(d.sequences, 1)) : kept.div(live.sum().clamp(1));
      }
      case 'dr_grpo': {
        const [B, L] = perToken.shape as [number, number];
        const len = maxLen ?? L;
        if (!(len > 0)) throw new RangeError(`dr_grpo: maxLen must be positive, got ${len}`);
        return masked.sum().div((d ? d.rows : B) * len);
      }
    }
  });
}

/**
 * The GRPO (PPO-clip) policy loss with an optional KL penalty. Per token t of sequence b:
 *
 *   rho = exp(logp - oldLogp)
 *   l   = -min(rho A_b, clip(rho, 1 - epsLow, 1 + epsHigh) A_b) + beta KL_t
 *
 * then aggregated over the mask (see Aggregation). With oldLogp = logp.detach() (mu = 1, ULM-R1) rho is
 * exactly 1, nothing clips, and the gradient is -A_b grad(logp) per token: REINFORCE with a group baseline.
 *
 * Half-precision log-probs are upcast to float32 first. Metrics are plain numbers computed without grad.
 */
export function policyLoss(input: PolicyLossInput): PolicyLossResult {
  const epsLow = input.epsLow ?? 0.2;
  const epsHigh = input.epsHigh ?? epsLow;
  const beta = input.beta ?? 0;
  const klKind = input.kl ?? 'k3';
  const aggregation = input.aggregation ?? 'token-mean';

  const shape = input.logp.shape;
  if (shape.length !== 2) throw new RangeError(`policyLoss: logp must be [B, L], got ${shapeStr(shape)}`);
  const B = shape[0] as number;
  for (const [name, t] of [
    ['oldLogp', input.oldLogp],
    ['mask', input.mask],
    ['refLogp', input.refLogp],
  ] as const) {
    if (t !== undefined && !sameShape(t.shape, shape)) {
      throw new RangeError(`policyLoss: ${name} has shape ${shapeStr(t.shape)}, logp ${shapeStr(shape)}`);
    }
  }
  const advLen = input.advantages instanceof torch.Tensor ? input.advantages.numel : input.advantages.length;
  if (advLen !== B) throw new RangeError(`policyLoss: ${advLen} advantages for a batch of ${B}`);
  if (beta !== 0 && input.refLogp === undefined) throw new Error('policyLoss: beta != 0 needs refLogp');

  return torch.tidy(() => {
    const half = input.logp.dtype === 'float16' || input.logp.dtype === 'bfloat16';
    const up = (t: Tensor): Tensor => (half ? t.float() : t);
    const logp = up(input.logp);
    const dtype = logp.dtype;
    // the sampler's and the reference's tensors may live elsewhere (rollout records on the CPU)
    const here = (t: Tensor): Tensor => t.to(logp.device);
    const old = input.oldLogp !== undefined ? up(here(input.oldLogp)) : logp.detach();
    const mask = here(input.mask).to(dtype);
    const adv = (
      input.advantages instanceof torch.Tensor
        ? here(input.advantages).to(dtype)
        : torch.tensor(Array.from(input.advantages), { dtype, device: logp.device })
    ).reshape([B, 1]);

    const ratio = logp.sub(old).exp();
    const surr1 = ratio.mul(adv);
    const surr2 = ratio.clamp(1 - epsLow, 1 + epsHigh).mul(adv);
    let perToken = surr1.minimum(surr2).neg();
    const kl = input.refLogp !== undefined ? klPerToken(logp, up(here(input.refLogp)), klKind) : undefined;
    if (beta !== 0 && kl !== undefined) perToken = perToken.add(kl.mul(beta));
    const loss = aggregateLoss(perToken, mask, aggregation, input.maxLen, input.denominators);

    const metrics = torch.noGrad((): PolicyMetrics => {
      const r = ratio.detach();
      const low = r.lt(1 - epsLow).logicalAnd(adv.lt(0));
      const high = r.gt(1 + epsHigh).logicalAnd(adv.gt(0));
      const region = low.logicalOr(high);
      const m: PolicyMetrics = {
        clipRatioLowMean: maskedMean(low.to(dtype), mask).item(),
        clipRatioHighMean: maskedMean(high.to(dtype), mask).item(),
        clipRatioRegionMean: maskedMean(region.to(dtype), mask).item(),
        ratioMean: maskedMean(r, mask).item(),
        loss: loss.item(),
        tokens: mask.sum().item(),
      };
      if (kl !== undefined) m.klMean = maskedMean(kl.detach(), mask).item();
      return m;
    });
    return { loss, metrics };
  });
}

/** PolicyMetrics under TRL's names (`clip_ratio/low_mean`, `kl`, ...), optionally prefixed (`t2i/`). */
export function trlPolicyMetrics(m: PolicyMetrics, prefix = ''): Record<string, number> {
  const out: Record<string, number> = {
    [`${prefix}loss`]: m.loss,
    [`${prefix}clip_ratio/low_mean`]: m.clipRatioLowMean,
    [`${prefix}clip_ratio/high_mean`]: m.clipRatioHighMean,
    [`${prefix}clip_ratio/region_mean`]: m.clipRatioRegionMean,
    [`${prefix}ratio_mean`]: m.ratioMean,
    [`${prefix}num_tokens`]: m.tokens,
  };
  if (m.klMean !== undefined) out[`${prefix}kl`] = m.klMean;
  return out;
}

export interface UnifiedLossResult {
  /** loss_mm2t + loss_t2i (the parts present). */
  loss: Tensor;
  /** TRL-named metrics per modality: `mm2t/...` for text, `t2i/...` for image. */
  metrics: Record<string, number>;
  /** Per-modality metrics as structs. */
  text?: PolicyMetrics;
  image?: PolicyMetrics;
}

/**
 * The CoRL unified loss (ULM-R1 v2): each modality's tokens are aggregated on their own (their own mask,
 * their own denominator), then the scalar losses are summed: loss = loss_mm2t + loss_t2i. Image completions
 * (576 tokens) therefore do not drown out short text answers in a shared token mean.
 */
export function unifiedLoss(parts: { text?: PolicyLossInput; image?: PolicyLossInput }): UnifiedLossResult {
  if (parts.text === undefined && parts.image === undefined) {
    throw new Error('unifiedLoss: needs a text part, an image part, or both');
  }
  return torch.tidy(() => {
    const text = parts.text !== undefined ? policyLoss(parts.text) : undefined;
    const image = parts.image !== undefined ? policyLoss(parts.image) : undefined;
    const loss =
      text !== undefined && image !== undefined
        ? text.loss.add(image.loss)
        : ((text ?? image) as PolicyLossResult).loss;
    const metrics: Record<string, number> = {};
    if (text !== undefined) Object.assign(metrics, trlPolicyMetrics(text.metrics, 'mm2t/'));
    if (image !== undefined) Object.assign(metrics, trlPolicyMetrics(image.metrics, 't2i/'));
    metrics['loss'] = loss.item();
    const out: UnifiedLossResult = { loss, metrics };
    if (text !== undefined) out.text = text.metrics;
    if (image !== undefined) out.image = image.metrics;
    return out;
  });
}

// ---------------------------------------------------------------------------------------------------------
// Reward metrics
// ---------------------------------------------------------------------------------------------------------

/**
 * TRL's reward metrics for one batch, NaN-aware:
 * - `reward`: mean over groups of the group mean of `total` (groups with no finite reward are skipped);
 * - `reward_std`: mean over groups of the group std (unbiased) of `total`, same groups;
 * - `frac_reward_zero_std`: fraction of groups with zero std (all groups; see groupAdvantages);
 * - `rewards/{fn}/mean`, `rewards/{fn}/std`: mean and unbiased std of each function's finite values
 *   (TRL's nanmean / nanstd), over the whole batch.
 * A statistic over no finite value is NaN (JSON writes it as null).
 */
export function rewardMetrics(
  rewardsByFn: Record<string, readonly number[]>,
  total: readonly number[],
  G: number,
  opts: { unbiasedStd?: boolean } = {},
): Record<string, number> {
  const unbiased = opts.unbiasedStd ?? true;
  const adv = groupAdvantages(total, G, { unbiasedStd: unbiased });
  let sumMean = 0;
  let sumStd = 0;
  let live = 0;
  for (let p = 0; p < adv.groupMean.length; p++) {
    const m = adv.groupMean[p] as number;
    if (Number.isNaN(m)) continue;
    sumMean += m;
    sumStd += adv.groupStd[p] as number;
    live++;
  }
  const out: Record<string, number> = {
    reward: live === 0 ? NaN : sumMean / live,
    reward_std: live === 0 ? NaN : sumStd / live,
    frac_reward_zero_std: adv.fracZeroStd,
  };
  for (const [fn, values] of Object.entries(rewardsByFn)) {
    const s = finiteStats(values, unbiased);
    out[`rewards/${fn}/mean`] = s.mean;
    out[`rewards/${fn}/std`] = s.n === 0 ? NaN : s.std;
  }
  return out;
}
