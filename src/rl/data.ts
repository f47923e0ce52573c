/**
 * RL data: stage-1 rows (ULM-R1 fields) with their real images loaded, served in a seeded order that is a
 * pure function of (seed, position), so a resumed run continues with exactly the batches it would have seen.
 */
import { existsSync } from 'node:fs';
import { RowImages, readDataRowLines } from '../world/dataset.js';
import { Rng, deriveSeed } from '../world/rng.js';
import type { RgbImage } from '../world/image.js';
import { UserError } from '../util/errors.js';
import { generationPrompt, understandingPrompt } from '../model/templates.js';
import { expandImageTokens } from '../model/inputs.js';
import type { ULMTokenizer } from '../model/tokenizer.js';
import type { ImageSample, TextSample } from '../rewards/types.js';

export interface RLExample {
  id: string;
  /** Generation prompt (the caption the image should depict). */
  prompt: string;
  /** The row's image: what its question is about, and the cycle reward's reference; absent for a prompt-only row. */
  realImage?: RgbImage;
  qaProblem: string;
  qaSolution: string;
  qaType: 'MC' | 'OE';
  /** The reference reasoning, when the row has one (the `think_match` reward's reference). */
  qaThink?: string;
  /** The world's structured spec of the prompt (for GenEval-style scoring; checked when the row is read). */
  spec: unknown;
  /** The prompt's GenEval category, when the row names it. */
  category?: string;
}

/**
 * Loads a JSONL of data rows (ShapesWorld's, or real data in the same fields: src/world/dataset.ts
 * readDataRowLines); rows without a prompt are errors naming the row, and so, unless `requireQuestion` is
 * false, are rows without a question (a non-blank qa_problem and qa_solution) or without the image it asks
 * about.
 */
export function loadExamples(file: string, opts: { requireQuestion?: boolean } = {}): RLExample[] {
  if (!existsSync(file)) throw new UserError(`data file not found: ${file}`);
  const rows = readDataRowLines(file);
  const images = new RowImages();
  const requireQuestion = opts.requireQuestion ?? true;
  return rows.map(({ row: r }, i) => {
    const row = `${file}: row ${i + 1}`;
    if (r.prompt === undefined || r.prompt.trim() === '') throw new UserError(`${row} has no prompt`);
    const blank = (v: string | undefined) => v === undefined || v.trim() === '';
    if (requireQuestion && (blank(r.qa_problem) || blank(r.qa_solution))) {
      throw new UserError(`${row} has no question (an empty qa_problem or qa_solution)`);
    }
    if (requireQuestion && r.real_image === undefined)
      throw new UserError(`${row} has a question but no real_image to ask it about`);
    return {
      id: r.id ?? `row ${i + 1}`,
      prompt: r.prompt,
      ...(r.real_image === undefined
        ? {}
        : { realImage: images.get(file, { real_image: r.real_image }, row) }),
      qaProblem: r.qa_problem ?? '',
      qaSolution: r.qa_solution ?? '',
      qaType: r.qa_type ?? 'OE',
      ...(r.qa_think === undefined ? {} : { qaThink: r.qa_think }),
      spec: r.spec,
      category: r.category,
    };
  });
}

/** An answer to an example's question as the text rewards score it (ULM-R1's field names). */
export function answerSample(completion: string, e: RLExample): TextSample {
  return {
    completion,
    qa_solution: e.qaSolution,
    qa_type: e.qaType,
    qa_problem: e.qaProblem,
    qa_think: e.qaThink,
  };
}

/** An image drawn for an example's prompt as the image rewards score it; `recaption` as ImageSample's. */
export function imageSample(image: RgbImage, e: RLExample, recaption?: string): ImageSample {
  return { image, prompt: e.prompt, realImage: e.realImage, recaption, spec: e.spec };
}

/** The image an example's question is about (loadExamples refuses a question row without one). */
export function questionImage(e: RLExample): RgbImage {
  if (e.realImage === undefined) throw new Error(`example ${e.id} has a question but no image`);
  return e.realImage;
}

/** What an example's prompts need to be measured: the model's tokenizer and its image tokens per image. */
export interface PromptMeasure {
  tok: ULMTokenizer;
  numImageTokens: number;
}

/**
 * The longest prompt an example gives the tasks in `tasks`, in tokens: its generation prompt (t2i), its
 * question with the image's tokens expanded (mm2t), each with BOS and the chat template, as rollouts build them.
 */
export function promptLength(e: RLExample, tasks: readonly string[], m: PromptMeasure): number {
  let n = 0;
  if (tasks.includes('t2i')) n = m.tok.encode(generationPrompt(e.prompt), { bos: true }).length;
  if (tasks.includes('mm2t')) {
    const ids = m.tok.encode(understandingPrompt(e.qaProblem), { bos: true });
    n = Math.max(n, expandImageTokens(ids, m.tok.special, m.numImageTokens).length);
  }
  return n;
}

/**
 * The examples whose prompts fit `max` tokens (`max_prompt_length`), and how many were left out; all of them
 * when `max` is absent. None left is a UserError: a limit shorter than every prompt is a config mistake.
 */
export function withinPromptLength(
  examples: readonly RLExample[],
  max: number | undefined,
  tasks: readonly string[],
  m: PromptMeasure,
  what: string,
): { kept: RLExample[]; dropped: number; longest: number } {
  if (max === undefined) return { kept: [...examples], dropped: 0, longest: NaN };
  const lengths = examples.map((e) => promptLength(e, tasks, m));
  const kept = examples.filter((_, i) => lengths[i]! <= max);
  const longest = Math.max(...lengths);
  if (kept.length === 0)
    throw new UserError(
      `max_prompt_length ${max}: every prompt of ${what} is longer (the shortest is ${Math.min(...lengths)} tokens)`,
    );
  return { kept, dropped: examples.length - kept.length, longest };
}

/** Epoch-shuffled batches: batch k of the stream depends only on (seed, k). */
export class BatchStream {
  private order: number[] = [];
  private epoch = -1;
  constructor(
    private readonly examples: readonly RLExample[],
    private readonly batchSize: number,
    private readonly seed: number,
  ) {
    if (examples.length < batchSize) {
      throw new UserError(`the data has ${examples.length} rows, fewer than one batch (${batchSize})`);
    }
  }

  /** The examples of batch number `position` (0-based). */
  batch(position: number): RLExample[] {
    const perEpoch = Math.floor(this.examples.length / this.batchSize);
    const epoch = Math.floor(position / perEpoch);
    if (epoch !== this.epoch) {
      const rng = new Rng(deriveSeed(this.seed, 'rl-data', String(epoch)));
      this.order = rng.shuffle(Array.from({ length: this.examples.length }, (_, i) => i));
      this.epoch = epoch;
    }
    const start = (position % perEpoch) * this.batchSize;
    return this.order.slice(start, start + this.batchSize).map((i) => this.examples[i]!);
  }
}
