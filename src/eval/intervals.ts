/**
 * 95% intervals of one evaluation's headline scores, from its items (`EvalResult.items`), by the percentile
 * bootstrap: resample the items of each family with replacement (GenEval: the prompts within each category,
 * since a prompt's 4 images are not independent), recompute the score, take the 2.5% and 97.5% quantiles,
 * and report half their distance. `pairedDelta` does the same for the difference between two models scored
 * on the same items (each resample draws the same items for both), which is tighter than combining the two
 * intervals because the items' difficulty cancels.
 *
 * The headline scores: GenEval overall (mean over categories), MCQ and OE accuracy, POPE F1, and the
 * understanding mean (MCQ + OE + POPE F1) / 3.
 */
import { Rng } from '../world/rng.js';
import { popeMetrics } from '../world/answers.js';
import type { EvalItems } from './evaluate.js';

export const HEADLINE_KEYS = [
  'geneval/overall',
  'mcq/accuracy',
  'oe/accuracy',
  'pope/f1',
  'understanding/mean',
] as const;
export type HeadlineKey = (typeof HEADLINE_KEYS)[number];

/** Resamples per interval (fixed seed: the same result gives the same interval). */
const RESAMPLES = 1000;

/** The headline scores of a (resampled) set of items; NaN where a family has no items. */
export function headlineScores(items: EvalItems, pick?: Picks): Record<HeadlineKey, number> {
  const at = <T>(xs: readonly T[], idx?: number[]): T[] =>
    idx === undefined ? [...xs] : idx.map((i) => xs[i]!);
  const cats = [...(pick?.geneval ?? categories(items)).values()].map((idx) =>
    mean(idx.map((i) => items.geneval[i]!.correct)),
  );
  const mcq = mean(at(items.mcq, pick?.mcq));
  const oe = mean(at(items.oe, pick?.oe));
  const pope = items.pope.length === 0 ? NaN : popeMetrics(at(items.pope, pick?.pope)).f1;
  return {
    'geneval/overall': mean(cats),
    'mcq/accuracy': mcq,
    'oe/accuracy': oe,
    'pope/f1': pope,
    'understanding/mean': (mcq + oe + pope) / 3,
  };
}

/** One bootstrap draw: item indices per family (GenEval: per category, within it). */
interface Picks {
  geneval: Map<string, number[]>;
  mcq: number[];
  oe: number[];
  pope: number[];
}

/** The GenEval prompts' indices by category, in order of first appearance. */
function categories(items: EvalItems): Map<string, number[]> {
  const byCategory = new Map<string, number[]>();
  items.geneval.forEach((p, i) => {
    if (!byCategory.has(p.tag)) byCategory.set(p.tag, []);
    byCategory.get(p.tag)!.push(i);
  });
  return byCategory;
}

function draw(items: EvalItems, byCategory: Map<string, number[]>, rng: Rng): Picks {
  const idx = (n: number) => Array.from({ length: n }, () => rng.int(n));
  const geneval = new Map<string, number[]>();
  for (const [tag, members] of byCategory)
    geneval.set(
      tag,
      idx(members.length).map((k) => members[k]!),
    );
  return { geneval, mcq: idx(items.mcq.length), oe: idx(items.oe.length), pope: idx(items.pope.length) };
}

/** Half the 95% percentile interval of `stat` over bootstrap draws of `items` (NaN-free keys only). */
function bootstrap(
  items: EvalItems,
  stat: (pick: Picks) => Record<HeadlineKey, number>,
  seed: number,
): Record<HeadlineKey, number> {
  const rng = new Rng(seed);
  const byCategory = categories(items);
  const draws: Record<HeadlineKey, number[]> = Object.fromEntries(HEADLINE_KEYS.map((k) => [k, []])) as never;
  for (let b = 0; b < RESAMPLES; b++) {
    const s = stat(draw(items, byCategory, rng));
    for (const k of HEADLINE_KEYS) draws[k].push(s[k]);
  }
  return Object.fromEntries(
    HEADLINE_KEYS.map((k) => {
      const xs = draws[k].filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
      if (xs.length < RESAMPLES / 2) return [k, NaN];
      return [k, (quantile(xs, 0.975) - quantile(xs, 0.025)) / 2];
    }),
  ) as Record<HeadlineKey, number>;
}

/** 95% half-widths of one evaluation's headline scores. */
export function evalIntervals(items: EvalItems, seed = 0): Record<HeadlineKey, number> {
  return bootstrap(items, (pick) => headlineScores(items, pick), seed);
}

/**
 * The difference b - a of two evaluations on the same items (same eval set, same order) and its paired 95%
 * half-width. A family whose items differ between the two (another set, or not evaluated) gets NaN, and so
 * does the understanding mean unless MCQ, OE and POPE all match.
 */
export function pairedDelta(
  a: EvalItems,
  b: EvalItems,
  seed = 0,
): { delta: Record<HeadlineKey, number>; ci: Record<HeadlineKey, number> } {
  const same = {
    geneval: a.geneval.length === b.geneval.length && a.geneval.every((p, i) => p.tag === b.geneval[i]!.tag),
    mcq: a.mcq.length === b.mcq.length,
    oe: a.oe.length === b.oe.length,
    pope: a.pope.length === b.pope.length && a.pope.every((p, i) => p.gold === b.pope[i]!.gold),
  };
  const valid: Record<HeadlineKey, boolean> = {
    'geneval/overall': same.geneval,
    'mcq/accuracy': same.mcq,
    'oe/accuracy': same.oe,
    'pope/f1': same.pope,
    'understanding/mean': same.mcq && same.oe && same.pope,
  };
  const diff = (pa: Record<HeadlineKey, number>, pb: Record<HeadlineKey, number>) =>
    Object.fromEntries(HEADLINE_KEYS.map((k) => [k, valid[k] ? pb[k] - pa[k] : NaN])) as Record<
      HeadlineKey,
      number
    >;
  const delta = diff(headlineScores(a), headlineScores(b));
  // resample only the families both evaluations share (the others are NaN anyway)
  const shared: EvalItems = {
    geneval: same.geneval ? a.geneval : [],
    mcq: same.mcq ? a.mcq : [],
    oe: same.oe ? a.oe : [],
    pope: same.pope ? a.pope : [],
  };
  const sharedB: EvalItems = {
    geneval: same.geneval ? b.geneval : [],
    mcq: same.mcq ? b.mcq : [],
    oe: same.oe ? b.oe : [],
    pope: same.pope ? b.pope : [],
  };
  const ci = bootstrap(
    shared,
    (pick) => diff(headlineScores(shared, pick), headlineScores(sharedB, pick)),
    seed,
  );
  return { delta, ci };
}

function mean(xs: readonly number[]): number {
  return xs.length === 0 ? NaN : xs.reduce((s, x) => s + x, 0) / xs.length;
}

/** Linear-interpolated quantile of sorted values. */
export function quantile(sorted: readonly number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}
