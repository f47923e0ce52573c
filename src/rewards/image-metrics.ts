/**
 * Image-side similarity between a generated and a real image, every score mapped to [0, 1] (1 = identical):
 * - `1 - RMSE`: RMSE over all pixels and channels of [0, 1] images (one global RMSE per image pair);
 * - SSIM (Wang et al. 2004): gaussian window 11, sigma 1.5, C1 = 0.01^2, C2 = 0.03^2 on [0, 1] images,
 *   'valid' windows (no padding, as Wang's code and pytorch-msssim), mean over positions and channels,
 *   clamped to [0, 1] (negative structural correlation scores 0);
 * - `1 - LPIPS` with a loaded LPIPS network (lpips.ts), clamped to [0, 1].
 *
 * `imageSimilarity` picks the image side of the cycle reward: LPIPS when a network is given, else the
 * `fallback` metric, default SSIM. (ULM-R1 v2's default is `1 - RMSE`, computed there as torchmetrics'
 * sliding-window RMSE at 384x384; v1 and the paper use `1 - LPIPS(vgg)` at 224. Set `fallback: 'rmse'` for
 * v2's behaviour; ours is the global RMSE.)
 *
 * Sizes: the generated image is resized (bilinear, area-averaged when shrinking) to the real image's size
 * when they differ. SSIM on images smaller than 11 pixels uses the largest odd window that fits, with the same
 * sigma, the gaussian truncated and renormalised.
 */
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { resizeRGB } from '../model/preprocess.js';
import type { LpipsNet } from './lpips.js';
import type { RgbImage } from './types.js';

export const SSIM_WINDOW = 11;
export const SSIM_SIGMA = 1.5;
export const SSIM_C1 = 0.01 ** 2;
export const SSIM_C2 = 0.03 ** 2;

export type ImageMetric = 'ssim' | 'rmse' | 'lpips';

function checkImage(img: RgbImage, what: string): void {
  if (img.data.length !== img.width * img.height * 3)
    throw new RangeError(`${what}: ${img.data.length} bytes for a ${img.width}x${img.height} RGB image`);
}

/** RGB byte images (all the same size) -> float32 [N, 3, H, W] in [0, 1]. */
export function imagesToTensor(images: readonly RgbImage[]): Tensor {
  if (images.length === 0) throw new RangeError('imagesToTensor: no images');
  const { width: W, height: H } = images[0]!;
  const hw = H * W;
  const out = new Float32Array(images.length * 3 * hw);
  images.forEach((img, n) => {
    checkImage(img, `image ${n}`);
    if (img.width !== W || img.height !== H)
      throw new RangeError(`imagesToTensor: image ${n} is ${img.width}x${img.height}, image 0 is ${W}x${H}`);
    const base = n * 3 * hw;
    for (let p = 0; p < hw; p++)
      for (let c = 0; c < 3; c++) out[base + c * hw + p] = img.data[3 * p + c]! / 255;
  });
  return torch.tensor(out, { shape: [images.length, 3, H, W] });
}

function checkPair(x: Tensor, y: Tensor, what: string): void {
  if (x.ndim !== 4 || x.shape.join(',') !== y.shape.join(','))
    throw new RangeError(
      `${what}: expects two [N, C, H, W] tensors of one shape, got [${x.shape}] and [${y.shape}]`,
    );
}

/** Per-pair RMSE of [N, C, H, W] images: sqrt(mean((x - y)^2)) over C, H, W -> [N]. */
export function rmse(x: Tensor, y: Tensor): Tensor {
  checkPair(x, y, 'rmse');
  return torch.tidy(() => x.sub(y).pow(2).mean([1, 2, 3]).sqrt());
}

/** The normalised 1-D gaussian of `size` taps (size odd), as plain numbers. */
export function gaussian1d(size: number, sigma: number): number[] {
  const half = (size - 1) / 2;
  const g = Array.from({ length: size }, (_, i) => Math.exp(-((i - half) ** 2) / (2 * sigma * sigma)));
  const s = g.reduce((a, b) => a + b, 0);
  return g.map((v) => v / s);
}

/** The window size SSIM uses for an H x W image: min(11, H, W), made odd. */
export function ssimWindowSize(h: number, w: number, window = SSIM_WINDOW): number {
  const k = Math.min(window, h, w);
  return k % 2 === 1 ? k : k - 1;
}

/**
 * Per-pair SSIM of [N, C, H, W] images in [0, 1] -> [N], the mean of the SSIM map over positions and channels
 * (not clamped: in [-1, 1]). The five local statistics (mu_x, mu_y, E[x^2], E[y^2], E[xy]) come from one
 * depthwise conv2d (groups = 5C) with the 2-D gaussian kernel.
 */
export function ssim(x: Tensor, y: Tensor, opts: { window?: number; sigma?: number } = {}): Tensor {
  checkPair(x, y, 'ssim');
  const [, C, H, W] = x.shape as [number, number, number, number];
  const k = ssimWindowSize(H, W, opts.window);
  const g = gaussian1d(k, opts.sigma ?? SSIM_SIGMA);
  const kernel2d = g.flatMap((a) => g.map((b) => a * b));
  return torch.tidy(() => {
    const xf = x.float();
    const yf = y.float();
    const stacked = torch.cat([xf, yf, xf.mul(xf), yf.mul(yf), xf.mul(yf)], 1); // [N, 5C, H, W]
    const weight = torch
      .tensor(kernel2d, { shape: [1, 1, k, k], device: x.device })
      .expand([5 * C, 1, k, k])
      .contiguous();
    const stats = torch.F.conv2d(stacked, weight, null, { groups: 5 * C });
    const [mx, my, exx, eyy, exy] = stats.chunk(5, 1) as [Tensor, Tensor, Tensor, Tensor, Tensor];
    const mx2 = mx.mul(mx);
    const my2 = my.mul(my);
    const mxy = mx.mul(my);
    const vx = exx.sub(mx2);
    const vy = eyy.sub(my2);
    const cxy = exy.sub(mxy);
    const num = mxy.mul(2).add(SSIM_C1).mul(cxy.mul(2).add(SSIM_C2));
    const den = mx2.add(my2).add(SSIM_C1).mul(vx.add(vy).add(SSIM_C2));
    return num.div(den).mean([1, 2, 3]);
  });
}

function clamp01(v: number): number {
  return Number.isNaN(v) ? NaN : v < 0 ? 0 : v > 1 ? 1 : v;
}

export interface ImageSimilarityOptions {
  /** An LPIPS network: the image side is then 1 - LPIPS. */
  lpips?: LpipsNet;
  /** The metric without LPIPS: 'ssim' (default) or 'rmse' (ULM-R1 v2's default, as 1 - RMSE). */
  fallback?: 'ssim' | 'rmse';
}

/** Which metric `imageSimilarity` uses with these options. */
export function imageMetricOf(opts: ImageSimilarityOptions): ImageMetric {
  return opts.lpips !== undefined ? 'lpips' : (opts.fallback ?? 'ssim');
}

/**
 * Similarity in [0, 1] of each generated image to its real image (1 = identical); NaN where the real image is
 * missing. Pairs of one size are scored in one batched call.
 */
export function imageSimilarity(
  generated: readonly RgbImage[],
  real: readonly (RgbImage | undefined)[],
  opts: ImageSimilarityOptions = {},
): number[] {
  if (generated.length !== real.length)
    throw new RangeError(
      `imageSimilarity: ${generated.length} generated images but ${real.length} real images`,
    );
  const metric = imageMetricOf(opts);
  const out = new Array<number>(generated.length).fill(NaN);
  // group the scorable pairs by the real image's size
  const groups = new Map<string, number[]>();
  real.forEach((r, i) => {
    if (r === undefined) return;
    checkImage(r, `real image ${i}`);
    checkImage(generated[i]!, `generated image ${i}`);
    const key = `${r.width}x${r.height}`;
    groups.set(key, [...(groups.get(key) ?? []), i]);
  });
  for (const idx of groups.values()) {
    const scores = torch.tidy(() =>
      torch.noGrad(() => {
        const realT = imagesToTensor(idx.map((i) => real[i]!));
        const genT = imagesToTensor(
          idx.map((i) => {
            const r = real[i]!;
            return resizeRGB(generated[i]!, r.width, r.height);
          }),
        );
        if (metric === 'lpips') return torch.scalarTensor(1).sub(opts.lpips!.forward(genT, realT)).toArray();
        if (metric === 'rmse') return torch.scalarTensor(1).sub(rmse(genT, realT)).toArray();
        return ssim(genT, realT).toArray();
      }),
    );
    idx.forEach((i, j) => (out[i] = clamp01(scores[j]!)));
  }
  return out;
}
