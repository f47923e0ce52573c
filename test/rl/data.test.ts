/** The RL data loader: rows with their real images, one clear error line for a missing or broken image. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildDataset } from '../../src/world/dataset.js';
import { loadExamples } from '../../src/rl/data.js';
import { UserError } from '../../src/util/errors.js';

test('loadExamples: images read once per file; a missing or broken image names the file and row', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corl-rl-data-'));
  try {
    buildDataset({ out: dir, seed: 3, train: 4, test: 2 });
    const train = path.join(dir, 'train.jsonl');
    const examples = loadExamples(train);
    assert.equal(examples.length, 4);
    for (const e of examples)
      assert.equal(e.realImage.data.length, e.realImage.width * e.realImage.height * 3);
    const row = JSON.parse(fs.readFileSync(train, 'utf8').split('\n')[0]!);
    const twice = path.join(dir, 'twice.jsonl');
    fs.writeFileSync(twice, `${JSON.stringify(row)}\n${JSON.stringify({ ...row, id: 'again' })}\n`);
    const [a, b] = loadExamples(twice);
    assert.equal(a!.realImage, b!.realImage, 'the same PNG is read once');
    const missing = path.join(dir, 'missing.jsonl');
    fs.writeFileSync(
      missing,
      `${JSON.stringify(row)}\n${JSON.stringify({ ...row, real_image: 'images/x.png' })}\n`,
    );
    assert.throws(
      () => loadExamples(missing),
      (e: unknown) =>
        e instanceof UserError && /missing\.jsonl: row 2: image not found: .*x\.png$/.test(e.message),
    );
    fs.writeFileSync(path.join(dir, 'images', 'bad.png'), 'not a png');
    const broken = path.join(dir, 'broken.jsonl');
    fs.writeFileSync(broken, `${JSON.stringify({ ...row, real_image: 'images/bad.png' })}\n`);
    assert.throws(() => loadExamples(broken), /broken\.jsonl: row 1: cannot decode PNG/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
