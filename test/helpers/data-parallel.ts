/**
 * What the data-parallel tests share: their child processes (one process, then two ranks), their worker set-up
 * and their tolerance measures.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as torch from '../../src/torch/index.js';
import * as dist from '../../src/torch/distributed.js';
import { freePort } from '../../src/torch/distributed-launch.js';

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
 * The equivalence tests' runs: `worker ARGS single` as the one process, then `worker ARGS dp RANK 2 INIT` as two
 * ranks over Gloo on a free local port; each must exit 0 (its stderr is the message when it does not).
 */
export async function runOneAndTwoRanks(
  worker: string,
  args: readonly string[],
  single: string,
  dp: string,
): Promise<void> {
  const one = await runNode(['--import', 'tsx', worker, ...args, single]);
  assert.equal(one.code, 0, one.err);
  const port = await freePort();
  const ranks = await Promise.all(
    [0, 1].map((r) =>
      runNode(['--import', 'tsx', worker, ...args, dp, String(r), '2', `tcp://127.0.0.1:${port}`]),
    ),
  );
  for (const r of ranks) assert.equal(r.code, 0, r.err);
}

/**
 * Two state dicts with the same non-empty set of names: the relative difference of all their entries together
 * (`total`) and the tensor that differs most (`worst`: its name and relative difference).
 */
export function compareTensors(
  a: Map<string, torch.Tensor>,
  b: Map<string, torch.Tensor>,
): { total: number; worst: [string, number] } {
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
  assert.ok(a.size > 0);
  const all: [number[], number[]] = [[], []];
  let worst: [string, number] = ['', 0];
  for (const [name, t] of a) {
    const x = t.toArray();
    const y = b.get(name)!.toArray();
    all[0].push(...x);
    all[1].push(...y);
    const d = relDiff(y, x);
    if (d > worst[1]) worst = [name, d];
  }
  return { total: relDiff(all[1], all[0]), worst };
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
