/**
 * The same numbers on every machine. Three libraries inside the addon pick their CPU kernels by the CPU they
 * run on, and kernels sum in different orders, so the same seed trained on two CPUs gives two different
 * models, and on this task materially different ones (docs/pretrain.md):
 *
 *   OpenBLAS  the GEMM kernels (Haswell, SkylakeX, Zen, ...), chosen when the library loads
 *   ATen      libtorch's own vectorised kernels (DEFAULT, AVX2, AVX512): reductions, softmax, norms, ...
 *   oneDNN    the convolutions of the VQ and the vision encoder (JIT code for SSE4.1, AVX2, AVX-512, ...)
 *
 * corl pins each to its AVX2 + FMA set (x86-64 CPUs have had both since 2013), so a CPU with AVX-512 runs the
 * same instructions as one without. A variable that is set already is left alone (the user's choice wins),
 * and on a CPU without AVX2 and FMA nothing is pinned (the libraries choose; runs are then reproducible on that
 * kind of CPU only).
 *
 * Must run before the addon, and with it libtorch, is loaded (native.ts); child processes inherit it.
 */
import { readFileSync } from 'node:fs';

/** The kernel set corl pins, as each library's environment variable names it. */
export const PINNED_KERNELS = {
  OPENBLAS_CORETYPE: 'Haswell',
  ATEN_CPU_CAPABILITY: 'avx2',
  ONEDNN_MAX_CPU_ISA: 'AVX2',
} as const;

export type KernelVariable = keyof typeof PINNED_KERNELS;

/** The CPU's feature flags (/proc/cpuinfo's first `flags` line), empty where unreadable (not Linux). */
function cpuFlags(): Set<string> {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('flags'));
    return new Set((line?.split(':')[1] ?? '').trim().split(/\s+/));
  } catch {
    return new Set();
  }
}

/**
 * Sets each of PINNED_KERNELS' variables in `env` that is unset (or empty) when the CPU can run the pinned
 * kernels; returns the kernel set in force for each library (null: the library's own choice).
 */
export function pinCpuKernels(
  env: NodeJS.ProcessEnv = process.env,
  flags: Set<string> = process.arch === 'x64' ? cpuFlags() : new Set(),
): Record<KernelVariable, string | null> {
  const canRun = flags.has('avx2') && flags.has('fma');
  const out = {} as Record<KernelVariable, string | null>;
  for (const [name, value] of Object.entries(PINNED_KERNELS) as [KernelVariable, string][]) {
    const mine = env[name];
    if (mine !== undefined && mine !== '') out[name] = mine;
    else if (canRun) out[name] = env[name] = value;
    else out[name] = null;
  }
  return out;
}
