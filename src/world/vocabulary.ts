/**
 * The closed vocabulary of ShapesWorld: every token its grammar can produce in prompts, questions, option
 * texts, think texts, answers and captions, for a word-level tokenizer.
 *
 * Tokenisation (`tokenizeWorldText`) is the one a Hugging Face tokenizer.json gives with the four format
 * tags as added tokens and the `Whitespace` pre-tokenizer (`\w+|[^\w\s]+`): "circle?" -> "circle", "?";
 * "A." -> "A", "."; "<answer>B</answer>" -> "<answer>", "B", "</answer>". It is case-sensitive: the option
 * letters "A"-"D" and "Question" / "Options" are capitalised, every other word is lower case, so the letter
 * "A" and the article "a" are different tokens (a tokenizer must not lower-case).
 */
import { COLORS, NUMBER_WORDS, SHAPES, SIZES, plural } from './attributes.js';
import { CAPTION_WORDS } from './caption.js';
import { COUNTING_RANGE, PHRASINGS, RELATION_PHRASES } from './prompts.js';
import { RELATION_WORDS } from './questions.js';
import { RELATIONS } from './relations.js';
import {
  CAPTION_QUESTION,
  FORMAT_TAGS,
  MC_INSTRUCTION,
  OE_INSTRUCTION,
  OPTION_LETTERS,
  YN_INSTRUCTION,
} from './templates.js';

const TAG_SPLIT = /(<\/?(?:think|answer)>)/;

/** Splits text into world tokens (see the file comment). */
export function tokenizeWorldText(text: string): string[] {
  const out: string[] = [];
  for (const part of text.split(TAG_SPLIT)) {
    if ((FORMAT_TAGS as readonly string[]).includes(part)) out.push(part);
    else for (const m of part.match(/\w+|[^\w\s]+/g) ?? []) out.push(m);
  }
  return out;
}

/** The largest number any answer, option or think text can hold. */
export const MAX_NUMBER = 20;

/** Literal text of the question and think grammar (questions.ts), slots removed. */
const QUESTION_TEXT = [
  'Question: what color is the ?',
  'what shape is the object ?',
  'what size is the ?',
  'how many objects are there ?',
  'where is the relative to the ?',
  'how many corners are there in total ?',
  'how many more than are there ?',
  'is there a in the image ?',
  'Options: A. B. C. D.',
  'i see , + - = . is a and yes no',
];

/** Every token the world's grammar can produce, sorted (code-point order), format tags included. */
export function worldVocabulary(): string[] {
  const texts: string[] = [
    MC_INSTRUCTION,
    OE_INSTRUCTION,
    YN_INSTRUCTION,
    CAPTION_QUESTION,
    ...QUESTION_TEXT,
    ...FORMAT_TAGS,
    ...OPTION_LETTERS,
    ...SHAPES,
    ...SHAPES.map(plural),
    ...COLORS,
    ...SIZES,
    ...RELATIONS,
    ...Object.values(RELATION_WORDS),
    ...Object.values(RELATION_PHRASES).flat(),
    ...NUMBER_WORDS.slice(COUNTING_RANGE[0], COUNTING_RANGE[1] + 1),
    ...Object.values(PHRASINGS)
      .flat()
      .map((t) => t.replace(/\{\w+\}/g, ' ')),
    ...CAPTION_WORDS,
  ];
  for (let n = 0; n <= MAX_NUMBER; n++) texts.push(String(n));
  const vocab = new Set<string>();
  for (const t of texts) for (const tok of tokenizeWorldText(t)) vocab.add(tok);
  return [...vocab].sort();
}
