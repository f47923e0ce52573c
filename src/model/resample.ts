/**
 * Bicubic resampling with Pillow's semantics (`Image.resize(size, Image.BICUBIC)`, what Janus's
 * VLMImageProcessor gets through torchvision's resize of a PIL image), byte for byte:
 *   - separable, two passes: horizontal (only over the source rows the vertical pass will read), then
 *     vertical; each pass writes 8-bit values (rounded, clipped), so the second pass reads bytes;
 *   - the filter is the bicubic convolution kernel with a = -0.5, support 2; when shrinking by a factor
 *     s > 1 it is stretched by s (support 2s, weights taken at distance / s): the antialiasing Pillow always
 *     applies when downscaling;
 *   - output pixel i is centred at (i + 0.5) * scale in source coordinates; its taps are the source pixels
 *     trunc(center - support + 0.5) .. trunc(center + support + 0.5) - 1 clipped to the image, weighted by the
 *     filter at (source index - center + 0.5) / filterscale and normalised to sum 1 over those taps;
 *   - the weights are then fixed-point numbers with 22 fraction bits (rounded half away from zero); a
 *     pixel is the sum of byte x weight plus half a unit, shifted right by 22 and clipped to 0..255;
 *   - a size that does not change is a copy (no pass runs), and a pass whose axis keeps its size is skipped.
 * Plain numbers are exact here (the sums stay far below 2^53), so the results equal Pillow's int32 ones.
 */
import type { RGBImage } from './preprocess.js';

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;
const HALF = 2 ** (PRECISION_BITS - 1);
const SUPPORT = 2;

/** The bicubic convolution kernel with a = -0.5, evaluated in Pillow's order of operations. */
function bicubic(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

/** One axis' taps: for output index i, its first source index start[i], tap count n[i], fixed-point weights. */
interface Taps {
  start: Int32Array;
  n: Int32Array;
  /** [out, ksize] fixed-point weights (ksize per output index, the unused tail zero) */
  weights: Float64Array;
  ksize: number;
}

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc for resampling inSize -> outSize over the whole axis. */
function taps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = SUPPORT * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const n = new Int32Array(outSize);
  const weights = new Float64Array(outSize * ksize);
  const ss = 1 / filterscale;
  const k = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = bicubic((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? k[x]! / ww : k[x]!;
      weights[xx * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * ONE) : Math.trunc(0.5 + w * ONE);
    }
    start[xx] = xmin;
    n[xx] = Math.max(xmax, 0);
  }
  return { start, n, weights, ksize };
}

/** A fixed-point sum back to a byte: Pillow's clip8. */
function clip8(v: number): number {
  if (v >= ONE * 256) return 255;
  if (v <= 0) return 0;
  return Math.floor(v / ONE);
}

/** Horizontal pass over source rows [y0, y0 + rows): a w x rows image. */
function horizontal(img: RGBImage, w: number, t: Taps, y0: number, rows: number): RGBImage {
  const out = new Uint8Array(w * rows * 3);
  const src = img.data;
  for (let y = 0; y < rows; y++) {
    const row = (y + y0) * img.width * 3;
    for (let xx = 0; xx < w; xx++) {
      const base = xx * t.ksize;
      const xmin = t.start[xx]!;
      let s0 = HALF;
      let s1 = HALF;
      let s2 = HALF;
      for (let x = 0; x < t.n[xx]!; x++) {
        const k = t.weights[base + x]!;
        const p = row + (x + xmin) * 3;
        s0 += src[p]! * k;
        s1 += src[p + 1]! * k;
        s2 += src[p + 2]! * k;
      }
      const o = (y * w + xx) * 3;
      out[o] = clip8(s0);
      out[o + 1] = clip8(s1);
      out[o + 2] = clip8(s2);
    }
  }
  return { width: w, height: rows, data: out };
}

/** Vertical pass: source row indices of `t` are relative to `img`'s first row `y0`. */
function vertical(img: RGBImage, h: number, t: Taps, y0: number): RGBImage {
  const W = img.width;
  const out = new Uint8Array(W * h * 3);
  const src = img.data;
  for (let yy = 0; yy < h; yy++) {
    const base = yy * t.ksize;
    const ymin = t.start[yy]! - y0;
    for (let xx = 0; xx < W; xx++) {
      let s0 = HALF;
      let s1 = HALF;
      let s2 = HALF;
      for (let y = 0; y < t.n[yy]!; y++) {
        const k = t.weights[base + y]!;
        const p = ((y + ymin) * W + xx) * 3;
        s0 += src[p]! * k;
        s1 += src[p + 1]! * k;
        s2 += src[p + 2]! * k;
      }
      const o = (yy * W + xx) * 3;
      out[o] = clip8(s0);
      out[o + 1] = clip8(s1);
      out[o + 2] = clip8(s2);
    }
  }
  return { width: W, height: h, data: out };
}

/** Resizes an RGB image to w x h as Pillow's `resize((w, h), Image.BICUBIC)` does (see the file comment). */
export function resizeBicubic(img: RGBImage, w: number, h: number): RGBImage {
  if (!(Number.isInteger(w) && Number.isInteger(h) && w > 0 && h > 0))
    throw new RangeError(`resizeBicubic: bad size ${w}x${h}`);
  if (w === img.width && h === img.height) return { ...img, data: img.data.slice() };
  const tx = taps(img.width, w);
  const ty = taps(img.height, h);
  let cur = img;
  let y0 = 0;
  if (w !== img.width) {
    // only the source rows the vertical pass reads
    y0 = ty.start[0]!;
    const last = ty.start[h - 1]! + ty.n[h - 1]!;
    cur = horizontal(img, w, tx, y0, last - y0);
  }
  return h !== img.height ? vertical(cur, h, ty, y0) : cur;
}
