/**
 * Image pre- and post-processing as Janus's VLMImageProcessor (janus/models/image_processing_vlm.py):
 * resize so the long side equals the ViT's image size and the short side is int(short / long * size), at
 * least min_size (14), with PIL's bicubic resampling (torchvision's resize of a PIL image is PIL's
 * `resize(size, BICUBIC)`: resample.ts reproduces it byte for byte, antialiasing when shrinking included); pad
 * to a square with the background colour (int(image_mean * 255) = (127, 127, 127) for Janus-Pro), the image
 * centred as expand2square pastes it; rescale by rescale_factor (1/255); normalise with image_mean /
 * image_std; channels first. The settings come from preprocessor_config.json when the model folder has one
 * (loadConfig merges it into vision_config.params), else from config.json, else Janus's defaults.
 * Departure: a ViT whose image_size is below min_size gets the min_size square resized once more to its size
 * (Janus would hand the ViT an image of the wrong size).
 */
import { z } from 'zod';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { UserError } from '../util/errors.js';
import type { ULMConfig } from './config.js';
import { resizeBicubic } from './resample.js';

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
 * RGB byte images (all of one size) -> float32 [N, 3, H, W], (x * rescale - mean) / std per channel (x / 255
 * when `rescale` is not given), computed in double and rounded once. The VQ's input is mean = std = 0.5
 * ([-1, 1]), the ViT's is the config's image_mean / image_std.
 */
export function pixelTensor(
  images: readonly RGBImage[],
  mean: readonly number[] = [0.5, 0.5, 0.5],
  std: readonly number[] = [0.5, 0.5, 0.5],
  rescale?: number,
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
      if (rescale === undefined)
        for (let p = 0; p < hw; p++) out[base + p] = (img.data[3 * p + c]! / 255 - m) / s;
      else for (let p = 0; p < hw; p++) out[base + p] = (img.data[3 * p + c]! * rescale - m) / s;
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

/** The image processor's settings, resolved (Janus's VLMImageProcessor defaults for what is absent). */
export interface ImageProcessorSettings {
  imageSize: number;
  minSize: number;
  mean: readonly number[];
  std: readonly number[];
  rescaleFactor: number;
  background: readonly number[];
  normalize: boolean;
}

/** `cfg`'s image processor (vision_config.params, preprocessor_config.json merged in by loadConfig). */
export function imageProcessorOf(cfg: ULMConfig): ImageProcessorSettings {
  const p = cfg.vision_config.params;
  return {
    imageSize: p.image_size,
    minSize: p.min_size ?? MIN_SIZE,
    mean: p.image_mean,
    std: p.image_std,
    rescaleFactor: p.rescale_factor ?? 1 / 255,
    background: p.background_color ?? p.image_mean.map((m) => Math.trunc(m * 255)),
    normalize: p.do_normalize ?? true,
  };
}

/** Resize (PIL bicubic) and pad to a square: the bytes Janus's VLMImageProcessor.resize returns. */
export function resizeAndPad(img: RGBImage, proc: ImageProcessorSettings): RGBImage {
  if (img.width <= 0 || img.height <= 0 || img.data.length !== img.width * img.height * 3)
    throw new UserError(`bad image: ${img.width}x${img.height} with ${img.data.length} bytes (expected RGB)`);
  const S = proc.imageSize;
  const long = Math.max(img.width, img.height);
  const h = Math.max(Math.trunc((img.height / long) * S), proc.minSize);
  const w = Math.max(Math.trunc((img.width / long) * S), proc.minSize);
  const sq = expandToSquare(resizeBicubic(img, w, h), proc.background);
  return sq.width === S ? sq : resizeBicubic(sq, S, S);
}

export const PREPROCESSOR_CONFIG_FILE = 'preprocessor_config.json';

const rgb = z.array(z.number()).length(3);
/** The fields of a preprocessor_config.json corl reads (Janus's VLMImageProcessor, or transformers' Janus one). */
const PreprocessorConfig = z.looseObject({
  image_size: z.number().int().positive().optional(),
  size: z.looseObject({ height: z.number().int().positive(), width: z.number().int().positive() }).optional(),
  min_size: z.number().int().positive().optional(),
  image_mean: rgb.nullable().optional(),
  image_std: z.array(z.number().positive()).length(3).optional(),
  rescale_factor: z.number().positive().optional(),
  do_rescale: z.boolean().optional(),
  do_normalize: z.boolean().optional(),
  background_color: z.array(z.number().int().min(0).max(255)).length(3).optional(),
  resample: z.number().int().optional(),
});

/**
 * `cfg` with a preprocessor_config.json's settings (parsed JSON `json`, from `source`) in vision_config.params:
 * image_mean, image_std, min_size, rescale_factor (1 when do_rescale is false), do_normalize,
 * background_color (as Janus: (127, 127, 127) when image_mean is null). Its image size (image_size, or
 * transformers' size {height, width}) must be the ViT's, and its resampling (transformers' `resample`) PIL's
 * bicubic (3): anything else is a UserError naming the file.
 */
export function withPreprocessorConfig(cfg: ULMConfig, json: unknown, source: string): ULMConfig {
  const r = PreprocessorConfig.safeParse(json);
  if (!r.success) {
    const problems = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new UserError(`${source}: invalid image processor config: ${problems.join('; ')}`);
  }
  const pc = r.data;
  const p = { ...cfg.vision_config.params };
  const size = pc.image_size ?? pc.size?.height;
  if (pc.size && pc.size.height !== pc.size.width)
    throw new UserError(`${source}: size ${pc.size.height}x${pc.size.width} is not square`);
  if (size !== undefined && size !== p.image_size)
    throw new UserError(
      `${source}: image size ${size} but the ViT takes ${p.image_size} (vision_config.params.image_size)`,
    );
  if (pc.resample !== undefined && pc.resample !== 3)
    throw new UserError(`${source}: resample ${pc.resample}: corl resizes with PIL's bicubic (3) only`);
  if (pc.image_mean === null) p.background_color = pc.background_color ?? [127, 127, 127];
  else if (pc.image_mean !== undefined) p.image_mean = pc.image_mean;
  if (pc.image_std !== undefined) p.image_std = pc.image_std;
  if (pc.min_size !== undefined) p.min_size = pc.min_size;
  if (pc.rescale_factor !== undefined) p.rescale_factor = pc.rescale_factor;
  if (pc.do_rescale === false) p.rescale_factor = 1;
  if (pc.do_normalize !== undefined) p.do_normalize = pc.do_normalize;
  if (pc.background_color !== undefined) p.background_color = pc.background_color;
  return { ...cfg, vision_config: { ...cfg.vision_config, params: p } };
}

/**
 * One RGB image -> the ViT input [3, S, S] (float32): resizeAndPad, then rescaled and normalised. An image
 * already at the ViT's size (the ShapesWorld images) is not resampled.
 */
export function preprocessImage(img: RGBImage, cfg: ULMConfig): Tensor {
  const proc = imageProcessorOf(cfg);
  const sq = resizeAndPad(img, proc);
  const mean = proc.normalize ? proc.mean : [0, 0, 0];
  const std = proc.normalize ? proc.std : [1, 1, 1];
  // 1/255 keeps pixelTensor's x / 255 (the ShapesWorld path, unchanged); another factor multiplies
  const rescale = proc.rescaleFactor === 1 / 255 ? undefined : proc.rescaleFactor;
  return torch.tidy(() => pixelTensor([sq], mean, std, rescale).squeeze(0));
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
