/**
 * Understanding questions about a scene, with exact answers and a short, exact `think` text:
 *
 *   kind      question                                             answer         MC
 *   color     what color is the circle?                            red            yes
 *   shape     what shape is the red object?                        circle         yes
 *   size      what size is the red circle?                         small          no (2 values)
 *   count     how many circles are there?                          2              yes
 *   position  where is the red circle relative to the square?      left           yes
 *   corners   how many corners are there in total?                 7              yes
 *   more      how many more red objects than blue objects are there?  1           yes
 *   exist     is there a red circle in the image?  (POPE-style)    yes / no       no
 *
 * Objects are named by the shortest description that is unique in the scene ("the circle", "the small
 * circle", "the red circle"). MC options are 4 (A-D): the answer plus plausible distractors (attributes
 * present elsewhere in the scene first, nearby numbers); the answer's letter is dealt from shuffled blocks
 * per kind, so letters are balanced. The MC think text ends by naming the letter ("... . B is red"): the
 * calibration run showed a tiny model describes the image right yet cannot map it to a shuffled letter.
 *
 * POPE negatives: `random` = any absent (colour, shape); `popular` = an absent object sharing the colour or
 * the shape of a present one; `adversarial` = the colour of one present object bound to the shape of
 * another (an attribute-binding swap). Yes and no are dealt from shuffled blocks per split.
 */
import { COLORS, CORNERS, SHAPES, countNoun, plural, type Color, type Shape } from './attributes.js';
import { RELATIONS, relativePosition, type Relation } from './relations.js';
import { BlockBalancer, type Rng } from './rng.js';
import { objectBox, type Scene, type SceneObject } from './scene.js';
import { OPTION_LETTERS, answerTag, mcProblem, oeProblem, type OptionLetter } from './templates.js';

export const QUESTION_KINDS = [
  'color',
  'shape',
  'size',
  'count',
  'position',
  'corners',
  'more',
  'exist',
] as const;
export type QuestionKind = (typeof QUESTION_KINDS)[number];

export const MC_KINDS = ['color', 'shape', 'count', 'position', 'corners', 'more'] as const;
export const OE_KINDS = ['color', 'shape', 'size', 'count', 'position', 'corners', 'more'] as const;

export type QuestionFamily = 'mcq' | 'oe' | 'pope';
export const POPE_SPLITS = ['random', 'popular', 'adversarial'] as const;
export type PopeSplit = (typeof POPE_SPLITS)[number];

/** Relation phrases in questions and think texts. */
export const RELATION_WORDS: Readonly<Record<Relation, string>> = {
  left: 'left of',
  right: 'right of',
  above: 'above',
  below: 'below',
};

export interface Question {
  family: QuestionFamily;
  kind: QuestionKind;
  /** ULM-R1's qa_type. */
  type: 'MC' | 'OE';
  /** The bare question ("what color is the circle?"). */
  question: string;
  /** MC option texts, in letter order. */
  options?: string[];
  /** The answer: the letter for MC, the text otherwise. */
  answer: string;
  /** The answer as text (the option text for MC). */
  answerText: string;
  /** The reference reasoning, short and exact. */
  think: string;
  /** ULM-R1's qa_problem (question + options + instruction). */
  problem: string;
  /** ULM-R1's qa_solution: `<answer>X</answer>`. */
  solution: string;
  popeSplit?: PopeSplit;
}

/** A question before it is dressed as MC or OE. */
interface Core {
  kind: QuestionKind;
  question: string;
  answer: string;
  fact: string;
  /** Distractor candidates, most plausible first (at least 3 when MC is possible). */
  distractors: string[];
}

function article(o: Pick<SceneObject, 'shape'>): string {
  return `a ${o.shape}`;
}

/** Shortest unique description that leaves out the colour: "circle", "small circle"; null if none. */
function refWithoutColor(o: SceneObject, scene: Scene): string | null {
  const same = scene.objects.filter((p) => p.shape === o.shape);
  if (same.length === 1) return o.shape;
  if (same.filter((p) => p.size === o.size).length === 1) return `${o.size} ${o.shape}`;
  return null;
}

/** Shortest unique description that leaves out the shape: "red object", "small red object"; null if none. */
function refWithoutShape(o: SceneObject, scene: Scene): string | null {
  const same = scene.objects.filter((p) => p.color === o.color);
  if (same.length === 1) return `${o.color} object`;
  if (same.filter((p) => p.size === o.size).length === 1) return `${o.size} ${o.color} object`;
  return null;
}

/** Shortest unique description by shape, then colour and shape (always unique in a valid scene). */
function ref(o: SceneObject, scene: Scene): string {
  return scene.objects.filter((p) => p.shape === o.shape).length === 1 ? o.shape : `${o.color} ${o.shape}`;
}

/** Plausible-first distractors: values present in the scene (shuffled), then the rest (shuffled). */
function plausible<T extends string>(
  rng: Rng,
  all: readonly T[],
  answer: T,
  present: readonly T[],
): string[] {
  const inScene = rng.shuffle([...new Set(present)].filter((v) => v !== answer));
  const rest = rng.shuffle(all.filter((v) => v !== answer && !inScene.includes(v)));
  return [...inScene, ...rest];
}

/** Nearby non-negative numbers, nearest first (ties in random order). */
function nearbyNumbers(rng: Rng, answer: number, offsets: readonly number[]): string[] {
  const cands = rng.shuffle(offsets.map((d) => answer + d).filter((v) => v >= 0 && v !== answer));
  cands.sort((a, b) => Math.abs(a - answer) - Math.abs(b - answer));
  return [...new Set(cands)].map(String);
}

/** "a red circle and a blue square", "a red circle , a blue square and a green diamond". */
export function listObjects(objects: readonly Pick<SceneObject, 'color' | 'shape'>[]): string {
  const nps = objects.map((o) => `a ${o.color} ${o.shape}`);
  if (nps.length <= 1) return nps.join('');
  return `${nps.slice(0, -1).join(' , ')} and ${nps[nps.length - 1]}`;
}

function readingOrder(scene: Scene): SceneObject[] {
  return scene.objects.slice().sort((a, b) => a.x - b.x || a.y - b.y);
}

const BUILDERS: Readonly<Record<Exclude<QuestionKind, 'exist'>, (rng: Rng, scene: Scene) => Core | null>> = {
  color(rng, scene) {
    const cands = scene.objects.filter((o) => refWithoutColor(o, scene) !== null);
    if (cands.length === 0) return null;
    const o = rng.pick(cands);
    const r = refWithoutColor(o, scene) as string;
    return {
      kind: 'color',
      question: `what color is the ${r}?`,
      answer: o.color,
      fact: `the ${r} is ${o.color}`,
      distractors: plausible(
        rng,
        COLORS,
        o.color,
        scene.objects.map((p) => p.color),
      ),
    };
  },
  shape(rng, scene) {
    const cands = scene.objects.filter((o) => refWithoutShape(o, scene) !== null);
    if (cands.length === 0) return null;
    const o = rng.pick(cands);
    const r = refWithoutShape(o, scene) as string;
    return {
      kind: 'shape',
      question: `what shape is the ${r}?`,
      answer: o.shape,
      fact: `the ${r} is ${article(o)}`,
      distractors: plausible(
        rng,
        SHAPES,
        o.shape,
        scene.objects.map((p) => p.shape),
      ),
    };
  },
  size(rng, scene) {
    const o = rng.pick(scene.objects);
    const r = ref(o, scene);
    return {
      kind: 'size',
      question: `what size is the ${r}?`,
      answer: o.size,
      fact: `the ${r} is ${o.size}`,
      distractors: [],
    };
  },
  count(rng, scene) {
    const mode = rng.pick(['objects', 'shape', 'color'] as const);
    let noun: string;
    let n: number;
    if (mode === 'objects') {
      noun = 'object';
      n = scene.objects.length;
    } else if (mode === 'shape') {
      const shape = rng.bool(0.75) ? rng.pick(scene.objects).shape : rng.pick(SHAPES);
      noun = shape;
      n = scene.objects.filter((o) => o.shape === shape).length;
    } else {
      const color = rng.bool(0.75) ? rng.pick(scene.objects).color : rng.pick(COLORS);
      noun = `${color} object`;
      n = scene.objects.filter((o) => o.color === color).length;
    }
    return {
      kind: 'count',
      question: `how many ${noun}s are there?`,
      answer: String(n),
      fact: `i see ${countNoun(n, noun)}`,
      distractors: nearbyNumbers(rng, n, [-2, -1, 1, 2, 3]),
    };
  },
  position(rng, scene) {
    const pairs: [SceneObject, SceneObject, Relation][] = [];
    for (const a of scene.objects)
      for (const b of scene.objects) {
        if (a === b) continue;
        const rels = relativePosition(objectBox(a), objectBox(b));
        if (rels.length === 1) pairs.push([a, b, rels[0] as Relation]);
      }
    if (pairs.length === 0) return null;
    const [a, b, rel] = rng.pick(pairs);
    const ra = ref(a, scene);
    const rb = ref(b, scene);
    return {
      kind: 'position',
      question: `where is the ${ra} relative to the ${rb}?`,
      answer: rel,
      fact: `the ${ra} is ${RELATION_WORDS[rel]} the ${rb}`,
      distractors: rng.shuffle(RELATIONS.filter((r) => r !== rel)),
    };
  },
  corners(rng, scene) {
    const objs = readingOrder(scene);
    const ks = objs.map((o) => CORNERS[o.shape]);
    const total = ks.reduce((a, b) => a + b, 0);
    const parts = objs.map((o) => `${o.shape} ${CORNERS[o.shape]}`).join(' , ');
    const fact = objs.length > 1 ? `${parts} , ${ks.join(' + ')} = ${total}` : parts;
    return {
      kind: 'corners',
      question: 'how many corners are there in total?',
      answer: String(total),
      fact,
      distractors: nearbyNumbers(rng, total, [-4, -3, -1, 1, 3, 4]),
    };
  },
  more(rng, scene) {
    const byColor = rng.bool();
    const values: readonly string[] = byColor ? COLORS : SHAPES;
    const valueOf = (o: SceneObject): string => (byColor ? o.color : o.shape);
    const count = (v: string) => scene.objects.filter((o) => valueOf(o) === v).length;
    const x = rng.pick(scene.objects.map(valueOf));
    const ys = values.filter((v) => v !== x && count(v) <= count(x));
    const presentYs = ys.filter((v) => count(v) > 0);
    const y = presentYs.length > 0 && rng.bool() ? rng.pick(presentYs) : rng.pick(ys);
    const nx = count(x);
    const ny = count(y);
    const name = (v: string) => (byColor ? `${v} objects` : plural(v as Shape));
    const term = (n: number, v: string) => (byColor ? `${n} ${v}` : countNoun(n, v));
    return {
      kind: 'more',
      question: `how many more ${name(x)} than ${name(y)} are there?`,
      answer: String(nx - ny),
      fact: `${term(nx, x)} , ${term(ny, y)} , ${nx} - ${ny} = ${nx - ny}`,
      distractors: nearbyNumbers(rng, nx - ny, [-2, -1, 1, 2, 3]),
    };
  },
};

/** All (colour, shape) objects absent from the scene. */
function absentObjects(scene: Scene): { color: Color; shape: Shape }[] {
  const out: { color: Color; shape: Shape }[] = [];
  for (const color of COLORS)
    for (const shape of SHAPES)
      if (!scene.objects.some((o) => o.color === color && o.shape === shape)) out.push({ color, shape });
  return out;
}

/** A POPE negative for the split (see the file comment). */
export function popeNegative(rng: Rng, scene: Scene, split: PopeSplit): { color: Color; shape: Shape } {
  const absent = absentObjects(scene);
  const popular = absent.filter((a) => scene.objects.some((o) => o.color === a.color || o.shape === a.shape));
  if (split === 'adversarial') {
    const swapped = absent.filter((a) =>
      scene.objects.some(
        (o) => o.color === a.color && scene.objects.some((p) => p !== o && p.shape === a.shape),
      ),
    );
    if (swapped.length > 0) return rng.pick(swapped);
  }
  if (split !== 'random' && popular.length > 0) return rng.pick(popular);
  return rng.pick(absent);
}

/**
 * Deals questions for scenes with balanced kinds, letters and yes/no answers. One generator per output
 * stream; the same seed and the same sequence of calls give the same questions.
 */
export class QuestionGenerator {
  private readonly kinds: Record<'mcq' | 'oe', BlockBalancer<QuestionKind>>;
  private readonly letters = new Map<QuestionKind, BlockBalancer<number>>();
  private readonly yesNo = new Map<PopeSplit, BlockBalancer<boolean>>();
  private readonly popeSplits: BlockBalancer<PopeSplit>;

  constructor(private readonly rng: Rng) {
    this.kinds = { mcq: new BlockBalancer(MC_KINDS, rng), oe: new BlockBalancer(OE_KINDS, rng) };
    this.popeSplits = new BlockBalancer(POPE_SPLITS, rng);
  }

  private core(family: 'mcq' | 'oe', scene: Scene): Core {
    const first = this.kinds[family].next();
    const order = family === 'mcq' ? MC_KINDS : OE_KINDS;
    const start = (order as readonly QuestionKind[]).indexOf(first);
    for (let k = 0; k < order.length; k++) {
      const kind = order[(start + k) % order.length] as Exclude<QuestionKind, 'exist'>;
      const c = BUILDERS[kind](this.rng, scene);
      if (c && (family === 'oe' || c.distractors.length >= 3)) return c;
    }
    throw new Error('no question applies to this scene');
  }

  private letter(kind: QuestionKind): number {
    let b = this.letters.get(kind);
    if (!b) {
      b = new BlockBalancer([0, 1, 2, 3], this.rng);
      this.letters.set(kind, b);
    }
    return b.next();
  }

  /** A 4-option multiple-choice question. */
  mcq(scene: Scene): Question {
    const c = this.core('mcq', scene);
    const at = this.letter(c.kind);
    const distractors = this.rng.shuffle(c.distractors.slice(0, 3));
    const options = [...distractors.slice(0, at), c.answer, ...distractors.slice(at)];
    const letter = OPTION_LETTERS[at] as OptionLetter;
    return {
      family: 'mcq',
      kind: c.kind,
      type: 'MC',
      question: c.question,
      options,
      answer: letter,
      answerText: c.answer,
      think: `${c.fact} . ${letter} is ${c.answer}`,
      problem: mcProblem(c.question, options),
      solution: answerTag(letter),
    };
  }

  /** An open-ended question (a colour, a shape, a size, a count, a relation, or arithmetic). */
  oe(scene: Scene): Question {
    const c = this.core('oe', scene);
    return {
      family: 'oe',
      kind: c.kind,
      type: 'OE',
      question: c.question,
      answer: c.answer,
      answerText: c.answer,
      think: c.fact,
      problem: oeProblem(c.question),
      solution: answerTag(c.answer),
    };
  }

  /** A POPE-style yes/no question; the split is dealt in turn when not given. */
  pope(scene: Scene, split?: PopeSplit): Question {
    const s = split ?? this.popeSplits.next();
    let yn = this.yesNo.get(s);
    if (!yn) {
      yn = new BlockBalancer([true, false], this.rng);
      this.yesNo.set(s, yn);
    }
    const yes = yn.next();
    const target = yes ? this.rng.pick(scene.objects) : popeNegative(this.rng, scene, s);
    const question = `is there a ${target.color} ${target.shape} in the image?`;
    const answer = yes ? 'yes' : 'no';
    return {
      family: 'pope',
      kind: 'exist',
      type: 'OE',
      question,
      answer,
      answerText: answer,
      think: `i see ${listObjects(readingOrder(scene))}`,
      problem: oeProblem(question, true),
      solution: answerTag(answer),
      popeSplit: s,
    };
  }

  /** A question of the given family. */
  ask(family: QuestionFamily, scene: Scene): Question {
    return family === 'mcq' ? this.mcq(scene) : family === 'oe' ? this.oe(scene) : this.pope(scene);
  }
}
