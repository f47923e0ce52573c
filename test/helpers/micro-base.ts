/** A world-micro base pretrained through the CLI into DIR/base, for the tests of commands that start from one. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

export const CLI = join(import.meta.dirname, '..', '..', 'bin', 'corl.js');

/** `corl pretrain all --preset world-micro --out DIR/base --no-eval`; returns DIR/base. */
export function pretrainMicroBase(dir: string): string {
  const base = join(dir, 'base');
  const r = spawnSync(
    process.execPath,
    [CLI, 'pretrain', 'all', '--preset', 'world-micro', '--out', base, '--no-eval'],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  return base;
}
