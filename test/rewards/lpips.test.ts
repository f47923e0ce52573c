/**
 * LPIPS with a tiny random network built, saved and reloaded by the test (no real VGG/AlexNet weights can be
 * downloaded here): LPIPS(x, x) = 0, symmetry, positivity, a more different image scores higher, the reload
 * gives the same distances, max pooling by hand, and no leaked tensors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as torch from '../../src/torch/index.js';
import {
  ALEXNET_LPIPS,
  VGG16_LPIPS,
  createLpips,
  loadLpips,
  maxPool2d,
  saveLpips,
  type LpipsConfig,
} from '../../src/rewards/lpips.js';
import { imageSimilarity, imagesToTensor } from '../../src/rewards/image-metrics.js';
import { UserError } from '../../src/util/errors.js';
import type { RgbImage } from '../../src/rewards/types.js';
import { close, closeAll, randomImage } from './helpers.js';

torch.setNumThreads(1);

const TINY: LpipsConfig = {
  features: [
    { type: 'conv', in: 3, out: 8, kernel: 3, padding: 1 },
    { type: 'relu' },
    { type: 'maxpool', kernel: 2 },
    { type: 'conv', in: 8, out: 12, kernel: 3, padding: 1 },
    { type: 'relu' },
  ],
  taps: [1, 4],
};

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'corl-lpips-'));
const file = path.join(tmp, 'tiny.safetensors');
const built = createLpips(TINY, { generator: new torch.Generator(7) });
saveLpips(built, file);
const net = loadLpips(file);

/** x blended toward noise by t in [0, 1]. */
function blend(x: RgbImage, noise: RgbImage, t: number): RgbImage {
  return { ...x, data: x.data.map((v, i) => Math.round((1 - t) * v + t * noise.data[i]!)) };
}

test('max pooling from strided slices, by hand', () => {
  torch.tidy(() => {
    // 1x1x3x4 input 0..11; kernel 2 stride 2 -> windows {0,1,4,5}->5, {2,3,6,7}->7 (the last row is dropped)
    const x = torch.arange(0, 12, 1, { dtype: 'float32' }).reshape([1, 1, 3, 4]);
    closeAll(maxPool2d(x, 2).toArray(), [5, 7]);
    // kernel 3 stride 1 over 3x4 -> columns 0-2 and 1-3 -> maxima 10, 11
    closeAll(maxPool2d(x, 3, 1).toArray(), [10, 11]);
  });
});

test('the reloaded network has the official names and computes the same distances', () => {
  const names = [...net.stateDict().keys()].sort();
  assert.deepEqual(names, [
    'lin0.model.1.weight',
    'lin1.model.1.weight',
    'net.features.0.bias',
    'net.features.0.weight',
    'net.features.3.bias',
    'net.features.3.weight',
  ]);
  torch.tidy(() => {
    const x = imagesToTensor([randomImage(16, 16, 1), randomImage(16, 16, 2)]);
    const y = imagesToTensor([randomImage(16, 16, 3), randomImage(16, 16, 4)]);
    closeAll(net.forward(x, y).toArray(), built.forward(x, y).toArray(), 1e-6);
  });
});

test('LPIPS: d(x, x) = 0, symmetric, positive, grows with the difference', () => {
  const x = randomImage(16, 16, 10);
  const noise = randomImage(16, 16, 11);
  const near = blend(x, noise, 0.1);
  const far = blend(x, noise, 0.6);
  torch.tidy(() => {
    const X = imagesToTensor([x, x, x, near]);
    const Y = imagesToTensor([x, near, far, x]);
    const [dxx, dNear, dFar, dNearRev] = net.forward(X, Y).toArray() as [number, number, number, number];
    close(dxx, 0, 1e-7, 'd(x, x)');
    assert.ok(dNear > 0, `d(x, near) = ${dNear}`);
    close(dNear, dNearRev, 1e-6, 'symmetry');
    assert.ok(dFar > dNear, `d(x, far) = ${dFar} should exceed d(x, near) = ${dNear}`);
  });
  // the image side: 1 - LPIPS, clamped, identical images score 1
  const s = imageSimilarity([x, far], [x, x], { lpips: net });
  close(s[0]!, 1, 1e-6);
  assert.ok(s[1]! >= 0 && s[1]! < 1);
});

test('loadLpips: missing config or file is a user error; real configs are well formed', () => {
  const bare = path.join(tmp, 'bare.safetensors');
  torch.safetensors.saveSafetensors(bare, built.stateDict());
  assert.throws(
    () => loadLpips(bare),
    (e: unknown) => e instanceof UserError && /no "lpips" config/.test(e.message),
  );
  const withCfg = loadLpips(bare, { config: TINY });
  withCfg.dispose();
  assert.throws(() => loadLpips(path.join(tmp, 'missing.safetensors')), UserError);
  assert.throws(() => loadLpips(bare, { config: { ...TINY, taps: [9] } }), /taps/);
  // the real architectures: channel chains are consistent and the taps are the ReLUs LPIPS uses
  for (const cfg of [ALEXNET_LPIPS, VGG16_LPIPS])
    for (const t of cfg.taps) assert.equal(cfg.features[t]!.type, 'relu');
  assert.deepEqual(
    VGG16_LPIPS.features.flatMap((op, i) => (op.type === 'maxpool' ? [i] : [])),
    [4, 9, 16, 23],
  );
});

test('LPIPS leaks no tensors (50 runs)', () => {
  const a = randomImage(16, 16, 20);
  const b = randomImage(16, 16, 21);
  imageSimilarity([a], [b], { lpips: net });
  const before = torch.liveTensors();
  for (let i = 0; i < 50; i++) imageSimilarity([a, b], [b, a], { lpips: net });
  assert.equal(torch.liveTensors(), before);
});

test.after(() => {
  net.dispose();
  built.dispose();
  fs.rmSync(tmp, { recursive: true, force: true });
});
