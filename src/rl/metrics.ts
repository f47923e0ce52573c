/**
 * Run logging: one JSON object per line in DIR/metrics.jsonl (TRL's metric names, prefixed per modality:
 * `t2i/…` for generation, `mm2t/…` for understanding). Progress goes through src/util/progress.ts.
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';

export type Metrics = Record<string, number | string | null>;

export class MetricsLog {
  constructor(readonly file: string) {}

  /** Starts a fresh log, or (when resuming) keeps only the lines of steps before `fromStep`. */
  open(fromStep: number | null): void {
    if (fromStep === null || !existsSync(this.file)) {
      writeFileSync(this.file, '');
      return;
    }
    const kept = readFileSync(this.file, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .filter((l) => {
        const step = (JSON.parse(l) as { step?: number }).step;
        return step === undefined || step <= fromStep;
      });
    writeFileSync(this.file, kept.map((l) => l + '\n').join(''));
  }

  write(m: Metrics): void {
    appendFileSync(this.file, JSON.stringify(m) + '\n');
  }
}
