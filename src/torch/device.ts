/**
 * Devices: names, what this build and machine offer, and the one-line check a command runs before any work.
 * A device is 'cpu', 'cuda' (the first CUDA device), 'cuda:N' or 'meta' (shapes without data; Debian's
 * libtorch 1.13 lacks meta kernels for embeddings and convolutions in C++, so no model runs there).
 */
import { native } from './native.js';
import { UserError } from '../util/errors.js';
import { DEVICE_NAME, DEVICE_NAME_EXPECTED, cudaIndex } from './device-name.js';

export { DEVICE_NAME, DEVICE_NAME_EXPECTED, checkDataParallelDevice, cudaIndex } from './device-name.js';

/** The name libtorch reports for a device: 'cuda' is 'cuda:0'. */
export function canonicalDevice(device: string): string {
  return device === 'cuda' ? 'cuda:0' : device;
}

/** CUDA devices libtorch sees (0 in a CPU build). */
export function cudaDeviceCount(): number {
  return native.cudaDeviceCount();
}
export function cudaIsAvailable(): boolean {
  return cudaDeviceCount() > 0;
}
/** Whether the addon was compiled against a CUDA libtorch (its CUDA-only code is in). */
export function cudaBuild(): boolean {
  return native.cudaBuild();
}
/** Waits for the CUDA work queued so far (for timings); false when there is no CUDA device. */
export function cudaSynchronize(): boolean {
  return native.cudaSynchronize();
}
/**
 * The CUDA caching allocator's bytes on a device (torch.cuda.memory_allocated and max_memory_allocated), the
 * peak optionally reset after reading; null in a build without CUDA.
 */
export function cudaMemory(device = 0, resetPeak = false): { allocated: number; peak: number } | null {
  return native.cudaMemory(device, resetPeak);
}

/**
 * Checks a device name against this build and machine; throws a UserError (one line, before any work) for a
 * name libtorch does not know or a CUDA device that is not there.
 */
export function checkDevice(device: string): string {
  if (device === 'meta') return device;
  if (!DEVICE_NAME.test(device)) throw new UserError(`device ${device}: ${DEVICE_NAME_EXPECTED}`);
  const index = cudaIndex(device);
  if (index === null) return device;
  const count = cudaDeviceCount();
  if (count === 0)
    throw new UserError(
      cudaBuild()
        ? `device ${device}: libtorch sees no CUDA device on this machine`
        : `device ${device}: corl's addon is built against a libtorch without CUDA; rebuild it against a CUDA one (LIBTORCH=DIR npm run build:native, or a pip torch with CUDA; docs/gpu.md)`,
    );
  if (index >= count)
    throw new UserError(
      `device ${device}: this machine has ${count} CUDA device(s), cuda:0 to cuda:${count - 1}`,
    );
  return device;
}
