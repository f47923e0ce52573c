/**
 * The renderer: a scene to RGB pixels at any square resolution, deterministically. Without anti-aliasing a
 * pixel takes an object's colour when its centre lies inside the shape; with anti-aliasing each pixel is
 * supersampled on an n x n grid and blended with the background by coverage. Optional background noise is
 * seeded, so the same scene and options always give the same bytes.
 */
import { PALETTE, SIZE_RADIUS, type Shape } from './attributes.js';
import { createImage, type RgbImage } from './image.js';
import { Rng } from './rng.js';
import type { Scene } from './scene.js';

export interface RenderOptions {
  /** Image side in pixels (default 32). */
  size?: number;
  /** Supersampling grid per axis for anti-aliasing (default 1 = off; `true` means 4). */
  antialias?: boolean | number;
  /** Background colour (default black). */
  background?: readonly [number, number, number];
  /** Standard deviation of background noise as a fraction of 255 (default 0). */
  noise?: number;
  /** Seed of the background noise (default 0). */
  seed?: number;
}

export const DEFAULT_IMAGE_SIZE = 32;

const EPS = 1e-9;

/** Whether the point (px, py) lies inside the shape centred at (cx, cy) with half-extent r. */
export function insideShape(
  shape: Shape,
  px: number,
  py: number,
  cx: number,
  cy: number,
  r: number,
): boolean {
  const dx = px - cx;
  const dy = py - cy;
  switch (shape) {
    case 'circle':
      return dx * dx + dy * dy <= r * r + EPS;
    case 'square':
      return Math.abs(dx) <= r + EPS && Math.abs(dy) <= r + EPS;
    case 'triangle':
      // Apex at the top centre, base along the bottom edge of the box.
      return dy <= r + EPS && dy >= -r - EPS && Math.abs(dx) <= (dy + r) / 2 + EPS;
    case 'diamond':
      return Math.abs(dx) + Math.abs(dy) <= r + EPS;
  }
}

/** Fraction of pixel (i, j) covered by the shape, on an n x n supersampling grid (n = 1: centre test). */
export function pixelCoverage(
  shape: Shape,
  i: number,
  j: number,
  size: number,
  cx: number,
  cy: number,
  r: number,
  n: number,
): number {
  let hits = 0;
  for (let sy = 0; sy < n; sy++)
    for (let sx = 0; sx < n; sx++) {
      const px = (i + (sx + 0.5) / n) / size;
      const py = (j + (sy + 0.5) / n) / size;
      if (insideShape(shape, px, py, cx, cy, r)) hits++;
    }
  return hits / (n * n);
}

export function renderScene(scene: Scene, opts: RenderOptions = {}): RgbImage {
  const size = opts.size ?? DEFAULT_IMAGE_SIZE;
  if (!Number.isInteger(size) || size < 8)
    throw new RangeError(`image size must be an integer >= 8, got ${size}`);
  const n =
    opts.antialias === true ? 4 : typeof opts.antialias === 'number' ? Math.max(1, opts.antialias) : 1;
  const bg = opts.background ?? [0, 0, 0];
  const img = createImage(size, size, bg);
  const coverage = new Float32Array(size * size);
  for (const o of scene.objects) {
    const r = SIZE_RADIUS[o.size];
    const color = PALETTE[o.color];
    const i0 = Math.max(0, Math.floor((o.x - r) * size) - 1);
    const i1 = Math.min(size - 1, Math.ceil((o.x + r) * size) + 1);
    const j0 = Math.max(0, Math.floor((o.y - r) * size) - 1);
    const j1 = Math.min(size - 1, Math.ceil((o.y + r) * size) + 1);
    for (let j = j0; j <= j1; j++)
      for (let i = i0; i <= i1; i++) {
        const cov = pixelCoverage(o.shape, i, j, size, o.x, o.y, r, n);
        if (cov <= 0) continue;
        const p = j * size + i;
        coverage[p] = cov;
        for (let c = 0; c < 3; c++)
          img.data[3 * p + c] = Math.round((bg[c] as number) * (1 - cov) + (color[c] as number) * cov);
      }
  }
  const noise = opts.noise ?? 0;
  if (noise > 0) {
    const rng = new Rng(opts.seed ?? 0);
    const s = noise * 255;
    for (let p = 0; p < size * size; p++) {
      const w = 1 - (coverage[p] as number);
      for (let c = 0; c < 3; c++) {
        const z = rng.normal();
        if (w <= 0) continue;
        const v = (img.data[3 * p + c] as number) + w * s * z;
        img.data[3 * p + c] = v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
      }
    }
  }
  return img;
}
