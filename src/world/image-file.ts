/**
 * Reading a dataset's image file, PNG or JPEG (real data: photos are mostly JPEG), told apart by their magic
 * bytes rather than the file name; any size (the model's preprocessing resizes, src/model/preprocess.ts).
 * JPEG through jpeg-js (pure JavaScript), with limits on resolution and memory so that a hostile file cannot
 * exhaust the machine. An unreadable file is a UserError naming it.
 */
import { readFileSync } from 'node:fs';
import { decode } from 'jpeg-js';
import { UserError } from '../util/errors.js';
import { decodePng } from './png.js';
import type { RgbImage } from './image.js';

/** Refused above this many megapixels (a 8K photo is 33 MP). */
const MAX_MEGAPIXELS = 64;

/** Decodes JPEG bytes to RGB; `name` labels the error. */
export function decodeJpeg(buf: Buffer, name = 'image'): RgbImage {
  try {
    const img = decode(buf, {
      useTArray: true,
      formatAsRGBA: false,
      maxResolutionInMP: MAX_MEGAPIXELS,
      maxMemoryUsageInMB: 1024,
    });
    return { width: img.width, height: img.height, data: img.data };
  } catch (err) {
    throw new UserError(`cannot decode JPEG ${name}: ${(err as Error).message}`);
  }
}

const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47]);
const JPEG_MAGIC = Buffer.from([0xff, 0xd8, 0xff]);

/** PNG or JPEG bytes to RGB, by their magic bytes. */
export function decodeImage(buf: Buffer, name = 'image'): RgbImage {
  if (buf.subarray(0, 4).equals(PNG_MAGIC)) return decodePng(buf, name);
  if (buf.subarray(0, 3).equals(JPEG_MAGIC)) return decodeJpeg(buf, name);
  throw new UserError(
    `cannot read image ${name}: not a PNG or JPEG file${buf.length === 0 ? ' (empty)' : ''}`,
  );
}

/** Reads a PNG or JPEG file. */
export function readImage(path: string): RgbImage {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(
      code === 'ENOENT' ? `image not found: ${path}` : `cannot read image ${path}: ${code ?? err}`,
    );
  }
  return decodeImage(buf, path);
}
