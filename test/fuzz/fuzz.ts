/**
 * Shared pieces of the property-based fuzz tests (fast-check): run parameters and the "only a UserError may
 * escape" check.
 *
 * Each local run uses a fresh random seed (so every run explores new cases); under CI (CI set) the seed is
 * fixed, so that a submission's CI does not depend on luck; CORL_FUZZ_SEED overrides both. On failure
 * fast-check's error message holds the seed, the shrink path and the (shrunk) counterexample, so a failure is
 * replayed with
 *   CORL_FUZZ_SEED=<seed> npm test -- test/fuzz/<file>
 * CORL_FUZZ_RUNS scales the number of cases (e.g. CORL_FUZZ_RUNS=100000 for a long local session).
 */
import fc from 'fast-check';
import { UserError } from '../../src/util/errors.js';

export { fc };

/** The seed of CI runs (any fixed number: CI explores the same cases every time). */
const CI_SEED = 20261130;

/** fc.assert parameters: `numRuns` cases (or CORL_FUZZ_RUNS), seed from CORL_FUZZ_SEED when set. */
export function fuzzParams<T>(numRuns: number): fc.Parameters<T> {
  const params: fc.Parameters<T> = { numRuns: Number(process.env.CORL_FUZZ_RUNS ?? numRuns) };
  const seed = process.env.CORL_FUZZ_SEED;
  if (seed !== undefined && seed !== '') params.seed = Number(seed);
  else if (process.env.CI) params.seed = CI_SEED;
  return params;
}

/**
 * Runs `fn`; returns its result, or the UserError it threw. Any other exception propagates (the property
 * fails with it). A UserError must carry a non-empty one-line message: the CLI prints it as one line.
 */
export function userErrorOr<T>(fn: () => T): { ok: true; value: T } | { ok: false; error: UserError } {
  try {
    return { ok: true, value: fn() };
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    if (e.message.trim() === '' || /[\n\r]/.test(e.message))
      throw new Error(`UserError message is not one non-empty line: ${JSON.stringify(e.message)}`, {
        cause: e,
      });
    return { ok: false, error: e };
  }
}
