import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SIZE_RADIUS } from '../../src/world/attributes.js';
import { GENEVAL_CATEGORIES } from '../../src/world/geneval.js';
import { samplePrompt, sceneForSpec } from '../../src/world/prompts.js';
import {
  POSITION_THRESHOLD,
  RELATION_MARGIN,
  relationComponents,
  relativePosition,
  type Box,
} from '../../src/world/relations.js';
import { Rng } from '../../src/world/rng.js';
import {
  difficultyOptions,
  objectBox,
  placeObjects,
  sampleScene,
  sceneProblems,
  sceneRelations,
} from '../../src/world/scene.js';

test("relativePosition follows GenEval's rule (hand-computed)", () => {
  // A 10 px box whose centre is 20 px left of B's: offset (-20, 0), shrink 0.1 * (10 + 10) = 2,
  // dx = -18 / 20 = -0.9 -> "left"; dy = 0.
  const b: Box = [40, 40, 50, 50];
  const a: Box = [20, 40, 30, 50];
  assert.deepEqual(relativePosition(a, b), ['left']);
  assert.deepEqual(relativePosition(b, a), ['right']);
  const c = relationComponents(a, b);
  assert.ok(Math.abs(c.dx + 0.9) < 1e-12 && c.dy === 0);
  assert.equal(POSITION_THRESHOLD, 0.1);
  // Diagonal at 45 degrees: offset (-20, -20), each axis (20 - 2) / 28.28 = 0.636 -> left and above.
  assert.deepEqual(relativePosition([20, 20, 30, 30], b), ['left', 'above']);
  // Overlapping centres: no relation.
  assert.deepEqual(relativePosition(b, b), []);
  // Mostly vertical: offset (-5, 30): dx = -(5 - 2) / 30.4 = -0.099 -> only "below".
  assert.deepEqual(relativePosition([35, 70, 45, 80], b), ['below']);
});

test('sampled scenes are valid: in the image, apart, unambiguous, unique (colour, shape)', () => {
  const rng = new Rng(11);
  const counts = [0, 0, 0, 0, 0];
  for (let i = 0; i < 600; i++) {
    const s = sampleScene(rng, difficultyOptions('hard'));
    counts[s.objects.length]++;
    assert.deepEqual(sceneProblems(s), [], JSON.stringify(s));
    for (const { subject, object } of sceneRelations(s)) {
      const c = relationComponents(objectBox(s.objects[subject]!), objectBox(s.objects[object]!));
      assert.ok(Math.abs(Math.abs(c.dx) - 0.5) >= RELATION_MARGIN - 1e-9);
      assert.ok(Math.abs(Math.abs(c.dy) - 0.5) >= RELATION_MARGIN - 1e-9);
    }
  }
  for (let n = 1; n <= 4; n++) assert.ok(counts[n]! > 100, `object counts ${counts}`);
});

test('difficulty controls the object count and distinctness', () => {
  const rng = new Rng(5);
  for (let i = 0; i < 200; i++) {
    const s = sampleScene(rng, difficultyOptions('easy'));
    assert.ok(s.objects.length <= 2);
    assert.equal(new Set(s.objects.map((o) => o.shape)).size, s.objects.length);
    assert.equal(new Set(s.objects.map((o) => o.color)).size, s.objects.length);
  }
  assert.throws(() => sampleScene(rng, { minObjects: 0, maxObjects: 5 }), RangeError);
});

test('four large objects still get a layout (sizes downgraded as needed)', () => {
  const rng = new Rng(3);
  for (let i = 0; i < 20; i++) {
    const objs = placeObjects(rng, [
      { shape: 'circle', color: 'red', size: 'large' },
      { shape: 'square', color: 'red', size: 'large' },
      { shape: 'triangle', color: 'red', size: 'large' },
      { shape: 'diamond', color: 'red', size: 'large' },
    ]);
    assert.equal(objs.length, 4);
    assert.deepEqual(sceneProblems({ objects: objs }), []);
  }
});

test('scenes for prompts satisfy their specs, and position scenes hold exactly the stated relation', () => {
  const rng = new Rng(9);
  for (const category of GENEVAL_CATEGORIES)
    for (let i = 0; i < 60; i++) {
      const p = samplePrompt(rng, category);
      const s = sceneForSpec(rng, p.spec);
      assert.deepEqual(sceneProblems(s), []);
      const total = p.spec.include.reduce((a, inc) => a + inc.count, 0);
      assert.equal(s.objects.length, total, `${p.prompt}: ${JSON.stringify(s)}`);
      for (const inc of p.spec.include) {
        const of = s.objects.filter((o) => o.shape === inc.class && (!inc.color || o.color === inc.color));
        assert.equal(of.length, inc.count, p.prompt);
      }
      const pos = p.spec.include.find((inc) => inc.position);
      if (pos) {
        const subj = s.objects.find((o) => o.shape === pos.class)!;
        const obj = s.objects.find((o) => o.shape === p.spec.include[pos.position![1]]!.class)!;
        const rels = relativePosition(objectBox(subj), objectBox(obj));
        const want = { 'left of': 'left', 'right of': 'right', above: 'above', below: 'below' }[
          pos.position![0]
        ];
        assert.deepEqual(rels, [want], p.prompt);
      }
    }
});

test('object boxes use the size radius', () => {
  const b = objectBox({ size: 'small', x: 0.5, y: 0.25 });
  assert.deepEqual(b, [
    0.5 - SIZE_RADIUS.small,
    0.25 - SIZE_RADIUS.small,
    0.5 + SIZE_RADIUS.small,
    0.25 + SIZE_RADIUS.small,
  ]);
});
