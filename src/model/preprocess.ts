/**
 * Image pre- and post-processing as Janus's VLMImageProcessor: resize so the long side equals the ViT's
 * image size (short side at least 14), pad to a square with the mean colour (int(mean * 255), the image
 * centred), scale by 1/255, normalise with the config's mean/std, channels first.
 * Departure: resizing is bilinear with antialiasing by area when shrinking, not PIL's bicubic; images already
 * at the target size (ShapesWorld) are untouched.
 */
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { UserError } from '../util/errors.js';
import type { ULMConfig } from './config.js';

/** An RGB image: `data` is HxWx3 bytes, row-major. */
export interface RGBImage {
  width: number;
  height: number;
  data: Uint8Array;
}

const MIN_SIZE = 14;

/** Resamples an RGB image to w x h (bilinear; box-averaged when shrinking). */
export function resizeRGB(img: RGBImage, w: number, h: number): RGBImage {
  if (w === img.width && h === img.height) return img;
  const out = new Uint8Array(w * h * 3);
  const sx = img.width / w;
  const sy = img.height / h;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      // average over the source footprint (at least one bilinear tap)
      const x0 = x * sx;
      const y0 = y * sy;
      const nx = Math.max(1, Math.round(sx));
      const ny = Math.max(1, Math.round(sy));
      for (let c = 0; c < 3; c++) {
        let acc = 0;
        for (let j = 0; j < ny; j++)
          for (let i = 0; i < nx; i++) {
            const fx = Math.min(img.width - 1, Math.max(0, x0 + (i + 0.5) * (sx / nx) - 0.5));
            const fy = Math.min(img.height - 1, Math.max(0, y0 + (j + 0.5) * (sy / ny) - 0.5));
            acc += bilinear(img, fx, fy, c);
          }
        out[(y * w + x) * 3 + c] = Math.round(acc / (nx * ny));
      }
    }
  }
  return { width: w, height: h, data: out };
}

function bilinear(img: RGBImage, fx: number, fy: number, c: number): number {
  const x0 = Math.floor(fx);
  const y0 = Math.floor(fy);
  const x1 = Math.min(img.width - 1, x0 + 1);
  const y1 = Math.min(img.height - 1, y0 + 1);
  const ax = fx - x0;
  const ay = fy - y0;
  const p = (x: number, y: number) => img.data[(y * img.width + x) * 3 + c]!;
  return (p(x0, y0) * (1 - ax) + p(x1, y0) * ax) * (1 - ay) + (p(x0, y1) * (1 - ax) + p(x1, y1) * ax) * ay;
}

/** Pads to a square with `color`, the image centred as Janus's expand2square. */
export function expandToSquare(img: RGBImage, color: readonly number[]): RGBImage {
  const { width: w, height: h } = img;
  if (w === h) return img;
  const s = Math.max(w, h);
  const out = new Uint8Array(s * s * 3);
  for (let i = 0; i < s * s; i++) out.set(color, i * 3);
  const ox = w > h ? 0 : Math.floor((h - w) / 2);
  const oy = w > h ? Math.floor((w - h) / 2) : 0;
  for (let y = 0; y < h; y++) out.set(img.data.subarray(y * w * 3, (y + 1) * w * 3), ((y + oy) * s + ox) * 3);
  return { width: s, height: s, data: out };
}

/**
 * RGB byte images (all of one size) -> float32 [N, 3, H, W], (x / 255 - mean) / std per channel. The VQ's
 * input is mean = std = 0.5 ([-1, 1]), the ViT's is the config's image_mean / image_std.
 */
export function pixelTensor(
  images: readonly RGBImage[],
  mean: readonly number[] = [0.5, 0.5, 0.5],
  std: readonly number[] = [0.5, 0.5, 0.5],
): Tensor {
  if (images.length === 0) throw new RangeError('pixelTensor: no images');
  const { width: W, height: H } = images[0]!;
  const hw = W * H;
  const out = new Float32Array(images.length * 3 * hw);
  images.forEach((img, n) => {
    if (img.width !== W || img.height !== H || img.data.length !== 3 * hw)
      throw new RangeError(`pixelTensor: image ${n} is not ${W}x${H} RGB`);
    for (let c = 0; c < 3; c++) {
      const base = (n * 3 + c) * hw;
      const m = mean[c]!;
      const s = std[c]!;
      for (let p = 0; p < hw; p++) out[base + p] = (img.data[3 * p + c]! / 255 - m) / s;
    }
  });
  return torch.tensor(out, { shape: [images.length, 3, H, W] });
}

/** Images -> the ViT input of `cfg` (its size must match the images'). */
export function vitPixels(images: readonly RGBImage[], cfg: ULMConfig): Tensor {
  const p = cfg.vision_config.params;
  if (images.length > 0 && images[0]!.width !== p.image_size)
    throw new RangeError(`vitPixels: images are ${images[0]!.width} px, the ViT takes ${p.image_size}`);
  return pixelTensor(images, p.image_mean, p.image_std);
}

/** One RGB image -> the ViT input [3, S, S] (float32, normalised). */
export function preprocessImage(img: RGBImage, cfg: ULMConfig): Tensor {
  const p = cfg.vision_config.params;
  const S = p.image_size;
  if (img.width <= 0 || img.height <= 0 || img.data.length !== img.width * img.height * 3)
    throw new UserError(`bad image: ${img.width}x${img.height} with ${img.data.length} bytes (expected RGB)`);
  const long = Math.max(img.width, img.height);
  const h = Math.max(Math.trunc((img.height / long) * S), MIN_SIZE);
  const w = Math.max(Math.trunc((img.width / long) * S), MIN_SIZE);
  const background = p.image_mean.map((m) => Math.trunc(m * 255));
  const sq = expandToSquare(resizeRGB(img, w, h), background);
  const fitted = sq.width === S ? sq : resizeRGB(sq, S, S);
  return torch.tidy(() => pixelTensor([fitted], p.image_mean, p.image_std).squeeze(0));
}

/** Images [B, 3, H, W] in [-1, 1] (VQ decoder output) -> RGB bytes, as Janus: clip((x + 1) / 2 * 255). */
export function toRGBImages(images: Tensor): RGBImage[] {
  const [B, , H, W] = images.shape as [number, number, number, number];
  const px = torch.tidy(() =>
    images.add(1).div(2).mul(255).clamp(0, 255).permute([0, 2, 3, 1]).contiguous().toFloat32Array(),
  );
  return Array.from({ length: B }, (_, b) => ({
    width: W,
    height: H,
    data: Uint8Array.from(px.subarray(b * H * W * 3, (b + 1) * H * W * 3), (v) => Math.trunc(v)),
  }));
}
