/**
 * Data-parallel GRPO over Gloo on 127.0.0.1: one update of 2 ranks equals one update of 1 process on the same
 * rollout (parameters and gradient norm within 1e-6 relative); a 2-rank tiny run through `corl train --nproc 2`
 * end to end; a killed rank and a hung rank end the run with a message naming a rank and its last line, and
 * leave no process behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { freePort } from '../../src/torch/distributed-launch.js';
import { DP_ENV, compareTensors, relDiff, runNode, runOneAndTwoRanks } from '../helpers/data-parallel.js';
import { aggregateLoss } from '../../src/rl/grpo.js';
import { makeFixture, writeConfig } from './fixture.js';

const fx = makeFixture();
const CLI = join(import.meta.dirname, '..', '..', 'bin', 'corl.js');
const WORKER = join(import.meta.dirname, 'dp-worker.ts');
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The launcher's worker processes (children of `pid`), with their RANK. */
function workers(pid: number): { pid: number; rank: number }[] {
  // the children of `pid`, from /proc (no ps needed): field 4 of /proc/P/stat, after the "(comm)" field
  const read = (f: string) => {
    try {
      return readFileSync(f, 'utf8');
    } catch {
      return ''; // gone already
    }
  };
  return readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .filter((p) => {
      const stat = read(`/proc/${p}/stat`);
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
    })
    .map((p) => {
      const m = /(?:^|\0)RANK=(\d+)/.exec(read(`/proc/${p}/environ`));
      return { pid: p, rank: m ? Number(m[1]) : -1 };
    });
}

async function equivalence(name: string, fields: Record<string, unknown>): Promise<void> {
  const cfg = writeConfig(fx, name, { max_grad_norm: 1000, ...fields });
  const single = join(fx.dir, `${name}-single`);
  const dp = join(fx.dir, `${name}-dp`);
  await runOneAndTwoRanks(WORKER, [cfg], single, dp);

  const load = (f: string) => torch.safetensors.loadSafetensors(f).tensors;
  // the gradients AdamW gets: one process's and the sum over 2 ranks, equal to float32 summation order
  const ga = load(`${single}.grads.safetensors`);
  const gb = load(`${dp}.grads.safetensors`);
  const g = compareTensors(ga, gb);
  assert.ok(
    g.worst[1] <= 1e-6,
    `${g.worst[0]}: the 2-rank gradient differs from 1 process's by ${g.worst[1]} (relative)`,
  );
  // the parameters after AdamW. Its first step is g / (|g| + 1e-8) per entry, which turns float32 rounding
  // of near-zero gradient entries into visible differences: all parameters together within 1e-6, each
  // tensor within 1e-5
  const a = load(`${single}.safetensors`);
  const b = load(`${dp}.safetensors`);
  const base = load(join(fx.model, 'model.safetensors'));
  const p = compareTensors(a, b);
  assert.ok(p.worst[1] <= 1e-5, `${p.worst[0]}: 2 ranks differ from 1 process by ${p.worst[1]} (relative)`);
  assert.ok(p.total <= 1e-6, `the parameters of 2 ranks differ from 1 process's by ${p.total} (relative)`);
  let moved = 0;
  for (const [name, t] of a) {
    const b0 = base.get(name);
    if (b0) moved = Math.max(moved, relDiff(t.toArray(), b0.toArray()));
  }
  assert.ok(moved > 1e-4, `the update moved the parameters (by ${moved} relative)`);
  torch.dispose([...ga.values(), ...gb.values()]);
  torch.dispose([...a.values(), ...b.values(), ...base.values()]);

  const ma = JSON.parse(readFileSync(`${single}.json`, 'utf8')) as Record<string, number>;
  const mb = JSON.parse(readFileSync(`${dp}.json`, 'utf8')) as Record<string, number>;
  // the gradient norm is scale-sensitive where AdamW's first step is not: it checks the normalisation
  assert.ok(ma.grad_norm! > 0);
  assert.ok(
    Math.abs(mb.grad_norm! - ma.grad_norm!) <= 1e-6 * ma.grad_norm!,
    `grad_norm ${mb.grad_norm} vs ${ma.grad_norm}`,
  );
  for (const k of ['loss', 't2i/loss', 'mm2t/loss', 'mm2t/num_tokens', 't2i/num_tokens'])
    assert.ok(
      Math.abs(mb[k]! - ma[k]!) <= 1e-6 * Math.max(1, Math.abs(ma[k]!)),
      `${k}: ${mb[k]} vs ${ma[k]}`,
    );
}

test('one update of 2 ranks equals one update of 1 process on the same rollout: whole micro-batches per rank', async () => {
  // 4 prompts x 2 generations, micro-batches of 1 prompt: each rank accumulates 2 of the 4
  await equivalence('eq-whole', { batch_size: 4, micro_batch_size: 1 });
});

test('... and with every micro-batch split over the ranks (the default stage 1: one micro-batch of the whole batch)', async () => {
  await equivalence('eq-split', { batch_size: 4, micro_batch_size: 4 });
});

test('... and whole micro-batches per rank, and three micro-batches each split, with sequence-mean and Dr. GRPO aggregation', async () => {
  // 4 prompts, micro-batches of 2: one whole micro-batch per rank
  await equivalence('eq-seq', {
    batch_size: 4,
    micro_batch_size: 2,
    loss_aggregation: 'seq-mean-token-mean',
  });
  // 6 prompts, micro-batches of 2: 3 per step, each split 1 + 1 over the ranks
  await equivalence('eq-dr', { batch_size: 6, micro_batch_size: 2, loss_aggregation: 'dr_grpo' });
  await equivalence('eq-seq3', {
    batch_size: 6,
    micro_batch_size: 2,
    loss_aggregation: 'seq-mean-token-mean',
  });
});

test('corl train --nproc 2: a tiny 2-rank run end to end, rank 0 alone writing metrics, samples and checkpoints', async () => {
  const cfg = writeConfig(fx, 'dp2', { eval_data: fx.test, eval_rows: 3 });
  const out = join(fx.dir, 'dp2');
  const r = await runNode([CLI, 'train', '--config', cfg, '--nproc', '2', '--json']);
  assert.equal(r.code, 0, r.err);
  assert.doesNotMatch(r.err, /\[rank 1\].*error/);
  const result = JSON.parse(r.out.trim().split('\n').pop()!) as { steps: number; after?: { n: number } };
  assert.equal(result.steps, 4);
  assert.equal(result.after?.n, 3, 'the held-out evaluation covers all rows across the ranks');
  const rows = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, number | null>);
  const steps = rows.filter((m) => m.step_time !== undefined);
  assert.deepEqual(
    steps.map((m) => m.step),
    [1, 2, 3, 4],
    'one metrics row per step: rank 0 alone writes',
  );
  for (const key of [
    't2i/reward',
    'mm2t/reward',
    'reward',
    'grad_norm',
    't2i/entropy',
    'mm2t/entropy',
    'loss',
  ])
    assert.ok(key in steps[0]!, `metric ${key} missing`);
  assert.equal(steps[0]!['t2i/ratio_mean'], 1);
  assert.ok(existsSync(join(out, 'samples', 'step-2', 'images.png')));
  assert.ok(existsSync(join(out, 'checkpoint-4', 'model', 'model.safetensors')));
  const state = JSON.parse(readFileSync(join(out, 'checkpoint-2', 'trainer_state.json'), 'utf8')) as {
    ranks?: { sampler: string[]; default: string[] };
  };
  assert.equal(state.ranks?.sampler.length, 2, 'every rank s generator state is saved');
  assert.notEqual(
    state.ranks!.sampler[0],
    state.ranks!.sampler[1],
    'the ranks sample from different streams',
  );
  assert.deepEqual(
    readdirSync(out).filter((n) => n.includes('.tmp')),
    [],
  );
});

test('a bad split is one clear line before any worker starts', async () => {
  const cfg = writeConfig(fx, 'dp-bad', { batch_size: 3 });
  const r = await runNode([CLI, 'train', '--config', cfg, '--nproc', '2']);
  assert.equal(r.code, 2);
  assert.match(r.err, /^corl: error: batch_size 3 with micro_batch_size 1 does not split over 2 ranks/m);
  assert.equal(r.err.trim().split('\n').length, 1);
});

async function runUntilStep(name: string, extraEnv: NodeJS.ProcessEnv) {
  const cfg = writeConfig(fx, name, { steps: 400, save_every: 0, sample_every: 0, log_every: 1 });
  const out = join(fx.dir, name);
  const child = spawn(process.execPath, [CLI, 'train', '--config', cfg, '--nproc', '2'], {
    env: { ...DP_ENV, ...extraEnv },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  // wait for a logged step: both ranks are in the training loop
  const t0 = Date.now();
  while (!(
    existsSync(join(out, 'metrics.jsonl')) &&
    readFileSync(join(out, 'metrics.jsonl'), 'utf8').includes('"step":2')
  )) {
    if (Date.now() - t0 > 180_000) throw new Error(`the run did not reach step 2: ${err}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const ws = workers(child.pid!);
  assert.equal(ws.length, 2);
  return { child, done, ws, err: () => err };
}

test('a killed rank ends the whole run: non-zero exit, the rank and its last line named, no process left', async () => {
  const { done, ws, err } = await runUntilStep('dp-kill', {});
  const victim = ws.find((w) => w.rank === 1)!;
  const t0 = Date.now();
  process.kill(victim.pid, 'SIGKILL');
  const code = await done;
  assert.notEqual(code, 0);
  assert.ok(Date.now() - t0 < 60_000);
  assert.match(
    err(),
    /corl: error: rank 1 was killed by SIGKILL; (its last line: .*|it printed nothing); the other ranks were stopped/,
  );
  await new Promise((r) => setTimeout(r, 200));
  for (const w of ws) assert.equal(alive(w.pid), false, `worker ${w.pid} (rank ${w.rank}) is gone`);
});

test('a hung rank ends the whole run within the collective timeout', async () => {
  const { done, ws, err } = await runUntilStep('dp-hang', { CORL_DIST_TIMEOUT_MS: '8000' });
  const victim = ws.find((w) => w.rank === 1)!;
  const t0 = Date.now();
  process.kill(victim.pid, 'SIGSTOP');
  const code = await done;
  const took = Date.now() - t0;
  assert.notEqual(code, 0);
  assert.ok(took < 30_000, `took ${took} ms`);
  // the hung rank is named with its last line; the rank whose collective timed out follows
  assert.match(
    err(),
    /corl: error: rank 1 hung: the other ranks' collectives timed out waiting for it; rank 1's last line: /,
  );
  assert.match(
    err(),
    /\n {2}rank 0 exited with code \d+; its last line: .*timed out after 8000 ms on rank 0 of 2/,
  );
  await new Promise((r) => setTimeout(r, 200));
  for (const w of ws) assert.equal(alive(w.pid), false, `worker ${w.pid} (rank ${w.rank}) is gone`);
});

test('corl launch --nnodes 2 on 127.0.0.1: two "nodes" of one worker each train as one run', async () => {
  const cfg = writeConfig(fx, 'dp-nodes', { steps: 2, save_every: 0, sample_every: 0 });
  const out = join(fx.dir, 'dp-nodes');
  const port = await freePort();
  const node = (r: number) =>
    runNode([
      CLI,
      'launch',
      '--nnodes',
      '2',
      '--node-rank',
      String(r),
      '--nproc-per-node',
      '1',
      '--master-addr',
      '127.0.0.1',
      '--master-port',
      String(port),
      '--',
      'train',
      '--config',
      cfg,
    ]);
  const [n0, n1] = await Promise.all([node(0), node(1)]);
  assert.equal(n0.code, 0, n0.err);
  assert.equal(n1.code, 0, n1.err);
  assert.match(n0.out, /trained 2 steps/);
  assert.equal(n1.out.trim(), '', 'rank 1 reports nothing');
  const steps = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n');
  assert.equal(steps.length, 2);
  assert.ok(existsSync(join(out, 'checkpoint-2', 'model', 'model.safetensors')));
  // a multi-node launch without a port is one clear line
  const bad = await runNode([
    CLI,
    'launch',
    '--nnodes',
    '2',
    '--nproc-per-node',
    '1',
    '--',
    'train',
    '--config',
    cfg,
  ]);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /^corl: error: --master-port is required with --nnodes > 1/m);
  // only train, pretrain and eval run data-parallel
  const other = await runNode([
    CLI,
    'launch',
    '--nproc-per-node',
    '2',
    '--',
    'generate',
    '--model',
    fx.model,
  ]);
  assert.equal(other.code, 2);
  assert.match(
    other.err,
    /^corl: error: corl launch runs "train", "eval", "pretrain" data-parallel; "generate" does not/m,
  );
});

test('a killed launcher takes its workers with it, and --resume --nproc 2 ends bit-identical to an uninterrupted run', async () => {
  const full = writeConfig(fx, 'dp-full', { save_every: 2, sample_every: 0 });
  const killed = writeConfig(fx, 'dp-killed', { save_every: 2, sample_every: 0 });
  const a = await runNode([CLI, 'train', '--config', full, '--nproc', '2']);
  assert.equal(a.code, 0, a.err);

  const out = join(fx.dir, 'dp-killed');
  const child = spawn(process.execPath, [CLI, 'train', '--config', killed, '--nproc', '2'], {
    env: DP_ENV,
    stdio: 'ignore',
  });
  const done = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const t0 = Date.now();
  let ws: { pid: number; rank: number }[] = [];
  while (!existsSync(join(out, 'checkpoint-2', 'trainer_state.json'))) {
    if (ws.length < 2) ws = workers(child.pid!);
    if (Date.now() - t0 > 180_000) throw new Error('no checkpoint-2');
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill('SIGKILL');
  await done;
  assert.equal(ws.length, 2);
  const t1 = Date.now();
  while (ws.some((w) => alive(w.pid)) && Date.now() - t1 < 10_000)
    await new Promise((r) => setTimeout(r, 50));
  for (const w of ws)
    assert.equal(alive(w.pid), false, `worker ${w.pid} (rank ${w.rank}) outlived its launcher`);

  const b = await runNode([CLI, 'train', '--config', killed, '--nproc', '2', '--resume']);
  assert.equal(b.code, 0, b.err);
  const fa = readFileSync(join(fx.dir, 'dp-full', 'checkpoint-4', 'model', 'model.safetensors'));
  const fb = readFileSync(join(out, 'checkpoint-4', 'model', 'model.safetensors'));
  assert.ok(fa.equals(fb), 'the resumed 2-rank run ends with the same weights, byte for byte');
  const rows = (dir: string) =>
    readFileSync(join(fx.dir, dir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => {
        const m = JSON.parse(l) as Record<string, unknown>;
        for (const k of Object.keys(m))
          if (k.startsWith('time/') || k.startsWith('mem/') || k === 'step_time') delete m[k];
        return m;
      });
  assert.deepEqual(rows('dp-killed'), rows('dp-full'));
});

test('loss shares: each aggregation over parts of a micro-batch with its global denominators sums to the whole', () => {
  torch.tidy(() => {
    const perToken = torch.tensor([0.5, -1, 2, 0.25, 3, -0.75, 1.5, 0.1, -2, 0.7, 0.3, 1.1]).reshape([4, 3]);
    // row 2 has no active token (an empty completion)
    const mask = torch.tensor([1, 1, 0, 1, 0, 0, 0, 0, 0, 1, 1, 1]).reshape([4, 3]);
    const live = (m: number[]) =>
      [0, 1, 2, 3].filter((r) => m.slice(r * 3, r * 3 + 3).some((x) => x > 0)).length;
    const m = mask.toArray();
    const denominators = { tokens: m.reduce((a, b) => a + b, 0), sequences: live(m), rows: 4 };
    for (const agg of ['token-mean', 'seq-mean-token-mean', 'dr_grpo'] as const) {
      const whole = aggregateLoss(perToken, mask, agg, 3).item();
      const parts = [0, 2].map((start) =>
        aggregateLoss(perToken.narrow(0, start, 2), mask.narrow(0, start, 2), agg, 3, denominators).item(),
      );
      assert.ok(
        Math.abs(parts[0]! + parts[1]! - whole) < 1e-6,
        `${agg}: ${parts[0]} + ${parts[1]} vs ${whole}`,
      );
      // without the global denominators the halves are not shares of the whole
      const local = [0, 2].map((start) =>
        aggregateLoss(perToken.narrow(0, start, 2), mask.narrow(0, start, 2), agg, 3).item(),
      );
      assert.ok(Math.abs(local[0]! + local[1]! - whole) > 1e-3, agg);
    }
  });
});

test('a run checkpointed by one process resumes with --nproc 2 (rank 1 starts fresh streams)', async () => {
  const cfg = writeConfig(fx, 'dp-regrow', { save_every: 2, sample_every: 0 });
  const a = await runNode([CLI, 'train', '--config', cfg, '--steps', '2']);
  assert.equal(a.code, 0, a.err);
  // steps is fingerprinted only through the lr schedule; the default constant schedule lets the run grow
  const b = await runNode([CLI, 'train', '--config', cfg, '--nproc', '2', '--resume', '--steps', '4']);
  assert.equal(b.code, 0, b.err);
  const steps = readFileSync(join(fx.dir, 'dp-regrow', 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { step: number }).step);
  assert.deepEqual(steps, [1, 2, 3, 4]);
});
