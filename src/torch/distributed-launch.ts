/**
 * Starting data-parallel workers as torchrun does: one launcher per machine spawns `nprocPerNode` workers,
 * each with torchrun's variables (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT,
 * GROUP_RANK), and watches them.
 *
 * Faults: the first worker that exits non-zero or is killed ends the run: the launcher stops the others
 * (SIGTERM, then SIGKILL after a grace period), prints one line naming that rank and its last log line, and
 * exits non-zero. A hung worker is found by its peers: their next collective times out (DEFAULT_TIMEOUT_MS,
 * 50 s) and they exit non-zero; the launcher then names the ranks still running as hung. Workers also ask the kernel to kill them if the launcher dies
 * (dieWithParent), so no worker outlives its launcher. The launcher forwards SIGINT / SIGTERM to its workers.
 *
 * Output: rank 0's stdout and stderr pass through unchanged; other ranks' lines are prefixed `[rank N] `.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import os from 'node:os';
import { DEFAULT_TIMEOUT_MS } from './distributed.js';

/** A free TCP port on 127.0.0.1 (asked of the kernel; free when this returns). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface LaunchOptions {
  /** Arguments after `node`: the script and its arguments (e.g. [bin/corl.js, 'train', '--config', f]). */
  args: string[];
  nnodes: number;
  nodeRank: number;
  nprocPerNode: number;
  masterAddr: string;
  masterPort: number;
  /** After the first failure, how long the others get to exit on SIGTERM before SIGKILL. Default 3000 ms. */
  killGraceMs?: number;
  /**
   * When the first failure is a collective that timed out, how long the launcher waits before stopping the
   * others: the healthy ranks time out too, and the ranks still running then are named as hung. Default
   * 2000 ms.
   */
  hangGraceMs?: number;
  /**
   * Once a worker has finished cleanly, how long the others get to finish too before they count as hung and
   * the run is stopped. Default DEFAULT_TIMEOUT_MS (50 s).
   */
  finishGraceMs?: number;
  /** Extra environment for the workers. */
  env?: NodeJS.ProcessEnv;
  /** Where output goes (default process.stdout / process.stderr). */
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  /** Called once every worker has started, with their pids in local-rank order. */
  onStart?: (pids: number[]) => void;
}

export interface RankFailure {
  rank: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  lastLine: string;
}

export interface LaunchResult {
  /** The exit code the launcher should end with: 0, the failing rank's code, or 1. */
  code: number;
  failure?: RankFailure;
  /** Every local worker's last log line, by global rank. */
  lastLines: Map<number, string>;
  /** The one-line report of the failure (also written to stderr). */
  message?: string;
}

/**
 * The thread counts of a worker when the user set none: one intra-op thread, and the machine's cores shared
 * out among the local workers for BLAS (at least one each).
 */
export function workerThreads(
  localWorldSize: number,
  cores = os.availableParallelism(),
): { threads: number; blas: number } {
  return { threads: 1, blas: Math.max(1, Math.floor(cores / localWorldSize)) };
}

function describe(f: RankFailure): string {
  const how =
    f.signal !== null
      ? `was killed by ${f.signal}`
      : f.code === null
        ? 'did not finish'
        : `exited with code ${String(f.code)}`;
  const last = f.lastLine === '' ? 'it printed nothing' : `its last line: ${f.lastLine}`;
  return `rank ${f.rank} ${how}; ${last}`;
}

/** Runs the workers of this node until they all end; never throws for a worker's failure. */
export function launch(o: LaunchOptions): Promise<LaunchResult> {
  const world = o.nnodes * o.nprocPerNode;
  const out = o.stdout ?? process.stdout;
  const err = o.stderr ?? process.stderr;
  const grace = o.killGraceMs ?? 3000;
  const hangGrace = o.hangGraceMs ?? 2000;
  /** Ranks still running when the launcher stopped them. */
  const stopped = new Set<number>();
  let timedOut = false;
  const finishGrace = o.finishGraceMs ?? DEFAULT_TIMEOUT_MS;
  let finishTimer: NodeJS.Timeout | undefined;
  const lastLines = new Map<number, string>();
  const children: { rank: number; child: ChildProcess; done: boolean }[] = [];
  let failure: RankFailure | undefined;
  let killTimer: NodeJS.Timeout | undefined;

  const stopAll = (signal: NodeJS.Signals) => {
    for (const c of children)
      if (!c.done) {
        stopped.add(c.rank);
        c.child.kill(signal);
      }
    if (killTimer === undefined)
      killTimer = setTimeout(() => {
        for (const c of children) if (!c.done) c.child.kill('SIGKILL');
      }, grace);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    failure ??= { rank: -1, code: null, signal, lastLine: '' };
    stopAll(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  return new Promise((resolve) => {
    let running = o.nprocPerNode;
    for (let local = 0; local < o.nprocPerNode; local++) {
      const rank = o.nodeRank * o.nprocPerNode + local;
      const threads = workerThreads(o.nprocPerNode);
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        CORL_THREADS: process.env.CORL_THREADS ?? String(threads.threads),
        CORL_BLAS_THREADS: process.env.CORL_BLAS_THREADS ?? String(threads.blas),
        OMP_NUM_THREADS: process.env.OMP_NUM_THREADS ?? '1',
        ...o.env,
        RANK: String(rank),
        LOCAL_RANK: String(local),
        WORLD_SIZE: String(world),
        LOCAL_WORLD_SIZE: String(o.nprocPerNode),
        GROUP_RANK: String(o.nodeRank),
        MASTER_ADDR: o.masterAddr,
        MASTER_PORT: String(o.masterPort),
        CORL_LAUNCHER_PID: String(process.pid),
      };
      const child = spawn(process.execPath, o.args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      const entry = { rank, child, done: false };
      children.push(entry);
      lastLines.set(rank, '');
      // rank 0's output passes through as it comes (progress bars included); other ranks' whole lines are
      // prefixed; every rank's last non-empty line is kept for the failure report
      const pipe = (stream: NodeJS.ReadableStream, to: NodeJS.WritableStream) => {
        let partial = '';
        stream.setEncoding('utf8');
        stream.on('data', (text: string) => {
          const lines = (partial + text).split(/\r\n|\n|\r/);
          partial = lines.pop() ?? '';
          const full = lines.filter((l) => l.trim() !== '');
          const last = partial.trim() !== '' ? partial : full[full.length - 1];
          if (last !== undefined) lastLines.set(rank, last.trim());
          if (rank === 0) to.write(text);
          else for (const line of full) to.write(`[rank ${rank}] ${line}\n`);
        });
        stream.on('end', () => {
          if (rank !== 0 && partial.trim() !== '') to.write(`[rank ${rank}] ${partial}\n`);
        });
      };
      pipe(child.stdout!, out);
      pipe(child.stderr!, err);
      child.on('error', (e) => {
        lastLines.set(rank, `could not start: ${e.message}`);
      });
      child.on('close', (code, signal) => {
        entry.done = true;
        running--;
        if ((code !== 0 || signal !== null) && failure === undefined && !stopped.has(rank)) {
          failure = { rank, code, signal, lastLine: lastLines.get(rank) ?? '' };
          // a timed-out collective: give the other healthy ranks time to time out too; the ranks still
          // running after that are the hung ones
          timedOut = /timed out/i.test(failure.lastLine);
          if (timedOut) setTimeout(() => stopAll('SIGTERM'), hangGrace);
          else stopAll('SIGTERM');
        }
        if (running > 0 && failure === undefined && finishTimer === undefined)
          // a worker is done: the rest must follow within the grace, or the first one left is hung
          finishTimer = setTimeout(() => {
            const hung = children.find((c) => !c.done);
            if (hung === undefined || failure !== undefined) return;
            failure = {
              rank: hung.rank,
              code: null,
              signal: null,
              lastLine: `${lastLines.get(hung.rank) ?? ''} (still running ${finishGrace} ms after rank ${rank} finished: hung)`,
            };
            stopAll('SIGTERM');
          }, finishGrace);
        if (running > 0) return;
        if (killTimer !== undefined) clearTimeout(killTimer);
        if (finishTimer !== undefined) clearTimeout(finishTimer);
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        if (failure === undefined) {
          resolve({ code: 0, lastLines });
          return;
        }
        let message: string;
        if (failure.rank < 0)
          message = `corl: stopped by ${String(failure.signal)}; the workers were stopped`;
        else {
          const line = (r: number) => lastLines.get(r) || '(none)';
          const hung = timedOut ? [...stopped].sort((a, b) => a - b) : [];
          if (hung.length > 0) {
            message =
              `corl: error: rank ${hung.join(', ')} hung: the other ranks' collectives timed out waiting for it; ` +
              hung.map((r) => `rank ${r}'s last line: ${line(r)}`).join('; ');
            message += `\n  rank ${failure.rank} ${describe(failure).slice(`rank ${failure.rank} `.length)}`;
            for (const [r] of lastLines)
              if (r !== failure.rank && !hung.includes(r)) message += `\n  rank ${r}'s last line: ${line(r)}`;
          } else {
            message = `corl: error: ${describe(failure)}; the other ranks were stopped`;
            for (const [r] of lastLines)
              if (r !== failure.rank) message += `\n  rank ${r}'s last line: ${line(r)}`;
          }
        }
        err.write(message + '\n');
        const exit = failure.rank < 0 ? 130 : failure.code !== null && failure.code !== 0 ? failure.code : 1;
        resolve({ code: exit, failure, lastLines, message });
      });
    }
    o.onStart?.(children.map((c) => c.child.pid ?? -1));
  });
}
