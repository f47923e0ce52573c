/**
 * `corl pipeline --nproc N`: the pretraining, training and evaluation stages get `--nproc N` (withNproc, the
 * rule StageRunner applies to every stage); the other stages run as before.
 *
 * The whole micro pipeline with `--nproc 2` runs end to end (64-84 s at a load of 5-8 on the 2-core machine;
 * the suite stays far under its 20-minute budget).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withNproc } from '../../src/util/data-parallel.js';

const CLI = join(import.meta.dirname, '..', '..', 'bin', 'corl.js');

test('withNproc adds --nproc N to train, pretrain and eval command lines only, and only for N > 1', () => {
  assert.deepEqual(withNproc(['train', '--config', 'f.yaml'], 2), [
    'train',
    '--config',
    'f.yaml',
    '--nproc',
    '2',
  ]);
  assert.deepEqual(withNproc(['pretrain', 'all', '--out', 'b'], 3), [
    'pretrain',
    'all',
    '--out',
    'b',
    '--nproc',
    '3',
  ]);
  assert.deepEqual(withNproc(['eval', '--model', 'm'], 2), ['eval', '--model', 'm', '--nproc', '2']);
  for (const cmd of ['generate', 'merge', 'rewards', 'world'])
    assert.deepEqual(withNproc([cmd, '--x'], 2), [cmd, '--x']);
  assert.deepEqual(withNproc(['train', '--config', 'f.yaml'], 1), ['train', '--config', 'f.yaml']);
});

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
