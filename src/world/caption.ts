/**
 * Captions, both ways, and the SPICE-style text reward.
 *
 * `describeScene` writes a scene's canonical caption: objects left to right, each "a <size> <colour>
 * <shape>", consecutive ones joined by their relation ("a small red circle to the left of a large blue
 * square above a small green diamond").
 *
 * `parseCaption` reads any world caption or prompt (and, leniently, free text) into a scene graph:
 * entities (a shape with a count and its colours and sizes) and relations between them. It ignores words it
 * does not know, takes adjectives before the noun or after it ("a circle that is red"), plurals and number
 * words or digits ("three circles", "3 circles").
 *
 * `captionTuples` turns the graph into SPICE's tuples: (object), (object, attribute), (object, count) when
 * a shape occurs more than once in total, and (subject, relation, object) with "right of" and "below"
 * rewritten as "left of" and "above" with the arguments swapped, so word order does not matter.
 * `spiceF1` is the F1 of the two tuple sets (exact matching; SPICE's WordNet synonyms are the parser's job).
 */
import {
  COLORS,
  NUMBER_WORDS,
  SHAPES,
  SIZES,
  isColor,
  isShape,
  isSize,
  type Color,
  type Shape,
  type Size,
} from './attributes.js';
import { primaryRelation, type Relation } from './relations.js';
import { objectBox, type Scene, type SceneObject } from './scene.js';

/** Relation phrases of the canonical caption. */
export const CAPTION_RELATION_PHRASES: Readonly<Record<Relation, string>> = {
  left: 'to the left of',
  right: 'to the right of',
  above: 'above',
  below: 'below',
};

/** The canonical caption of a scene. */
export function describeScene(scene: Scene): string {
  const objs = scene.objects.slice().sort((a, b) => a.x - b.x || a.y - b.y);
  const np = (o: SceneObject) => `a ${o.size} ${o.color} ${o.shape}`;
  let out = '';
  objs.forEach((o, i) => {
    if (i > 0) {
      const rel = primaryRelation(objectBox(objs[i - 1] as SceneObject), objectBox(o));
      out += rel ? ` ${CAPTION_RELATION_PHRASES[rel]} ` : ' and ';
    }
    out += np(o);
  });
  return out;
}

export interface CaptionEntity {
  shape: Shape;
  count: number;
  colors: Color[];
  sizes: Size[];
}

export interface CaptionRelation {
  subject: number;
  relation: Relation;
  object: number;
}

export interface CaptionGraph {
  entities: CaptionEntity[];
  relations: CaptionRelation[];
}

const SYNONYMS: Readonly<Record<string, string>> = {
  big: 'large',
  little: 'small',
  tiny: 'small',
  grey: 'white',
  violet: 'purple',
  colour: 'color',
  rhombus: 'diamond',
  rhombuses: 'diamonds',
  beneath: 'below',
  under: 'below',
  underneath: 'below',
  over: 'above',
};

const NUMBER_OF: ReadonlyMap<string, number> = new Map([
  ...NUMBER_WORDS.map((w, i) => [w, i] as [string, number]),
  ['a', 1],
  ['an', 1],
  ['single', 1],
  ['pair', 2],
]);

function shapeOf(word: string): { shape: Shape; plural: boolean } | null {
  if (isShape(word)) return { shape: word, plural: false };
  if (word.endsWith('s') && isShape(word.slice(0, -1)))
    return { shape: word.slice(0, -1) as Shape, plural: true };
  return null;
}

/** Lower-cased words of a text, punctuation and tags dropped, synonyms mapped. */
export function captionWords(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/<\/?[a-z]+>/g, ' ')
    .split(/[^a-z0-9]+/)
    .filter((w) => w.length > 0)
    .map((w) => SYNONYMS[w] ?? w);
}

/** Parses a caption or prompt into a scene graph (see the file comment). */
export function parseCaption(text: string): CaptionGraph {
  const p = new CaptionParser();
  for (const w of captionWords(text)) p.word(w);
  return p.finish();
}

const RELATION_WORDS = new Set(['left', 'right', 'above', 'below', 'top']);
const MODIFIER_WORDS = new Set(['that', 'is', 'are', 'which', 'colored', 'color']);

/** The state of parseCaption's left-to-right pass: one method per kind of word. */
class CaptionParser {
  private readonly entities: CaptionEntity[] = [];
  private readonly relations: CaptionRelation[] = [];
  private count: number | null = null;
  private colors: Color[] = [];
  private sizes: Size[] = [];
  private pendingRel: Relation | null = null;
  private relSubject: number | null = null;
  /** After "that is" / "is" / "colored", adjectives describe the last entity. */
  private postModifier = false;

  word(w: string): void {
    const shape = shapeOf(w);
    if (shape) this.shape(shape.shape, shape.plural);
    else if (isColor(w) || isSize(w)) this.adjective(w);
    else if (RELATION_WORDS.has(w)) this.relation(w === 'top' ? 'above' : (w as Relation));
    else if (/^\d+$/.test(w)) this.number(Number(w));
    else if (NUMBER_OF.has(w)) this.number(NUMBER_OF.get(w)!);
    else if (MODIFIER_WORDS.has(w)) {
      if (this.entities.length > 0 && this.pendingRel === null) this.postModifier = true;
    } else if (w === 'and') {
      this.attachPending();
      this.postModifier = false;
    }
  }

  /** A noun: a new entity with the pending count and adjectives, the object of a pending relation. */
  private shape(shape: Shape, plural: boolean): void {
    this.entities.push({
      shape,
      count: this.count ?? (plural ? 2 : 1),
      colors: [...new Set(this.colors)],
      sizes: [...new Set(this.sizes)],
    });
    const idx = this.entities.length - 1;
    if (this.pendingRel !== null && this.relSubject !== null)
      this.relations.push({ subject: this.relSubject, relation: this.pendingRel, object: idx });
    this.pendingRel = null;
    this.relSubject = null;
    this.count = null;
    this.colors = [];
    this.sizes = [];
    this.postModifier = false;
  }

  private adjective(w: string): void {
    if (isColor(w)) this.colors.push(w);
    else this.sizes.push(w as Size);
    if (this.postModifier) this.attachPending();
  }

  /** "to the right of" / "on top of": the relation links the entity before it to the one after it. */
  private relation(rel: Relation): void {
    this.attachPending();
    this.postModifier = false;
    if (this.entities.length > 0) {
      this.pendingRel = rel;
      this.relSubject = this.entities.length - 1;
    }
  }

  private number(n: number): void {
    if (this.postModifier) this.attachPending();
    this.postModifier = false;
    this.count = n;
  }

  /** Pending adjectives describe the last entity. */
  private attachPending(): void {
    const last = this.entities[this.entities.length - 1];
    if (last) {
      for (const c of this.colors) if (!last.colors.includes(c)) last.colors.push(c);
      for (const s of this.sizes) if (!last.sizes.includes(s)) last.sizes.push(s);
    }
    this.colors = [];
    this.sizes = [];
  }

  /** Trailing adjectives with no noun after them ("circle red") describe the last entity. */
  finish(): CaptionGraph {
    this.attachPending();
    return { entities: this.entities, relations: this.relations };
  }
}

const CANONICAL: Readonly<Record<Relation, { rel: 'left of' | 'above'; swap: boolean }>> = {
  left: { rel: 'left of', swap: false },
  right: { rel: 'left of', swap: true },
  above: { rel: 'above', swap: false },
  below: { rel: 'above', swap: true },
};

/** SPICE-style tuples of a caption (or of a parsed graph), as strings joined by '|'. */
export function captionTuples(caption: string | CaptionGraph): Set<string> {
  const g = typeof caption === 'string' ? parseCaption(caption) : caption;
  const out = new Set<string>();
  const totals = new Map<Shape, number>();
  for (const e of g.entities) {
    out.add(e.shape);
    for (const c of e.colors) out.add(`${e.shape}|${c}`);
    for (const s of e.sizes) out.add(`${e.shape}|${s}`);
    totals.set(e.shape, (totals.get(e.shape) ?? 0) + e.count);
  }
  for (const [shape, n] of totals) if (n >= 2) out.add(`${shape}|count=${n}`);
  for (const r of g.relations) {
    const s = g.entities[r.subject] as CaptionEntity;
    const o = g.entities[r.object] as CaptionEntity;
    const c = CANONICAL[r.relation];
    const [a, b] = c.swap ? [o, s] : [s, o];
    out.add(`${a.shape}|${c.rel}|${b.shape}`);
  }
  return out;
}

export interface TupleScore {
  precision: number;
  recall: number;
  f1: number;
}

/** Tuple precision / recall / F1 of a candidate caption against a reference (a prompt). */
export function spiceScore(candidate: string, reference: string): TupleScore {
  const c = captionTuples(candidate);
  const r = captionTuples(reference);
  if (c.size === 0 && r.size === 0) return { precision: 1, recall: 1, f1: 1 };
  let hit = 0;
  for (const t of c) if (r.has(t)) hit++;
  const precision = c.size === 0 ? 0 : hit / c.size;
  const recall = r.size === 0 ? 0 : hit / r.size;
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  return { precision, recall, f1 };
}

/** SPICE-style F1 in [0, 1] (the text side of the cycle reward). */
export function spiceF1(candidate: string, reference: string): number {
  return spiceScore(candidate, reference).f1;
}

/** Words the caption grammar uses (for the vocabulary). */
export const CAPTION_WORDS: readonly string[] = [
  'a',
  'and',
  ...SHAPES,
  ...COLORS,
  ...SIZES,
  ...Object.values(CAPTION_RELATION_PHRASES).flatMap((p) => p.split(' ')),
];
