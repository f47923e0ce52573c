/**
 * Rewards by name, their weights, and the weighted total per modality.
 *
 * `RewardRegistry` maps names to reward functions (types.ts). `score(modality, specs, batch)` runs the named
 * functions of one modality on a batch, validates every output (one number per sample, each in [0, 1] or
 * NaN; anything else throws a RewardContractError naming the reward: an internal bug, never a silent clamp)
 * and combines them with `combine`.
 *
 * Weighted total with NaN (decision, `nanPolicy: 'rescale'`, the default): a NaN component is missing, not 0.
 *   total_i = (sum over finite k of w_k r_ik) * W / W_i,   W = sum of all positive weights,
 *                                                          W_i = sum of the weights of sample i's finite parts
 * i.e. the finite components are re-weighted to the full weight mass, so a sample with one component missing
 * stays on the same scale [0, W] as its fully scored group mates (the missing component is imputed by the
 * weighted mean of the others). total_i is NaN only when every positive-weight component is NaN.
 * `nanPolicy: 'nansum'` instead adds the finite components without rescaling (TRL's `nansum` over reward
 * functions, and what src/rl/grpo.ts `unifyRewards` does across the two modalities): the missing component
 * counts as 0. Zero-weight components are computed and logged but take no part in the total.
 * Weights must be finite and >= 0 (ULM-R1: all 1 unless `--reward_weights`); the unified CoRL reward
 * r = r_cycle + r_tim + lambda (r_acc + r_format) is one total per modality, joined by grpo.ts.
 */
import {
  RewardContractError,
  type BatchOf,
  type Modality,
  type RewardFn,
  type RewardOutput,
} from './types.js';

export type NanPolicy = 'rescale' | 'nansum';

export interface CombineOptions {
  /** Default 'rescale' (see the file comment). */
  nanPolicy?: NanPolicy;
}

export interface CombineResult {
  /** One weighted total per sample; NaN only where every positive-weight component is NaN. */
  total: number[];
  /** Per component: how many samples it could not score. */
  nanCount: Record<string, number>;
  /** Samples whose total was formed from some but not all of the weighted components. */
  partial: number;
}

function checkWeight(name: string, w: number): number {
  if (typeof w !== 'number' || !Number.isFinite(w) || w < 0)
    throw new RangeError(`reward "${name}": weight must be a finite number >= 0, got ${String(w)}`);
  return w;
}

/**
 * Weighted, NaN-aware total of per-sample reward components. `weights[name]` defaults to 1.
 * Every component must have the same number of samples.
 */
export function combine(
  results: Readonly<Record<string, readonly number[]>>,
  weights: Readonly<Record<string, number>> = {},
  opts: CombineOptions = {},
): CombineResult {
  const policy = opts.nanPolicy ?? 'rescale';
  const names = Object.keys(results);
  const lengths = new Set(names.map((k) => results[k]!.length));
  if (lengths.size > 1) {
    const desc = names.map((k) => `${k}: ${results[k]!.length}`).join(', ');
    throw new RangeError(`combine: components have different sample counts (${desc})`);
  }
  const n = names.length === 0 ? 0 : results[names[0]!]!.length;
  const w = names.map((k) => checkWeight(k, weights[k] ?? 1));
  const W = w.reduce((a, b) => a + b, 0);
  const nanCount: Record<string, number> = {};
  for (const k of names) nanCount[k] = results[k]!.filter((v) => !Number.isFinite(v)).length;
  const total = new Array<number>(n);
  let partial = 0;
  for (let i = 0; i < n; i++) {
    let sum = 0;
    let wFinite = 0;
    names.forEach((k, j) => {
      const wk = w[j]!;
      const v = results[k]![i]!;
      if (wk === 0 || !Number.isFinite(v)) return;
      sum += wk * v;
      wFinite += wk;
    });
    if (wFinite === 0) {
      total[i] = NaN;
      continue;
    }
    if (wFinite < W) partial++;
    total[i] = policy === 'rescale' ? (sum * W) / wFinite : sum;
  }
  return { total, nanCount, partial };
}

/**
 * Checks a reward's output for n samples and returns it in the object form. Throws RewardContractError
 * (naming the reward and the sample) for a wrong length, a non-number, or a value outside [0, 1] other
 * than NaN (Infinity included).
 */
export function validateRewardOutput(name: string, out: unknown, n: number): RewardOutput {
  const obj: RewardOutput | null = Array.isArray(out)
    ? { values: out as number[] }
    : typeof out === 'object' && out !== null && Array.isArray((out as RewardOutput).values)
      ? (out as RewardOutput)
      : null;
  if (obj === null) throw new RewardContractError(name, `returned ${describe(out)}, not an array of numbers`);
  if (obj.values.length !== n)
    throw new RewardContractError(name, `returned ${obj.values.length} values for ${n} samples`);
  obj.values.forEach((v, i) => {
    if (typeof v !== 'number')
      throw new RewardContractError(name, `sample ${i}: ${describe(v)} is not a number`);
    if (!Number.isNaN(v) && !(v >= 0 && v <= 1))
      throw new RewardContractError(
        name,
        `sample ${i}: ${v} is outside [0, 1] (NaN is the only other value allowed)`,
      );
  });
  for (const [part, vs] of Object.entries(obj.parts ?? {})) {
    if (!Array.isArray(vs) || vs.length !== n || vs.some((v) => typeof v !== 'number'))
      throw new RewardContractError(name, `part "${part}" is not ${n} numbers`);
  }
  return obj;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return JSON.stringify(v);
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}

/** One configured reward: its registry name and weight (default 1). */
export interface RewardSpec {
  name: string;
  weight?: number;
}

/** The scores of one modality's rewards on one batch. */
export interface ScoredBatch extends CombineResult {
  modality: Modality;
  /** Per reward: its validated values. */
  byFn: Record<string, number[]>;
  /** Per reward: its optional per-sample parts. */
  parts: Record<string, Record<string, number[]>>;
  /** Per reward: its note, when it gave one. */
  notes: Record<string, string>;
  weights: Record<string, number>;
}

export class RewardRegistry {
  private readonly fns = new Map<string, RewardFn>();

  /** Adds a reward; a name registered twice is an error (replace with `replace: true`). */
  register(fn: RewardFn, opts: { replace?: boolean } = {}): this {
    if (this.fns.has(fn.name) && !opts.replace) throw new Error(`reward "${fn.name}" is already registered`);
    this.fns.set(fn.name, fn);
    return this;
  }

  has(name: string): boolean {
    return this.fns.has(name);
  }

  /** The reward called `name`; an unknown name lists the known ones. */
  get(name: string): RewardFn {
    const fn = this.fns.get(name);
    if (fn === undefined)
      throw new RangeError(`unknown reward "${name}" (known: ${this.names().join(', ')})`);
    return fn;
  }

  /** Registered names, optionally of one modality. */
  names(modality?: Modality): string[] {
    return [...this.fns.values()]
      .filter((f) => modality === undefined || f.modality === modality)
      .map((f) => f.name);
  }

  modalityOf(name: string): Modality {
    return this.get(name).modality;
  }

  /**
   * Runs the rewards in `specs` (all of `modality`; a reward of the other modality is a config error) on a
   * batch, validates their outputs and combines them.
   */
  score<M extends Modality>(
    modality: M,
    specs: readonly RewardSpec[],
    batch: BatchOf<M>,
    opts: CombineOptions = {},
  ): ScoredBatch {
    const n = batch.samples.length;
    const byFn: Record<string, number[]> = {};
    const parts: Record<string, Record<string, number[]>> = {};
    const notes: Record<string, string> = {};
    const weights: Record<string, number> = {};
    for (const spec of specs) {
      const fn = this.get(spec.name);
      if (fn.modality !== modality)
        throw new RangeError(`reward "${spec.name}" scores ${fn.modality}, not ${modality}`);
      if (spec.name in byFn) throw new RangeError(`reward "${spec.name}" is listed twice`);
      weights[spec.name] = checkWeight(spec.name, spec.weight ?? 1);
      const out = validateRewardOutput(spec.name, (fn as RewardFn<M>).score(batch), n);
      byFn[spec.name] = out.values;
      if (out.parts !== undefined) parts[spec.name] = out.parts;
      if (out.note !== undefined) notes[spec.name] = out.note;
    }
    return { modality, byFn, parts, notes, weights, ...combine(byFn, weights, opts) };
  }
}

/**
 * Logging extras the GRPO metrics (src/rl/grpo.ts `rewardMetrics`, which gives rewards/{fn}/mean|std) do not
 * cover: `rewards/{fn}/nan_frac`, and for each part `rewards/{fn}/{part}/mean` and `.../nan_frac`; plus
 * `rewards/partial_frac`, the fraction of samples whose total lacked a component. Means are over finite values
 * (NaN when none).
 */
export function rewardExtraMetrics(s: ScoredBatch, prefix = ''): Record<string, number> {
  const n = s.total.length;
  const frac = (k: number) => (n === 0 ? 0 : k / n);
  const out: Record<string, number> = { [`${prefix}rewards/partial_frac`]: frac(s.partial) };
  for (const [fn, vs] of Object.entries(s.byFn)) out[`${prefix}rewards/${fn}/nan_frac`] = frac(nanOf(vs));
  for (const [fn, ps] of Object.entries(s.parts))
    for (const [part, vs] of Object.entries(ps)) {
      out[`${prefix}rewards/${fn}/${part}/mean`] = finiteMean(vs);
      out[`${prefix}rewards/${fn}/${part}/nan_frac`] = frac(nanOf(vs));
    }
  return out;
}

function nanOf(vs: readonly number[]): number {
  return vs.filter((v) => !Number.isFinite(v)).length;
}

export function finiteMean(vs: readonly number[]): number {
  let s = 0;
  let k = 0;
  for (const v of vs)
    if (Number.isFinite(v)) {
      s += v;
      k++;
    }
  return k === 0 ? NaN : s / k;
}

/** A config's `name -> weight` map as the registry's specs. */
export function specsOf(weights: Readonly<Record<string, number>>): RewardSpec[] {
  return Object.entries(weights).map(([name, weight]) => ({ name, weight }));
}
