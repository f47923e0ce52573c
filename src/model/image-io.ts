/**
 * PNG files <-> RGB images (pngjs), and the PNG grids corl writes for samples. Alpha is dropped on read
 * (composited over nothing: the RGB channels are kept as stored).
 */
import * as fs from 'node:fs';
import { PNG } from 'pngjs';
import { UserError } from '../util/errors.js';
import { markPng } from '../util/png-marker.js';
import type { RGBImage } from './preprocess.js';

export function readPNG(file: string): RGBImage {
  if (!fs.existsSync(file)) throw new UserError(`image ${file} does not exist`);
  let png: PNG;
  try {
    png = PNG.sync.read(fs.readFileSync(file));
  } catch (e) {
    throw new UserError(`${file}: not a readable PNG (${(e as Error).message})`);
  }
  const n = png.width * png.height;
  const data = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) data[i * 3 + c] = png.data[i * 4 + c]!;
  return { width: png.width, height: png.height, data };
}

/** Writes `img` as a PNG carrying corl's mark (util/png-marker.ts). */
export function writePNG(file: string, img: RGBImage): void {
  const png = new PNG({ width: img.width, height: img.height });
  for (let i = 0; i < img.width * img.height; i++) {
    for (let c = 0; c < 3; c++) png.data[i * 4 + c] = img.data[i * 3 + c]!;
    png.data[i * 4 + 3] = 255;
  }
  fs.writeFileSync(file, markPng(PNG.sync.write(png)));
}

/** Tiles equally sized images into a grid (row-major, `cols` per row, `gap` pixels of `background`). */
export function imageGrid(
  images: readonly RGBImage[],
  cols = Math.ceil(Math.sqrt(images.length)),
  gap = 2,
  background = 255,
): RGBImage {
  if (images.length === 0) throw new Error('imageGrid: no images');
  const { width: w, height: h } = images[0]!;
  const rows = Math.ceil(images.length / cols);
  const W = cols * w + (cols + 1) * gap;
  const H = rows * h + (rows + 1) * gap;
  const data = new Uint8Array(W * H * 3).fill(background);
  images.forEach((img, k) => {
    const x0 = gap + (k % cols) * (w + gap);
    const y0 = gap + Math.floor(k / cols) * (h + gap);
    for (let y = 0; y < h; y++)
      data.set(img.data.subarray(y * w * 3, (y + 1) * w * 3), ((y0 + y) * W + x0) * 3);
  });
  return { width: W, height: H, data };
}
