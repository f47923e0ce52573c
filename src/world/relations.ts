/**
 * Spatial relations, decided exactly as GenEval decides them (djghosh13/geneval, `relative_position`):
 * the centre offset of A from B, shrunk on each axis by 0.1 x (dim A + dim B) and divided by the length of
 * the raw offset, gives components (dx, dy); A is "left of" B when dx < -0.5, "right of" when dx > 0.5,
 * "above" when dy < -0.5 and "below" when dy > 0.5 (y grows downwards). Several relations can hold at once
 * (a diagonal pair is both left of and above).
 *
 * ShapesWorld samples layouts so that every component of every pair is at least `RELATION_MARGIN` away
 * from the 0.5 threshold, so a relation is never a near call: detection jitter of a pixel cannot flip it.
 */

export const RELATIONS = ['left', 'right', 'above', 'below'] as const;
export type Relation = (typeof RELATIONS)[number];

/** [x0, y0, x1, y1]: any consistent unit (pixels or fractions of the image side). */
export type Box = readonly [number, number, number, number];

/** GenEval's POSITION_THRESHOLD. */
export const POSITION_THRESHOLD = 0.1;

/** How far (in normalised component units) every pair's components stay from the 0.5 decision threshold. */
export const RELATION_MARGIN = 0.1;

/** The inverse relation: A left of B <=> B right of A. */
export const INVERSE_RELATION: Readonly<Record<Relation, Relation>> = {
  left: 'right',
  right: 'left',
  above: 'below',
  below: 'above',
};

/** Normalised, threshold-revised offset components of A relative to B (GenEval's dx, dy). */
export function relationComponents(a: Box, b: Box): { dx: number; dy: number } {
  const ax = (a[0] + a[2]) / 2;
  const ay = (a[1] + a[3]) / 2;
  const bx = (b[0] + b[2]) / 2;
  const by = (b[1] + b[3]) / 2;
  const ox = ax - bx;
  const oy = ay - by;
  const norm = Math.hypot(ox, oy);
  if (norm === 0) return { dx: 0, dy: 0 };
  const wa = Math.abs(a[2] - a[0]);
  const ha = Math.abs(a[3] - a[1]);
  const wb = Math.abs(b[2] - b[0]);
  const hb = Math.abs(b[3] - b[1]);
  const rx = Math.max(Math.abs(ox) - POSITION_THRESHOLD * (wa + wb), 0) * Math.sign(ox);
  const ry = Math.max(Math.abs(oy) - POSITION_THRESHOLD * (ha + hb), 0) * Math.sign(oy);
  return { dx: rx / norm, dy: ry / norm };
}

/** The set of relations of A relative to B, in RELATIONS order (GenEval's rule). */
export function relativePosition(a: Box, b: Box): Relation[] {
  const { dx, dy } = relationComponents(a, b);
  if (Math.abs(dx) < 1e-3 && Math.abs(dy) < 1e-3) return [];
  const out: Relation[] = [];
  if (dx < -0.5) out.push('left');
  if (dx > 0.5) out.push('right');
  if (dy < -0.5) out.push('above');
  if (dy > 0.5) out.push('below');
  return out;
}

/** True when no component of the pair lies within `margin` of the 0.5 decision threshold. */
export function isUnambiguousPair(a: Box, b: Box, margin = RELATION_MARGIN): boolean {
  const { dx, dy } = relationComponents(a, b);
  return Math.abs(Math.abs(dx) - 0.5) >= margin && Math.abs(Math.abs(dy) - 0.5) >= margin;
}

/** The relation with the largest normalised component (for captions of diagonal pairs). */
export function primaryRelation(a: Box, b: Box): Relation | null {
  const rels = relativePosition(a, b);
  if (rels.length === 0) return null;
  const { dx, dy } = relationComponents(a, b);
  if (rels.length === 1) return rels[0] as Relation;
  return Math.abs(dx) >= Math.abs(dy) ? (dx < 0 ? 'left' : 'right') : dy < 0 ? 'above' : 'below';
}
