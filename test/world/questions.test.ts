import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CORNERS, COLORS, SHAPES, type Color, type Shape } from '../../src/world/attributes.js';
import { samplePrompt, sceneForSpec } from '../../src/world/prompts.js';
import {
  MC_KINDS,
  POPE_SPLITS,
  QuestionGenerator,
  popeNegative,
  type Question,
} from '../../src/world/questions.js';
import { relativePosition } from '../../src/world/relations.js';
import { Rng } from '../../src/world/rng.js';
import {
  difficultyOptions,
  objectBox,
  sampleScene,
  type Scene,
  type SceneObject,
} from '../../src/world/scene.js';
import { GENEVAL_CATEGORIES } from '../../src/world/geneval.js';
import { MC_INSTRUCTION, OE_INSTRUCTION, YN_INSTRUCTION } from '../../src/world/templates.js';

function scenes(n: number, seed: number): Scene[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, (_, i) => {
    if (i % 2 === 0) return sampleScene(rng, difficultyOptions('hard'));
    const p = samplePrompt(rng, GENEVAL_CATEGORIES[i % 6]!);
    return sceneForSpec(rng, p.spec);
  });
}

/** The objects a description ("small red circle", "red object", "circle") names. */
function resolve(scene: Scene, words: string[]): SceneObject[] {
  return scene.objects.filter((o) =>
    words.every((w) => w === 'object' || w === o.shape || w === o.color || w === o.size),
  );
}
function one(scene: Scene, desc: string): SceneObject {
  const found = resolve(scene, desc.split(' '));
  assert.equal(found.length, 1, `"${desc}" names ${found.length} objects in ${JSON.stringify(scene)}`);
  return found[0]!;
}

/** Recomputes the answer of a question from the scene alone (an independent oracle). */
function oracle(scene: Scene, q: Question): string {
  const s = q.question;
  let m: RegExpExecArray | null;
  if ((m = /^what color is the (.+)\?$/.exec(s))) return one(scene, m[1]!).color;
  if ((m = /^what shape is the (.+)\?$/.exec(s))) return one(scene, m[1]!).shape;
  if ((m = /^what size is the (.+)\?$/.exec(s))) return one(scene, m[1]!).size;
  if ((m = /^how many more (.+) than (.+) are there\?$/.exec(s))) {
    const count = (np: string) => resolve(scene, [np.split(' ')[0]!.replace(/s$/, '')]).length;
    return String(count(m[1]!) - count(m[2]!));
  }
  if ((m = /^how many (.+)s are there\?$/.exec(s))) return String(resolve(scene, m[1]!.split(' ')).length);
  if (s === 'how many corners are there in total?')
    return String(scene.objects.reduce((a, o) => a + CORNERS[o.shape], 0));
  if ((m = /^where is the (.+) relative to the (.+)\?$/.exec(s))) {
    const rels = relativePosition(objectBox(one(scene, m[1]!)), objectBox(one(scene, m[2]!)));
    assert.equal(rels.length, 1);
    return rels[0]!;
  }
  if ((m = /^is there a (\w+) (\w+) in the image\?$/.exec(s)))
    return scene.objects.some((o) => o.color === m![1] && o.shape === m![2]) ? 'yes' : 'no';
  throw new Error(`unknown question: ${s}`);
}

test('every answer is right (checked by an independent oracle), MCQ well-formed', () => {
  const gen = new QuestionGenerator(new Rng(1));
  for (const scene of scenes(400, 2)) {
    for (const q of [gen.mcq(scene), gen.oe(scene), gen.pope(scene)]) {
      assert.equal(q.answerText, oracle(scene, q), q.question);
      assert.equal(q.solution, `<answer>${q.answer}</answer>`);
      assert.ok(q.problem.startsWith(`Question: ${q.question}\n`));
      if (q.type === 'MC') {
        assert.equal(q.options!.length, 4);
        assert.equal(new Set(q.options).size, 4, q.problem);
        const idx = 'ABCD'.indexOf(q.answer);
        assert.equal(q.options![idx], q.answerText);
        assert.ok(q.problem.includes(`\nOptions:\nA. ${q.options![0]}\nB. ${q.options![1]}\n`));
        assert.ok(q.problem.endsWith(MC_INSTRUCTION));
        assert.ok(q.think.endsWith(` . ${q.answer} is ${q.answerText}`), q.think);
        // No distractor is also a correct answer.
        for (const o of q.options!) if (o !== q.answerText) assert.notEqual(o, oracle(scene, q));
      } else if (q.family === 'oe') {
        assert.ok(q.problem.endsWith(OE_INSTRUCTION));
        assert.equal(q.answer, q.answerText);
      } else {
        assert.ok(q.problem.endsWith(YN_INSTRUCTION));
        assert.ok(q.answer === 'yes' || q.answer === 'no');
      }
    }
  }
});

test('think texts are short and exact', () => {
  const scene: Scene = {
    objects: [
      { shape: 'triangle', color: 'red', size: 'small', x: 0.25, y: 0.5 },
      { shape: 'square', color: 'blue', size: 'large', x: 0.75, y: 0.5 },
    ],
  };
  const gen = new QuestionGenerator(new Rng(5));
  const seen = new Map<string, string>();
  for (let i = 0; i < 200; i++) {
    const q = gen.oe(scene);
    seen.set(q.kind, q.think);
  }
  assert.equal(seen.get('corners'), 'triangle 3 , square 4 , 3 + 4 = 7');
  assert.match(seen.get('position')!, /^the (triangle|square) is (left of|right of) the (square|triangle)$/);
  assert.match(seen.get('color')!, /^the (triangle|square) is (red|blue)$/);
  assert.equal(gen.pope(scene).think, 'i see a red triangle and a blue square');
  for (const t of seen.values()) assert.ok(t.split(' ').length <= 16, t);
});

test('MCQ letters are balanced overall and per kind; options are plausible', () => {
  const gen = new QuestionGenerator(new Rng(3));
  const byKind = new Map<string, number[]>();
  const overall = [0, 0, 0, 0];
  let colorFromScene = 0;
  let colorQs = 0;
  for (const scene of scenes(2000, 4)) {
    const q = gen.mcq(scene);
    const k = 'ABCD'.indexOf(q.answer);
    overall[k]!++;
    const c = byKind.get(q.kind) ?? [0, 0, 0, 0];
    c[k]!++;
    byKind.set(q.kind, c);
    // A colour present elsewhere in the scene is among the distractors when there is one.
    const others = new Set(scene.objects.map((o) => o.color).filter((c2) => c2 !== q.answerText));
    if (q.kind === 'color' && others.size > 0) {
      colorQs++;
      if (q.options!.some((o) => others.has(o as Color))) colorFromScene++;
    }
  }
  for (const c of overall) assert.ok(Math.abs(c - 500) <= 12, `letters ${overall}`);
  for (const [kind, c] of byKind) assert.ok(Math.max(...c) - Math.min(...c) <= 1, `${kind}: ${c}`);
  assert.deepEqual([...byKind.keys()].sort(), [...MC_KINDS].sort());
  assert.ok(colorQs > 50, `${colorQs} colour questions with other colours in the scene`);
  assert.equal(colorFromScene, colorQs);
});

test('POPE: yes/no balanced per split; negatives absent; adversarial negatives swap bound attributes', () => {
  const gen = new QuestionGenerator(new Rng(6));
  const counts = new Map<string, { yes: number; no: number }>();
  for (const scene of scenes(900, 7))
    for (const split of POPE_SPLITS) {
      const q = gen.pope(scene, split);
      const c = counts.get(split) ?? { yes: 0, no: 0 };
      c[q.answer as 'yes' | 'no']++;
      counts.set(split, c);
      assert.equal(q.popeSplit, split);
    }
  for (const [split, c] of counts) assert.ok(Math.abs(c.yes - c.no) <= 1, `${split}: ${JSON.stringify(c)}`);

  const rng = new Rng(8);
  const two: Scene = {
    objects: [
      { shape: 'circle', color: 'red', size: 'small', x: 0.25, y: 0.5 },
      { shape: 'square', color: 'blue', size: 'small', x: 0.75, y: 0.5 },
    ],
  };
  const present = (s: Scene, n: { color: Color; shape: Shape }) =>
    s.objects.some((o) => o.color === n.color && o.shape === n.shape);
  const adv = new Set<string>();
  for (let i = 0; i < 100; i++) {
    for (const split of POPE_SPLITS) assert.ok(!present(two, popeNegative(rng, two, split)));
    const a = popeNegative(rng, two, 'adversarial');
    adv.add(`${a.color} ${a.shape}`);
    const p = popeNegative(rng, two, 'popular');
    assert.ok(['red', 'blue'].includes(p.color) || ['circle', 'square'].includes(p.shape));
  }
  assert.deepEqual([...adv].sort(), ['blue circle', 'red square']);
  // Random negatives range over the whole world.
  const seen = new Set<string>();
  for (let i = 0; i < 400; i++) {
    const r = popeNegative(rng, two, 'random');
    seen.add(`${r.color} ${r.shape}`);
  }
  assert.equal(seen.size, COLORS.length * SHAPES.length - 2);
});
