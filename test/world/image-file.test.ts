/** Dataset image files (src/world/image-file.ts): PNG and JPEG told apart by their bytes, any size, clear errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeImage, readImage } from '../../src/world/image-file.js';
import { encodePng } from '../../src/world/png.js';
import { UserError } from '../../src/util/errors.js';
import { jpegBytes, quadrants } from '../helpers/images.js';

test('a JPEG of any size decodes to RGB close to what was encoded; a PNG exactly', () => {
  const img = quadrants();
  const back = decodeImage(jpegBytes(img), 'q.jpg');
  assert.equal(back.width, 40);
  assert.equal(back.height, 24);
  assert.equal(back.data.length, 40 * 24 * 3);
  // the centre pixel of each quadrant, away from the blocks' edges: within a few levels at quality 95
  for (const [x, y] of [
    [10, 6],
    [30, 6],
    [10, 18],
    [30, 18],
  ] as const)
    for (let c = 0; c < 3; c++) {
      const i = 3 * (y * 40 + x) + c;
      assert.ok(
        Math.abs(back.data[i]! - img.data[i]!) <= 6,
        `(${x}, ${y}) channel ${c}: ${back.data[i]} vs ${img.data[i]}`,
      );
    }
  assert.deepEqual(decodeImage(encodePng(img)), img);
});

test('a file that is neither, a truncated JPEG or a missing file is one UserError naming it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'corl-image-file-'));
  const text = join(dir, 'notes.jpg');
  writeFileSync(text, 'not an image');
  assert.throws(
    () => readImage(text),
    (e: unknown) => e instanceof UserError && /notes\.jpg: not a PNG or JPEG file$/.test(e.message),
  );
  const cut = join(dir, 'cut.jpg');
  writeFileSync(cut, jpegBytes(quadrants()).subarray(0, 200));
  assert.throws(
    () => readImage(cut),
    (e: unknown) => e instanceof UserError && /^cannot decode JPEG .*cut\.jpg: /.test(e.message),
  );
  assert.throws(
    () => readImage(join(dir, 'none.png')),
    (e: unknown) => e instanceof UserError && /^image not found: .*none\.png$/.test(e.message),
  );
});
