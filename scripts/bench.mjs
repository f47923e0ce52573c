#!/usr/bin/env node
// `npm run bench`: runs corl's engine benchmarks and, when PyTorch is importable by a python3, the same model
// in PyTorch (scripts/bench_reference.py), for a few thread settings each, interleaved, and prints the best
// median of each and the ratio corl / PyTorch. One JSON line per measurement goes to stdout, then a summary.
//   npm run bench -- --quick      (one thread setting, fewer steps)
//   npm run bench -- --distributed --model DIR --data FILE
//                                 (also the default stage-1 step in one process vs --nproc 2:
//                                  scripts/bench-distributed.mjs, docs/distributed.md)
import { spawnSync } from 'node:child_process';
import { register } from 'tsx/esm/api';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const quick = process.argv.includes('--quick');
const settings = quick
  ? [{ threads: 1, blas: 2 }]
  : [
      { threads: 1, blas: 2 },
      { threads: 2, blas: 1 },
      { threads: 1, blas: 1 },
    ];

function findPython() {
  for (const py of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(py, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
    if (r.status === 0) return { py, version: r.stdout.trim() };
  }
  return null;
}

function runJson(cmd, args, env) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd: root, env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed:\n${r.stderr}`);
  const line = r.stdout.trim().split('\n').pop();
  return JSON.parse(line);
}

// corl pins its CPU kernels (src/torch/cpu-kernels.ts); the PyTorch reference runs on the same ones
register();
(await import('../src/torch/cpu-kernels.ts')).pinCpuKernels();

const python = findPython();
if (!python) console.error('note: no python3 with torch found; reporting corl only (Debian: apt-get install python3-torch)');

// Sampling has two PyTorch references (scripts/bench_reference.py --decode): "growing", the textbook decode
// (the cache grows by cat, attention is two matmuls, as Hugging Face's DynamicCache), and "preallocated", corl's
// own algorithm (src/torch/kv-cache.ts, F.scaledDotProductAttention). The first ratio is corl against PyTorch
// as users write it; the second is the engines alone, on the same algorithm.
const references = { 'train-step': [null], sample: ['growing', 'preallocated'] };
const summary = {};
for (const bench of ['train-step', 'sample']) {
  const steps = quick ? '10' : bench === 'sample' ? '30' : '15'; // sampling varies more from run to run
  const best = { corl: null };
  for (const s of settings) {
    const env = { OPENBLAS_NUM_THREADS: String(s.blas), OMP_NUM_THREADS: String(s.threads) };
    const c = runJson(process.execPath, [join(root, 'bin', 'corl.js'), 'bench', bench, '--json', '--steps', steps, '--threads', String(s.threads), '--blas-threads', String(s.blas)], env);
    console.log(JSON.stringify({ impl: 'corl', ...c }));
    if (!best.corl || c.ms_median < best.corl.ms_median) best.corl = { ...c, blas_threads: s.blas };
    for (const decode of python ? references[bench] : []) {
      const args = [join(root, 'scripts', 'bench_reference.py'), bench, '--threads', String(s.threads), '--steps', steps];
      const p = runJson(python.py, decode ? [...args, '--decode', decode] : args, env);
      p.blas_threads = s.blas;
      console.log(JSON.stringify(p));
      const key = decode ?? 'pytorch';
      if (!best[key] || p.ms_median < best[key].ms_median) best[key] = p;
    }
  }
  const versus = (ref) => ({
    pytorch_ms: ref?.ms_median ?? null,
    pytorch_threads: ref ? `${ref.threads}+${ref.blas_threads} BLAS` : null,
    ratio: ref ? Number((best.corl.ms_median / ref.ms_median).toFixed(3)) : null,
  });
  summary[bench] = {
    corl_ms: best.corl.ms_median,
    corl_threads: `${best.corl.threads}+${best.corl.blas_threads} BLAS`,
    ...(bench === 'sample'
      ? { ...versus(best.growing), same_decode: versus(best.preallocated) }
      : versus(best.pytorch)),
  };
}
console.log(JSON.stringify({ summary, pytorch: python?.version ?? null }));
for (const [bench, s] of Object.entries(summary)) {
  const one = (r, what) => `PyTorch${what} ${r.pytorch_ms} ms (${r.pytorch_threads}), ratio ${r.ratio}x`;
  const ref =
    s.pytorch_ms === null
      ? 'PyTorch not available'
      : s.same_decode
        ? `${one(s, ', textbook decode')}; ${one(s.same_decode, ", corl's decode")}`
        : one(s, '');
  console.log(`${bench}: corl ${s.corl_ms} ms (${s.corl_threads}); ${ref}`);
}

if (process.argv.includes('--distributed')) {
  const i = (name) => process.argv.indexOf(name);
  const model = i('--model') > 0 ? process.argv[i('--model') + 1] : undefined;
  const data = i('--data') > 0 ? process.argv[i('--data') + 1] : undefined;
  if (!model || !data) {
    console.error('--distributed needs --model DIR (a world-tiny base) and --data FILE (its train.jsonl)');
    process.exit(2);
  }
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'bench-distributed.mjs'), '--model', model, '--data', data], { encoding: 'utf8', cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error('scripts/bench-distributed.mjs failed');
  process.stdout.write(r.stdout);
  const d = JSON.parse(r.stdout.trim().split('\n').pop()).summary;
  console.log(`stage-1 step: ${d.ranks} ranks ${d.ranks_step_s} s vs 1 process ${d.one_process_best_step_s} s (${d.one_process_best_setting}), ratio ${d.ratio}x`);
}
