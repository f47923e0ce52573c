/**
 * `think_match`: how much of the completion's reasoning states what the example's reference reasoning
 * (`qa_think`, the world's exact think text: "i see a red circle , a blue square", "the circle is red . B is
 * red") states, as the F1 of their word bigrams. A verifiable perception reward: the reference think is
 * computed from the scene, like the answer, but it credits each correct fact, where `qa_accuracy` credits only
 * the final word. Not one of the paper's rewards (ULM-R1 scores the answer and the format only); corl's
 * understanding recipe weighs it by measurement (docs/recipe.md).
 *
 *   words(t)   = t lower-cased, split on whitespace, with "." and "," removed (they only separate facts)
 *   bigrams(t) = the multiset of adjacent pairs of ["<s>", ...words(t), "</s>"]
 *   F1         = 2 |P ∩ R| / (|P| + |R|)   (multiset intersection; P the completion's, R the reference's)
 *
 * Bigrams, not single words, so that "i see 1 circle" against "i see 2 circles" scores 0.4, not 0.67, and
 * the order of a relation counts in part. The boundary markers give a one-word think two bigrams.
 * The completion's think is the text inside its first `<think>...</think>`; none, or an empty one, scores 0.
 * NaN ("cannot score") when the example has no reference think (real data without `qa_think`).
 */
import type { TextBatch, TextRewardFn, TextSample } from './types.js';

const THINK = /<think>([\s\S]*?)<\/think>/;

/** The words of a think text (see the file comment). */
export function thinkWords(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/[.,]/g, ' ')
    .split(/\s+/)
    .filter((w) => w !== '');
}

function bigramCounts(words: readonly string[]): Map<string, number> {
  const seq = ['<s>', ...words, '</s>'];
  const counts = new Map<string, number>();
  for (let i = 0; i + 1 < seq.length; i++) {
    const key = `${seq[i]!} ${seq[i + 1]!}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** The bigram F1 of two think texts, in [0, 1]; 0 when `predicted` has no words. */
export function thinkF1(predicted: string, reference: string): number {
  const pw = thinkWords(predicted);
  if (pw.length === 0) return 0;
  const rw = thinkWords(reference);
  const r = bigramCounts(rw);
  let common = 0;
  for (const [k, n] of bigramCounts(pw)) common += Math.min(n, r.get(k) ?? 0);
  // A text of n words has n + 1 bigrams (with the two markers).
  return (2 * common) / (pw.length + 1 + rw.length + 1);
}

/** The reward of one sample (see the file comment). */
export function thinkMatch(s: TextSample): number {
  if (s.qa_think === undefined || s.qa_think.trim() === '') return NaN;
  const m = THINK.exec(s.completion);
  return m === null ? 0 : thinkF1(m[1]!, s.qa_think);
}

export function thinkMatchReward(): TextRewardFn {
  return {
    name: 'think_match',
    modality: 'text',
    score: (batch: TextBatch) => batch.samples.map(thinkMatch),
  };
}
