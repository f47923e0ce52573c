/**
 * The output-folder rule (src/util/output-dir.ts) and the atomic folder write (src/util/atomic-dir.ts): what
 * is accepted, what is refused (and that a refused folder is left byte-for-byte as it was), what a
 * replacement removes, and corl's mark on the PNG files it writes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { UserError } from '../../src/util/errors.js';
import { writeDirAtomically } from '../../src/util/atomic-dir.js';
import {
  MARKER,
  checkOutDir,
  checkOutFile,
  claimDir,
  clearOwnEntries,
  inspectOutDir,
  isOwnEntry,
} from '../../src/util/output-dir.js';
import { isCorlPng, markPng } from '../../src/util/png-marker.js';
import { snapshot } from '../robustness/helpers.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'corl-outdir-'));
let k = 0;
const fresh = () => path.join(root, `case-${k++}`);

function refuses(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof UserError && re.test(e.message));
}

/** A model folder written through the atomic writer, as saveULM does. */
function writeModel(dir: string, text = 'a'): void {
  writeDirAtomically(dir, 'model', (tmp) => {
    fs.writeFileSync(path.join(tmp, 'config.json'), text);
    fs.writeFileSync(path.join(tmp, 'model.safetensors'), text);
  });
}

test('absent (parents included) and empty folders are accepted', () => {
  const deep = path.join(fresh(), 'a', 'b');
  assert.equal(checkOutDir(deep, { kind: 'model' }).state, 'absent');
  const empty = fresh();
  fs.mkdirSync(empty);
  assert.equal(checkOutDir(empty, { kind: 'model' }).state, 'empty');
  writeModel(deep);
  writeModel(empty);
  for (const d of [deep, empty]) {
    assert.deepEqual(fs.readdirSync(d).sort(), [MARKER, 'config.json', 'model.safetensors']);
    assert.equal(JSON.parse(fs.readFileSync(path.join(d, MARKER), 'utf8')).kind, 'model');
  }
});

test('a file, the current folder, a folder above it, and a folder holding foreign files are refused', () => {
  const file = path.join(root, 'precious.txt');
  fs.writeFileSync(file, 'keep me');
  refuses(() => checkOutDir(file, { kind: 'model' }), /is a file, not a folder/);
  refuses(() => writeModel(file), /is a file/);
  assert.equal(fs.readFileSync(file, 'utf8'), 'keep me');

  const precious = fresh();
  fs.mkdirSync(path.join(precious, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(precious, 'notes.md'), 'mine');
  fs.writeFileSync(path.join(precious, 'sub', 'x.bin'), 'mine too');
  const before = snapshot(precious);
  refuses(
    () => checkOutDir(precious, { kind: 'model', overwrite: true }),
    /corl did not write it .*"notes\.md"/,
  );
  refuses(() => writeModel(precious), /corl did not write it/);
  assert.deepEqual(snapshot(precious), before);

  const cwd = process.cwd();
  process.chdir(precious);
  try {
    refuses(() => checkOutDir('.', { kind: 'model', overwrite: true }), /is the current folder/);
    refuses(() => checkOutDir('..', { kind: 'model', overwrite: true }), /a folder above the current one/);
    refuses(() => writeModel('.'), /current folder/);
  } finally {
    process.chdir(cwd);
  }
  assert.deepEqual(snapshot(precious), before);
  // an empty folder inside a file's path
  refuses(() => checkOutDir(path.join(file, 'x'), { kind: 'model' }), /is a file, not a folder/);
});

test('a folder corl wrote is replaced only with --overwrite, only by its own kind, only while it holds only its own files', () => {
  const dir = fresh();
  writeModel(dir, 'first');
  refuses(() => checkOutDir(dir, { kind: 'model' }), /written by corl; pass --overwrite/);
  assert.equal(checkOutDir(dir, { kind: 'model', overwrite: true }).state, 'own');
  refuses(
    () => checkOutDir(dir, { kind: 'vq', overwrite: true }),
    /holds a model checkpoint, not a VQ folder/,
  );
  writeModel(dir, 'second');
  assert.equal(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'), 'second');
  assert.deepEqual(
    fs.readdirSync(root).filter((n) => n.startsWith(path.basename(dir) + '.')),
    [],
    'no temp or old folder left beside it',
  );
  // a file the user put into it makes it foreign again
  fs.writeFileSync(path.join(dir, 'my-notes.txt'), 'mine');
  const before = snapshot(dir);
  refuses(
    () => checkOutDir(dir, { kind: 'model', overwrite: true }),
    /holds "my-notes\.txt", which corl did not write/,
  );
  refuses(() => writeModel(dir, 'third'), /my-notes\.txt/);
  assert.deepEqual(snapshot(dir), before);
  // a resumable kind resumes its own folder without a flag
  const run = fresh();
  claimDir(run, 'pipeline');
  assert.equal(checkOutDir(run, { kind: 'pipeline', resumable: true }).state, 'own');
});

test('an output may not be, contain or lie inside an input of the same command', () => {
  const base = fresh();
  writeModel(base);
  fs.mkdirSync(path.join(base, 'vq'));
  for (const [out, re] of [
    [base, /is the input --base/],
    [path.join(base, 'merged'), /lies inside the input --base/],
    [root, /contains the input --base/],
  ] as const)
    refuses(() => checkOutDir(out, { kind: 'model', overwrite: true, inputs: [['--base', base]] }), re);
  assert.ok(fs.existsSync(path.join(base, 'vq')));
});

test('clearOwnEntries removes only the names of the folder kind; an unreadable marker is refused', () => {
  const run = fresh();
  claimDir(run, 'run');
  for (const n of ['checkpoint-2', 'checkpoint-4', 'checkpoint-4.tmp-12-34', 'samples'])
    fs.mkdirSync(path.join(run, n));
  fs.writeFileSync(path.join(run, 'metrics.jsonl'), '{}\n');
  clearOwnEntries(run, 'run', (n) => n.includes('.tmp-'));
  assert.deepEqual(fs.readdirSync(run).sort(), [
    MARKER,
    'checkpoint-2',
    'checkpoint-4',
    'metrics.jsonl',
    'samples',
  ]);
  clearOwnEntries(run, 'run');
  assert.deepEqual(fs.readdirSync(run), [MARKER]);
  assert.ok(
    isOwnEntry('run', 'checkpoint-12') && !isOwnEntry('run', 'checkpoint-x') && !isOwnEntry('model', 'notes'),
  );
  fs.writeFileSync(path.join(run, MARKER), 'not json');
  refuses(() => inspectOutDir(run, 'run'), /not a valid corl marker/);
});

test('a failing fill leaves the old folder as it was and no temp folder', () => {
  const dir = fresh();
  writeModel(dir, 'old');
  const before = snapshot(dir);
  assert.throws(() =>
    writeDirAtomically(dir, 'model', () => {
      throw new Error('disk full');
    }),
  );
  assert.deepEqual(snapshot(dir), before);
  assert.deepEqual(
    fs.readdirSync(root).filter((n) => n.startsWith(path.basename(dir) + '.')),
    [],
  );
});

test('PNG files carry corl mark; only marked files are replaced, and only with --overwrite', () => {
  const png = new PNG({ width: 3, height: 2 });
  for (let i = 0; i < png.data.length; i++) png.data[i] = (i * 37) % 256;
  const plain = PNG.sync.write(png);
  const marked = markPng(plain);
  const decoded = PNG.sync.read(marked);
  assert.deepEqual([...decoded.data], [...PNG.sync.read(plain).data], 'the mark changes no pixel');
  const ours = path.join(root, 'ours.png');
  const theirs = path.join(root, 'theirs.png');
  const text = path.join(root, 'notes.png');
  fs.writeFileSync(ours, marked);
  fs.writeFileSync(theirs, plain);
  fs.writeFileSync(text, 'hello');
  assert.equal(isCorlPng(ours), true);
  assert.equal(isCorlPng(theirs), false);
  assert.equal(isCorlPng(text), false);
  assert.equal(isCorlPng(path.join(root, 'missing.png')), false);
  const o = { ownFile: isCorlPng };
  checkOutFile(path.join(root, 'new.png'), o);
  refuses(() => checkOutFile(ours, o), /exists; pass --overwrite/);
  checkOutFile(ours, { ...o, overwrite: true });
  refuses(() => checkOutFile(theirs, { ...o, overwrite: true }), /corl did not write it/);
  refuses(() => checkOutFile(path.join(root, 'no-such-folder', 'a.png'), o), /does not exist/);
  refuses(() => checkOutFile(root, { ...o, overwrite: true }), /is a folder/);
});
