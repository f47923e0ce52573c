/** Test images: flat colour quadrants, and their JPEG bytes. */
import { encode } from 'jpeg-js';
import type { RgbImage } from '../../src/world/image.js';

/** A 40 x 24 image of four flat quadrants (red, green, blue, white): JPEG keeps flat areas nearly exact. */
export function quadrants(width = 40, height = 24): RgbImage {
  const data = new Uint8Array(width * height * 3);
  const colours = [
    [220, 30, 30],
    [30, 200, 40],
    [20, 40, 210],
    [250, 250, 250],
  ];
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const c = colours[(y < height / 2 ? 0 : 2) + (x < width / 2 ? 0 : 1)]!;
      data.set(c, 3 * (y * width + x));
    }
  return { width, height, data };
}

/** The image as JPEG bytes (jpeg-js takes RGBA). */
export function jpegBytes(img: RgbImage, quality = 95): Buffer {
  const rgba = Buffer.alloc(img.width * img.height * 4, 255);
  for (let i = 0; i < img.width * img.height; i++)
    img.data.subarray(3 * i, 3 * i + 3).forEach((v, c) => (rgba[4 * i + c] = v));
  return encode({ width: img.width, height: img.height, data: rgba }, quality).data;
}
