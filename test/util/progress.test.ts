/** The progress module (src/util/progress.ts): text, the JSON lines a child reports, the multi-task view. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MultiProgress, describe, formatSeconds, parseProgressLine } from '../../src/util/progress.js';

/** A stream that keeps what is written. */
function sink(columns?: number): NodeJS.WriteStream & { text: string } {
  const s = { text: '', columns, write: (c: string) => ((s.text += c), true) };
  return s as unknown as NodeJS.WriteStream & { text: string };
}

test('describe: percent, elapsed, ETA from the rate so far, the key metric', () => {
  assert.equal(
    describe({ label: 'x', done: 1, total: 4, info: 'loss 1.2', elapsed: 10 }),
    ' 25% | 10 s elapsed, ETA 30 s | loss 1.2',
  );
  assert.equal(
    describe({ label: 'x', done: 0, total: 4, info: '', elapsed: 2 }),
    '  0% | 2 s elapsed, ETA ?',
  );
  assert.equal(formatSeconds(125), '2 min 05 s');
  assert.equal(
    parseProgressLine('{"corl_progress":{"label":"train","done":3,"total":9,"info":"","elapsed":1}}')!.done,
    3,
  );
  assert.equal(parseProgressLine('train: 30%'), null);
  assert.equal(parseProgressLine('{"corl_progress": broken'), null);
});

test('MultiProgress, plain: a line per task at each tenth of its work', () => {
  const out = sink();
  const m = new MultiProgress(out, false, 1e9);
  for (let done = 0; done <= 20; done++)
    m.update('stage1', { label: 'train', done, total: 20, info: '', elapsed: done });
  m.update('eval', { label: 'eval', done: 1, total: 2, info: '', elapsed: 1 });
  const lines = out.text.trimEnd().split('\n');
  assert.equal(lines.filter((l) => l.startsWith('  stage1: train')).length, 10, out.text); // 10%, ..., 100%
  assert.match(lines.at(-1)!, /^ {2}eval: eval +50% \| 1 s elapsed, ETA 1 s$/);
  // eslint-disable-next-line no-control-regex -- terminal codes are what is checked
  assert.doesNotMatch(out.text, /\x1b/);
});

test('MultiProgress, terminal: one live line per running task, redrawn in place; log lines above it', () => {
  const out = sink(100);
  const m = new MultiProgress(out, true);
  m.update('stage2-gen', { label: 'train', done: 1, total: 4, info: 'geneval 0.2', elapsed: 2 });
  m.log('  stage2-mcq: running');
  m.update('stage2-mcq', { label: 'train', done: 2, total: 4, info: '', elapsed: 2 });
  m.done('stage2-gen');
  m.done('stage2-mcq');
  assert.match(out.text, /stage2-gen: train +25% \| 2 s elapsed, ETA 6 s \| geneval 0\.2\n/);
  assert.match(
    out.text,
    // eslint-disable-next-line no-control-regex -- terminal codes are what is checked
    /\x1b\[1A\x1b\[J {2}stage2-mcq: running\n {2}stage2-gen: train/,
    'log line above, block redrawn',
  );
  assert.ok(out.text.endsWith('\x1b[1A\x1b[J'), 'the block is cleared when the last task ends');
});

test('a child with CORL_PROGRESS=json reports its progress as JSON lines (corl world build)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'corl-progress-'));
  const cli = join(import.meta.dirname, '..', '..', 'bin', 'corl.js');
  const r = spawnSync(
    process.execPath,
    [cli, 'world', 'build', '--out', join(dir, 'w'), '--train', '30', '--test', '5'],
    {
      encoding: 'utf8',
      env: { ...process.env, CORL_PROGRESS: 'json' },
    },
  );
  assert.equal(r.status, 0, r.stderr);
  const states = r.stderr.trim().split('\n').map(parseProgressLine);
  assert.ok(states.length > 0 && states.every((p) => p !== null), r.stderr);
  assert.deepEqual([states.at(-1)!.label, states.at(-1)!.done, states.at(-1)!.total], ['building', 35, 35]);
});
