#!/usr/bin/env node
// Data-parallel benchmark: the default stage-1 GRPO step (configs/world/stage1.yaml: 4 prompts x 8 images and
// answers), or another stage's (--config, e.g. configs/world/stage2-gen.yaml), in one process against
// `corl train --nproc 2` on the same machine, same global batch. Runs are interleaved (1 process, 2 ranks,
// 1 process, ...); each reports the median of its steps after the first. Prints one JSON line per run, then a
// summary: ranks-2 / 1-process time ratios, best against best over all rounds, and paired round by round (the
// ranks' run against the faster one-process setting of the same round; their median is the figure that a
// machine whose speed drifts between rounds moves least).
//   node scripts/bench-distributed.mjs --model DIR --data FILE [--config F] [--steps 8] [--rounds 3]
//     [--nproc 2]
// The model is a world-tiny base (corl pretrain all) and the data a ShapesWorld train.jsonl (corl world build).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, loadavg, availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const model = arg('model');
const data = arg('data');
const steps = Number(arg('steps', '8'));
const rounds = Number(arg('rounds', '3'));
const nproc = Number(arg('nproc', '2'));
const config = arg('config', join(root, 'configs', 'world', 'stage1.yaml'));
if (!model || !data) {
  console.error(
    'usage: node scripts/bench-distributed.mjs --model DIR --data FILE [--config F] [--steps 8] [--rounds 3] [--nproc 2]',
  );
  process.exit(2);
}

// one process: the two thread settings that do not oversubscribe 2 cores (2 intra-op threads + 2 BLAS threads
// was measured 9x slower under load and is left out); ranks: 1 thread + cores / ranks BLAS threads each
const settings = [
  { name: '1 process, 1 thread + 2 BLAS', nproc: 1, env: { CORL_THREADS: '1', CORL_BLAS_THREADS: '2' } },
  { name: '1 process, 1 thread + 1 BLAS', nproc: 1, env: { CORL_THREADS: '1', CORL_BLAS_THREADS: '1' } },
  { name: `${nproc} ranks (threads per rank from cores / ranks)`, nproc, env: {} },
];

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function runOnce(s) {
  const out = mkdtempSync(join(tmpdir(), 'corl-bench-dp-'));
  const args = [
    join(root, 'bin', 'corl.js'),
    'train',
    '--config',
    config,
    '--set',
    `model=${model}`,
    '--set',
    `data=${data}`,
    '--set',
    `out=${join(out, 'run')}`,
    '--set',
    'eval_rows=0',
    '--set',
    'sample_every=0',
    '--set',
    'save_every=0',
    '--steps',
    String(steps),
  ];
  if (s.nproc > 1) args.push('--nproc', String(s.nproc));
  const t0 = Date.now();
  const env = { ...process.env, ...s.env };
  for (const k of ['CORL_THREADS', 'CORL_BLAS_THREADS']) if (!(k in s.env)) delete env[k];
  const r = spawnSync(process.execPath, args, { cwd: root, env, encoding: 'utf8' });
  const wall = (Date.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${s.name} failed:\n${r.stderr}`);
  const rows = readFileSync(join(out, 'run', 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .filter((m) => m.step_time !== undefined);
  rmSync(out, { recursive: true, force: true });
  const after = rows.slice(1);
  const pick = (k) => median(after.map((m) => m[k]));
  return {
    setting: s.name,
    nproc: s.nproc,
    steps: rows.length,
    step_s: pick('step_time'),
    rollout_s: pick('time/rollout'),
    reward_s: pick('time/reward'),
    update_s: pick('time/update'),
    wall_s: wall,
    load1: Number(loadavg()[0].toFixed(2)),
  };
}

const results = settings.map(() => []);
for (let round = 0; round < rounds; round++)
  settings.forEach((s, i) => {
    const r = runOnce(s);
    console.log(JSON.stringify({ round, ...r }));
    results[i].push(r);
  });
const best = (i) => Math.min(...results[i].map((r) => r.step_s));
const single = Math.min(best(0), best(1));
const roundRatios = results[2].map((r, k) => r.step_s / Math.min(results[0][k].step_s, results[1][k].step_s));
const summary = {
  cores: availableParallelism(),
  steps_per_run: steps,
  rounds,
  one_process_best_step_s: Number(single.toFixed(3)),
  one_process_best_setting: best(0) <= best(1) ? settings[0].name : settings[1].name,
  ranks: nproc,
  ranks_step_s: Number(best(2).toFixed(3)),
  ratio: Number((best(2) / single).toFixed(3)),
  round_ratios: roundRatios.map((r) => Number(r.toFixed(3))),
  median_round_ratio: Number(median(roundRatios).toFixed(3)),
};
console.log(JSON.stringify({ summary }));
