/**
 * RL data: stage-1 rows (ULM-R1 fields) with their real images loaded, served in a seeded order that is a
 * pure function of (seed, position), so a resumed run continues with exactly the batches it would have seen.
 */
import { existsSync } from 'node:fs';
import { RowImages, readDataRowLines } from '../world/dataset.js';
import { Rng, deriveSeed } from '../world/rng.js';
import type { RgbImage } from '../world/image.js';
import { UserError } from '../util/errors.js';

export interface RLExample {
  id: string;
  /** Generation prompt (the caption the image should depict). */
  prompt: string;
  /** The row's image: what its question is about, and the cycle reward's reference; absent for a prompt-only row. */
  realImage?: RgbImage;
  qaProblem: string;
  qaSolution: string;
  qaType: 'MC' | 'OE';
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
      spec: r.spec,
      category: r.category,
    };
  });
}

/** The image an example's question is about (loadExamples refuses a question row without one). */
export function questionImage(e: RLExample): RgbImage {
  if (e.realImage === undefined) throw new Error(`example ${e.id} has a question but no image`);
  return e.realImage;
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
