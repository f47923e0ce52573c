/**
 * RL data: stage-1 rows (ULM-R1 fields) with their real images loaded, served in a seeded order that is a
 * pure function of (seed, position), so a resumed run continues with exactly the batches it would have seen.
 */
import { existsSync } from 'node:fs';
import { RowImages, readWorldRows, type WorldRow } from '../world/dataset.js';
import { Rng, deriveSeed } from '../world/rng.js';
import type { RgbImage } from '../world/image.js';
import { UserError } from '../util/errors.js';

export interface RLExample {
  id: string;
  /** Generation prompt (the caption the image should depict). */
  prompt: string;
  realImage: RgbImage;
  qaProblem: string;
  qaSolution: string;
  qaType: 'MC' | 'OE';
  /** The world's structured spec of the prompt (for GenEval-style scoring; checked when the row is read). */
  spec: unknown;
  /** The prompt's GenEval category, when the row names it. */
  category?: string;
}

/**
 * Loads a JSONL of world rows; rows without a prompt, or without a question (a non-blank qa_problem and
 * qa_solution, unless `requireQuestion` is false), are errors naming the row.
 */
export function loadExamples(file: string, opts: { requireQuestion?: boolean } = {}): RLExample[] {
  if (!existsSync(file)) throw new UserError(`data file not found: ${file}`);
  const rows = readWorldRows(file);
  const images = new RowImages();
  return rows.map((r: WorldRow, i) => {
    const row = `${file}: row ${i + 1}`;
    if (r.prompt === undefined || r.prompt.trim() === '') throw new UserError(`${row} has no prompt`);
    const blank = (v: string | undefined) => v === undefined || v.trim() === '';
    if ((opts.requireQuestion ?? true) && (blank(r.qa_problem) || blank(r.qa_solution))) {
      throw new UserError(`${row} has no question (an empty qa_problem or qa_solution)`);
    }
    return {
      id: r.id ?? `row ${i + 1}`,
      prompt: r.prompt,
      realImage: images.get(file, r, row),
      qaProblem: r.qa_problem ?? '',
      qaSolution: r.qa_solution ?? '',
      qaType: r.qa_type ?? 'OE',
      spec: r.spec,
      category: r.category,
    };
  });
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
