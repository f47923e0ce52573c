/** What the data-parallel tests share: their child processes, their worker set-up and their tolerance measure. */
import { spawn } from 'node:child_process';
import * as torch from '../../src/torch/index.js';
import * as dist from '../../src/torch/distributed.js';

/** One libtorch thread and one BLAS thread per process: two ranks share the 2 cores. */
export const DP_ENV = { ...process.env, CORL_THREADS: '1', CORL_BLAS_THREADS: '1' };

/** Runs `node ARGS` with DP_ENV; resolves with its exit code and its whole stdout and stderr. */
export function runNode(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { env: DP_ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

/** ||a - b|| / ||b|| (L2, over the whole vector); ||a - b|| when b is zero. */
export function relDiff(a: readonly number[], b: readonly number[]): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

/**
 * A test worker's start: joins the process group RANK of WORLD at INIT_METHOD when WORLD is given (else runs
 * as the one process), with one thread and one BLAS thread. Returns the rank and size, or null.
 */
export function joinTestWorld(
  rank: string | undefined,
  size: string | undefined,
  initMethod: string | undefined,
): { rank: number; size: number } | null {
  let world: { rank: number; size: number } | null = null;
  if (size !== undefined) {
    world = { rank: Number(rank), size: Number(size) };
    dist.initProcessGroup({
      rank: world.rank,
      worldSize: world.size,
      initMethod: initMethod!,
      timeoutMs: 60_000,
    });
  }
  torch.setNumThreads(1);
  torch.setBlasThreads(1);
  return world;
}
