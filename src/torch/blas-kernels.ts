/**
 * The same numbers on every machine. OpenBLAS picks its GEMM kernels by CPU when it loads (Haswell, SkylakeX,
 * Zen, ...), and kernels sum in different orders, so the same seed trained on two CPUs gives two different
 * models, and on this task materially different ones (docs/pretrain.md: a seed-0 base at chance on POPE on one
 * machine, not on another). corl pins OpenBLAS to its Haswell kernels (AVX2 + FMA, which x86-64 CPUs have had
 * since 2013) unless OPENBLAS_CORETYPE is set already (the user's choice wins) or the CPU lacks them (then
 * OpenBLAS chooses and runs are reproducible on that kind of CPU only). libtorch's own kernels did not change a
 * run here between AVX-512 and AVX2 (ATEN_CPU_CAPABILITY), so they are left alone.
 *
 * Must run before the addon, and with it libopenblas, is loaded (native.ts); child processes inherit it.
 */
import { readFileSync } from 'node:fs';

/** The kernel set corl pins: OpenBLAS's name for it. */
export const PINNED_CORETYPE = 'Haswell';

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
 * Sets OPENBLAS_CORETYPE in `env` to the pinned kernels when it is unset and the CPU can run them; returns the
 * kernel set in force (null: OpenBLAS's own choice).
 */
export function pinBlasKernels(
  env: NodeJS.ProcessEnv = process.env,
  flags: Set<string> = process.arch === 'x64' ? cpuFlags() : new Set(),
): string | null {
  if (env.OPENBLAS_CORETYPE !== undefined && env.OPENBLAS_CORETYPE !== '') return env.OPENBLAS_CORETYPE;
  if (!(flags.has('avx2') && flags.has('fma'))) return null;
  env.OPENBLAS_CORETYPE = PINNED_CORETYPE;
  return PINNED_CORETYPE;
}
