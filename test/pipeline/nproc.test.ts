/**
 * `corl pipeline --preset world-micro --nproc 2`: the pretraining, training and evaluation stages run as 2
 * data-parallel workers each (the other stages as before), and the pipeline ends with its report.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CLI = join(import.meta.dirname, '..', '..', 'bin', 'corl.js');

test('the micro pipeline runs its train, pretrain and eval stages with --nproc 2', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'corl-pipe-nproc-'));
  const out = join(dir, 'run');
  try {
    const child = spawn(
      process.execPath,
      [CLI, 'pipeline', '--preset', 'world-micro', '--out', out, '--nproc', '2'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 0, err.slice(-2000));
    assert.ok(existsSync(join(out, 'report.json')));
    for (const stage of [
      'base: running  corl pretrain all',
      'stage1: running  corl train',
      'eval-base: running  corl eval',
    ])
      assert.match(err, new RegExp(`${stage} .*--nproc 2$`, 'm'), stage);
    assert.doesNotMatch(
      err,
      /corl (generate|merge|rewards|world) .*--nproc/,
      'the other stages run as before',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
