/**
 * The fixed candidate images of the reward-validity check (validity.ts), built from the world alone (no
 * tensors): for one generation prompt (its GenEval spec and its real scene),
 *
 *   real            the prompt's real image (the row's `real_image`);
 *   correct_render  other scenes satisfying the same spec: the real scene's objects (same shapes, colours,
 *                   counts) at new random positions and sizes, the spec's relation kept exact;
 *   empty           the background alone (rendered like the world's images: its noise, if any);
 *   wrong_color     the real scene with one colour-specified object recoloured (colors, color_attr);
 *   wrong_shape     the real scene with one named object turned into a shape the prompt does not name;
 *   wrong_count     the real scene with one object of a named class removed (two-object prompts: that object
 *                   is then missing; counting: N - 1), or, for counting with N < 4, one more added (N + 1);
 *   wrong_position  the real scene mirrored across the relation's axis (position prompts: the stated relation
 *                   becomes its inverse, nothing else changes).
 *
 * Every variant is checked with the exact GenEval rule on its render (scene parser + `scoreGeneval`): a
 * correct candidate must pass, an incorrect one must fail. A candidate that does not (never seen on clean
 * renders; the tests check it) is dropped and counted, never mislabelled. single_object and colors prompts
 * have no wrong_count (an extra object does not fail GenEval's "at least one" rule; removing the only one is
 * the empty frame); only colour prompts have wrong_color; only position prompts have wrong_position.
 */
import { COLORS, SHAPES, SIZES, SIZE_RADIUS, type Color, type Shape } from '../../world/attributes.js';
import { detectObjects, type DetectOptions } from '../../world/detect.js';
import { RELATION_OF, scoreGeneval, type GenevalSpec } from '../../world/geneval.js';
import type { RgbImage } from '../../world/image.js';
import { renderScene, type RenderOptions } from '../../world/render.js';
import { Rng, deriveSeed } from '../../world/rng.js';
import {
  BORDER,
  POSITION_STEP,
  placeObjects,
  sceneProblems,
  type ExactRelation,
  type Scene,
  type SceneObject,
} from '../../world/scene.js';

/** Kinds of correct candidates. `base_correct`: a base-model sample the GenEval check passes. */
export const CORRECT_KINDS = ['real', 'correct_render', 'base_correct'] as const;
/** Kinds of incorrect candidates. `base_wrong`: a base-model sample the GenEval check fails. */
export const INCORRECT_KINDS = [
  'empty',
  'wrong_color',
  'wrong_shape',
  'wrong_count',
  'wrong_position',
  'base_wrong',
] as const;
export const CANDIDATE_KINDS = [...CORRECT_KINDS, ...INCORRECT_KINDS] as const;
export type CorrectKind = (typeof CORRECT_KINDS)[number];
export type IncorrectKind = (typeof INCORRECT_KINDS)[number];
export type CandidateKind = CorrectKind | IncorrectKind;

export function isCorrectKind(k: CandidateKind): k is CorrectKind {
  return (CORRECT_KINDS as readonly string[]).includes(k);
}

/** A scene variant before rendering. */
export interface SceneVariant {
  kind: Exclude<CandidateKind, 'real' | 'empty' | 'base_correct' | 'base_wrong'>;
  scene: Scene;
  /** What was changed, e.g. "circle red -> blue". */
  change: string;
}

/** One candidate image of one prompt. */
export interface Candidate {
  /** Index of the prompt (row) it belongs to. */
  prompt: number;
  kind: CandidateKind;
  /** The exact GenEval check on this image (by the scene parser). */
  correct: boolean;
  image: RgbImage;
  /** The rendered scene (absent for the real image, the empty frame and model samples). */
  scene?: Scene;
  change?: string;
}

/** The exact GenEval check of an image: scene parser + GenEval rules. */
export function genevalCheck(spec: GenevalSpec, image: RgbImage, detect: DetectOptions = {}): boolean {
  return scoreGeneval(spec, detectObjects(image, detect)).correct;
}

/** Indices of the scene's objects that each include names (by class; a spec's includes have distinct classes). */
function includeGroups(spec: GenevalSpec, scene: Scene): number[][] {
  return spec.include.map((inc) =>
    scene.objects.flatMap((o, i) =>
      o.shape === inc.class && (inc.color === undefined || o.color === inc.color) ? [i] : [],
    ),
  );
}

/** The exact relation a position spec asks for, as object indices of `scene`, or undefined. */
function exactRelationOf(spec: GenevalSpec, scene: Scene): ExactRelation | undefined {
  const groups = includeGroups(spec, scene);
  for (const [i, inc] of spec.include.entries()) {
    if (!inc.position) continue;
    const [rel, target] = inc.position;
    const subject = groups[i]?.[0];
    const object = groups[target]?.[0];
    if (subject === undefined || object === undefined)
      throw new RangeError(`scene does not hold the objects of the spec "${spec.prompt}"`);
    return { subject, object, rel: RELATION_OF[rel] };
  }
  return undefined;
}

/**
 * `n` other correct scenes: the real scene's objects (shapes, colours, counts) with fresh random sizes and
 * positions; a position spec's relation stays the only relation between its pair (the world's sampler).
 */
export function correctScenes(rng: Rng, spec: GenevalSpec, scene: Scene, n: number): Scene[] {
  const exact = exactRelationOf(spec, scene);
  return Array.from({ length: n }, () => {
    const attrs = scene.objects.map((o) => ({ shape: o.shape, color: o.color, size: rng.pick(SIZES) }));
    return { objects: placeObjects(rng, attrs, exact) };
  });
}

const cloneScene = (s: Scene): Scene => ({ objects: s.objects.map((o) => ({ ...o })) });

/** A free position for one more object of `size`, keeping every other object where it is, or null. */
function addObject(rng: Rng, scene: Scene, obj: Omit<SceneObject, 'x' | 'y'>): Scene | null {
  const r = SIZE_RADIUS[obj.size];
  const lo = Math.ceil((r + BORDER) / POSITION_STEP - 1e-9);
  const hi = Math.floor((1 - r - BORDER) / POSITION_STEP + 1e-9);
  for (let t = 0; t < 4000; t++) {
    const cand: Scene = {
      objects: [
        ...scene.objects,
        { ...obj, x: rng.range(lo, hi) * POSITION_STEP, y: rng.range(lo, hi) * POSITION_STEP },
      ],
    };
    if (sceneProblems(cand).length === 0) return cand;
  }
  return null;
}

/**
 * The incorrect variants of the real scene, each with one attribute changed (see the file comment). Which
 * kinds exist depends on the spec's category.
 */
export function wrongScenes(rng: Rng, spec: GenevalSpec, scene: Scene): SceneVariant[] {
  const out: SceneVariant[] = [];
  const groups = includeGroups(spec, scene);
  const named = new Set<Shape>([
    ...spec.include.map((i) => i.class),
    ...(spec.exclude ?? []).map((e) => e.class),
  ]);

  // wrong colour: one colour-specified object recoloured
  const colored = spec.include.flatMap((inc, i) => (inc.color !== undefined ? [i] : []));
  if (colored.length > 0) {
    const g = rng.pick(colored);
    const idx = groups[g]![0]!;
    const s = cloneScene(scene);
    const o = s.objects[idx]!;
    const free = COLORS.filter(
      (c) => c !== o.color && !s.objects.some((p, j) => j !== idx && p.shape === o.shape && p.color === c),
    );
    const c: Color = rng.pick(free);
    const change = `${o.shape} ${o.color} -> ${c}`;
    o.color = c;
    out.push({ kind: 'wrong_color', scene: s, change });
  }

  // wrong shape: one named object becomes a shape the prompt does not name
  {
    const g = rng.int(spec.include.length);
    const idx = rng.pick(groups[g]!);
    const s = cloneScene(scene);
    const o = s.objects[idx]!;
    const free = SHAPES.filter(
      (sh) => !named.has(sh) && !s.objects.some((p, j) => j !== idx && p.shape === sh && p.color === o.color),
    );
    const sh: Shape = rng.pick(free);
    const change = `${o.color} ${o.shape} -> ${sh}`;
    o.shape = sh;
    out.push({ kind: 'wrong_shape', scene: s, change });
  }

  // wrong count: one named object removed; counting: also one more (N + 1) when the scene has room
  if (spec.tag !== 'single_object' && spec.tag !== 'colors') {
    const g = rng.int(spec.include.length);
    const idx = rng.pick(groups[g]!);
    const removed = scene.objects[idx]!;
    out.push({
      kind: 'wrong_count',
      scene: { objects: scene.objects.filter((_, j) => j !== idx).map((o) => ({ ...o })) },
      change: `${removed.color} ${removed.shape} removed`,
    });
    if (spec.tag === 'counting' && scene.objects.length < 4) {
      const inc = spec.include[0]!;
      const used = scene.objects.filter((o) => o.shape === inc.class).map((o) => o.color);
      const color: Color = rng.pick(COLORS.filter((c) => !used.includes(c)));
      const added = addObject(rng, scene, { shape: inc.class, color, size: 'small' });
      if (added) out.push({ kind: 'wrong_count', scene: added, change: `${color} ${inc.class} added` });
    }
  }

  // wrong position: mirrored across the relation's axis, so the relation becomes its inverse
  const exact = exactRelationOf(spec, scene);
  if (exact) {
    const horizontal = exact.rel === 'left' || exact.rel === 'right';
    out.push({
      kind: 'wrong_position',
      scene: {
        objects: scene.objects.map((o) => (horizontal ? { ...o, x: 1 - o.x } : { ...o, y: 1 - o.y })),
      },
      change: `mirrored ${horizontal ? 'left-right' : 'top-bottom'}`,
    });
  }
  return out;
}

export interface CandidateOptions {
  /** Seed of this prompt's variants (derive one per prompt). */
  seed: number;
  /** Other correct renders per prompt (default 3). */
  correctRenders?: number;
  /** How the world rendered its images (size, antialias, noise, background). */
  render?: RenderOptions;
  detect?: DetectOptions;
}

export interface RenderedCandidates {
  candidates: Candidate[];
  /** Variants dropped because the GenEval check disagreed with their intended label. */
  dropped: { kind: CandidateKind; change: string }[];
}

/**
 * The rendered (model-free) candidates of one prompt: the real image, `correctRenders` other correct renders,
 * the empty frame and the wrong variants, each labelled by the exact GenEval check.
 */
export function renderedCandidates(
  promptIndex: number,
  spec: GenevalSpec,
  scene: Scene,
  realImage: RgbImage,
  opts: CandidateOptions,
): RenderedCandidates {
  const rng = new Rng(deriveSeed(opts.seed, 'validity-candidates'));
  const render = (s: Scene, k: number) =>
    renderScene(s, { size: realImage.width, ...opts.render, seed: deriveSeed(opts.seed, 'noise', k) });
  const candidates: Candidate[] = [];
  const dropped: RenderedCandidates['dropped'] = [];
  const add = (kind: CandidateKind, image: RgbImage, want: boolean, s?: Scene, change?: string) => {
    const correct = genevalCheck(spec, image, opts.detect);
    if (correct !== want) {
      dropped.push({ kind, change: change ?? '' });
      return;
    }
    candidates.push({
      prompt: promptIndex,
      kind,
      correct,
      image,
      ...(s ? { scene: s } : {}),
      ...(change ? { change } : {}),
    });
  };
  add('real', realImage, true);
  correctScenes(rng, spec, scene, opts.correctRenders ?? 3).forEach((s, k) =>
    add('correct_render', render(s, k), true, s),
  );
  add('empty', render({ objects: [] }, 99), false); // the background alone (with the world's noise, if any)
  wrongScenes(rng, spec, scene).forEach((v, k) =>
    add(v.kind, render(v.scene, 100 + k), false, v.scene, v.change),
  );
  return { candidates, dropped };
}
