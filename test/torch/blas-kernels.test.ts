/** Pinned OpenBLAS kernels (src/torch/blas-kernels.ts): the same numbers on any AVX2 machine, the user's choice first. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PINNED_CORETYPE, pinBlasKernels } from '../../src/torch/blas-kernels.js';

const avx2 = new Set(['sse4_2', 'avx', 'avx2', 'fma']);

test('pins Haswell on an AVX2 + FMA CPU, leaves a set OPENBLAS_CORETYPE and an older CPU alone', () => {
  const env: NodeJS.ProcessEnv = {};
  assert.equal(pinBlasKernels(env, avx2), 'Haswell');
  assert.equal(env.OPENBLAS_CORETYPE, PINNED_CORETYPE);
  const mine: NodeJS.ProcessEnv = { OPENBLAS_CORETYPE: 'SkylakeX' };
  assert.equal(pinBlasKernels(mine, avx2), 'SkylakeX');
  assert.equal(mine.OPENBLAS_CORETYPE, 'SkylakeX');
  const old: NodeJS.ProcessEnv = {};
  assert.equal(pinBlasKernels(old, new Set(['sse4_2', 'avx'])), null);
  assert.equal(old.OPENBLAS_CORETYPE, undefined);
  // an empty value is unset
  const empty: NodeJS.ProcessEnv = { OPENBLAS_CORETYPE: '' };
  assert.equal(pinBlasKernels(empty, avx2), 'Haswell');
});

test('a corl process has pinned the kernels before libtorch loaded, and its children inherit them', () => {
  const root = join(import.meta.dirname, '..', '..');
  const script =
    "const t = await import('./src/torch/index.ts'); t.zeros([1]).dispose(); console.log(process.env.OPENBLAS_CORETYPE ?? 'unset')";
  const env = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: root,
    env,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  const expected = pinBlasKernels({}) ?? 'unset';
  assert.equal(r.stdout.trim(), expected);
});
