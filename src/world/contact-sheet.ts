/**
 * A contact sheet: a grid of images, each scaled up (nearest neighbour) with its prompt written under it, as
 * one RGB image (for `corl world show` and for run samples).
 */
import { GLYPH_HEIGHT, GLYPH_WIDTH, drawText, wrapText } from './font.js';
import { blit, createImage, scaleNearest, type RgbImage } from './image.js';

export interface SheetItem {
  image: RgbImage;
  /** Text under the image (wrapped; lines past `maxLines` are dropped). */
  label: string;
}

export interface SheetOptions {
  /** Images per row (default 4). */
  columns?: number;
  /** Integer upscaling of each image (default: up to about 128 pixels wide). */
  scale?: number;
  /** Text lines under each image (default 4). */
  maxLines?: number;
}

const PAD = 6;
const LINE = GLYPH_HEIGHT + 2;
const BACKGROUND: [number, number, number] = [48, 48, 48];
const TEXT: [number, number, number] = [235, 235, 235];

export function contactSheet(items: readonly SheetItem[], opts: SheetOptions = {}): RgbImage {
  if (items.length === 0) throw new RangeError('contactSheet: no items');
  const columns = Math.max(1, Math.min(opts.columns ?? 4, items.length));
  const maxW = Math.max(...items.map((it) => it.image.width));
  const maxH = Math.max(...items.map((it) => it.image.height));
  const scale = opts.scale ?? Math.max(1, Math.floor(128 / maxW));
  const maxLines = opts.maxLines ?? 4;
  const tileW = Math.max(maxW * scale, 16 * (GLYPH_WIDTH + 1));
  const tileH = maxH * scale + 4 + maxLines * LINE;
  const rows = Math.ceil(items.length / columns);
  const sheet = createImage(columns * (tileW + PAD) + PAD, rows * (tileH + PAD) + PAD, BACKGROUND);
  const charsPerLine = Math.floor(tileW / (GLYPH_WIDTH + 1));
  items.forEach((it, k) => {
    const x0 = PAD + (k % columns) * (tileW + PAD);
    const y0 = PAD + Math.floor(k / columns) * (tileH + PAD);
    blit(sheet, scaleNearest(it.image, scale), x0, y0);
    const lines = wrapText(it.label, charsPerLine).slice(0, maxLines);
    lines.forEach((line, j) => drawText(sheet, line, x0, y0 + maxH * scale + 4 + j * LINE, TEXT));
  });
  return sheet;
}
