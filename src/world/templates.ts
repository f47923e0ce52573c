/**
 * The think/answer templates of ULM-R1 (its data samples: a question, "think in <think> </think>", the answer), shortened for a tiny word-level
 * vocabulary. A multiple-choice `qa_problem` reads
 *
 *   Question: what color is the circle?
 *   Options:
 *   A. red
 *   B. blue
 *   C. green
 *   D. yellow
 *   think in <think> </think> and give the option letter in <answer> </answer> .
 *
 * an open-ended one has no options and asks for a short answer (or yes or no), and `qa_solution` is
 * `<answer>B</answer>`. A model's completion is `<think> ... </think> <answer> ... </answer>`.
 */

export const OPTION_LETTERS = ['A', 'B', 'C', 'D'] as const;
export type OptionLetter = (typeof OPTION_LETTERS)[number];

export const MC_INSTRUCTION = 'think in <think> </think> and give the option letter in <answer> </answer> .';
export const OE_INSTRUCTION = 'think in <think> </think> and give a short answer in <answer> </answer> .';
export const YN_INSTRUCTION = 'think in <think> </think> and give yes or no in <answer> </answer> .';

/** Special tokens of the format (a tokenizer should add them as whole tokens). */
export const FORMAT_TAGS = ['<think>', '</think>', '<answer>', '</answer>'] as const;

export function mcProblem(question: string, options: readonly string[]): string {
  const lines = options.map((o, i) => `${OPTION_LETTERS[i]}. ${o}`);
  return `Question: ${question}\nOptions:\n${lines.join('\n')}\n${MC_INSTRUCTION}`;
}

export function oeProblem(question: string, yesNo = false): string {
  return `Question: ${question}\n${yesNo ? YN_INSTRUCTION : OE_INSTRUCTION}`;
}

/** `qa_solution`: the answer in answer tags, as ULM-R1 stores it. */
export function answerTag(answer: string): string {
  return `<answer>${answer}</answer>`;
}

/** A full reference completion (the SFT target), spaced as a word-level tokenizer decodes it. */
export function formatCompletion(think: string, answer: string): string {
  return `<think> ${think} </think> <answer> ${answer} </answer>`;
}

/** The instruction asking for a description of the image (for a captioning / re-captioning task). */
export const CAPTION_QUESTION = 'describe the image .';
