/**
 * Pinned CPU kernels (src/torch/cpu-kernels.ts): OpenBLAS, ATen and oneDNN on their AVX2 sets, so the same
 * numbers on any AVX2 machine; the user's choice first.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PINNED_KERNELS, pinCpuKernels } from '../../src/torch/cpu-kernels.js';

const avx2 = new Set(['sse4_2', 'avx', 'avx2', 'fma']);
const root = join(import.meta.dirname, '..', '..');
const VARS = Object.keys(PINNED_KERNELS) as (keyof typeof PINNED_KERNELS)[];

test('pins all three libraries on an AVX2 + FMA CPU, leaves a set variable and an older CPU alone', () => {
  const env: NodeJS.ProcessEnv = {};
  assert.deepEqual(pinCpuKernels(env, avx2), {
    OPENBLAS_CORETYPE: 'Haswell',
    ATEN_CPU_CAPABILITY: 'avx2',
    ONEDNN_MAX_CPU_ISA: 'AVX2',
  });
  for (const v of VARS) assert.equal(env[v], PINNED_KERNELS[v]);
  // the user's choice wins, variable by variable
  const mine: NodeJS.ProcessEnv = { OPENBLAS_CORETYPE: 'SkylakeX', ONEDNN_MAX_CPU_ISA: 'AVX512_CORE' };
  const got = pinCpuKernels(mine, avx2);
  assert.equal(got.OPENBLAS_CORETYPE, 'SkylakeX');
  assert.equal(got.ONEDNN_MAX_CPU_ISA, 'AVX512_CORE');
  assert.equal(got.ATEN_CPU_CAPABILITY, 'avx2');
  assert.equal(mine.OPENBLAS_CORETYPE, 'SkylakeX');
  // a CPU without AVX2 and FMA: nothing set
  const old: NodeJS.ProcessEnv = {};
  assert.deepEqual(Object.values(pinCpuKernels(old, new Set(['sse4_2', 'avx']))), [null, null, null]);
  assert.deepEqual(old, {});
  // an empty value is unset
  const empty: NodeJS.ProcessEnv = { ATEN_CPU_CAPABILITY: '' };
  assert.equal(pinCpuKernels(empty, avx2).ATEN_CPU_CAPABILITY, 'avx2');
});

/** Runs `script` (an ES module body, cwd the repository) in a fresh Node with `env`; returns its stdout. */
function child(script: string, env: NodeJS.ProcessEnv): string {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: root,
    env,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

function withoutPins(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const v of VARS) delete env[v];
  return env;
}

test('a corl process has pinned the kernels before libtorch loaded, and its children inherit them', () => {
  const script = `const t = await import('./src/torch/index.ts'); t.zeros([1]).dispose();
console.log(JSON.stringify(${JSON.stringify(VARS)}.map((v) => process.env[v] ?? 'unset')))`;
  const expected = Object.values(pinCpuKernels({})).map((v) => v ?? 'unset');
  assert.deepEqual(JSON.parse(child(script, withoutPins())), expected);
});

/** Whether this CPU gets the pins (pinCpuKernels' own check of /proc/cpuinfo, on an empty environment). */
const pinsHere = pinCpuKernels({}).ATEN_CPU_CAPABILITY !== null;

// Why the pins exist: oneDNN's convolution (the VQ's and the ViT's) and ATen's reductions give other numbers
// on other instruction sets. A libtorch that ignored the variables would make this test fail, and the pin
// would no longer make two machines agree.
test(
  "oneDNN's and ATen's numbers depend on the instruction set the variables name",
  { skip: !pinsHere && 'the CPU has no AVX2 + FMA, so nothing is pinned' },
  () => {
    const script = `const t = await import('./src/torch/index.ts');
t.manualSeed(0);
const x = t.randn([2, 64, 12, 12]), w = t.randn([32, 64, 3, 3]), v = t.randn([4096]);
const conv = t.F.conv2d(x, w, null, { padding: 1 });
console.log(JSON.stringify({ conv: conv.sum().item(), sum: v.sum().item(), std: v.std().item() }))`;
    const sums = (env: NodeJS.ProcessEnv) =>
      JSON.parse(child(script, { ...withoutPins(), ...env })) as Record<'conv' | 'sum' | 'std', number>;
    const pinned = sums({});
    const sse = sums({ ONEDNN_MAX_CPU_ISA: 'SSE41' });
    const scalar = sums({ ATEN_CPU_CAPABILITY: 'default' });
    // same draws (the inputs do not depend on the kernels)...
    assert.ok(Math.abs(pinned.conv - sse.conv) < 1e-2 * Math.abs(pinned.conv) + 1e-2);
    // ...other sums: oneDNN's SSE4.1 convolution and ATen's scalar reductions add in other orders
    assert.notEqual(sse.conv, pinned.conv);
    assert.ok(scalar.sum !== pinned.sum || scalar.std !== pinned.std);
  },
);
