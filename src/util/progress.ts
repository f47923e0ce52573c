/**
 * Progress reporting on stderr: a cli-progress bar when stderr is a terminal, otherwise one plain line every
 * ~10% (so logs of non-interactive runs stay short). `quiet` reports nothing.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  /** `done` of `total` units; `info` is shown after the bar (e.g. "loss 1.23"). */
  update(done: number, total: number, info?: string): void;
  stop(): void;
}

export function progress(label: string, opts: { quiet?: boolean } = {}): Progress {
  if (opts.quiet) return { update() {}, stop() {} };
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format: `${label} [{bar}] {percentage}% {info}`,
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
      process.stderr.write(`${label}: ${Math.round(frac * 100)}%${info ? ` ${info}` : ''}\n`);
    },
    stop() {},
  };
}
