/** Shared helpers for the reward tests: tolerant comparisons and tiny hand-made images. */
import assert from 'node:assert/strict';
import type { RgbImage } from '../../src/rewards/types.js';

export function close(actual: number, expected: number, tol = 1e-6, what = ''): void {
  if (Number.isNaN(expected)) {
    assert.ok(Number.isNaN(actual), `${what} expected NaN, got ${actual}`);
    return;
  }
  assert.ok(
    Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected)),
    `${what} expected ${expected}, got ${actual}`,
  );
}

export function closeAll(actual: readonly number[], expected: readonly number[], tol = 1e-6): void {
  assert.equal(actual.length, expected.length, `length ${actual.length} vs ${expected.length}`);
  actual.forEach((a, i) => close(a, expected[i]!, tol, `[${i}]`));
}

/** An image from per-pixel RGB triples, row-major. */
export function image(
  width: number,
  height: number,
  pixels: readonly (readonly [number, number, number])[],
): RgbImage {
  assert.equal(pixels.length, width * height);
  return { width, height, data: Uint8Array.from(pixels.flat()) };
}

export function solid(width: number, height: number, rgb: readonly [number, number, number]): RgbImage {
  return image(
    width,
    height,
    Array.from({ length: width * height }, () => rgb),
  );
}

/** A deterministic pseudo-random image (LCG), bytes 0-255. */
export function randomImage(width: number, height: number, seed: number): RgbImage {
  let s = seed >>> 0 || 1;
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s >>> 24;
  }
  return { width, height, data };
}
