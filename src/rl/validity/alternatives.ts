/**
 * Alternative image sides for the cycle reward, measured by `corl rewards check --alternatives` (see
 * docs/rewards.md, "What would fix it"). None of them is a trainer option; they are report rows only.
 *
 * Each compares the generated image with the prompt's real image (as the cycle reward's image side does):
 *   rmse        1 - RMSE over all pixels (ULM-R1 v2's image side);
 *   fg_rmse     1 - RMSE over the pixels that are foreground in either image (background pixels that agree
 *               are left out, so a black frame no longer matches most of a mostly black real image);
 *   color_hist  intersection of the two palette-colour histograms of the foreground pixels (scene parser's
 *               per-pixel colours), sum_c min(g_c, r_c) / max(|g|, |r|): position-free, 0 for an empty frame;
 *   objects_f1  F1 of the parsed objects (shape, colour) of the generated image against the real scene's
 *               objects: position-free, needs the scene parser.
 * and the paper's total with that image side instead of SSIM: 0.5 side + 0.5 text side (the cycle reward's
 * combination) + TIM (weights 1, the registry's NaN rule); plus "text side + TIM" (no image side at all).
 */
import { classifyPixels, detectObjects } from '../../world/detect.js';
import { COLORS } from '../../world/attributes.js';
import type { RgbImage } from '../../world/image.js';
import type { Scene } from '../../world/scene.js';
import { resizeRGB } from '../../model/preprocess.js';
import { cycleCombine } from '../../rewards/cycle.js';
import { imageSimilarity } from '../../rewards/image-metrics.js';
import { combine } from '../../rewards/registry.js';
import type { ExtraRowContext } from './validity.js';

type Rgb = readonly [number, number, number];
const BLACK: Rgb = [0, 0, 0];

/**
 * 1 - RMSE over pixels that are foreground (palette-classified) in either image; 1 when neither has any.
 * The two images must have one size.
 */
export function foregroundRmse(gen: RgbImage, real: RgbImage, background: Rgb = BLACK): number {
  if (gen.width !== real.width || gen.height !== real.height)
    throw new RangeError(`foregroundRmse: ${gen.width}x${gen.height} vs ${real.width}x${real.height}`);
  const a = classifyPixels(gen, background);
  const b = classifyPixels(real, background);
  let se = 0;
  let n = 0;
  for (let p = 0; p < a.length; p++) {
    if (a[p]! < 0 && b[p]! < 0) continue;
    for (let c = 0; c < 3; c++) {
      const d = (gen.data[3 * p + c]! - real.data[3 * p + c]!) / 255;
      se += d * d;
    }
    n += 3;
  }
  return n === 0 ? 1 : 1 - Math.sqrt(se / n);
}

/** Foreground palette-colour histogram intersection, normalised by the larger foreground. */
export function colorHistogram(gen: RgbImage, real: RgbImage, background: Rgb = BLACK): number {
  const hist = (img: RgbImage) => {
    const h = new Array<number>(COLORS.length).fill(0);
    for (const l of classifyPixels(img, background)) if (l >= 0) h[l]!++;
    return h;
  };
  const g = hist(gen);
  const r = hist(real);
  const sg = g.reduce((x, y) => x + y, 0);
  const sr = r.reduce((x, y) => x + y, 0);
  if (sg === 0 && sr === 0) return 1;
  let inter = 0;
  for (let k = 0; k < g.length; k++) inter += Math.min(g[k]!, r[k]!);
  return inter / Math.max(sg, sr);
}

/** F1 of parsed (shape, colour) objects of the image against the scene's objects (multiset match). */
export function objectsF1(gen: RgbImage, scene: Scene, background: Rgb = BLACK): number {
  const key = (o: { shape: string; color: string }) => `${o.shape}|${o.color}`;
  const want = new Map<string, number>();
  for (const o of scene.objects) want.set(key(o), (want.get(key(o)) ?? 0) + 1);
  const dets = detectObjects(gen, { background });
  let tp = 0;
  for (const d of dets) {
    const k = key(d);
    const left = want.get(k) ?? 0;
    if (left > 0) {
      tp++;
      want.set(k, left - 1);
    }
  }
  if (dets.length === 0 && scene.objects.length === 0) return 1;
  if (tp === 0) return 0;
  const p = tp / dets.length;
  const r = tp / scene.objects.length;
  return (2 * p * r) / (p + r);
}

export const ALTERNATIVE_SIDES = ['rmse', 'fg_rmse', 'color_hist', 'objects_f1'] as const;

/**
 * The report rows of the alternatives for one scored chunk (validity.ts `extraRows`), for renders on
 * `background` (default black).
 */
export function alternativeRows(background: Rgb = BLACK): (ctx: ExtraRowContext) => Record<string, number[]> {
  return (ctx) => alternativeChunk(ctx, background);
}

function alternativeChunk(ctx: ExtraRowContext, background: Rgb): Record<string, number[]> {
  const { candidates, rows } = ctx;
  const real = candidates.map((c) => rows[c.prompt]!.realImage);
  // at the real image's size, as the cycle reward's image side compares them
  const gen = candidates.map((c, i) => resizeRGB(c.image, real[i]!.width, real[i]!.height));
  const sides: Record<(typeof ALTERNATIVE_SIDES)[number], number[]> = {
    rmse: imageSimilarity(gen, real, { fallback: 'rmse' }),
    fg_rmse: gen.map((g, i) => foregroundRmse(g, real[i]!, background)),
    color_hist: gen.map((g, i) => colorHistogram(g, real[i]!, background)),
    objects_f1: gen.map((g, i) => objectsF1(g, rows[candidates[i]!.prompt]!.scene, background)),
  };
  const text = ctx.parts['t2i_bid_cycle_reward']?.['text_side'] ?? gen.map(() => NaN);
  const tim = ctx.byFn['t2i_ti_sim'] ?? gen.map(() => NaN);
  const out: Record<string, number[]> = {};
  for (const s of ALTERNATIVE_SIDES) out[`image side: ${s}`] = sides[s];
  for (const s of ALTERNATIVE_SIDES) {
    const cycle = sides[s].map((v, i) => cycleCombine(v, text[i]!, 0.5));
    out[`cycle(${s}) + TIM`] = combine({ cycle, tim }).total;
  }
  out['text side + TIM'] = combine({ text, tim }).total;
  return out;
}
