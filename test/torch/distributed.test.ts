/**
 * torch.distributed over Gloo on loopback: every collective across 2 real processes (FileStore and TCPStore
 * rendezvous), flat buckets of mixed dtypes, gradient all-reduce, and the failure paths: a stalled peer
 * surfaces as a timeout error, a dead peer as an error, a missing peer as a rendezvous timeout.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as dist from '../../src/torch/distributed.js';
import { freePort } from '../../src/torch/distributed-launch.js';

const WORKER = join(import.meta.dirname, 'dist-worker.ts');

interface Result {
  code: number | null;
  lines: string[];
  stderr: string;
}

function runRank(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WORKER, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) =>
      resolve({ code, lines: out.trim().split('\n').filter(Boolean), stderr: err }),
    );
  });
}

async function runWorld(
  scenario: string,
  initMethod: string,
  world = 2,
  timeoutMs = 20000,
  env: NodeJS.ProcessEnv = {},
): Promise<Result[]> {
  return Promise.all(
    Array.from({ length: world }, (_, r) =>
      runRank([scenario, String(r), String(world), initMethod, String(timeoutMs)], env),
    ),
  );
}

function json(r: Result): Record<string, unknown> {
  assert.equal(r.code, 0, `worker failed: ${r.lines.join(' | ')} ${r.stderr}`);
  return JSON.parse(r.lines[r.lines.length - 1]!) as Record<string, unknown>;
}

function checkCollectives(results: Result[]): void {
  for (const [rank, r] of results.entries()) {
    const o = json(r);
    assert.equal(o.rank, rank);
    assert.equal(o.getRank, rank);
    assert.equal(o.worldSize, 2);
    // sum over ranks 0, 1 of (rank + 1) * [1..6]
    assert.deepEqual(o.a, [3, 6, 9, 12, 15, 18]);
    assert.deepEqual(o.b, [0.5 + 1.5, -1.25 * 2 + 1]);
    assert.deepEqual(o.c, [21, 41, 61]);
    // the non-contiguous view wrote through to its base: 7 + 107
    assert.deepEqual(o.base, [114, 114, 114, 114, 114, 114]);
    assert.deepEqual(o.m, [1, 0, 3.5]);
    assert.deepEqual(o.avg, [2, 4]);
    assert.deepEqual(o.bc, [
      [1.25, 1.25, 1.25, 1.25],
      [3, 3, 3, 3],
    ]);
    assert.deepEqual(o.g, [
      [0, 0],
      [1, 10],
    ]);
    assert.deepEqual(o.nums, [
      [0, 'NaN', 1 / 3],
      [1, 'NaN', 1 / 3],
    ]);
    assert.equal(o.liveDelta, 0, 'every tensor of the collectives is released');
  }
}

test('collectives over a FileStore rendezvous: all-reduce (sum, max, avg) of a mixed bucket, broadcast, all-gather, barrier', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'corl-dist-'));
  checkCollectives(await runWorld('collectives', `file://${join(dir, 'store')}`));
});

test('collectives over a TCPStore rendezvous on 127.0.0.1', async () => {
  const port = await freePort();
  checkCollectives(await runWorld('collectives', `tcp://127.0.0.1:${port}`));
});

test('gradient all-reduce: a gradient missing on one rank counts as zero, one missing everywhere stays missing; extra tensors reduce with them', async () => {
  const port = await freePort();
  for (const r of await runWorld('grads', `tcp://127.0.0.1:${port}`)) {
    const o = json(r);
    assert.deepEqual(o.grads, [[3, 3, 3], [5, 5, 5], null]);
    assert.deepEqual(o.also, [3, 10]);
    assert.equal(o.liveDelta, 0);
  }
});

test('a stalled peer: the collective throws a DistributedError after its timeout instead of hanging', async () => {
  const port = await freePort();
  const [r0] = await runWorld('stall', `tcp://127.0.0.1:${port}`, 2, 20000, { STALL_MS: '6000' });
  const o = json(r0!);
  assert.equal(o.name, 'DistributedError');
  assert.match(String(o.error), /allReduce timed out after 1500 ms on rank 0 of 2/);
  assert.ok((o.ms as number) >= 1400 && (o.ms as number) < 5000, `gave up after ${String(o.ms)} ms`);
});

test('a dead peer: the next collective fails with an error naming the operation and the rank', async () => {
  const port = await freePort();
  const [r0, r1] = await runWorld('die', `tcp://127.0.0.1:${port}`);
  assert.equal(r1!.code, 3);
  const o = json(r0!);
  assert.match(String(o.error), /allReduce (failed|timed out) .*on rank 0 of 2/);
  assert.ok((o.ms as number) < 6000);
});

test('a missing peer: rendezvous gives up after the timeout with one clear line', async () => {
  const port = await freePort();
  const t0 = Date.now();
  const r = await runRank(['collectives', '0', '2', `tcp://127.0.0.1:${port}`, '1500']);
  assert.equal(r.code, 1);
  assert.match(
    r.lines.join('\n'),
    /^ERR DistributedError: initProcessGroup \(rank 0 of 2, tcp:\/\/127\.0\.0\.1:\d+, timeout 1500 ms\)/m,
  );
  assert.ok(Date.now() - t0 < 15000);
});

test('in one process: no group, bad arguments and nccl give clear errors; torchrun variables are parsed', () => {
  assert.equal(dist.isInitialized(), false);
  assert.equal(dist.getRank(), 0);
  assert.equal(dist.getWorldSize(), 1);
  assert.deepEqual(dist.availableBackends(), { gloo: true, nccl: false });
  assert.throws(() => dist.barrier(), /barrier: no process group/);
  assert.throws(
    () => dist.initProcessGroup({ backend: 'nccl', rank: 0, worldSize: 1, initMethod: 'file:///tmp/x' }),
    /nccl' needs a CUDA build/,
  );
  assert.throws(
    () => dist.initProcessGroup({ rank: 2, worldSize: 2, initMethod: 'file:///tmp/x' }),
    /rank 2 is not in \[0, 2\)/,
  );
  assert.throws(
    () => dist.initProcessGroup({ rank: 0, worldSize: 1, initMethod: 'udp://x' }),
    /initMethod must be file:\/\/PATH or tcp:\/\/HOST:PORT/,
  );
  assert.equal(dist.launchEnv({}), null);
  assert.deepEqual(
    dist.launchEnv({
      RANK: '3',
      LOCAL_RANK: '1',
      WORLD_SIZE: '4',
      LOCAL_WORLD_SIZE: '2',
      MASTER_ADDR: '10.0.0.1',
      MASTER_PORT: '29500',
    }),
    { rank: 3, localRank: 1, worldSize: 4, localWorldSize: 2, masterAddr: '10.0.0.1', masterPort: 29500 },
  );
  assert.throws(
    () => dist.launchEnv({ WORLD_SIZE: '2', MASTER_PORT: '1' }),
    /WORLD_SIZE is set but RANK is not/,
  );
  assert.throws(
    () => dist.launchEnv({ WORLD_SIZE: '2', RANK: '2', MASTER_PORT: '1' }),
    /RANK 2 is not below/,
  );
  // a world of one needs no peer
  const dir = mkdtempSync(join(tmpdir(), 'corl-dist1-'));
  dist.initProcessGroup({ rank: 0, worldSize: 1, initMethod: `file://${join(dir, 'store')}` });
  assert.equal(dist.isInitialized(), true);
  assert.throws(
    () => dist.initProcessGroup({ rank: 0, worldSize: 1, initMethod: `file://${join(dir, 'store2')}` }),
    /already initialized/,
  );
  dist.barrier();
  dist.destroyProcessGroup();
  dist.destroyProcessGroup();
  assert.equal(dist.isInitialized(), false);
});
