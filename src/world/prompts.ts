/**
 * Generation prompts in GenEval's six categories, each with several short phrasings, its structured spec
 * (GenEval metadata) and a scene that satisfies it, so every prompt has a real image.
 *
 *   single_object  "a circle"                      1 object of the class
 *   two_object     "a circle and a square"         2 objects of different classes
 *   counting       "three circles"                 exactly N (2-4) of the class, nothing else
 *   colors         "a red circle"                  1 object of the class in that colour
 *   position       "a circle left of a square"     2 objects of different classes; the relation holds
 *                                                  and no other relation holds between them
 *   color_attr     "a red circle and a blue square" 2 objects, different classes and colours
 *
 * The real image is a clean twin of the prompt: it holds exactly the objects the prompt names.
 */
import { COLORS, NUMBER_WORDS, SHAPES, SIZES, plural, type Color, type Shape } from './attributes.js';
import {
  GENEVAL_RELATION,
  RELATION_OF,
  type GenevalCategory,
  type GenevalInclude,
  type GenevalSpec,
} from './geneval.js';
import { RELATIONS, type Relation } from './relations.js';
import type { Rng } from './rng.js';
import { placeObjects, type ExactRelation, type ObjectAttributes, type Scene } from './scene.js';

/**
 * Phrasings per category. Slots: {A} {B} shapes, {cA} {cB} colours, {N} a number word, {As} a plural
 * shape, {REL} a relation phrase.
 */
export const PHRASINGS: Readonly<Record<GenevalCategory, readonly string[]>> = {
  single_object: ['a {A}', 'a photo of a {A}', 'a picture of a {A}'],
  two_object: ['a {A} and a {B}', 'a photo of a {A} and a {B}', 'a picture of a {A} and a {B}'],
  counting: ['{N} {As}', 'a photo of {N} {As}', 'a picture of {N} {As}'],
  colors: ['a {cA} {A}', 'a photo of a {cA} {A}', 'a {A} that is {cA}'],
  position: ['a {A} {REL} a {B}', 'a photo of a {A} {REL} a {B}', 'a picture of a {A} {REL} a {B}'],
  color_attr: [
    'a {cA} {A} and a {cB} {B}',
    'a photo of a {cA} {A} and a {cB} {B}',
    'a {A} that is {cA} and a {B} that is {cB}',
  ],
};

/** Relation phrases a position prompt may use. */
export const RELATION_PHRASES: Readonly<Record<Relation, readonly string[]>> = {
  left: ['left of', 'to the left of'],
  right: ['right of', 'to the right of'],
  above: ['above'],
  below: ['below'],
};

/** Counts a counting prompt asks for (GenEval uses 2-4). */
export const COUNTING_RANGE = [2, 4] as const;

export interface GenPrompt {
  category: GenevalCategory;
  prompt: string;
  spec: GenevalSpec;
}

function fill(template: string, slots: Readonly<Record<string, string>>): string {
  return template.replace(/\{(\w+)\}/g, (_, k: string) => {
    const v = slots[k];
    if (v === undefined) throw new Error(`prompt template slot {${k}} not filled`);
    return v;
  });
}

/** A random prompt of the given category (uniform attributes and phrasing). */
export function samplePrompt(rng: Rng, category: GenevalCategory): GenPrompt {
  const [A, B] = rng.sample(SHAPES, 2) as [Shape, Shape];
  const [cA, cB] = rng.sample(COLORS, 2) as [Color, Color];
  const template = rng.pick(PHRASINGS[category]);
  let include: GenevalInclude[];
  let exclude: GenevalSpec['exclude'];
  const slots: Record<string, string> = { A, B, cA, cB, As: plural(A) };
  switch (category) {
    case 'single_object':
      include = [{ class: A, count: 1 }];
      break;
    case 'two_object':
      include = [
        { class: A, count: 1 },
        { class: B, count: 1 },
      ];
      break;
    case 'counting': {
      const n = rng.range(COUNTING_RANGE[0], COUNTING_RANGE[1]);
      slots.N = NUMBER_WORDS[n] as string;
      include = [{ class: A, count: n }];
      exclude = [{ class: A, count: n + 1 }];
      break;
    }
    case 'colors':
      include = [{ class: A, count: 1, color: cA }];
      break;
    case 'position': {
      const rel = rng.pick(RELATIONS);
      slots.REL = rng.pick(RELATION_PHRASES[rel]);
      // GenEval's order: the reference object first, the placed object relative to include 0.
      include = [
        { class: B, count: 1 },
        { class: A, count: 1, position: [GENEVAL_RELATION[rel], 0] },
      ];
      break;
    }
    case 'color_attr':
      include = [
        { class: A, count: 1, color: cA },
        { class: B, count: 1, color: cB },
      ];
      break;
  }
  const prompt = fill(template, slots);
  const spec: GenevalSpec = exclude
    ? { tag: category, include, exclude, prompt }
    : { tag: category, include, prompt };
  return { category, prompt, spec };
}

/**
 * A scene that satisfies a spec and holds nothing else: each include's objects (colour as given, otherwise
 * distinct random colours; random sizes), laid out so a position include's relation is the only relation.
 */
export function sceneForSpec(rng: Rng, spec: GenevalSpec): Scene {
  const attrs: ObjectAttributes[] = [];
  const first: number[] = [];
  for (const inc of spec.include) {
    first.push(attrs.length);
    const used = attrs.filter((a) => a.shape === inc.class).map((a) => a.color);
    const free = COLORS.filter((c) => !used.includes(c));
    const colors = inc.color !== undefined ? [inc.color] : rng.sample(free, inc.count);
    for (let k = 0; k < inc.count; k++)
      attrs.push({ shape: inc.class, color: colors[k % colors.length] as Color, size: rng.pick(SIZES) });
  }
  let exact: ExactRelation | undefined;
  spec.include.forEach((inc, i) => {
    if (inc.position) {
      const [rel, target] = inc.position;
      exact = { subject: first[i] as number, object: first[target] as number, rel: RELATION_OF[rel] };
    }
  });
  return { objects: placeObjects(rng, attrs, exact) };
}
