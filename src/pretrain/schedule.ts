/**
 * Training budgets and time-based schedules. A run has a budget in seconds or in steps; `progress()` is
 * elapsed / budget in [0, 1], so learning-rate schedules and curricula are functions of progress and a run
 * ends on time whatever its speed (the machine may be shared).
 */

import * as dist from '../torch/distributed.js';

/** What every pretraining loop (VQ, vision encoder, SFT) takes besides its own settings. */
export interface LoopOptions<L> {
  seed: number;
  /** Time budget in seconds (each loop has its default) unless `steps` is given. */
  seconds?: number;
  /** Step budget (overrides `seconds`). */
  steps?: number;
  /** Called at each log point (every few percent of the budget) and at the end. */
  onLog?: (log: L) => void;
  /** Called every step (for progress bars). */
  onStep?: (progress: number, log: L) => void;
}

/** The fields every loop's log line starts with. */
export interface LoopLog {
  step: number;
  seconds: number;
  lr: number;
}

export class Budget {
  step = 0;
  private readonly t0 = performance.now();
  constructor(readonly limit: { seconds: number } | { steps: number }) {
    const v = 'seconds' in limit ? limit.seconds : limit.steps;
    if (!(v > 0)) throw new RangeError(`budget must be positive, got ${v}`);
  }
  /** A training function's budget options: `steps` when given, else `seconds` (default `defaultSeconds`). */
  static of(o: { seconds?: number; steps?: number }, defaultSeconds: number): Budget {
    return new Budget(o.steps !== undefined ? { steps: o.steps } : { seconds: o.seconds ?? defaultSeconds });
  }
  elapsed(): number {
    return (performance.now() - this.t0) / 1000;
  }
  progress(): number {
    const p = 'seconds' in this.limit ? this.elapsed() / this.limit.seconds : this.step / this.limit.steps;
    return Math.min(1, p);
  }
  tick(): void {
    this.step += 1;
  }
  /** Whether the budget is one of time (its progress differs between processes) rather than of steps. */
  get timed(): boolean {
    return 'seconds' in this.limit;
  }
  /**
   * The progress every rank of a data-parallel run agrees on: rank 0's, broadcast, for a time budget (so
   * every rank has the same phase, learning rate and last step); a step budget's own, with no collective
   * (every rank counts the same steps). One process: its own.
   */
  agreedProgress(world: { rank: number; size: number } | null): number {
    return world === null || !this.timed ? this.progress() : dist.broadcastNumber(this.progress(), 0);
  }
  done(): boolean {
    return this.progress() >= 1;
  }
}

/** When a training loop logs: about every `every` of progress, and at the end. */
export class LogEvery {
  private next: number;
  constructor(private readonly every: number) {
    this.next = every;
  }
  /** Whether to log now; when it is, the next log is due one `every` after this progress. */
  due(progress: number, done: boolean): boolean {
    if (progress < this.next && !done) return false;
    this.next = Math.floor(progress / this.every + 1e-9) * this.every + this.every;
    return true;
  }
}

/**
 * Linear warm-up over the first `warmup` of progress, then cosine decay to `final` (a fraction of the base)
 * at progress 1: a multiplier of the base learning rate.
 */
export function warmupCosine(warmup: number, final: number): (progress: number) => number {
  return (p) => {
    if (warmup > 0 && p < warmup) return Math.max(p / warmup, 0.01);
    const t = Math.min(1, (p - warmup) / Math.max(1e-9, 1 - warmup));
    return final + (1 - final) * 0.5 * (1 + Math.cos(Math.PI * t));
  };
}
