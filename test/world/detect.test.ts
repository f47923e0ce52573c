import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PALETTE } from '../../src/world/attributes.js';
import {
  detectObjects,
  detectionsToScene,
  matchScene,
  summariseMatches,
  type SceneMatch,
} from '../../src/world/detect.js';
import { corrupt, createImage } from '../../src/world/image.js';
import { renderScene } from '../../src/world/render.js';
import { Rng } from '../../src/world/rng.js';
import { difficultyOptions, sampleScene, type Scene } from '../../src/world/scene.js';

/** A fresh split: a seed no dataset build uses, 1-4 objects. */
function freshScenes(n: number, seed: number): Scene[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => sampleScene(rng, difficultyOptions('hard')));
}

function accuracy(scenes: Scene[], size: number, antialias: boolean, noise = 0, blur = 0) {
  const rng = new Rng(99);
  const matches: SceneMatch[] = scenes.map((s) => {
    const img = corrupt(renderScene(s, { size, antialias }), { noise, blur }, rng);
    return matchScene(s, detectObjects(img), size);
  });
  const objects = scenes.reduce((a, s) => a + s.objects.length, 0);
  return summariseMatches(matches, objects);
}

test('the parser recovers 100% of scenes on clean 32x32 renders of a fresh split (500 scenes)', (t) => {
  const r = accuracy(freshScenes(500, 777001), 32, false);
  t.diagnostic(`clean 32x32: ${JSON.stringify(r)}`);
  assert.equal(r.exact_scene_acc, 1);
  assert.equal(r.object_f1, 1);
  assert.ok(r.objects > 1000);
});

test('exact at 64x64, anti-aliased too', (t) => {
  const scenes = freshScenes(120, 777002);
  const a = accuracy(scenes, 64, true);
  const b = accuracy(scenes, 32, true);
  t.diagnostic(`64 AA: ${a.exact_scene_acc}, 32 AA: ${b.exact_scene_acc}`);
  assert.equal(a.exact_scene_acc, 1);
  assert.equal(b.exact_scene_acc, 1);
});

test('robust to blur and noise (a VQ-VAE-like reconstruction)', (t) => {
  const scenes = freshScenes(300, 777003);
  const levels: [number, number, number][] = [
    // noise sigma (of 255), blur sigma (px), floor on exact-scene accuracy
    [0.05, 0, 0.99],
    [0.1, 0, 0.98],
    [0, 0.7, 0.99],
    [0.05, 0.7, 0.98],
    [0.1, 1.0, 0.93],
    [0.2, 1.0, 0.8],
  ];
  for (const [noise, blur, floor] of levels) {
    const r = accuracy(scenes, 32, false, noise, blur);
    t.diagnostic(
      `noise ${noise} blur ${blur}: exact ${r.exact_scene_acc.toFixed(3)} object F1 ${r.object_f1.toFixed(3)}`,
    );
    assert.ok(r.exact_scene_acc >= floor, `noise ${noise} blur ${blur}: ${r.exact_scene_acc} < ${floor}`);
  }
});

test('detections carry colour, shape, size, centre and a pixel box', () => {
  const scene: Scene = { objects: [{ shape: 'triangle', color: 'green', size: 'large', x: 0.5, y: 0.5 }] };
  const [d, ...rest] = detectObjects(renderScene(scene));
  assert.equal(rest.length, 0);
  assert.equal(d!.shape, 'triangle');
  assert.equal(d!.color, 'green');
  assert.equal(d!.size, 'large');
  assert.ok(Math.abs(d!.x - 0.5) < 1 / 32 && Math.abs(d!.y - 0.5) < 1 / 32);
  // Box [10/32, 22/32]: pixel centres 10.5 .. 21.5; the apex row at 10.5 is too narrow to hold a centre.
  assert.deepEqual(d!.box, [10, 11, 22, 22]);
  assert.ok(d!.score > 0.9);
  assert.deepEqual(detectionsToScene([d!]).objects[0]!.shape, 'triangle');
});

test('an empty or noisy-only image has no objects; specks are ignored', () => {
  assert.deepEqual(detectObjects(createImage(32, 32)), []);
  const img = createImage(32, 32);
  img.data.set(PALETTE.red, 3 * (5 * 32 + 5));
  img.data.set(PALETTE.red, 3 * (5 * 32 + 6));
  assert.deepEqual(detectObjects(img), []);
  assert.deepEqual(detectObjects(corrupt(createImage(32, 32), { noise: 0.15 }, new Rng(1))), []);
});

test('touching objects of different colours are split by colour', () => {
  // Two squares sharing an edge: x in [4, 12) red and [12, 20) blue, y in [8, 16).
  const img = createImage(32, 32);
  for (let y = 8; y < 16; y++)
    for (let x = 4; x < 20; x++) img.data.set(x < 12 ? PALETTE.red : PALETTE.blue, 3 * (y * 32 + x));
  const dets = detectObjects(img);
  assert.equal(dets.length, 2);
  assert.deepEqual(dets.map((d) => `${d.color} ${d.shape}`).sort(), ['blue square', 'red square']);
});

test('matchScene counts misses, extras and wrong attributes', () => {
  const scene: Scene = {
    objects: [
      { shape: 'circle', color: 'red', size: 'small', x: 0.25, y: 0.25 },
      { shape: 'square', color: 'blue', size: 'large', x: 0.7, y: 0.7 },
    ],
  };
  const dets = detectObjects(renderScene(scene));
  assert.deepEqual(matchScene(scene, dets, 32), { tp: 2, fp: 0, fn: 0, exact: true });
  const wrong = dets.map((d) => (d.shape === 'circle' ? { ...d, color: 'green' as const } : d));
  assert.deepEqual(matchScene(scene, wrong, 32), { tp: 1, fp: 1, fn: 1, exact: false });
  assert.deepEqual(matchScene(scene, dets.slice(0, 1), 32).fn, 1);
  const s = summariseMatches([matchScene(scene, wrong, 32)], 2);
  assert.equal(s.object_f1, 0.5);
  assert.equal(s.exact_scene_acc, 0);
});
