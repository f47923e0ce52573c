/**
 * Run logging: one JSON object per line in DIR/metrics.jsonl (TRL's metric names, prefixed per modality:
 * `t2i/…` for generation, `mm2t/…` for understanding) and a progress line with ETA and live reward.
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { SingleBar } from 'cli-progress';

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

/** A progress display: a bar on a terminal, else one line every ~10% of the run. */
export class Progress {
  private bar: SingleBar | null = null;
  private lastPct = -1;
  private readonly t0 = Date.now();
  constructor(
    private readonly total: number,
    private readonly start: number,
    private readonly label: string,
  ) {
    if (process.stderr.isTTY) {
      this.bar = new SingleBar({
        format: `${label} [{bar}] {value}/{total} | ETA {eta_formatted} | {status}`,
        stream: process.stderr,
        hideCursor: true,
      });
      this.bar.start(total, start, { status: '' });
    }
  }
  update(step: number, status: string): void {
    if (this.bar) {
      this.bar.update(step, { status });
      return;
    }
    const pct = Math.floor((100 * step) / this.total / 10) * 10;
    if (pct !== this.lastPct || step === this.total) {
      this.lastPct = pct;
      const done = step - this.start;
      const elapsed = (Date.now() - this.t0) / 1000;
      const eta = done > 0 ? (elapsed / done) * (this.total - step) : NaN;
      process.stderr.write(
        `${this.label} ${step}/${this.total} (${pct}%) ETA ${Number.isFinite(eta) ? eta.toFixed(0) + ' s' : '?'} | ${status}\n`,
      );
    }
  }
  stop(): void {
    this.bar?.stop();
  }
}
