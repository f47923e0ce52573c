/**
 * RGB images as plain byte arrays (row-major, 3 bytes per pixel), with the corruptions the detector must
 * survive (gaussian noise, gaussian blur: a stand-in for a VQ-VAE reconstruction) and nearest-neighbour
 * scaling for contact sheets.
 */
import type { Rng } from './rng.js';

export interface RgbImage {
  width: number;
  height: number;
  /** width * height * 3 bytes, row-major RGB. */
  data: Uint8Array;
}

export function createImage(
  width: number,
  height: number,
  fill: readonly [number, number, number] = [0, 0, 0],
) {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    data[3 * i] = fill[0];
    data[3 * i + 1] = fill[1];
    data[3 * i + 2] = fill[2];
  }
  return { width, height, data } satisfies RgbImage;
}

function clampByte(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
}

/** Adds independent gaussian noise of standard deviation `sigma` (in units of the full 0-255 range). */
export function addGaussianNoise(img: RgbImage, sigma: number, rng: Rng): RgbImage {
  const out = new Uint8Array(img.data.length);
  const s = sigma * 255;
  for (let i = 0; i < img.data.length; i++) out[i] = clampByte((img.data[i] as number) + s * rng.normal());
  return { width: img.width, height: img.height, data: out };
}

/** Separable gaussian blur with standard deviation `sigma` pixels (edges clamped). */
export function gaussianBlur(img: RgbImage, sigma: number): RgbImage {
  if (sigma <= 0) return { width: img.width, height: img.height, data: img.data.slice() };
  const radius = Math.max(1, Math.ceil(3 * sigma));
  const kernel: number[] = [];
  let sum = 0;
  for (let k = -radius; k <= radius; k++) {
    const w = Math.exp(-(k * k) / (2 * sigma * sigma));
    kernel.push(w);
    sum += w;
  }
  for (let k = 0; k < kernel.length; k++) kernel[k] = (kernel[k] as number) / sum;
  const { width: w, height: h } = img;
  const tmp = new Float32Array(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < 3; c++) {
        let acc = 0;
        for (let k = -radius; k <= radius; k++) {
          const xx = Math.min(w - 1, Math.max(0, x + k));
          acc += (kernel[k + radius] as number) * (img.data[3 * (y * w + xx) + c] as number);
        }
        tmp[3 * (y * w + x) + c] = acc;
      }
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < 3; c++) {
        let acc = 0;
        for (let k = -radius; k <= radius; k++) {
          const yy = Math.min(h - 1, Math.max(0, y + k));
          acc += (kernel[k + radius] as number) * (tmp[3 * (yy * w + x) + c] as number);
        }
        out[3 * (y * w + x) + c] = clampByte(acc);
      }
  return { width: w, height: h, data: out };
}

export interface Corruption {
  /** Gaussian noise standard deviation, as a fraction of 255 (0 = none). */
  noise?: number;
  /** Gaussian blur standard deviation in pixels (0 = none). Applied before the noise. */
  blur?: number;
}

/** Blur then noise: a rough model of what a VQ-VAE reconstruction does to a clean render. */
export function corrupt(img: RgbImage, c: Corruption, rng: Rng): RgbImage {
  let out = img;
  if (c.blur && c.blur > 0) out = gaussianBlur(out, c.blur);
  if (c.noise && c.noise > 0) out = addGaussianNoise(out, c.noise, rng);
  return out;
}

/** Nearest-neighbour upscaling by an integer factor. */
export function scaleNearest(img: RgbImage, factor: number): RgbImage {
  const w = img.width * factor;
  const h = img.height * factor;
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    const sy = Math.floor(y / factor);
    for (let x = 0; x < w; x++) {
      const si = 3 * (sy * img.width + Math.floor(x / factor));
      const di = 3 * (y * w + x);
      out[di] = img.data[si] as number;
      out[di + 1] = img.data[si + 1] as number;
      out[di + 2] = img.data[si + 2] as number;
    }
  }
  return { width: w, height: h, data: out };
}

/** Copies `src` into `dst` with its top-left corner at (x0, y0), clipped to `dst`. */
export function blit(dst: RgbImage, src: RgbImage, x0: number, y0: number): void {
  for (let y = 0; y < src.height; y++) {
    const dy = y0 + y;
    if (dy < 0 || dy >= dst.height) continue;
    for (let x = 0; x < src.width; x++) {
      const dx = x0 + x;
      if (dx < 0 || dx >= dst.width) continue;
      const si = 3 * (y * src.width + x);
      const di = 3 * (dy * dst.width + dx);
      dst.data[di] = src.data[si] as number;
      dst.data[di + 1] = src.data[si + 1] as number;
      dst.data[di + 2] = src.data[si + 2] as number;
    }
  }
}
