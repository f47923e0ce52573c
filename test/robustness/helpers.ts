/** Running the real `corl` command in the robustness suite, and the checks every user mistake must pass. */
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const CLI = path.join(import.meta.dirname, '..', '..', 'bin', 'corl.js');

export function corl(
  args: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    cwd: opts.cwd,
    env: { ...process.env, CORL_THREADS: '1', CORL_BLAS_THREADS: '1', ...opts.env },
  });
}

/** The command ends in one line on stderr matching `re`, exit code 2, no stack trace. */
export function userMistake(
  args: string[],
  re: RegExp,
  opts: { cwd?: string; env?: Record<string, string> } = {},
): string {
  const r = corl(args, opts);
  const what = `corl ${args.join(' ')}`;
  assert.equal(r.status, 2, `${what}: exit ${r.status}\n${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `${what}: one line expected, got\n${r.stderr}`);
  assert.match(lines[0]!, re, what);
  assert.doesNotMatch(r.stderr, /^\s+at /m, `${what}: no stack trace`);
  return lines[0]!;
}

/** Every file under `dir` (recursively) with its bytes' base64, for "left exactly as it was" checks. */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!fs.existsSync(dir)) return out;
  if (!fs.statSync(dir).isDirectory()) return { '': fs.readFileSync(dir).toString('base64') };
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[path.relative(dir, p)] = fs.readFileSync(p).toString('base64');
    }
  };
  walk(dir);
  return out;
}
