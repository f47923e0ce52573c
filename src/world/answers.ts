/**
 * Answer scorers: format, multiple choice, open-ended and POPE yes/no. Pure functions of strings returning
 * numbers in [0, 1], used as RL rewards (src/rewards) and as benchmark scorers (`corl score`).
 *
 * The answer is the content of the `<answer>` tags. When a completion has several answer blocks they must
 * agree, otherwise there is no answer; empty answer tags are no answer (the text outside them, the think
 * block included, is never searched then). Only a completion with no answer tag at all falls back to its
 * text (think blocks and stray tags removed), so plain benchmark outputs ("Answer: B") score too.
 *
 * Departures from ULM-R1's reward code (mm-vl/ULM-R1): `format` also requires a non-blank
 * answer and no tags nested inside the blocks, and ignores surrounding whitespace; MCQ extraction rejects an
 * answer naming two different letters (ULM-R1 v2 takes the most common one, which rewards hedging).
 */
import { NUMBER_WORDS } from './attributes.js';

export type YesNo = 'yes' | 'no';

/** Text holding no think / answer tag (matched character by character: nothing to backtrack over). */
const NO_TAG = String.raw`(?:(?!<\/?(?:think|answer)>)[\s\S])*`;
/** The think block, then the answer block, neither holding a tag (a nested or stray tag fails the format). */
const FORMAT = new RegExp(String.raw`^<think>(${NO_TAG})<\/think>[.\s]*<answer>(${NO_TAG})<\/answer>$`);

/** 1 when the text is exactly `<think> ... </think> <answer> ... </answer>` (non-blank answer), else 0. */
export function formatReward(text: string): number {
  const m = FORMAT.exec(text.trim());
  if (!m) return 0;
  return (m[2] as string).trim() === '' ? 0 : 1;
}

/** Contents of the complete `<answer>...</answer>` blocks. */
export function answerBlocks(text: string): string[] {
  // Only up to the last closing tag: after it every opening tag would scan to the end in vain (quadratic).
  const end = text.lastIndexOf('</answer>');
  if (end < 0) return [];
  const head = text.slice(0, end + '</answer>'.length);
  return [...head.matchAll(/<answer>([\s\S]*?)<\/answer>/g)].map((m) => m[1] as string);
}

/**
 * The answer of a completion (see the file comment), trimmed; null when there is none (empty tags,
 * disagreeing blocks, empty text).
 */
export function extractAnswer(text: string): string | null {
  const blocks = answerBlocks(text).map((b) => b.trim());
  if (blocks.length > 0) {
    const first = blocks[0] as string;
    if (first === '' || blocks.some((b) => b.toLowerCase() !== first.toLowerCase())) return null;
    return first;
  }
  const open = text.lastIndexOf('<answer>');
  let rest: string;
  if (open >= 0) {
    // A truncated answer block: what follows the tag.
    rest = text.slice(open + '<answer>'.length);
  } else {
    // Think blocks go (the search stops at the last closing tag, see answerBlocks), then an unclosed one.
    const close = text.lastIndexOf('</think>');
    const end = close < 0 ? 0 : close + '</think>'.length;
    rest = (text.slice(0, end).replace(/<think>[\s\S]*?<\/think>/g, ' ') + text.slice(end)).replace(
      /<think>[\s\S]*$/,
      ' ',
    );
  }
  rest = rest
    .replace(/<\/?[a-z]+>/g, ' ')
    .replace(/^\s*(?:final\s+)?answer\s*:?\s*/i, '')
    .trim();
  return rest === '' ? null : rest;
}

/** The gold answer of a `qa_solution`: the first answer block's content, or the trimmed text. */
export function solutionAnswer(solution: string): string {
  const blocks = answerBlocks(solution);
  return (blocks.length > 0 ? (blocks[0] as string) : solution).trim();
}

// ---------------------------------------------------------------- multiple choice

/** Option letters and texts from a problem's "A. text" lines. */
export function parseOptions(problem: string): Map<string, string> {
  const out = new Map<string, string>();
  // Blanks before the letter stay on its line and the text is trimmed afterwards: `\s*` runs across lines
  // and around a lazy capture backtracked quadratically on long blank stretches.
  for (const m of problem.matchAll(/^[^\S\n\r\u2028\u2029]*([A-F])\.\s*(.+)$/gm)) {
    if (!out.has(m[1] as string)) out.set(m[1] as string, (m[2] as string).trimEnd());
  }
  return out;
}

/** Words after a capital "A" that keep it a letter rather than the article ("A or B", "A is right"). */
const NOT_ARTICLE_AFTER = new Set(['or', 'and', 'is', 'nor', 'was', 'seems', 'it']);

function lettersAt(text: string, re: RegExp, valid: ReadonlySet<string>): Set<string> {
  const out = new Set<string>();
  for (const m of text.matchAll(re)) {
    const letter = m[1] as string;
    if (!valid.has(letter)) continue;
    if (letter === 'A' && re === STANDALONE) {
      const after = text.slice((m.index ?? 0) + m[0].length);
      const next = /^\s+([a-z]+)/.exec(after);
      if (next && !NOT_ARTICLE_AFTER.has(next[1] as string)) continue;
    }
    out.add(letter);
  }
  return out;
}

// One `\s*` per optional part (two adjacent `\s*` backtrack quadratically over long blank stretches).
const EXPLICIT = /(?:[Aa]nswer|[Oo]ption|[Cc]hoice)\s*(?:is\s*)?(?:[:-]\s*)?\(?([A-F])\)?(?![A-Za-z0-9])/g;
const PARENTHESISED = /\(([A-F])\)/g;
const PUNCTUATED = /(?:^|\s)([A-F])[.):](?=\s|$)/g;
const STANDALONE = /(?<![A-Za-z0-9'])([A-F])(?![A-Za-z0-9'])/g;

function normText(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, ' ')
    .trim();
}

/**
 * The option letter an answer names, or null (no letter, or two different ones). Tried in order, the first
 * rule that finds any letter decides: the whole answer is a letter ("B", "(b)", "B."); "Answer: B" /
 * "option B"; "(B)"; "B." or "B)"; a standalone capital letter (not the article "A red ..."); and, with the
 * problem's options, the one option text the answer names.
 */
export function extractChoice(answer: string, problem?: string): string | null {
  const options = problem ? parseOptions(problem) : new Map<string, string>();
  const valid = new Set(options.size > 0 ? options.keys() : ['A', 'B', 'C', 'D', 'E', 'F']);
  const s = answer.trim();
  const whole = /^\(?([A-Fa-f])\)?[.:)]?$/.exec(s);
  if (whole) {
    const letter = (whole[1] as string).toUpperCase();
    return valid.has(letter) ? letter : null;
  }
  for (const re of [EXPLICIT, PARENTHESISED, PUNCTUATED, STANDALONE]) {
    const found = lettersAt(s, re, valid);
    if (found.size === 1) return [...found][0] as string;
    if (found.size > 1) return null;
  }
  if (options.size === 0) return null;
  const a = normText(s);
  if (a === '') return null;
  for (const [letter, text] of options) if (normText(text) === a) return letter;
  const named = [...options].filter(([, text]) => {
    const t = normText(text);
    return t !== '' && ` ${a} `.includes(` ${t} `);
  });
  return named.length === 1 ? (named[0] as [string, string])[0] : null;
}

/** 1 when the completion's chosen letter is the solution's letter. */
export function mcqAccuracy(completion: string, solution: string, problem?: string): number {
  const gold = extractChoice(solutionAnswer(solution), problem);
  const answer = extractAnswer(completion);
  if (gold === null || answer === null) return 0;
  return extractChoice(answer, problem) === gold ? 1 : 0;
}

// ---------------------------------------------------------------- open-ended

/** zero .. nineteen, index = value (the world's number words). */
const UNITS: readonly string[] = NUMBER_WORDS.slice(0, 20);
const TENS = ['', '', 'twenty', 'thirty', 'forty', 'fifty', 'sixty', 'seventy', 'eighty', 'ninety'];
const ARTICLES = new Set(['a', 'an', 'the']);
const FILLERS = new Set(['a', 'an', 'the', 'it', 'its', 'is', 'are', 'there', 'of', 'to']);

/** Replaces number words (up to ninety-nine) with digits. */
function numberWordsToDigits(words: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const w = words[i] as string;
    const t = TENS.indexOf(w);
    if (t >= 2) {
      const u = UNITS.indexOf(words[i + 1] ?? '');
      if (u >= 1 && u <= 9) {
        out.push(String(t * 10 + u));
        i++;
      } else out.push(String(t * 10));
      continue;
    }
    const u = UNITS.indexOf(w);
    out.push(u >= 0 ? String(u) : w);
  }
  return out;
}

/**
 * Normalises an open-ended answer to space-separated words and numbers: lower case, punctuation dropped
 * (signs and decimal points of numbers kept), "twenty-one" -> "21", articles dropped.
 */
export function normalizeAnswer(text: string): string {
  const words = (
    text
      .toLowerCase()
      .replace(/<\/?[a-z]+>/g, ' ')
      .match(/-?\d+(?:\.\d+)?|[a-z]+/g) ?? []
  ).filter((w) => !ARTICLES.has(w));
  return numberWordsToDigits(words).join(' ');
}

function numbersIn(normalized: string): number[] {
  return normalized
    .split(' ')
    .filter((w) => /^-?\d+(?:\.\d+)?$/.test(w))
    .map(Number);
}

/** Token-set Jaccard similarity of two normalised answers. */
export function softJaccard(a: string, b: string): number {
  const A = new Set(a.split(' ').filter((w) => w !== ''));
  const B = new Set(b.split(' ').filter((w) => w !== ''));
  if (A.size === 0 && B.size === 0) return 1;
  let inter = 0;
  for (const w of A) if (B.has(w)) inter++;
  return inter / (A.size + B.size - inter);
}

export interface OeOptions {
  /** Partial credit by token-set Jaccard when the strings differ (default false: exact match only). */
  partial?: boolean;
}

/**
 * Open-ended accuracy: numbers compare as numbers ("seven" = "7" = "7.0"; an answer holding exactly one
 * number is compared by it, so "there are 7" counts but "3 + 4 = 7" does not); other answers must match
 * after normalisation and dropping filler words ("it is red" = "red"), or score their Jaccard with `partial`.
 */
export function oeAccuracy(completion: string, solution: string, opts: OeOptions = {}): number {
  const answer = extractAnswer(completion);
  if (answer === null) return 0;
  const pred = normalizeAnswer(answer);
  const gold = normalizeAnswer(solutionAnswer(solution));
  if (pred === '') return 0;
  const goldNums = numbersIn(gold);
  if (goldNums.length === 1 && gold.split(' ').length === 1) {
    const predNums = numbersIn(pred);
    return predNums.length === 1 && Math.abs((predNums[0] as number) - (goldNums[0] as number)) < 1e-9
      ? 1
      : 0;
  }
  if (pred === gold) return 1;
  const strip = (s: string) =>
    s
      .split(' ')
      .filter((w) => !FILLERS.has(w))
      .join(' ');
  if (strip(pred) !== '' && strip(pred) === strip(gold)) return 1;
  return opts.partial ? softJaccard(strip(pred), strip(gold)) : 0;
}

// ---------------------------------------------------------------- POPE

const YES_WORDS = new Set(['yes', 'yeah', 'yep', 'true']);
const NO_WORDS = new Set(['no', 'not', 'nope', 'false', 'none']);

/**
 * Yes or no from an answer (LLaVA's POPE rule, stricter): the first sentence of the answer; "no", "not" or a
 * "n't" word means no, "yes" means yes; both or neither -> null. Whole words only: "nothing", "know",
 * "note" and "yesterday" say nothing.
 */
export function parseYesNo(text: string): YesNo | null {
  const answer = extractAnswer(text);
  if (answer === null) return null;
  const sentence = answer.split(/[.!?\n]/).find((s) => s.trim() !== '') ?? '';
  const words = sentence.toLowerCase().match(/[a-z']+/g) ?? [];
  const yes = words.some((w) => YES_WORDS.has(w));
  const no = words.some((w) => NO_WORDS.has(w) || w.endsWith("n't"));
  if (yes === no) return null;
  return yes ? 'yes' : 'no';
}

/** 1 when the completion's yes/no equals the solution's. */
export function popeAccuracy(completion: string, solution: string): number {
  const gold = parseYesNo(solution);
  if (gold === null) return 0;
  return parseYesNo(completion) === gold ? 1 : 0;
}

export interface PopeMetrics {
  accuracy: number;
  precision: number;
  recall: number;
  f1: number;
  /** Share of "yes" predictions (POPE reports it to expose a yes bias). */
  yes_ratio: number;
  /** Predictions with no parseable yes/no (counted as "no", as POPE's script does). */
  unparsed: number;
  n: number;
}

/** POPE's metrics, "yes" being the positive class. */
export function popeMetrics(items: readonly { pred: YesNo | null; gold: YesNo }[]): PopeMetrics {
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  let unparsed = 0;
  for (const { pred, gold } of items) {
    if (pred === null) unparsed++;
    const p = pred === 'yes';
    if (p && gold === 'yes') tp++;
    else if (p) fp++;
    else if (gold === 'no') tn++;
    else fn++;
  }
  const n = items.length;
  const precision = tp + fp === 0 ? 0 : tp / (tp + fp);
  const recall = tp + fn === 0 ? 0 : tp / (tp + fn);
  return {
    accuracy: n === 0 ? 0 : (tp + tn) / n,
    precision,
    recall,
    f1: precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall),
    yes_ratio: n === 0 ? 0 : (tp + fp) / n,
    unparsed,
    n,
  };
}

// ---------------------------------------------------------------- dispatch

export const SCORE_TASKS = ['mcq', 'oe', 'format', 'pope'] as const;
export type ScoreTask = (typeof SCORE_TASKS)[number];

/** The reward of one completion under a task's scorer. */
export function scoreAnswer(task: ScoreTask, completion: string, solution: string, problem?: string): number {
  switch (task) {
    case 'mcq':
      return mcqAccuracy(completion, solution, problem);
    case 'oe':
      return oeAccuracy(completion, solution);
    case 'format':
      return formatReward(completion);
    case 'pope':
      return popeAccuracy(completion, solution);
  }
}
