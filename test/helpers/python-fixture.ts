/**
 * The policy of the tests that compare corl with a Python reference (/usr/bin/python3's torch, NumPy, PIL:
 * installed by scripts/setup.sh as test fixtures, never used by corl itself). A missing reference fails the
 * test, so that CI cannot pass by skipping it; CORL_SKIP_PARITY=1 skips it instead, with the reason shown,
 * on a machine set up without them.
 */
export type PythonRun = { ok: true } | { ok: false; reason: string };

/** `false` when the reference ran, or must run (the test then fails on `missingReference`); else a skip reason. */
export function paritySkip(py: PythonRun, what: string): string | false {
  if (py.ok || process.env.CORL_SKIP_PARITY !== '1') return false;
  return `${what} unavailable: ${py.reason} (CORL_SKIP_PARITY=1)`;
}

/** The failure message of a test whose Python reference could not run. */
export function missingReference(py: { reason: string }): string {
  return `the Python reference could not run: ${py.reason} (scripts/setup.sh installs python3-torch and python3-pil; CORL_SKIP_PARITY=1 skips)`;
}
