/**
 * The scene parser (detector): image -> objects with shape, colour, size and box, exact on clean renders
 * and robust to blur and noise (a VQ-VAE reconstruction, a generated image). Used to check the dataset and
 * to score generated images GenEval-style (geneval.ts).
 *
 * 1. Colour per pixel: the palette colour c that best explains the pixel p (minus the background) as a
 *    scaled copy alpha * c (least residual); the pixel is foreground when alpha >= 0.5, so a blurred edge
 *    is cut where it is half covered and noise on a dark background stays background.
 * 2. 8-connected components of foreground pixels; components smaller than `minArea` are noise. A component
 *    holding two colours in bulk (touching objects) is split by colour.
 * 3. Colour = majority colour of the component. Shape and size = the template (shape x size, rasterised
 *    like the renderer, hard and anti-aliased, at several blur levels, placed on the component's
 *    coverage-weighted centroid) best correlated with the observed coverage of that colour around the
 *    component. Correlation ignores the gain and offset that noise clipping adds; blurred templates keep
 *    blurred squares from looking like circles.
 */
import {
  COLORS,
  PALETTE,
  SHAPES,
  SIZES,
  SIZE_RADIUS,
  type Color,
  type Shape,
  type Size,
} from './attributes.js';
import type { RgbImage } from './image.js';
import { relativePosition, type Box } from './relations.js';
import { insideShape } from './render.js';
import { objectBox, type Scene, type SceneObject } from './scene.js';

export interface DetectedObject {
  shape: Shape;
  color: Color;
  size: Size;
  /** Centre as fractions of the image side (comparable to SceneObject.x / y). */
  x: number;
  y: number;
  /** Pixel box [x0, y0, x1, y1), x1 and y1 exclusive. */
  box: [number, number, number, number];
  /** Pixels in the component. */
  area: number;
  /** Soft IoU of the best template with the observed coverage, in [0, 1]: how shape-like the component is. */
  score: number;
}

export interface DetectOptions {
  /** Background colour of the renders (default black). */
  background?: readonly [number, number, number];
  /** Smallest component kept, as a fraction of the image area (default 12 px at 32x32). */
  minArea?: number;
}

const PAL = COLORS.map((c) => PALETTE[c]);
const PAL_NORM2 = PAL.map((c) => c[0] * c[0] + c[1] * c[1] + c[2] * c[2]);

/** Per-pixel colour index (-1 = background). */
export function classifyPixels(img: RgbImage, background: readonly [number, number, number] = [0, 0, 0]) {
  const n = img.width * img.height;
  const labels = new Int8Array(n).fill(-1);
  const bg = background;
  for (let p = 0; p < n; p++) {
    const r = (img.data[3 * p] as number) - bg[0];
    const g = (img.data[3 * p + 1] as number) - bg[1];
    const b = (img.data[3 * p + 2] as number) - bg[2];
    let best = -1;
    let bestRes = Infinity;
    let bestAlpha = 0;
    for (let k = 0; k < PAL.length; k++) {
      const c = PAL[k] as readonly [number, number, number];
      const cr = c[0] - bg[0];
      const cg = c[1] - bg[1];
      const cb = c[2] - bg[2];
      const norm2 =
        bg[0] === 0 && bg[1] === 0 && bg[2] === 0 ? (PAL_NORM2[k] as number) : cr * cr + cg * cg + cb * cb;
      const alpha = Math.max(0, (r * cr + g * cg + b * cb) / norm2);
      const a = Math.min(alpha, 1);
      const dr = r - a * cr;
      const dg = g - a * cg;
      const db = b - a * cb;
      const res = dr * dr + dg * dg + db * db;
      if (res < bestRes) {
        bestRes = res;
        best = k;
        bestAlpha = alpha;
      }
    }
    if (bestAlpha >= 0.5) labels[p] = best;
  }
  return labels;
}

/** 8-connected components of the pixels where `member(p)` holds; each a list of pixel indices. */
function components(width: number, height: number, member: (p: number) => boolean): number[][] {
  const seen = new Uint8Array(width * height);
  const out: number[][] = [];
  const stack: number[] = [];
  for (let start = 0; start < width * height; start++) {
    if (seen[start] || !member(start)) continue;
    const comp: number[] = [];
    seen[start] = 1;
    stack.push(start);
    while (stack.length > 0) {
      const p = stack.pop() as number;
      comp.push(p);
      const x = p % width;
      const y = (p - x) / width;
      for (let dy = -1; dy <= 1; dy++)
        for (let dx = -1; dx <= 1; dx++) {
          const xx = x + dx;
          const yy = y + dy;
          if (xx < 0 || yy < 0 || xx >= width || yy >= height) continue;
          const q = yy * width + xx;
          if (!seen[q] && member(q)) {
            seen[q] = 1;
            stack.push(q);
          }
        }
    }
    out.push(comp.sort((a, b) => a - b));
  }
  return out;
}

/** Template variants: supersampling grid and blur (pixels). n = 1 reproduces clean renders exactly. */
const TEMPLATE_VARIANTS: readonly { n: number; blur: number }[] = [
  { n: 1, blur: 0 },
  { n: 1, blur: 0.6 },
  { n: 1, blur: 1.0 },
  { n: 1, blur: 1.5 },
  { n: 4, blur: 0 },
  { n: 4, blur: 0.6 },
  { n: 4, blur: 1.0 },
  { n: 4, blur: 1.5 },
];
/** Template centres are rounded to 1/8 pixel so templates can be cached. */
const SUBPIXEL = 8;

interface TemplateGrid {
  /** Offset of the grid's first column / row from the pixel holding the centre. */
  lo: number;
  side: number;
  values: Float32Array;
}

const templateCache = new Map<string, TemplateGrid>();

function blur1d(values: Float32Array, side: number, sigma: number): Float32Array {
  const radius = Math.ceil(3 * sigma);
  const k: number[] = [];
  let sum = 0;
  for (let t = -radius; t <= radius; t++) {
    const w = Math.exp(-(t * t) / (2 * sigma * sigma));
    k.push(w);
    sum += w;
  }
  const tmp = new Float32Array(side * side);
  const out = new Float32Array(side * side);
  for (let y = 0; y < side; y++)
    for (let x = 0; x < side; x++) {
      let acc = 0;
      for (let t = -radius; t <= radius; t++) {
        const xx = x + t;
        if (xx >= 0 && xx < side) acc += (k[t + radius] as number) * (values[y * side + xx] as number);
      }
      tmp[y * side + x] = acc / sum;
    }
  for (let y = 0; y < side; y++)
    for (let x = 0; x < side; x++) {
      let acc = 0;
      for (let t = -radius; t <= radius; t++) {
        const yy = y + t;
        if (yy >= 0 && yy < side) acc += (k[t + radius] as number) * (tmp[yy * side + x] as number);
      }
      out[y * side + x] = acc / sum;
    }
  return out;
}

/** Coverage of a shape centred at (qx, qy) / SUBPIXEL pixels from pixel (0, 0)'s corner, on a grid around it. */
function template(shape: Shape, size: Size, variant: number, imageSide: number, qx: number, qy: number) {
  const key = `${shape}/${size}/${variant}/${imageSide}/${qx}/${qy}`;
  const hit = templateCache.get(key);
  if (hit) return hit;
  const { n, blur } = TEMPLATE_VARIANTS[variant] as { n: number; blur: number };
  const rPx = SIZE_RADIUS[size] * imageSide;
  const lo = -Math.ceil(rPx + 3 * blur + 2);
  const side = 2 * -lo + 1;
  let values: Float32Array = new Float32Array(side * side);
  const cx = qx / SUBPIXEL;
  const cy = qy / SUBPIXEL;
  for (let j = 0; j < side; j++)
    for (let i = 0; i < side; i++) {
      let hits = 0;
      for (let sy = 0; sy < n; sy++)
        for (let sx = 0; sx < n; sx++) {
          const px = lo + i + (sx + 0.5) / n;
          const py = lo + j + (sy + 0.5) / n;
          if (insideShape(shape, px, py, cx, cy, rPx)) hits++;
        }
      values[j * side + i] = hits / (n * n);
    }
  if (blur > 0) values = blur1d(values, side, blur);
  const grid = { lo, side, values };
  templateCache.set(key, grid);
  return grid;
}

interface Template {
  shape: Shape;
  size: Size;
  /** Soft IoU of the best template with the observed coverage. */
  iou: number;
  /** Centre (fractions of the side). */
  cx: number;
  cy: number;
}

/**
 * Best (shape, size) template for a component. `alpha` is the observed coverage of the component's colour
 * (0 on pixels other components own); templates sit on the coverage-weighted centroid and are scored by
 * their Pearson correlation with `alpha` over the template grid, the best over all template variants.
 */
function matchTemplate(
  pixels: readonly number[],
  alpha: Float32Array,
  width: number,
  height: number,
): Template {
  let sx = 0;
  let sy = 0;
  let sw = 0;
  for (const p of pixels) {
    const w = alpha[p] as number;
    sx += w * ((p % width) + 0.5);
    sy += w * (Math.floor(p / width) + 0.5);
    sw += w;
  }
  const mx = sx / sw;
  const my = sy / sw;
  let best: Template = { shape: 'circle', size: 'small', iou: 0, cx: mx / width, cy: my / width };
  let bestErr = Infinity;
  for (const shape of SHAPES)
    for (const size of SIZES) {
      const rPx = SIZE_RADIUS[size] * width;
      // The triangle's centroid sits r/3 below its box centre.
      const cxPx = mx;
      const cyPx = shape === 'triangle' ? my - rPx / 3 : my;
      const ix = Math.floor(cxPx);
      const iy = Math.floor(cyPx);
      const qx = Math.round((cxPx - ix) * SUBPIXEL);
      const qy = Math.round((cyPx - iy) * SUBPIXEL);
      for (let v = 0; v < TEMPLATE_VARIANTS.length; v++) {
        const t = template(shape, size, v, width, qx, qy);
        // Pearson correlation between template and observed coverage over the template grid: blind to the
        // gain and offset that noise clipping puts on the coverage.
        let n = 0;
        let st = 0;
        let so = 0;
        let stt = 0;
        let soo = 0;
        let sto = 0;
        let inter = 0;
        let union = 0;
        for (let j = 0; j < t.side; j++) {
          const y = iy + t.lo + j;
          for (let i = 0; i < t.side; i++) {
            const x = ix + t.lo + i;
            const tv = t.values[j * t.side + i] as number;
            const ov = x >= 0 && y >= 0 && x < width && y < height ? (alpha[y * width + x] as number) : 0;
            n++;
            st += tv;
            so += ov;
            stt += tv * tv;
            soo += ov * ov;
            sto += tv * ov;
            inter += Math.min(tv, Math.max(ov, 0));
            union += Math.max(tv, Math.max(ov, 0));
          }
        }
        const cov = sto - (st * so) / n;
        const varT = stt - (st * st) / n;
        const varO = soo - (so * so) / n;
        const err = varT > 0 && varO > 0 ? -cov / Math.sqrt(varT * varO) : 0;
        if (err < bestErr) {
          bestErr = err;
          best = { shape, size, iou: union > 0 ? inter / union : 0, cx: cxPx / width, cy: cyPx / height };
        }
      }
    }
  return best;
}

/**
 * Observed coverage of colour k on the pixels around a component, excluding pixels owned by other
 * components (so a neighbour's edge never leaks into the template match).
 */
function coverageMap(
  img: RgbImage,
  pixels: readonly number[],
  k: number,
  owner: Int32Array,
  self: number,
  background: readonly [number, number, number],
): Float32Array {
  const { width, height } = img;
  const alpha = new Float32Array(width * height);
  const c = PAL[k] as readonly [number, number, number];
  const cr = c[0] - background[0];
  const cg = c[1] - background[1];
  const cb = c[2] - background[2];
  const norm2 = cr * cr + cg * cg + cb * cb;
  let x0 = width;
  let y0 = height;
  let x1 = 0;
  let y1 = 0;
  for (const p of pixels) {
    const x = p % width;
    const y = (p - x) / width;
    x0 = Math.min(x0, x);
    y0 = Math.min(y0, y);
    x1 = Math.max(x1, x);
    y1 = Math.max(y1, y);
  }
  // Background level of this colour's coverage (noise on a dark background is clipped at 0, so its mean is
  // positive): subtracted so the background reads 0 like the pixels left out (other objects' pixels).
  let bgSum = 0;
  let bgCount = 0;
  for (let p = 0; p < width * height; p++) {
    if ((owner[p] as number) >= 0) continue;
    const r = (img.data[3 * p] as number) - background[0];
    const g = (img.data[3 * p + 1] as number) - background[1];
    const b = (img.data[3 * p + 2] as number) - background[2];
    bgSum += (r * cr + g * cg + b * cb) / norm2;
    bgCount++;
  }
  const level = bgCount > 0 ? bgSum / bgCount : 0;
  const pad = Math.max(2, Math.round(width / 16));
  for (let y = Math.max(0, y0 - pad); y <= Math.min(height - 1, y1 + pad); y++)
    for (let x = Math.max(0, x0 - pad); x <= Math.min(width - 1, x1 + pad); x++) {
      const p = y * width + x;
      const o = owner[p] as number;
      if (o >= 0 && o !== self) continue;
      const r = (img.data[3 * p] as number) - background[0];
      const g = (img.data[3 * p + 1] as number) - background[1];
      const b = (img.data[3 * p + 2] as number) - background[2];
      alpha[p] = (r * cr + g * cg + b * cb) / norm2 - level;
    }
  return alpha;
}

export function detectObjects(img: RgbImage, opts: DetectOptions = {}): DetectedObject[] {
  const { width, height } = img;
  const labels = classifyPixels(img, opts.background);
  const minArea = Math.max(2, Math.round((opts.minArea ?? 12 / 1024) * width * height));
  const pieces: number[][] = [];
  for (const comp of components(width, height, (p) => (labels[p] as number) >= 0)) {
    if (comp.length < minArea) continue;
    const counts = new Array<number>(COLORS.length).fill(0);
    for (const p of comp) counts[labels[p] as number]++;
    const bulky = counts.filter((c) => c >= Math.max(minArea, 0.25 * comp.length)).length;
    if (bulky <= 1) {
      pieces.push(comp);
      continue;
    }
    const inComp = new Uint8Array(width * height);
    for (const p of comp) inComp[p] = 1;
    for (let k = 0; k < COLORS.length; k++) {
      if ((counts[k] as number) < minArea) continue;
      for (const part of components(width, height, (p) => inComp[p] === 1 && labels[p] === k))
        if (part.length >= minArea) pieces.push(part);
    }
  }
  const owner = new Int32Array(width * height).fill(-1);
  pieces.forEach((comp, idx) => {
    for (const p of comp) owner[p] = idx;
  });
  const background = opts.background ?? [0, 0, 0];
  const out: DetectedObject[] = [];
  pieces.forEach((comp, idx) => {
    const counts = new Array<number>(COLORS.length).fill(0);
    let x0 = width;
    let y0 = height;
    let x1 = 0;
    let y1 = 0;
    for (const p of comp) {
      counts[labels[p] as number]++;
      const x = p % width;
      const y = (p - x) / width;
      x0 = Math.min(x0, x);
      y0 = Math.min(y0, y);
      x1 = Math.max(x1, x + 1);
      y1 = Math.max(y1, y + 1);
    }
    let colorIdx = 0;
    counts.forEach((c, k) => {
      if (c > (counts[colorIdx] as number)) colorIdx = k;
    });
    const alpha = coverageMap(img, comp, colorIdx, owner, idx, background);
    const t = matchTemplate(comp, alpha, width, height);
    out.push({
      shape: t.shape,
      color: COLORS[colorIdx] as Color,
      size: t.size,
      x: t.cx,
      y: t.cy,
      box: [x0, y0, x1, y1],
      area: comp.length,
      score: t.iou,
    });
  });
  // Reading order: top to bottom, then left to right (deterministic).
  return out.sort((a, b) => a.box[1] - b.box[1] || a.box[0] - b.box[0]);
}

/** The detections as a scene (for captions and relations of a generated image). */
export function detectionsToScene(dets: readonly DetectedObject[]): Scene {
  return { objects: dets.map((d) => ({ shape: d.shape, color: d.color, size: d.size, x: d.x, y: d.y })) };
}

/** How well detections recover a scene. */
export interface SceneMatch {
  /** Objects found with the right shape, colour and size at the right place. */
  tp: number;
  fp: number;
  fn: number;
  /** All objects right, nothing extra, and every pair's relations (from the detected boxes) right. */
  exact: boolean;
}

/**
 * Matches detections to a scene's objects: each true object takes the nearest unused detection whose centre
 * is within the object's half-extent; the pair counts when shape, colour and size agree.
 */
export function matchScene(scene: Scene, dets: readonly DetectedObject[], imageSize: number): SceneMatch {
  const used = new Set<number>();
  const pairs: [SceneObject, DetectedObject][] = [];
  let tp = 0;
  for (const o of scene.objects) {
    let bestK = -1;
    let bestD = Infinity;
    dets.forEach((d, k) => {
      if (used.has(k)) return;
      const dist = Math.hypot(d.x - o.x, d.y - o.y);
      if (dist <= SIZE_RADIUS[o.size] && dist < bestD) {
        bestD = dist;
        bestK = k;
      }
    });
    if (bestK < 0) continue;
    const d = dets[bestK] as DetectedObject;
    if (d.shape === o.shape && d.color === o.color && d.size === o.size) {
      used.add(bestK);
      tp++;
      pairs.push([o, d]);
    }
  }
  const fp = dets.length - tp;
  const fn = scene.objects.length - tp;
  let exact = fp === 0 && fn === 0;
  if (exact) {
    const pxBox = (o: SceneObject): Box => objectBox(o).map((v) => v * imageSize) as unknown as Box;
    for (const [a, da] of pairs)
      for (const [b, db] of pairs) {
        if (a === b) continue;
        const want = relativePosition(pxBox(a), pxBox(b)).join(',');
        const got = relativePosition(da.box, db.box).join(',');
        if (want !== got) exact = false;
      }
  }
  return { tp, fp, fn, exact };
}

/** Accuracy of the detector over many images. */
export interface DetectionReport {
  images: number;
  objects: number;
  exact_scene_acc: number;
  object_f1: number;
}

export function summariseMatches(matches: readonly SceneMatch[], objects: number): DetectionReport {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  let exact = 0;
  for (const m of matches) {
    tp += m.tp;
    fp += m.fp;
    fn += m.fn;
    if (m.exact) exact++;
  }
  const denom = 2 * tp + fp + fn;
  return {
    images: matches.length,
    objects,
    exact_scene_acc: matches.length === 0 ? 0 : exact / matches.length,
    object_f1: denom === 0 ? 1 : (2 * tp) / denom,
  };
}
