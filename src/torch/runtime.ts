/** Threads, devices, live-tensor accounting and version information. */
import { native } from './native.js';

/** Intra-op threads used by libtorch's own kernels (torch.set_num_threads). */
export function setNumThreads(n: number): void {
  native.setNumThreads(n);
}
export function getNumThreads(): number {
  return native.getNumThreads();
}
/** Threads used by the BLAS library (OpenBLAS); false if no BLAS thread control was found. */
export function setBlasThreads(n: number): boolean {
  return native.setBlasThreads(n);
}
export function getBlasThreads(): number {
  return native.getBlasThreads();
}
/** Native tensors still alive (created and not yet disposed or finalized). */
export function liveTensors(): number {
  return native.liveCount();
}
export function libtorchVersion(): string {
  return native.version();
}
export function parallelInfo(): string {
  return native.parallelInfo();
}

/**
 * Applies the thread setting corl uses by default: CORL_THREADS (or 1) intra-op threads and CORL_BLAS_THREADS
 * (or the core count, at most 2) BLAS threads. Measured on 2 cores: 1 torch thread + 2 BLAS threads is
 * fastest; oversubscribing both halves the speed.
 */
export function applyDefaultThreads(): { threads: number; blasThreads: number } {
  const threads = Number(process.env.CORL_THREADS ?? 1);
  const blasThreads = Number(process.env.CORL_BLAS_THREADS ?? 2);
  setNumThreads(threads);
  setBlasThreads(blasThreads);
  return { threads, blasThreads };
}
