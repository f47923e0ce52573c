/**
 * GenEval-style scoring of a parsed (detected) image against a prompt's structured spec. The spec format is
 * GenEval's own metadata (`tag`, `include: [{class, count, color?, position?: [rel, group]}]`, `exclude`),
 * and the rules follow its `evaluate_image`:
 *   - every `include` needs at least `count` objects of its class (single_object, two_object);
 *   - with `color`, at least `count` of them must have that colour (colors, color_attr: attribute binding,
 *     since each include checks its own class's colour);
 *   - with `position: [rel, g]`, the include's objects must stand in `rel` to every object matched by
 *     include g, by GenEval's relative-position rule (relations.ts);
 *   - every `exclude` fails the image when `count` or more objects of its class are present (counting:
 *     "exactly N" is include N + exclude N+1).
 * One departure: GenEval keeps the `count` most confident detections of a class and checks those; this
 * detector has no confidences, so any `count` detections that satisfy the colour and position checks do.
 * The benchmark score is the mean over categories of the per-category accuracy.
 */
import type { Color, Shape } from './attributes.js';
import type { DetectedObject } from './detect.js';
import { relativePosition, type Relation } from './relations.js';

export const GENEVAL_CATEGORIES = [
  'single_object',
  'two_object',
  'counting',
  'colors',
  'position',
  'color_attr',
] as const;
export type GenevalCategory = (typeof GENEVAL_CATEGORIES)[number];

/** GenEval's relation names. */
export type GenevalRelation = 'left of' | 'right of' | 'above' | 'below';

export const GENEVAL_RELATION: Readonly<Record<Relation, GenevalRelation>> = {
  left: 'left of',
  right: 'right of',
  above: 'above',
  below: 'below',
};
/** GenEval's relation names back to the world's. */
export const RELATION_OF: Readonly<Record<GenevalRelation, Relation>> = {
  'left of': 'left',
  'right of': 'right',
  above: 'above',
  below: 'below',
};

export interface GenevalInclude {
  class: Shape;
  count: number;
  color?: Color;
  /** [relation, index of the include this one is placed relative to]. */
  position?: [GenevalRelation, number];
}

export interface GenevalExclude {
  class: Shape;
  count: number;
}

/** A generation prompt's structured spec (GenEval's metadata line). */
export interface GenevalSpec {
  tag: GenevalCategory;
  include: GenevalInclude[];
  exclude?: GenevalExclude[];
  prompt: string;
}

export interface GenevalResult {
  tag: GenevalCategory;
  correct: boolean;
  /** Why the image failed ('' when correct), one reason per line as GenEval reports. */
  reason: string;
}

/** Scores one image's detections against a spec. */
export function scoreGeneval(spec: GenevalSpec, detections: readonly DetectedObject[]): GenevalResult {
  const reasons: string[] = [];
  const groups: (DetectedObject[] | null)[] = [];
  for (const req of spec.include) {
    const found = detections.filter((d) => d.shape === req.class);
    let group: DetectedObject[] | null = null;
    if (found.length < req.count) {
      reasons.push(`expected ${req.class}>=${req.count}, found ${found.length}`);
    } else {
      let candidates = found;
      if (req.color !== undefined) {
        candidates = found.filter((d) => d.color === req.color);
        if (candidates.length < req.count) {
          const colors = found.map((d) => d.color).join(', ');
          reasons.push(
            `expected ${req.color} ${req.class}>=${req.count}, found ${candidates.length} (${colors})`,
          );
          candidates = [];
        }
      }
      if (candidates.length >= req.count && req.position !== undefined) {
        const [rel, target] = req.position;
        const targets = groups[target];
        if (!targets) {
          reasons.push(`no target for ${req.class} to be ${rel}`);
          candidates = [];
        } else {
          const want = RELATION_OF[rel];
          candidates = candidates.filter((d) =>
            targets.every((t) => relativePosition(d.box, t.box).includes(want)),
          );
          if (candidates.length < req.count) reasons.push(`expected ${req.class} ${rel} target`);
        }
      }
      if (candidates.length >= req.count) group = candidates.slice(0, req.count);
    }
    groups.push(group);
  }
  for (const ex of spec.exclude ?? []) {
    const n = detections.filter((d) => d.shape === ex.class).length;
    if (n >= ex.count) reasons.push(`expected ${ex.class}<${ex.count}, found ${n}`);
  }
  return { tag: spec.tag, correct: reasons.length === 0, reason: reasons.join('\n') };
}

export interface GenevalSummary {
  /** Accuracy per category present in the results. */
  categories: Partial<Record<GenevalCategory, { accuracy: number; n: number }>>;
  /** Mean of the per-category accuracies (GenEval's overall score). */
  overall: number;
  n: number;
}

export function summariseGeneval(results: readonly Pick<GenevalResult, 'tag' | 'correct'>[]): GenevalSummary {
  const categories: GenevalSummary['categories'] = {};
  for (const tag of GENEVAL_CATEGORIES) {
    const rs = results.filter((r) => r.tag === tag);
    if (rs.length > 0)
      categories[tag] = { accuracy: rs.filter((r) => r.correct).length / rs.length, n: rs.length };
  }
  const accs = Object.values(categories).map((c) => c.accuracy);
  return {
    categories,
    overall: accs.length === 0 ? 0 : accs.reduce((a, b) => a + b, 0) / accs.length,
    n: results.length,
  };
}
