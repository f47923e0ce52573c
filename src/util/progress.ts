/**
 * Progress of long work, on stderr; the one progress module of corl (training, pretraining, evaluation, world
 * building, and the pipeline's live view of its stages).
 *
 * `progress(label)` reports one task in one of three modes:
 *   - a terminal: a bar with percent, elapsed, ETA and the task's key metric (`info`);
 *   - not a terminal: one plain line every ~10%, with elapsed and ETA (logs stay short);
 *   - CORL_PROGRESS=json (set by a parent that shows its children's progress, src/pipeline/stages.ts): one JSON
 *     line `{"corl_progress": {...}}` at most every half second and at the end, parsed by `parseProgressLine`.
 *
 * `MultiProgress` shows several running tasks at once (the pipeline's stages): one live line per task on a
 * terminal, redrawn in place; plain periodic lines otherwise.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  /** `done` of `total` units; `info` is shown after the bar (e.g. "loss 1.23"). */
  update(done: number, total: number, info?: string): void;
  stop(): void;
}

/** One task's state, as a child reports it to its parent. */
export interface ProgressState {
  label: string;
  done: number;
  total: number;
  info: string;
  /** Seconds since the task started. */
  elapsed: number;
}

const JSON_KEY = 'corl_progress';

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  if (s < 60) return `${Math.round(s)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${String(Math.round(s - 60 * m)).padStart(2, '0')} s`;
}

/** "42% | 1 min 03 s elapsed, ETA 1 min 27 s | info" */
export function describe(p: ProgressState): string {
  const frac = p.total > 0 ? Math.min(1, p.done / p.total) : 0;
  const eta = frac > 0 ? (p.elapsed / frac) * (1 - frac) : NaN;
  const pct = `${Math.floor(frac * 100)}%`.padStart(4);
  return `${pct} | ${formatSeconds(p.elapsed)} elapsed, ETA ${formatSeconds(eta)}${p.info ? ` | ${p.info}` : ''}`;
}

/** The progress of a child's JSON line, or null for any other line. */
export function parseProgressLine(line: string): ProgressState | null {
  const t = line.trim();
  if (!t.startsWith(`{"${JSON_KEY}"`)) return null;
  try {
    const p = (JSON.parse(t) as Record<string, ProgressState>)[JSON_KEY];
    return p && typeof p.done === 'number' && typeof p.total === 'number' ? p : null;
  } catch {
    return null;
  }
}

export function progress(label: string, opts: { quiet?: boolean } = {}): Progress {
  if (opts.quiet) return { update() {}, stop() {} };
  const t0 = performance.now();
  const elapsed = () => (performance.now() - t0) / 1000;
  if (process.env.CORL_PROGRESS === 'json') {
    let last = -Infinity; // the first update is emitted, however soon after start
    let state: ProgressState | null = null;
    const emit = () => {
      if (state) process.stderr.write(JSON.stringify({ [JSON_KEY]: state }) + '\n');
    };
    return {
      update(done, total, info = '') {
        state = { label, done, total, info, elapsed: elapsed() };
        const now = performance.now();
        if (now - last >= 500 || done >= total) {
          last = now;
          emit();
        }
      },
      stop: emit,
    };
  }
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format: `${label} [{bar}] {percentage}% | {duration_formatted} elapsed, ETA {eta_formatted} | {info}`,
        hideCursor: true,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update(done, total, info = '') {
        if (!started) {
          bar.start(total, 0, { info });
          started = true;
        }
        bar.setTotal(total);
        bar.update(Math.min(done, total), { info });
      },
      stop() {
        if (started) bar.stop();
      },
    };
  }
  let nextDecile = 1;
  return {
    update(done, total, info = '') {
      const frac = total > 0 ? done / total : 1;
      if (frac * 10 + 1e-9 < nextDecile) return;
      nextDecile = Math.floor(frac * 10 + 1e-9) + 1;
      process.stderr.write(`${label}: ${describe({ label, done, total, info, elapsed: elapsed() })}\n`);
    },
    stop() {},
  };
}

/**
 * Several tasks at once (the pipeline's running stages). On a terminal, one line per running task redrawn in
 * place at most every 200 ms; otherwise a plain line for a task when it crosses a tenth of its work or every
 * `plainEvery` seconds, whichever comes first. `log` prints a line above the live block.
 */
export class MultiProgress {
  private readonly tasks = new Map<string, ProgressState & { decile: number; printed: number }>();
  private drawn = 0;
  private lastDraw = -Infinity; // the first update always draws (performance.now() starts near 0 in a new process)

  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly tty = out.isTTY === true,
    private readonly plainEvery = 60,
  ) {}

  update(name: string, p: Omit<ProgressState, 'label'> & { label?: string }): void {
    const prev = this.tasks.get(name);
    const state = { ...p, label: p.label ?? name, decile: prev?.decile ?? 0, printed: prev?.printed ?? 0 };
    this.tasks.set(name, state);
    if (this.tty) {
      this.draw(false);
      return;
    }
    const frac = p.total > 0 ? p.done / p.total : 0;
    const decile = Math.floor(frac * 10 + 1e-9);
    if (decile > state.decile || p.elapsed - state.printed >= this.plainEvery) {
      state.decile = decile;
      state.printed = p.elapsed;
      this.out.write(`  ${name}: ${state.label} ${describe(state)}\n`);
    }
  }

  /** The task ended: its live line goes away. */
  done(name: string): void {
    if (this.tasks.delete(name) && this.tty) this.draw(true);
  }

  /** A line of its own, above the live block. */
  log(line: string): void {
    if (!this.tty) {
      this.out.write(line + '\n');
      return;
    }
    this.clear();
    this.out.write(line + '\n');
    this.draw(true);
  }

  private clear(): void {
    if (this.drawn > 0) this.out.write(`\x1b[${this.drawn}A\x1b[J`);
    this.drawn = 0;
  }

  private draw(force: boolean): void {
    const now = performance.now();
    if (!force && now - this.lastDraw < 200) return;
    this.lastDraw = now;
    this.clear();
    const columns = this.out.columns ?? 0;
    const width = columns >= 40 ? columns - 1 : 160; // a terminal that reports no width gets whole lines
    for (const [name, p] of this.tasks)
      this.out.write(`  ${name}: ${p.label} ${describe(p)}`.slice(0, width) + '\n');
    this.drawn = this.tasks.size;
  }
}
