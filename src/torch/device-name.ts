/**
 * The device names corl's commands and configs take: cpu, cuda (the first CUDA device) or cuda:N, and the rules
 * that need only the name. No native code here: the CLI checks a name as it parses the command line, before
 * libtorch loads (device.ts checks that the device is there).
 */
import { UserError } from '../util/errors.js';

export const DEVICE_NAME = /^(cpu|cuda(?::(\d+))?)$/;
/** What a bad name is told. */
export const DEVICE_NAME_EXPECTED = 'expected cpu, cuda or cuda:N';

/** The CUDA index of a device name ('cuda' is 0), or null for any other device. */
export function cudaIndex(device: string): number | null {
  const m = DEVICE_NAME.exec(device);
  return m?.[1]?.startsWith('cuda') ? Number(m[2] ?? 0) : null;
}

/** Data parallel runs over Gloo on the CPU: a UserError for a data-parallel run on any other device. */
export function checkDataParallelDevice(device: string): void {
  if (device !== 'cpu')
    throw new UserError(
      `data parallel runs on the CPU only (Gloo); on ${device} it needs NCCL, which corl does not bind yet: run one process`,
    );
}
