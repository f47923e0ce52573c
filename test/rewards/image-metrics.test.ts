/**
 * Image-side metrics: 1 - RMSE on 2x2 images by hand, SSIM against a straightforward JS reference (loops over
 * valid windows), SSIM(x, x) = 1, NaN for a missing real image, resizing, and no leaked tensors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import {
  gaussian1d,
  imageSimilarity,
  imagesToTensor,
  rmse,
  ssim,
  ssimWindowSize,
  SSIM_C1,
  SSIM_C2,
} from '../../src/rewards/image-metrics.js';
import type { RgbImage } from '../../src/rewards/types.js';
import { close, closeAll, image, randomImage, solid } from './helpers.js';

torch.setNumThreads(1);

test('1 - RMSE on 2x2 images, by hand', () => {
  const black = solid(2, 2, [0, 0, 0]);
  // one white pixel: squared errors 1,1,1 over 12 values -> MSE 0.25 -> RMSE 0.5 -> 1 - RMSE = 0.5
  const oneWhite = image(2, 2, [
    [255, 255, 255],
    [0, 0, 0],
    [0, 0, 0],
    [0, 0, 0],
  ]);
  // 51/255 = 0.2 everywhere: RMSE 0.2 -> 0.8
  const gray = solid(2, 2, [51, 51, 51]);
  // red channel 1 on two pixels: errors 1,1 over 12 -> MSE 1/6 -> RMSE 0.4082482905 -> 0.5917517095
  const twoRed = image(2, 2, [
    [255, 0, 0],
    [0, 0, 0],
    [0, 0, 0],
    [255, 0, 0],
  ]);
  const s = imageSimilarity([oneWhite, gray, twoRed, black], [black, black, black, black], {
    fallback: 'rmse',
  });
  closeAll(s, [0.5, 0.8, 1 - Math.sqrt(1 / 6), 1], 1e-6);
  torch.tidy(() => {
    const r = rmse(imagesToTensor([oneWhite]), imagesToTensor([black])).toArray();
    closeAll(r, [0.5]);
  });
});

/** SSIM by loops: valid windows, gaussian weights, mean over channels and positions. */
function ssimReference(a: RgbImage, b: RgbImage): number {
  const { width: W, height: H } = a;
  const k = ssimWindowSize(H, W);
  const g = gaussian1d(k, 1.5);
  let total = 0;
  let count = 0;
  for (let c = 0; c < 3; c++)
    for (let y0 = 0; y0 + k <= H; y0++)
      for (let x0 = 0; x0 + k <= W; x0++) {
        let mx = 0;
        let my = 0;
        let xx = 0;
        let yy = 0;
        let xy = 0;
        for (let dy = 0; dy < k; dy++)
          for (let dx = 0; dx < k; dx++) {
            const w = g[dy]! * g[dx]!;
            const p = 3 * ((y0 + dy) * W + x0 + dx) + c;
            const u = a.data[p]! / 255;
            const v = b.data[p]! / 255;
            mx += w * u;
            my += w * v;
            xx += w * u * u;
            yy += w * v * v;
            xy += w * u * v;
          }
        const vx = xx - mx * mx;
        const vy = yy - my * my;
        const cxy = xy - mx * my;
        total +=
          ((2 * mx * my + SSIM_C1) * (2 * cxy + SSIM_C2)) /
          ((mx * mx + my * my + SSIM_C1) * (vx + vy + SSIM_C2));
        count++;
      }
  return total / count;
}

test('SSIM matches a JS reference on tiny images; SSIM(x, x) = 1', () => {
  const a = randomImage(13, 12, 1);
  const b = randomImage(13, 12, 2);
  // a blurred-ish relative of a: average with a constant, so SSIM is clearly between 0 and 1
  const c: RgbImage = { width: 13, height: 12, data: a.data.map((v) => Math.round(0.7 * v + 0.3 * 128)) };
  torch.tidy(() => {
    const got = ssim(imagesToTensor([a, a, c]), imagesToTensor([b, a, a])).toArray();
    close(got[0]!, ssimReference(a, b), 1e-5, 'random pair');
    close(got[1]!, 1, 1e-6, 'identical');
    close(got[2]!, ssimReference(c, a), 1e-5, 'related pair');
    assert.ok(got[2]! > 0.5 && got[2]! < 1, `related pair ${got[2]}`);
  });
  // the reward form clamps negative SSIM to 0 and keeps identical at 1
  const sim = imageSimilarity([a, a], [b, a]);
  close(sim[0]!, Math.max(0, ssimReference(a, b)), 1e-5);
  close(sim[1]!, 1, 1e-6);
});

test('SSIM on a 2x2 image: a 1x1 window, hand-computed', () => {
  // window 1: mu = pixel, variances and covariance 0, so SSIM per pixel = (2xy + C1) / (x^2 + y^2 + C1).
  // x = 0.2 (51), y = 0.6 (153) on every channel of one pixel, identical elsewhere (those score 1):
  // (2*0.12 + 1e-4) / (0.04 + 0.36 + 1e-4) = 0.2401 / 0.4001 = 0.600099975; mean over 4 pixels
  //   = (0.600099975 + 3) / 4 = 0.900024994
  assert.equal(ssimWindowSize(2, 2), 1);
  const x = image(2, 2, [
    [51, 51, 51],
    [10, 20, 30],
    [40, 50, 60],
    [70, 80, 90],
  ]);
  const y = image(2, 2, [
    [153, 153, 153],
    [10, 20, 30],
    [40, 50, 60],
    [70, 80, 90],
  ]);
  close(imageSimilarity([x], [y])[0]!, (0.2401 / 0.4001 + 3) / 4, 1e-6);
  close(ssimReference(x, y), (0.2401 / 0.4001 + 3) / 4, 1e-9);
});

test('imageSimilarity: missing real image -> NaN, sizes grouped and resized', () => {
  const a = randomImage(16, 16, 3);
  const small = randomImage(8, 8, 4);
  const big = solid(16, 16, [0, 0, 0]);
  const s = imageSimilarity([a, a, small], [undefined, a, big], { fallback: 'rmse' });
  close(s[0]!, NaN);
  close(s[1]!, 1);
  assert.ok(s[2]! >= 0 && s[2]! <= 1);
  assert.throws(() => imageSimilarity([a], []), /1 generated images but 0 real/);
  assert.throws(() => imageSimilarity([{ width: 2, height: 2, data: new Uint8Array(5) }], [a]), /5 bytes/);
});

test('image metrics leak no tensors (50 runs)', () => {
  const a = randomImage(16, 16, 5);
  const b = randomImage(16, 16, 6);
  imageSimilarity([a], [b]); // warm-up
  const before = torch.liveTensors();
  for (let i = 0; i < 50; i++) {
    imageSimilarity([a, b], [b, a]);
    imageSimilarity([a, b], [b, a], { fallback: 'rmse' });
  }
  assert.equal(torch.liveTensors(), before);
});
