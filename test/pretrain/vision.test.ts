/**
 * Vision-encoder pretraining: the patch labels of hand-placed objects (computed by hand below), and a short
 * run on the world-micro ViT that lowers every head's loss without leaking native tensors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { MultiModalityCausalLM } from '../../src/model/ulm.js';
import { pretrainPreset } from '../../src/pretrain/presets.js';
import { BACKGROUND, patchLabels, trainVision } from '../../src/pretrain/vision.js';
import type { Scene } from '../../src/world/scene.js';

torch.setNumThreads(1);

test('patchLabels: a large red square in the middle covers exactly the 4x4 central patches of 8x8', () => {
  // half-extent 6/32: x in [10, 22] px; patch 2 = [8, 12) is half covered, patch 1 = [4, 8) not at all
  const scene: Scene = { objects: [{ shape: 'square', color: 'red', size: 'large', x: 0.5, y: 0.5 }] };
  const l = patchLabels(scene, 8);
  assert.equal(l.object.length, 64);
  for (let gy = 0; gy < 8; gy++)
    for (let gx = 0; gx < 8; gx++) {
      const p = gy * 8 + gx;
      const inside = gx >= 2 && gx <= 5 && gy >= 2 && gy <= 5;
      // red is colour 0, square is shape 1: class 0 * 4 + 1
      assert.equal(l.object[p], inside ? 1 : BACKGROUND, `patch ${gx},${gy}`);
      assert.equal(l.size[p], inside ? 2 : 0);
      assert.deepEqual(l.centre[p], inside ? [0.5, 0.5] : [0, 0]);
    }
});

test('patchLabels: two objects, each patch takes the one covering it; slivers under 20% are background', () => {
  // small (half-extent 4/32 = 4 px) blue circle centred at (8, 8) px and small white diamond at (24, 24) px
  const scene: Scene = {
    objects: [
      { shape: 'circle', color: 'blue', size: 'small', x: 0.25, y: 0.25 },
      { shape: 'diamond', color: 'white', size: 'small', x: 0.75, y: 0.75 },
    ],
  };
  const l = patchLabels(scene, 8);
  const at = (gx: number, gy: number) => l.object[gy * 8 + gx];
  const circle = 2 * 4 + 0; // blue = colour 2, circle = shape 0
  const diamond = 5 * 4 + 3; // white = colour 5, diamond = shape 3
  // the circle spans [4, 12] px: patches 1 and 2 on each axis, each about a quarter-disc (~0.79 covered)
  for (const [gx, gy] of [
    [1, 1],
    [2, 1],
    [1, 2],
    [2, 2],
  ] as const)
    assert.equal(at(gx, gy), circle);
  for (const [gx, gy] of [
    [5, 5],
    [6, 5],
    [5, 6],
    [6, 6],
  ] as const)
    assert.equal(at(gx, gy), diamond);
  assert.equal(l.object.filter((c) => c !== BACKGROUND).length, 8);
  assert.equal(l.size[1 * 8 + 1], 1); // small
});

test('trainVision: every head learns on the micro ViT, the live-tensor count stays flat', () => {
  const cfg = pretrainPreset('world-micro').model(64);
  const model = new MultiModalityCausalLM(cfg, { generator: new torch.Generator(3) });
  const live = torch.liveTensors();
  const r = trainVision(model.vision_model, cfg, {
    seed: 0,
    steps: 200,
    batchSize: 16,
    lr: 4e-3,
    evalScenes: 32,
  });
  assert.equal(torch.liveTensors(), live, 'the heads and every step tensor were released');
  assert.equal(r.steps, 200);
  const first = r.logs[0]!;
  const last = r.logs.at(-1)!;
  for (const k of ['object', 'size', 'centre'] as const)
    assert.ok(last[k] < first[k], `${k}: ${first[k]} -> ${last[k]}`);
  const e = r.eval;
  // colour is learned first: well above the 1/6 of guessing
  assert.ok(e.color_accuracy > 0.5, `colour accuracy ${e.color_accuracy}`);
  assert.ok(e.all_patch_accuracy > 0 && e.all_patch_accuracy <= 1);
  assert.equal(e.scenes, 32);
  model.dispose();
});
