/** Option parsers shared by the CLI commands: bad values end as commander's one-line usage errors. */
import { InvalidArgumentError } from 'commander';

export function parseIntOption(min = 0): (value: string) => number {
  return (value: string) => {
    if (!/^-?\d+$/.test(value.trim())) throw new InvalidArgumentError('not an integer.');
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`must be an integer >= ${min}.`);
    return n;
  };
}

export function parseFloatOption(min = 0, max = Infinity): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('not a number.');
    if (n < min || n > max) throw new InvalidArgumentError(`must be within [${min}, ${max}].`);
    return n;
  };
}
