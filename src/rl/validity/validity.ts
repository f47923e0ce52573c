/**
 * Reward validity: do the image rewards rank correct images above incorrect ones, on a fixed candidate set?
 *
 * For each generation prompt (a world row: prompt, GenEval spec, real scene, real image) the candidates are
 * (validity-candidates.ts): the real image, other correct renders, the empty frame, wrong-colour / -shape /
 * -count / -position variants of the real scene, and K samples of the given model (CFG, as the trainer),
 * every one labelled correct or incorrect by the exact GenEval check (scene parser + GenEval rules).
 * Every image reward of the registry scores every candidate the way the trainer calls it
 * (src/rl/trainer.ts `scoreRollout`): the policy (= the given model) re-captions the image greedily (the cycle
 * reward's text side) and gives its hidden states over "image + prompt" (TIM, CLIP-style); the cycle reward's
 * two halves are reported as rows of their own, and so is the paper's generation reward, cycle + TIM (the
 * registry's total of the two, weights 1).
 *
 * Per reward:
 * - pairwise accuracy: over all (correct, incorrect) pairs of the same prompt, the fraction where the correct
 *   image scores strictly higher; a tie counts half; a pair with a NaN score is left out (and counted). Pooled
 *   over pairs (not a mean of per-prompt accuracies). Overall, by kind of incorrect image, and with the real
 *   image left out of the correct side (the image side compares each image with the real one, so the real
 *   image itself always wins there);
 * - a 95% percentile bootstrap interval of each accuracy, resampling prompts with replacement (fixed seed);
 * - Spearman rank correlation (average ranks for ties) of the reward with the GenEval check (0/1; the check
 *   has no fractional score) over all candidates with a finite reward.
 * `geneval` is the reward form of the check itself, so its accuracy is 1 and its Spearman 1 by construction:
 * it is the reference row.
 */
import * as torch from '../../torch/index.js';
import { drawImages } from '../../model/index.js';
import { recaption, timHidden, type Policy, type SamplingConfig } from '../rollout.js';
import type { GenevalSpec } from '../../world/geneval.js';
import type { RgbImage } from '../../world/image.js';
import type { RenderOptions } from '../../world/render.js';
import { Rng, deriveSeed } from '../../world/rng.js';
import type { Scene } from '../../world/scene.js';
import { combine } from '../../rewards/registry.js';
import { CORL_REWARDS, createRewardRegistry, type RewardOptions } from '../../rewards/index.js';
import {
  CANDIDATE_KINDS,
  CORRECT_KINDS,
  INCORRECT_KINDS,
  genevalCheck,
  renderedCandidates,
  type Candidate,
  type CandidateKind,
  type CorrectKind,
  type IncorrectKind,
} from './candidates.js';

export * from './candidates.js';

// ---------------------------------------------------------------------------------------------------------
// statistics (pure)

/** Pair outcomes of one (correct kind, incorrect kind) cell. */
export interface PairCell {
  /** Pairs the correct image wins, ties counted 0.5. */
  wins: number;
  /** Scored pairs (both finite). */
  pairs: number;
  ties: number;
  /** Pairs left out because a score was NaN. */
  skipped: number;
}

/** Per prompt: cells[correct kind index][incorrect kind index]. */
export type PromptPairs = PairCell[][];

const emptyCell = (): PairCell => ({ wins: 0, pairs: 0, ties: 0, skipped: 0 });

/** Minimal candidate fields the statistics need. */
export interface Labelled {
  prompt: number;
  kind: CandidateKind;
  correct: boolean;
}

/**
 * Every (correct, incorrect) pair of the same prompt, tallied per prompt and per (correct kind, incorrect
 * kind). A candidate's side is its `correct` label; its kind only places it in a cell (a correct candidate
 * of an incorrect kind cannot occur: the builder drops those).
 */
export function promptPairs(
  cands: readonly Labelled[],
  scores: readonly number[],
  nPrompts: number,
): PromptPairs[] {
  if (cands.length !== scores.length)
    throw new RangeError(`promptPairs: ${cands.length} candidates but ${scores.length} scores`);
  const out: PromptPairs[] = Array.from({ length: nPrompts }, () =>
    CORRECT_KINDS.map(() => INCORRECT_KINDS.map(emptyCell)),
  );
  const byPrompt: number[][] = Array.from({ length: nPrompts }, () => []);
  cands.forEach((c, i) => byPrompt[c.prompt]!.push(i));
  byPrompt.forEach((idx, p) => {
    for (const a of idx) {
      if (!cands[a]!.correct) continue;
      const ck = CORRECT_KINDS.indexOf(cands[a]!.kind as CorrectKind);
      for (const b of idx) {
        if (cands[b]!.correct) continue;
        const ik = INCORRECT_KINDS.indexOf(cands[b]!.kind as IncorrectKind);
        if (ck < 0 || ik < 0) throw new RangeError(`promptPairs: a candidate's kind contradicts its label`);
        const cell = out[p]![ck]![ik]!;
        const sa = scores[a]!;
        const sb = scores[b]!;
        if (!Number.isFinite(sa) || !Number.isFinite(sb)) {
          cell.skipped++;
          continue;
        }
        cell.pairs++;
        if (sa > sb) cell.wins++;
        else if (sa === sb) {
          cell.wins += 0.5;
          cell.ties++;
        }
      }
    }
  });
  return out;
}

/** Which cells an accuracy pools. */
export interface CellFilter {
  correct?: readonly CorrectKind[];
  incorrect?: readonly IncorrectKind[];
}

/** The pooled cell of one prompt over the filtered kinds. */
export function poolPrompt(p: PromptPairs, f: CellFilter = {}): PairCell {
  const acc = emptyCell();
  CORRECT_KINDS.forEach((ck, i) => {
    if (f.correct && !f.correct.includes(ck)) return;
    INCORRECT_KINDS.forEach((ik, j) => {
      if (f.incorrect && !f.incorrect.includes(ik)) return;
      const c = p[i]![j]!;
      acc.wins += c.wins;
      acc.pairs += c.pairs;
      acc.ties += c.ties;
      acc.skipped += c.skipped;
    });
  });
  return acc;
}

/** wins / pairs (NaN without pairs). */
export function cellAccuracy(c: Pick<PairCell, 'wins' | 'pairs'>): number {
  return c.pairs === 0 ? NaN : c.wins / c.pairs;
}

/**
 * 95% (or `level`) percentile bootstrap interval of the pooled accuracy sum(wins) / sum(pairs), resampling
 * the per-prompt tallies with replacement `B` times from a fixed seed. Replicates without pairs are skipped.
 */
export function bootstrapInterval(
  perPrompt: readonly Pick<PairCell, 'wins' | 'pairs'>[],
  opts: { B?: number; seed?: number; level?: number } = {},
): [number, number] {
  const B = opts.B ?? 1000;
  const n = perPrompt.length;
  if (n === 0 || perPrompt.every((c) => c.pairs === 0)) return [NaN, NaN];
  const rng = new Rng(deriveSeed(opts.seed ?? 0, 'bootstrap'));
  const reps: number[] = [];
  for (let b = 0; b < B; b++) {
    let w = 0;
    let k = 0;
    for (let i = 0; i < n; i++) {
      const c = perPrompt[rng.int(n)]!;
      w += c.wins;
      k += c.pairs;
    }
    if (k > 0) reps.push(w / k);
  }
  reps.sort((a, b) => a - b);
  const alpha = (1 - (opts.level ?? 0.95)) / 2;
  const at = (q: number) => reps[Math.min(reps.length - 1, Math.max(0, Math.floor(q * reps.length)))]!;
  return [at(alpha), at(1 - alpha)];
}

/** Ranks 1..n, ties given their average rank. */
export function averageRanks(xs: readonly number[]): number[] {
  const idx = xs.map((_, i) => i).sort((a, b) => xs[a]! - xs[b]!);
  const r = new Array<number>(xs.length);
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j + 1 < idx.length && xs[idx[j + 1]!] === xs[idx[i]!]) j++;
    const avg = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) r[idx[k]!] = avg;
    i = j + 1;
  }
  return r;
}

/** Pearson correlation; NaN when either side has no variance or fewer than 2 points. */
export function pearson(x: readonly number[], y: readonly number[]): number {
  const n = x.length;
  if (n < 2 || y.length !== n) return NaN;
  const mx = x.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i]! - mx;
    const dy = y[i]! - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxx === 0 || syy === 0 ? NaN : sxy / Math.sqrt(sxx * syy);
}

/** Spearman rank correlation (average ranks for ties) over the pairs where both values are finite. */
export function spearman(x: readonly number[], y: readonly number[]): number {
  if (x.length !== y.length) throw new RangeError(`spearman: ${x.length} vs ${y.length} values`);
  const keep = x.flatMap((v, i) => (Number.isFinite(v) && Number.isFinite(y[i]!) ? [i] : []));
  return pearson(averageRanks(keep.map((i) => x[i]!)), averageRanks(keep.map((i) => y[i]!)));
}

// ---------------------------------------------------------------------------------------------------------
// the check

/** A generation prompt of the world with what the candidates are built from. */
export interface ValidityRow {
  prompt: string;
  spec: GenevalSpec;
  scene: Scene;
  realImage: RgbImage;
  category?: string;
}

export interface ValidityOptions {
  /** Base-model samples per prompt (CFG), labelled by the GenEval check (default 4; 0 = none). */
  imagesPerPrompt?: number;
  /** Other correct renders per prompt (default 3). */
  correctRenders?: number;
  /** Seed of the variants, the model's sampler and the bootstrap (default 0). */
  seed?: number;
  /** CFG weight and temperature of the samples (the trainer's defaults: 5 and 1). */
  cfgWeight?: number;
  temperature?: number;
  /** Re-caption length (the trainer's default 40 tokens, greedy). */
  recaptionMaxTokens?: number;
  /** Bootstrap replicates (default 1000). */
  bootstrap?: number;
  /** Images per forward batch (default 32). */
  chunk?: number;
  /** How the world rendered its real images (antialias, noise, background). */
  render?: RenderOptions;
  /** Registry options (the trainer's defaults: SSIM image side, SPICE-style text side). */
  rewards?: RewardOptions;
  /**
   * Extra reward rows computed from the scored batch (e.g. alternative image sides, validity-variants.ts):
   * name -> per-candidate scores, given the candidates, their rows and the registry's outputs.
   */
  extraRows?: (ctx: ExtraRowContext) => Record<string, number[]>;
  onProgress?: (done: number, total: number, what: string) => void;
}

/** What `extraRows` sees for one chunk of candidates. */
export interface ExtraRowContext {
  candidates: readonly Candidate[];
  rows: readonly ValidityRow[];
  byFn: Record<string, number[]>;
  parts: Record<string, Record<string, number[]>>;
}

/** One accuracy with its interval and pair count. */
export interface PairStat {
  accuracy: number;
  ci: [number, number];
  pairs: number;
  ties: number;
  /** Pairs left out for a NaN score. */
  skipped: number;
}

export interface RewardValidity {
  name: string;
  /** All (correct, incorrect) pairs. */
  overall: PairStat;
  /** The real image left out of the correct side (other renders + base samples judged correct). */
  not_real: PairStat;
  /** Per kind of incorrect image (null: no such pairs). */
  by_kind: Record<IncorrectKind, PairStat | null>;
  /** Per kind of incorrect image, the real image left out of the correct side. */
  by_kind_not_real: Record<IncorrectKind, PairStat | null>;
  /**
   * The model's own samples only: base samples judged correct vs base samples judged wrong (the ranking GRPO
   * sees inside a group).
   */
  samples_only: PairStat;
  /** Spearman correlation of the reward with the GenEval check (0/1) over all candidates. */
  spearman: number;
  /** Mean score per kind of candidate (NaN: none). */
  mean_by_kind: Record<CandidateKind, number>;
  /** Candidates the reward could not score (NaN). */
  nan: number;
}

export interface ValidityResult {
  prompts: number;
  categories: Record<string, number>;
  candidates: Record<CandidateKind, number>;
  /** Rendered variants dropped because the GenEval check disagreed with the intended label. */
  dropped: number;
  settings: {
    images_per_prompt: number;
    correct_renders: number;
    seed: number;
    cfg_weight: number;
    temperature: number;
    bootstrap: number;
    image_side: string;
    ties: 'count half';
  };
  rewards: RewardValidity[];
  wall_s: number;
}

/** The paper's generation reward row: cycle + TIM, the registry total of CORL_REWARDS.image. */
export const PAPER_ROW = 'cycle + TIM (paper)';

/** Order of the reward rows: each image reward, the cycle halves after the cycle reward, the paper total. */
function rowNames(registryNames: readonly string[], extra: readonly string[]): string[] {
  const out: string[] = [];
  for (const n of registryNames) {
    out.push(n);
    if (n === 't2i_bid_cycle_reward') out.push(`${n}.image_side`, `${n}.text_side`);
  }
  return [...out, PAPER_ROW, ...extra];
}

/**
 * Runs the check (see the file comment) with `policy` as the base model, the re-captioner and TIM's encoder:
 * 1. the rendered candidates, 2. the model's own samples, 3. every image reward on every candidate,
 * 4. the statistics of each reward.
 */
export function rewardValidity(
  policy: Policy,
  rows: readonly ValidityRow[],
  opts: ValidityOptions = {},
): ValidityResult {
  const t0 = Date.now();
  const seed = opts.seed ?? 0;
  const K = opts.imagesPerPrompt ?? 4;
  const B = opts.bootstrap ?? 1000;
  const { cands, dropped } = renderedAll(rows, opts);
  if (K > 0) cands.push(...modelSamples(policy, rows, opts));
  const { names, scores } = scoreCandidates(policy, rows, cands, opts);
  const label = cands.map((c) => (c.correct ? 1 : 0));
  const extra = Object.keys(scores).filter((n) => !rowNames(names, []).includes(n));
  const rewards = rowNames(names, extra).map((name) =>
    rewardStats(name, cands, scores[name]!, label, rows.length, { B, seed }),
  );
  const candidates = Object.fromEntries(
    CANDIDATE_KINDS.map((k) => [k, cands.filter((c) => c.kind === k).length]),
  ) as Record<CandidateKind, number>;
  const categories: Record<string, number> = {};
  for (const r of rows)
    categories[r.category ?? r.spec.tag] = (categories[r.category ?? r.spec.tag] ?? 0) + 1;
  return {
    prompts: rows.length,
    categories,
    candidates,
    dropped,
    settings: {
      images_per_prompt: K,
      correct_renders: opts.correctRenders ?? 3,
      seed,
      cfg_weight: opts.cfgWeight ?? 5,
      temperature: opts.temperature ?? 1,
      bootstrap: B,
      image_side: opts.rewards?.lpips !== undefined ? 'lpips' : (opts.rewards?.imageFallback ?? 'ssim'),
      ties: 'count half',
    },
    rewards,
    wall_s: (Date.now() - t0) / 1000,
  };
}

/** 1. The rendered candidates of every prompt (variants the check disagrees with are dropped and counted). */
function renderedAll(
  rows: readonly ValidityRow[],
  opts: ValidityOptions,
): { cands: Candidate[]; dropped: number } {
  const cands: Candidate[] = [];
  let dropped = 0;
  rows.forEach((r, p) => {
    const rc = renderedCandidates(p, r.spec, r.scene, r.realImage, {
      seed: deriveSeed(opts.seed ?? 0, 'validity', p),
      correctRenders: opts.correctRenders,
      render: opts.render,
      detect: opts.rewards?.detect,
    });
    cands.push(...rc.candidates);
    dropped += rc.dropped.length;
  });
  return { cands, dropped };
}

/** 2. The model's own samples, K per prompt (CFG as the trainer), labelled by the exact check. */
function modelSamples(policy: Policy, rows: readonly ValidityRow[], opts: ValidityOptions): Candidate[] {
  const { model, tok } = policy;
  const K = opts.imagesPerPrompt ?? 4;
  const report = opts.onProgress ?? (() => {});
  const out: Candidate[] = [];
  const gen = new torch.Generator(deriveSeed(opts.seed ?? 0, 'validity-samples'));
  const per = Math.max(1, Math.floor((opts.chunk ?? 32) / K));
  for (let i = 0; i < rows.length; i += per) {
    const part = rows.slice(i, i + per);
    const images = drawImages(
      model,
      tok,
      part.map((r) => r.prompt),
      {
        imagesPerPrompt: K,
        cfgWeight: opts.cfgWeight, // drawImages' defaults: Janus's CFG 5, temperature 1
        temperature: opts.temperature,
        generator: gen,
      },
    );
    images.forEach((image, k) => {
      const p = i + Math.floor(k / K);
      const correct = genevalCheck(rows[p]!.spec, image, opts.rewards?.detect);
      out.push({ prompt: p, kind: correct ? 'base_correct' : 'base_wrong', correct, image });
    });
    report(Math.min(i + per, rows.length), rows.length, 'samples');
  }
  return out;
}

/** 3. Every image reward of the registry on every candidate, as the trainer calls them (plus the paper's total). */
function scoreCandidates(
  policy: Policy,
  rows: readonly ValidityRow[],
  cands: readonly Candidate[],
  opts: ValidityOptions,
): { names: string[]; scores: Record<string, number[]> } {
  const chunk = opts.chunk ?? 32;
  const report = opts.onProgress ?? (() => {});
  const registry = createRewardRegistry(opts.rewards ?? {});
  const names = registry.names('image');
  const sampling: SamplingConfig = {
    cfgWeight: opts.cfgWeight ?? 5,
    temperature: opts.temperature ?? 1,
    textTemperature: 1,
    topK: 0,
    topP: 1,
    maxCompletionLength: 48,
    recaptionTemperature: 0,
    recaptionMaxTokens: opts.recaptionMaxTokens ?? 40,
  };
  const recapGen = new torch.Generator(deriveSeed(opts.seed ?? 0, 'validity-recaption'));
  const scores: Record<string, number[]> = {};
  const push = (name: string, vs: readonly number[]) => (scores[name] ??= []).push(...vs);
  for (let i = 0; i < cands.length; i += chunk) {
    const part = cands.slice(i, i + chunk);
    torch.tidy(() => {
      const images = part.map((c) => c.image);
      const prompts = part.map((c) => rows[c.prompt]!.prompt);
      const recaps = recaption(policy, images, sampling, recapGen);
      const hidden = timHidden(policy, images, prompts);
      const samples = part.map((c, k) => ({
        image: c.image,
        prompt: prompts[k]!,
        realImage: rows[c.prompt]!.realImage,
        recaption: recaps[k],
        spec: rows[c.prompt]!.spec,
      }));
      const scored = registry.score(
        'image',
        names.map((name) => ({ name })),
        { samples, hidden },
      );
      for (const n of names) {
        push(n, scored.byFn[n]!);
        if (n === 't2i_bid_cycle_reward') {
          push(`${n}.image_side`, scored.parts[n]!['image_side']!);
          push(`${n}.text_side`, scored.parts[n]!['text_side']!);
        }
      }
      const paper: Record<string, number[]> = {};
      const weights: Record<string, number> = {};
      for (const s of CORL_REWARDS.image) {
        paper[s.name] = scored.byFn[s.name]!;
        weights[s.name] = s.weight ?? 1;
      }
      push(PAPER_ROW, combine(paper, weights).total);
      if (opts.extraRows)
        for (const [n, vs] of Object.entries(
          opts.extraRows({ candidates: [...part], rows, byFn: scored.byFn, parts: scored.parts }),
        ))
          push(n, vs);
    });
    report(Math.min(i + chunk, cands.length), cands.length, 'rewards');
  }
  return { names, scores };
}

const NOT_REAL: readonly CorrectKind[] = ['correct_render', 'base_correct'];

/** The statistics of one reward's scores over the candidates. */
export function rewardStats(
  name: string,
  cands: readonly Labelled[],
  scores: readonly number[],
  label: readonly number[],
  nPrompts: number,
  boot: { B?: number; seed?: number } = {},
): RewardValidity {
  const pp = promptPairs(cands, scores, nPrompts);
  const stat = (f: CellFilter): PairStat | null => {
    const per = pp.map((p) => poolPrompt(p, f));
    const tot = per.reduce((a, c) => {
      a.wins += c.wins;
      a.pairs += c.pairs;
      a.ties += c.ties;
      a.skipped += c.skipped;
      return a;
    }, emptyCell());
    if (tot.pairs === 0 && tot.skipped === 0) return null;
    return {
      accuracy: cellAccuracy(tot),
      ci: bootstrapInterval(per, boot),
      pairs: tot.pairs,
      ties: tot.ties,
      skipped: tot.skipped,
    };
  };
  const none: PairStat = { accuracy: NaN, ci: [NaN, NaN], pairs: 0, ties: 0, skipped: 0 };
  const mean_by_kind = Object.fromEntries(
    CANDIDATE_KINDS.map((k) => {
      const vs = cands.flatMap((c, i) => (c.kind === k && Number.isFinite(scores[i]!) ? [scores[i]!] : []));
      return [k, vs.length === 0 ? NaN : vs.reduce((a, b) => a + b, 0) / vs.length];
    }),
  ) as Record<CandidateKind, number>;
  return {
    name,
    overall: stat({}) ?? none,
    not_real: stat({ correct: NOT_REAL }) ?? none,
    by_kind: Object.fromEntries(INCORRECT_KINDS.map((k) => [k, stat({ incorrect: [k] })])) as Record<
      IncorrectKind,
      PairStat | null
    >,
    by_kind_not_real: Object.fromEntries(
      INCORRECT_KINDS.map((k) => [k, stat({ correct: NOT_REAL, incorrect: [k] })]),
    ) as Record<IncorrectKind, PairStat | null>,
    samples_only: stat({ correct: ['base_correct'], incorrect: ['base_wrong'] }) ?? none,
    spearman: spearman(scores, label),
    mean_by_kind,
    nan: scores.filter((v) => !Number.isFinite(v)).length,
  };
}

// ---------------------------------------------------------------------------------------------------------
// the table

const f3 = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : '-');
const f2 = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : '-');

function statCell(s: PairStat | null): string {
  if (s === null || s.pairs === 0) return '-';
  return `${f3(s.accuracy)} [${f2(s.ci[0])}, ${f2(s.ci[1])}]`;
}

function table(header: readonly string[], body: readonly (readonly string[])[]): string {
  const w = header.map((h, j) => Math.max(h.length, ...body.map((r) => r[j]!.length)));
  const line = (r: readonly string[]) =>
    `| ${r.map((c, j) => (j === 0 ? c.padEnd(w[j]!) : c.padStart(w[j]!))).join(' | ')} |`;
  const sep = `| ${w.map((n, j) => (j === 0 ? '-'.repeat(n) : `${'-'.repeat(n - 1)}:`)).join(' | ')} |`;
  return [line(header), sep, ...body.map(line)].join('\n');
}

export const KIND_LABEL: Readonly<Record<CandidateKind, string>> = {
  real: 'real image',
  correct_render: 'other correct render',
  base_correct: 'base sample, correct',
  empty: 'empty',
  wrong_color: 'wrong colour',
  wrong_shape: 'wrong shape',
  wrong_count: 'wrong count',
  wrong_position: 'wrong position',
  base_wrong: 'base sample, wrong',
};

/** The readable report: pairwise accuracy [95% CI] per reward and kind, Spearman, and mean score per kind. */
export function formatValidityTable(r: ValidityResult): string {
  const pairsOf = (k: IncorrectKind) => r.rewards.find((x) => x.by_kind[k] !== null)?.by_kind[k]?.pairs ?? 0;
  const head1 = ['reward', 'all pairs', ...INCORRECT_KINDS.map((k) => `vs ${KIND_LABEL[k]}`), 'Spearman'];
  const body1 = r.rewards.map((x) => [
    x.name,
    statCell(x.overall),
    ...INCORRECT_KINDS.map((k) => statCell(x.by_kind[k])),
    f3(x.spearman),
  ]);
  const head1b = [
    'reward',
    'all pairs',
    ...INCORRECT_KINDS.map((k) => `vs ${KIND_LABEL[k]}`),
    'samples only',
  ];
  const body1b = r.rewards.map((x) => [
    x.name,
    statCell(x.not_real),
    ...INCORRECT_KINDS.map((k) => statCell(x.by_kind_not_real[k])),
    statCell(x.samples_only),
  ]);
  const head2 = ['reward', ...CANDIDATE_KINDS.map((k) => `${KIND_LABEL[k]} (${r.candidates[k]})`)];
  const body2 = r.rewards.map((x) => [x.name, ...CANDIDATE_KINDS.map((k) => f3(x.mean_by_kind[k]))]);
  const cats = Object.entries(r.categories)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  const s = r.settings;
  return [
    `reward validity: ${r.prompts} prompts (${cats}); ${Object.values(r.candidates).reduce((a, b) => a + b, 0)} candidates` +
      `${r.dropped > 0 ? ` (${r.dropped} variants dropped: the GenEval check disagreed with their label)` : ''}; ` +
      `base samples ${s.images_per_prompt} per prompt (CFG ${s.cfg_weight}, temperature ${s.temperature}); ` +
      `image side ${s.image_side}; ${r.wall_s.toFixed(1)} s`,
    '',
    `pairwise accuracy: P(correct image scores strictly higher than an incorrect one of the same prompt), ties count half;` +
      ` [95% bootstrap interval over prompts, ${s.bootstrap} resamples, seed ${s.seed}];` +
      ` pairs: ${INCORRECT_KINDS.map((k) => `${KIND_LABEL[k]} ${pairsOf(k)}`).join(', ')}.` +
      ` Spearman: rank correlation with the GenEval check (0/1) over all candidates.`,
    table(head1, body1),
    '',
    'the same with the real image left out of the correct side (other correct renders and base samples judged' +
      ' correct; the image side scores the real image 1 against itself); samples only: base samples judged' +
      ' correct vs judged wrong (the ranking GRPO sees inside a group):',
    table(head1b, body1b),
    '',
    'mean score per kind of candidate (count):',
    table(head2, body2),
  ].join('\n');
}
