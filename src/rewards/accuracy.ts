/**
 * `qa_accuracy`: the answer of a completion against the example's `qa_solution`, routed on `qa_type` as
 * ULM-R1's `common_qa_accuracy_reward`; a thin wrapper over src/world/answers.ts (the scorers `corl score`
 * and the benchmarks use), no extraction logic of its own:
 * - `qa_type === 'MC'`: `mcqAccuracy` (robust letter extraction, option text mapped to its letter with
 *   `qa_problem`);
 * - otherwise, when the gold answer is a bare yes/no (ShapesWorld's POPE-style questions, typed 'OE' as in
 *   ULM-R1): `popeAccuracy` (the first sentence's yes/no, POPE's rule), so "Yes, there is." counts;
 * - otherwise: `oeAccuracy` (normalised exact match, numbers and number words compared as numbers; Jaccard
 *   partial credit with `partial: true`, as ULM-R1 v1's soft_jaccard).
 * NaN ("cannot score") when the solution has no gold answer, or an MC solution names no option letter:
 * broken data, flagged in the metrics rather than scored 0. A completion without an answer scores 0.
 * Part `answer_found`: 1 when the completion has an answer at all (answers.ts `extractAnswer`).
 */
import {
  extractAnswer,
  extractChoice,
  mcqAccuracy,
  normalizeAnswer,
  oeAccuracy,
  popeAccuracy,
  solutionAnswer,
} from '../world/answers.js';
import type { RewardOutput, TextBatch, TextRewardFn, TextSample } from './types.js';

export interface AccuracyOptions {
  /** Open-ended partial credit by token-set Jaccard (default false: exact). */
  partial?: boolean;
}

/** The accuracy of one sample (see the file comment). */
export function qaAccuracy(s: TextSample, opts: AccuracyOptions = {}): number {
  const gold = solutionAnswer(s.qa_solution);
  if (gold === '') return NaN;
  if (s.qa_type === 'MC') {
    if (extractChoice(gold, s.qa_problem) === null) return NaN;
    return mcqAccuracy(s.completion, s.qa_solution, s.qa_problem);
  }
  const g = normalizeAnswer(gold);
  if (g === 'yes' || g === 'no') return popeAccuracy(s.completion, s.qa_solution);
  return oeAccuracy(s.completion, s.qa_solution, { partial: opts.partial ?? false });
}

export function accuracyReward(opts: AccuracyOptions = {}): TextRewardFn {
  return {
    name: 'qa_accuracy',
    modality: 'text',
    score(batch: TextBatch): RewardOutput {
      const values = batch.samples.map((s) => qaAccuracy(s, opts));
      const bad = values.filter(Number.isNaN).length;
      return {
        values,
        parts: { answer_found: batch.samples.map((s) => (extractAnswer(s.completion) === null ? 0 : 1)) },
        ...(bad > 0 ? { note: `${bad} with no usable gold answer` } : {}),
      };
    },
  };
}
