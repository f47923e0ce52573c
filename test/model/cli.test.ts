/** `corl generate` writes a PNG grid, `corl ask` prints an answer; user mistakes are one line, exit code 2. */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PNG } from 'pngjs';

const MODEL = path.join('test', 'fixtures', 'parity', 'model'); // a tiny random checkpoint (16x16 images)
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'corl-cli-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const corl = (...args: string[]) =>
  spawnSync(process.execPath, ['bin/corl.js', ...args], {
    encoding: 'utf8',
    env: { ...process.env, CORL_THREADS: '1' },
  });

test('generate writes a grid; ask answers about it', () => {
  const out = path.join(tmp, 'grid.png');
  const g = corl(
    'generate',
    '--model',
    MODEL,
    '--prompt',
    'a red circle',
    '--n',
    '4',
    '--out',
    out,
    '--cfg',
    '3',
    '--seed',
    '1',
  );
  assert.equal(g.status, 0, g.stderr);
  const png = PNG.sync.read(fs.readFileSync(out));
  assert.deepEqual([png.width, png.height], [2 * 16 + 3 * 2, 2 * 16 + 3 * 2]);
  const a = corl(
    'ask',
    '--model',
    MODEL,
    '--image',
    out,
    '--question',
    'what color is the circle ?',
    '--max-tokens',
    '4',
  );
  assert.equal(a.status, 0, a.stderr);
  assert.ok(a.stdout.trim().split(' ').length <= 4);
});

test('missing model, missing image, bad PNG: one line and exit code 2', () => {
  const bad = path.join(tmp, 'bad.png');
  fs.writeFileSync(bad, 'not a png');
  for (const [args, msg] of [
    [['ask', '--model', path.join(tmp, 'nope'), '--image', bad, '--question', 'q'], 'does not exist'],
    [['ask', '--model', MODEL, '--image', path.join(tmp, 'none.png'), '--question', 'q'], 'does not exist'],
    [['ask', '--model', MODEL, '--image', bad, '--question', 'q'], 'not a readable PNG'],
  ] as const) {
    const r = corl(...args);
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.ok(r.stderr.startsWith('corl: error: ') && r.stderr.includes(msg), r.stderr);
  }
});

test('generate --prompts-file --each: one PNG per image in prompt order, the same as one batch of them', () => {
  const prompts = path.join(tmp, 'prompts.txt');
  fs.writeFileSync(prompts, 'a red circle\n\na blue square\n');
  const out = path.join(tmp, 'each.png');
  const r = corl(
    'generate',
    '--model',
    MODEL,
    '--prompts-file',
    prompts,
    '--n',
    '1',
    '--each',
    '--out',
    out,
    '--seed',
    '3',
  );
  assert.equal(r.status, 0, r.stderr);
  const files = ['each-0.png', 'each-1.png'].map((f) => path.join(tmp, f));
  for (const f of files) assert.ok(fs.existsSync(f), f);
  assert.ok(!fs.existsSync(path.join(tmp, 'each-2.png')), 'the blank line is not a prompt');
  const again = corl(
    'generate',
    '--model',
    MODEL,
    '--prompts-file',
    prompts,
    '--n',
    '1',
    '--each',
    '--out',
    out,
  );
  assert.equal(again.status, 2, 'existing outputs need --overwrite');
  const both = corl('generate', '--model', MODEL, '--prompt', 'x', '--prompts-file', prompts, '--out', out);
  assert.equal(both.status, 2);
  assert.match(both.stderr, /give either --prompt or --prompts-file/);
});
