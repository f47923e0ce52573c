/**
 * Option parsers shared by the CLI commands: every number is checked when the command line is parsed, before
 * any work, and a bad value ends as commander's one-line usage error (exit 2).
 */
import { InvalidArgumentError } from 'commander';
import { DEVICE_NAME, DEVICE_NAME_EXPECTED } from '../torch/device-name.js';

/** Seeds are 32-bit: the world's generator and deriveSeed use 32 bits, so larger seeds would alias. */
export const SEED_MAX = 2 ** 32 - 1;

/** An integer option within [min, max] (decimal digits only: no "1e3", no "0x10", no fractions). */
export function parseIntOption(min = 0, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value: string) => {
    if (!/^[+-]?\d+$/.test(value.trim())) throw new InvalidArgumentError('not an integer.');
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(
        max === Number.MAX_SAFE_INTEGER
          ? `must be an integer >= ${min}.`
          : `must be an integer in [${min}, ${max}].`,
      );
    return n;
  };
}

/** A random seed: an integer in [0, 2^32 - 1]. */
export const parseSeedOption = parseIntOption(0, SEED_MAX);

/** A finite number within [min, max]; `exclusiveMin` makes the lower bound strict. */
export function parseFloatOption(
  min = 0,
  max = Infinity,
  o: { exclusiveMin?: boolean } = {},
): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('not a finite number.');
    if (o.exclusiveMin ? n <= min : n < min)
      throw new InvalidArgumentError(`must be ${o.exclusiveMin ? '>' : '>='} ${min}.`);
    if (n > max) throw new InvalidArgumentError(`must be <= ${max}.`);
    return n;
  };
}

/** A non-empty text option (after trimming). */
export function parseTextOption(value: string): string {
  if (value.trim() === '') throw new InvalidArgumentError('must not be empty.');
  return value;
}

/** Collects a repeatable `--set key=value` option (checked when the config is read). */
export function collectSets(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** A device name; whether this build and machine have it is the command's check (torch.checkDevice). */
export function parseDeviceOption(value: string): string {
  if (!DEVICE_NAME.test(value)) throw new InvalidArgumentError(`${DEVICE_NAME_EXPECTED}.`);
  return value;
}
export const DEVICE_HELP = 'cpu, cuda or cuda:N: where the model runs (default cpu; docs/gpu.md)';
