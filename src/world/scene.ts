/**
 * Scenes: 1-4 objects, each a shape with a colour, a size and a centre (fractions of the image side, so a
 * scene renders at any resolution). The sampler keeps objects apart (a gap of 3 pixels at 32x32 between
 * their boxes, so they never touch even after blur) and keeps every pair's spatial relation far from
 * GenEval's decision threshold (see relations.ts), so relations are never ambiguous. Each (colour, shape)
 * pair occurs at most once, so "the red circle" always names one object.
 */
import { COLORS, SHAPES, SIZES, SIZE_RADIUS, type Color, type Shape, type Size } from './attributes.js';
import {
  POSITION_THRESHOLD,
  RELATION_MARGIN,
  relativePosition,
  type Box,
  type Relation,
} from './relations.js';
import type { Rng } from './rng.js';

export interface SceneObject {
  shape: Shape;
  color: Color;
  size: Size;
  /** Centre, as a fraction of the image width (0 = left edge). */
  x: number;
  /** Centre, as a fraction of the image height (0 = top edge). */
  y: number;
}

export interface Scene {
  objects: SceneObject[];
}

export type ObjectAttributes = Pick<SceneObject, 'shape' | 'color' | 'size'>;

/** How attributes may repeat: 'pairs' = each (colour, shape) once; 'both' = colours and shapes all distinct. */
export type Distinctness = 'pairs' | 'both';

export interface SceneOptions {
  minObjects?: number;
  maxObjects?: number;
  distinct?: Distinctness;
  shapes?: readonly Shape[];
  colors?: readonly Color[];
  sizes?: readonly Size[];
}

export type Difficulty = 'easy' | 'medium' | 'hard';

/** Sampler settings per difficulty: easy = 1-2 objects differing in colour and shape; hard = 1-4 objects. */
export function difficultyOptions(level: Difficulty): SceneOptions {
  switch (level) {
    case 'easy':
      return { minObjects: 1, maxObjects: 2, distinct: 'both' };
    case 'medium':
      return { minObjects: 1, maxObjects: 3, distinct: 'pairs' };
    case 'hard':
      return { minObjects: 1, maxObjects: 4, distinct: 'pairs' };
  }
}

/** Empty space kept between object boxes and around the image border (fractions of the side). */
export const OBJECT_GAP = 3 / 32;
export const BORDER = 1 / 32;
/** Centres are quantised to this step (half a pixel at 32x32) so scene JSON stays short and exact. */
export const POSITION_STEP = 1 / 64;

export function objectBox(o: Pick<SceneObject, 'size' | 'x' | 'y'>): Box {
  const r = SIZE_RADIUS[o.size];
  return [o.x - r, o.y - r, o.x + r, o.y + r];
}

/** A constraint the layout must meet: the relation set of subject vs object is exactly [rel]. */
export interface ExactRelation {
  subject: number;
  object: number;
  rel: Relation;
}

/** GenEval's component for one axis: offset shrunk by 0.1 x (sum of the two extents), over the distance. */
function component(o: number, extentSum: number, norm: number): number {
  return (Math.max(Math.abs(o) - POSITION_THRESHOLD * extentSum, 0) * Math.sign(o)) / norm;
}

/**
 * Whether two objects (centres and half-extents) can share a scene: their boxes are at least OBJECT_GAP
 * apart on some axis, they have at least one relation, and no relation component is within
 * RELATION_MARGIN of GenEval's 0.5 threshold. Allocation-free: the layout search calls it a lot.
 */
function pairFits(ax: number, ay: number, ra: number, bx: number, by: number, rb: number): boolean {
  const ox = ax - bx;
  const oy = ay - by;
  const need = ra + rb + OBJECT_GAP - 1e-9;
  if (Math.abs(ox) < need && Math.abs(oy) < need) return false;
  const norm = Math.hypot(ox, oy);
  const dx = Math.abs(component(ox, 2 * (ra + rb), norm));
  const dy = Math.abs(component(oy, 2 * (ra + rb), norm));
  if (Math.abs(dx - 0.5) < RELATION_MARGIN || Math.abs(dy - 0.5) < RELATION_MARGIN) return false;
  return dx > 0.5 || dy > 0.5;
}

function pairOk(a: SceneObject, b: SceneObject): boolean {
  return pairFits(a.x, a.y, SIZE_RADIUS[a.size], b.x, b.y, SIZE_RADIUS[b.size]);
}

function positionRange(size: Size): [number, number] {
  const r = SIZE_RADIUS[size];
  const lo = Math.ceil((r + BORDER) / POSITION_STEP - 1e-9);
  const hi = Math.floor((1 - r - BORDER) / POSITION_STEP + 1e-9);
  return [lo, hi];
}

function fitsAll(placed: readonly SceneObject[], x: number, y: number, r: number): boolean {
  for (const p of placed) if (!pairFits(p.x, p.y, SIZE_RADIUS[p.size], x, y, r)) return false;
  return true;
}

/**
 * A uniformly chosen free centre (on the POSITION_STEP grid) for an object of this size next to the placed
 * ones, or null when there is none. Uniform proposals are tried first (rejection sampling is uniform over
 * the free set too); only crowded layouts fall back to listing every free centre.
 */
function freePosition(rng: Rng, placed: readonly SceneObject[], size: Size): [number, number] | null {
  const [lo, hi] = positionRange(size);
  const r = SIZE_RADIUS[size];
  for (let t = 0; t < 64; t++) {
    const x = rng.range(lo, hi) * POSITION_STEP;
    const y = rng.range(lo, hi) * POSITION_STEP;
    if (fitsAll(placed, x, y, r)) return [x, y];
  }
  const free: [number, number][] = [];
  for (let yi = lo; yi <= hi; yi++)
    for (let xi = lo; xi <= hi; xi++) {
      const x = xi * POSITION_STEP;
      const y = yi * POSITION_STEP;
      if (fitsAll(placed, x, y, r)) free.push([x, y]);
    }
  return free.length > 0 ? rng.pick(free) : null;
}

/**
 * Positions for an exact-relation pair, drawn jointly by rejection (uniform over the valid pairs), or null.
 */
function placePair(rng: Rng, sa: Size, sb: Size, rel: Relation): [number, number, number, number] | null {
  const [loA, hiA] = positionRange(sa);
  const [loB, hiB] = positionRange(sb);
  for (let t = 0; t < 4000; t++) {
    const ax = rng.range(loA, hiA) * POSITION_STEP;
    const ay = rng.range(loA, hiA) * POSITION_STEP;
    const bx = rng.range(loB, hiB) * POSITION_STEP;
    const by = rng.range(loB, hiB) * POSITION_STEP;
    if (!pairFits(ax, ay, SIZE_RADIUS[sa], bx, by, SIZE_RADIUS[sb])) continue;
    const rels = relativePosition(
      objectBox({ size: sa, x: ax, y: ay }),
      objectBox({ size: sb, x: bx, y: by }),
    );
    if (rels.length === 1 && rels[0] === rel) return [ax, ay, bx, by];
  }
  return null;
}

/**
 * Places objects with the given attributes: an exact-relation pair first (jointly), then large objects
 * before small ones, each at a uniformly chosen free position given the ones already placed (restarting
 * on a dead end). When the objects do not fit, the last large one becomes small and the search starts
 * again. Throws if no layout is found (the tests show this never happens for up to 4 objects). The result
 * keeps the order of `attrs`.
 */
export function placeObjects(
  rng: Rng,
  attrs: readonly ObjectAttributes[],
  exact?: ExactRelation,
): SceneObject[] {
  const sizes = attrs.map((a) => a.size);
  const n = attrs.length;
  for (let round = 0; round <= n; round++) {
    const order = [...Array(n).keys()]
      .filter((i) => !exact || (i !== exact.subject && i !== exact.object))
      .sort((i, j) => Number(sizes[i] === 'small') - Number(sizes[j] === 'small'));
    for (let attempt = 0; attempt < 12; attempt++) {
      const placed: (SceneObject | undefined)[] = new Array(n);
      const done: SceneObject[] = [];
      const put = (i: number, x: number, y: number) => {
        const obj: SceneObject = { ...(attrs[i] as ObjectAttributes), size: sizes[i] as Size, x, y };
        placed[i] = obj;
        done.push(obj);
      };
      if (exact) {
        const pair = placePair(rng, sizes[exact.subject] as Size, sizes[exact.object] as Size, exact.rel);
        if (!pair) break;
        put(exact.subject, pair[0], pair[1]);
        put(exact.object, pair[2], pair[3]);
      }
      for (const i of order) {
        const pos = freePosition(rng, done, sizes[i] as Size);
        if (!pos) break;
        put(i, pos[0], pos[1]);
      }
      if (done.length === n) return placed as SceneObject[];
    }
    // Make room: the last large object becomes small.
    const idx = sizes.lastIndexOf('large');
    if (idx < 0) break;
    sizes[idx] = 'small';
  }
  throw new Error(`placeObjects: no layout found for ${n} objects`);
}

/** Random attributes for n objects under the distinctness rule. */
export function sampleAttributes(rng: Rng, n: number, opts: SceneOptions = {}): ObjectAttributes[] {
  const shapes = opts.shapes ?? SHAPES;
  const colors = opts.colors ?? COLORS;
  const sizes = opts.sizes ?? SIZES;
  const distinct = opts.distinct ?? 'pairs';
  if (distinct === 'both') {
    if (n > shapes.length || n > colors.length)
      throw new RangeError(`cannot make ${n} fully distinct objects`);
    const ss = rng.sample(shapes, n);
    const cs = rng.sample(colors, n);
    return ss.map((shape, i) => ({ shape, color: cs[i] as Color, size: rng.pick(sizes) }));
  }
  const out: ObjectAttributes[] = [];
  while (out.length < n) {
    const shape = rng.pick(shapes);
    const color = rng.pick(colors);
    if (out.some((o) => o.shape === shape && o.color === color)) continue;
    out.push({ shape, color, size: rng.pick(sizes) });
  }
  return out;
}

/** A random scene: n objects (uniform in [minObjects, maxObjects]) with random attributes and layout. */
export function sampleScene(rng: Rng, opts: SceneOptions = {}): Scene {
  const lo = opts.minObjects ?? 1;
  const hi = opts.maxObjects ?? 4;
  if (lo < 1 || hi > 4 || lo > hi)
    throw new RangeError(`scene object count must be within 1..4, got ${lo}..${hi}`);
  const n = rng.range(lo, hi);
  return { objects: placeObjects(rng, sampleAttributes(rng, n, opts)) };
}

/** One pair's relations: subject relative to object. */
export interface PairRelations {
  subject: number;
  object: number;
  relations: Relation[];
}

/** Relations of every ordered pair of distinct objects. */
export function sceneRelations(scene: Scene): PairRelations[] {
  const out: PairRelations[] = [];
  scene.objects.forEach((a, i) =>
    scene.objects.forEach((b, j) => {
      if (i !== j)
        out.push({ subject: i, object: j, relations: relativePosition(objectBox(a), objectBox(b)) });
    }),
  );
  return out;
}

/** Problems with a scene (overlap, ambiguous relation, repeated (colour, shape) pair); empty when valid. */
export function sceneProblems(scene: Scene): string[] {
  const problems: string[] = [];
  const n = scene.objects.length;
  if (n < 1 || n > 4) problems.push(`has ${n} objects (1-4 allowed)`);
  scene.objects.forEach((a, i) => {
    const b = objectBox(a);
    if (b[0] < BORDER - 1e-9 || b[1] < BORDER - 1e-9 || b[2] > 1 - BORDER + 1e-9 || b[3] > 1 - BORDER + 1e-9)
      problems.push(`object ${i} leaves the image`);
    for (let j = i + 1; j < n; j++) {
      const c = scene.objects[j] as SceneObject;
      if (!pairOk(a, c)) problems.push(`objects ${i} and ${j} overlap or have an ambiguous relation`);
      if (a.shape === c.shape && a.color === c.color)
        problems.push(`objects ${i} and ${j} share colour and shape`);
    }
  });
  return problems;
}
