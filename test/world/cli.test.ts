import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { readImage } from '../../src/world/image-file.js';

const root = mkdtempSync(join(tmpdir(), 'corl-world-cli-'));
after(() => rmSync(root, { recursive: true, force: true }));

function corl(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/corl.js', ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A user error: exit 2 and exactly one line on stderr, no stack trace. */
function assertUserError(r: ReturnType<typeof corl>, pattern: RegExp): void {
  assert.equal(r.code, 2, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
}

const out = join(root, 'ds');

test('corl world build / detect / show', () => {
  const b = corl('world', 'build', '--out', out, '--seed', '5', '--train', '120', '--test', '40');
  assert.equal(b.code, 0, b.stderr);
  assert.match(b.stdout, /^built 120 train \+ 40 test scenes \(160 images, 10 files\) in .+ in \d+\.\d s\n$/);
  // not a terminal: plain progress lines (one per tenth), no bar and no terminal codes
  assert.match(b.stderr, /^building: 100% \| .* elapsed, ETA 0 s$/m);
  // eslint-disable-next-line no-control-regex -- terminal codes are what is checked
  assert.doesNotMatch(b.stderr, /\x1b\[/, 'no progress bar when stderr is not a terminal');
  assert.equal(readFileSync(join(out, 'train.jsonl'), 'utf8').trim().split('\n').length, 120);

  const d = corl('world', 'detect', '--data', join(out, 'test.jsonl'), '--json');
  assert.equal(d.code, 0, d.stderr);
  const lines = d.stdout.trim().split('\n');
  assert.equal(lines.length, 1);
  const report = JSON.parse(lines[0]!);
  assert.deepEqual(Object.keys(report), ['objects', 'exact_scene_acc', 'object_f1']);
  assert.equal(report.exact_scene_acc, 1);
  assert.equal(report.object_f1, 1);
  assert.ok(report.objects >= 40);

  const n = corl(
    'world',
    'detect',
    '--data',
    join(out, 'eval/pope.jsonl'),
    '--json',
    '--noise',
    '0.05',
    '--blur',
    '0.7',
  );
  assert.equal(n.code, 0, n.stderr);
  const noisy = JSON.parse(n.stdout);
  assert.deepEqual(Object.keys(noisy), [
    'objects',
    'exact_scene_acc',
    'object_f1',
    'noise',
    'blur',
    'noisy_exact_scene_acc',
    'noisy_object_f1',
  ]);
  assert.equal(noisy.objects, report.objects, 'images shared by several rows are scored once');
  assert.ok(noisy.noisy_exact_scene_acc >= 0.9);

  const sheet = join(root, 'sheet.png');
  const s = corl(
    'world',
    'show',
    '--data',
    join(out, 'train.jsonl'),
    '--out',
    sheet,
    '--n',
    '6',
    '--columns',
    '3',
  );
  assert.equal(s.code, 0, s.stderr);
  assert.equal(s.stdout, `wrote ${sheet} (6 images)\n`);
  const img = readImage(sheet);
  assert.ok(img.width > 3 * 128 && img.height > 2 * 128, `${img.width}x${img.height}`);
});

test('malformed input gives a one-line error', () => {
  assertUserError(
    corl('world', 'detect', '--data', join(root, 'nope.jsonl')),
    /^corl: error: JSONL file not found: /,
  );
  const bad = join(root, 'bad.jsonl');
  writeFileSync(bad, '{"real_image": "images/a.png", "scene": {"objects": []}}\n');
  assertUserError(
    corl('world', 'detect', '--data', bad),
    /^corl: error: .*bad\.jsonl:1: not a ShapesWorld row/,
  );
  writeFileSync(bad, `${readFileSync(join(out, 'test.jsonl'), 'utf8').split('\n')[0]}\n{nope\n`);
  assertUserError(
    corl('world', 'show', '--data', bad, '--out', join(root, 'x.png')),
    /bad\.jsonl:2: bad JSON line/,
  );
  const img = join(out, 'images', 'broken.png');
  writeFileSync(img, 'not a png');
  const row = JSON.parse(readFileSync(join(out, 'test.jsonl'), 'utf8').split('\n')[0]!);
  writeFileSync(
    join(out, 'broken.jsonl'),
    `${JSON.stringify({ ...row, real_image: 'images/broken.png' })}\n`,
  );
  assertUserError(
    corl('world', 'detect', '--data', join(out, 'broken.jsonl')),
    /broken\.jsonl:1: cannot read image .*not a PNG or JPEG file/,
  );
  writeFileSync(
    join(out, 'missing.jsonl'),
    `${JSON.stringify({ ...row, real_image: 'images/missing.png' })}\n`,
  );
  assertUserError(
    corl('world', 'detect', '--data', join(out, 'missing.jsonl')),
    /missing\.jsonl:1: image not found/,
  );
  const flag = corl('world', 'build', '--out', join(root, 'z'), '--train', 'many');
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /--train <n>.*not an integer/);
  assert.ok(!existsSync(join(root, 'z')));
});
