import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PALETTE } from '../../src/world/attributes.js';
import { decodePng, encodePng } from '../../src/world/png.js';
import { insideShape, renderScene } from '../../src/world/render.js';
import type { Scene } from '../../src/world/scene.js';
import { UserError } from '../../src/util/errors.js';

const scene: Scene = {
  objects: [
    { shape: 'square', color: 'red', size: 'small', x: 0.25, y: 0.25 },
    { shape: 'triangle', color: 'blue', size: 'large', x: 0.703125, y: 0.703125 },
  ],
};

function pixel(img: { width: number; data: Uint8Array }, x: number, y: number): number[] {
  const p = 3 * (y * img.width + x);
  return [img.data[p]!, img.data[p + 1]!, img.data[p + 2]!];
}

test('renders the palette colour inside shapes and black outside', () => {
  const img = renderScene(scene);
  assert.equal(img.width, 32);
  assert.equal(img.data.length, 32 * 32 * 3);
  // The small square spans [0.125, 0.375] = pixels 4..11 at 32x32 (centres 4.5/32 .. 11.5/32).
  assert.deepEqual(pixel(img, 4, 4), [...PALETTE.red]);
  assert.deepEqual(pixel(img, 11, 11), [...PALETTE.red]);
  assert.deepEqual(pixel(img, 3, 4), [0, 0, 0]);
  assert.deepEqual(pixel(img, 12, 4), [0, 0, 0]);
  let red = 0;
  for (let i = 0; i < 32 * 32; i++)
    if (img.data[3 * i] === PALETTE.red[0] && img.data[3 * i + 1] === PALETTE.red[1]) red++;
  assert.equal(red, 64);
  // Triangle apex at the top centre: the top row of its box has at most a pixel or two.
  assert.deepEqual(pixel(img, 22, 22), [...PALETTE.blue]);
});

test('rendering is deterministic and works at any resolution', () => {
  assert.deepEqual(renderScene(scene).data, renderScene(scene).data);
  for (const size of [16, 48, 64, 128]) {
    const img = renderScene(scene, { size });
    assert.equal(img.width, size);
    const cov = img.data.filter((v, i) => i % 3 === 0 && v === PALETTE.red[0]).length / (size * size);
    assert.ok(Math.abs(cov - 0.0625) < 0.02, `red coverage at ${size}: ${cov}`);
  }
  assert.throws(() => renderScene(scene, { size: 4 }), RangeError);
});

test('anti-aliasing blends edges; background noise is seeded and leaves objects alone', () => {
  const aa = renderScene({ objects: [scene.objects[0]!] }, { antialias: true, size: 32 });
  let partial = 0;
  for (let i = 0; i < 32 * 32; i++) {
    const r = aa.data[3 * i]!;
    if (r > 0 && r < PALETTE.red[0]) partial++;
  }
  assert.ok(partial === 0, 'a pixel-aligned square has no partial pixels');
  const tri = renderScene({ objects: [scene.objects[1]!] }, { antialias: 4 });
  const blues = new Set<number>();
  for (let i = 0; i < 32 * 32; i++) blues.add(tri.data[3 * i + 2]!);
  assert.ok(blues.size > 3, 'anti-aliased triangle edges have intermediate values');
  const n1 = renderScene(scene, { noise: 0.05, seed: 1 });
  const n2 = renderScene(scene, { noise: 0.05, seed: 1 });
  const n3 = renderScene(scene, { noise: 0.05, seed: 2 });
  assert.deepEqual(n1.data, n2.data);
  assert.notDeepEqual(n1.data, n3.data);
  assert.deepEqual(pixel(n1, 5, 5), [...PALETTE.red]);
});

test('insideShape: hand-checked points', () => {
  assert.ok(insideShape('circle', 0.5, 0.6, 0.5, 0.5, 0.1));
  assert.ok(!insideShape('circle', 0.58, 0.58, 0.5, 0.5, 0.1));
  assert.ok(insideShape('square', 0.58, 0.58, 0.5, 0.5, 0.1));
  assert.ok(insideShape('diamond', 0.55, 0.55, 0.5, 0.5, 0.1));
  assert.ok(!insideShape('diamond', 0.56, 0.56, 0.5, 0.5, 0.1));
  // Triangle: apex up; near the top only the centre is inside, at the base the full width.
  assert.ok(insideShape('triangle', 0.5, 0.41, 0.5, 0.5, 0.1));
  assert.ok(!insideShape('triangle', 0.55, 0.41, 0.5, 0.5, 0.1));
  assert.ok(insideShape('triangle', 0.59, 0.6, 0.5, 0.5, 0.1));
});

test('PNG round trip is lossless; garbage is a UserError', () => {
  const img = renderScene(scene, { noise: 0.1, seed: 3 });
  const back = decodePng(encodePng(img));
  assert.equal(back.width, 32);
  assert.deepEqual(back.data, img.data);
  assert.throws(() => decodePng(Buffer.from('not a png')), UserError);
  assert.throws(() => decodePng(encodePng(img).subarray(0, 40)), UserError);
});
