import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { baseOf } from '../../src/pipeline/pipeline.js';
import { UserError } from '../../src/util/errors.js';

test('--base: {seed} names one base per seed; several seeds need it; a folder without config.json is refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'corl-base-of-'));
  try {
    for (const s of [3, 4]) {
      mkdirSync(join(dir, `seed-${s}`));
      writeFileSync(join(dir, `seed-${s}`, 'config.json'), '{}');
    }
    assert.equal(baseOf(undefined, 3, 2), undefined);
    assert.equal(baseOf(join(dir, 'seed-{seed}'), 4, 2), join(dir, 'seed-4'));
    assert.equal(baseOf(join(dir, 'seed-3'), 3, 1), join(dir, 'seed-3'), 'one seed: a plain path');
    assert.throws(
      () => baseOf(join(dir, 'seed-3'), 3, 2),
      (e: unknown) => e instanceof UserError && /\{seed\}/.test(e.message),
    );
    assert.throws(
      () => baseOf(join(dir, 'seed-{seed}'), 5, 3),
      (e: unknown) => e instanceof UserError && e.message.includes(join(dir, 'seed-5')),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
