import assert from 'node:assert/strict';
import { test } from 'node:test';
import { detectObjects } from '../../src/world/detect.js';
import {
  GENEVAL_CATEGORIES,
  scoreGeneval,
  summariseGeneval,
  type GenevalSpec,
} from '../../src/world/geneval.js';
import { corrupt } from '../../src/world/image.js';
import { samplePrompt, sceneForSpec } from '../../src/world/prompts.js';
import { renderScene } from '../../src/world/render.js';
import { Rng } from '../../src/world/rng.js';
import type { Scene, SceneObject } from '../../src/world/scene.js';

const at = (shape: SceneObject['shape'], color: SceneObject['color'], x: number, y: number): SceneObject => ({
  shape,
  color,
  size: 'small',
  x,
  y,
});
const score = (spec: GenevalSpec, scene: Scene) => scoreGeneval(spec, detectObjects(renderScene(scene)));

test('every category: the real image of every prompt passes, clean and under noise', () => {
  const rng = new Rng(31);
  const noise = new Rng(32);
  for (const category of GENEVAL_CATEGORIES)
    for (let i = 0; i < 40; i++) {
      const p = samplePrompt(rng, category);
      assert.equal(p.spec.tag, category);
      assert.equal(p.spec.prompt, p.prompt);
      const img = renderScene(sceneForSpec(rng, p.spec));
      const r = scoreGeneval(p.spec, detectObjects(img));
      assert.ok(r.correct, `${p.prompt}: ${r.reason}`);
      const noisy = scoreGeneval(p.spec, detectObjects(corrupt(img, { noise: 0.05, blur: 0.7 }, noise)));
      assert.ok(noisy.correct, `noisy ${p.prompt}: ${noisy.reason}`);
    }
});

test('single_object: the class must be present (other objects allowed)', () => {
  const spec: GenevalSpec = {
    tag: 'single_object',
    include: [{ class: 'circle', count: 1 }],
    prompt: 'a circle',
  };
  const no = score(spec, { objects: [at('square', 'red', 0.3, 0.3)] });
  assert.equal(no.correct, false);
  assert.equal(no.reason, 'expected circle>=1, found 0');
  assert.ok(
    score(spec, { objects: [at('circle', 'blue', 0.3, 0.3), at('square', 'red', 0.75, 0.3)] }).correct,
  );
});

test('two_object: both classes present', () => {
  const spec: GenevalSpec = {
    tag: 'two_object',
    include: [
      { class: 'circle', count: 1 },
      { class: 'triangle', count: 1 },
    ],
    prompt: 'a circle and a triangle',
  };
  assert.equal(score(spec, { objects: [at('circle', 'red', 0.3, 0.3)] }).correct, false);
  assert.ok(
    score(spec, { objects: [at('circle', 'red', 0.3, 0.3), at('triangle', 'red', 0.75, 0.3)] }).correct,
  );
});

test('counting: exactly N of the class', () => {
  const spec: GenevalSpec = {
    tag: 'counting',
    include: [{ class: 'circle', count: 3 }],
    exclude: [{ class: 'circle', count: 4 }],
    prompt: 'three circles',
  };
  const c = (color: SceneObject['color'], x: number, y: number) => at('circle', color, x, y);
  const two = { objects: [c('red', 0.2, 0.2), c('blue', 0.75, 0.2)] };
  const three = { objects: [...two.objects, c('green', 0.2, 0.75)] };
  const four = { objects: [...three.objects, c('white', 0.75, 0.75)] };
  const threePlusSquare = { objects: [...three.objects, at('square', 'white', 0.75, 0.75)] };
  assert.equal(score(spec, two).reason, 'expected circle>=3, found 2');
  assert.ok(score(spec, three).correct);
  assert.equal(score(spec, four).reason, 'expected circle<4, found 4');
  assert.ok(score(spec, threePlusSquare).correct);
});

test('colors: the named object has the named colour', () => {
  const spec: GenevalSpec = {
    tag: 'colors',
    include: [{ class: 'circle', count: 1, color: 'red' }],
    prompt: 'a red circle',
  };
  const wrong = score(spec, { objects: [at('circle', 'blue', 0.3, 0.3), at('square', 'red', 0.75, 0.3)] });
  assert.equal(wrong.correct, false);
  assert.match(wrong.reason, /expected red circle>=1, found 0 \(blue\)/);
  assert.ok(score(spec, { objects: [at('circle', 'red', 0.3, 0.3)] }).correct);
});

test('position: both present and the relation holds', () => {
  // "a circle left of a square": include 0 = square (reference), include 1 = circle placed "left of" it.
  const spec: GenevalSpec = {
    tag: 'position',
    include: [
      { class: 'square', count: 1 },
      { class: 'circle', count: 1, position: ['left of', 0] },
    ],
    prompt: 'a circle left of a square',
  };
  assert.ok(
    score(spec, { objects: [at('circle', 'red', 0.25, 0.5), at('square', 'blue', 0.75, 0.5)] }).correct,
  );
  const swapped = score(spec, { objects: [at('circle', 'red', 0.75, 0.5), at('square', 'blue', 0.25, 0.5)] });
  assert.equal(swapped.correct, false);
  assert.equal(swapped.reason, 'expected circle left of target');
  // Stacked vertically: neither left nor right.
  assert.equal(
    score(spec, { objects: [at('circle', 'red', 0.5, 0.2), at('square', 'blue', 0.5, 0.75)] }).correct,
    false,
  );
  // Missing reference object.
  assert.equal(score(spec, { objects: [at('circle', 'red', 0.25, 0.5)] }).correct, false);
});

test('color_attr: each object has its own colour (attribute binding)', () => {
  const spec: GenevalSpec = {
    tag: 'color_attr',
    include: [
      { class: 'circle', count: 1, color: 'red' },
      { class: 'square', count: 1, color: 'blue' },
    ],
    prompt: 'a red circle and a blue square',
  };
  assert.ok(
    score(spec, { objects: [at('circle', 'red', 0.25, 0.5), at('square', 'blue', 0.75, 0.5)] }).correct,
  );
  const swapped = score(spec, { objects: [at('circle', 'blue', 0.25, 0.5), at('square', 'red', 0.75, 0.5)] });
  assert.equal(swapped.correct, false);
  assert.equal(swapped.reason.split('\n').length, 2);
});

test('summary: mean over categories of the per-category accuracy (hand-computed)', () => {
  const s = summariseGeneval([
    { tag: 'single_object', correct: true },
    { tag: 'single_object', correct: false },
    { tag: 'counting', correct: true },
    { tag: 'position', correct: false },
    { tag: 'position', correct: false },
    { tag: 'position', correct: true },
    { tag: 'position', correct: true },
  ]);
  assert.deepEqual(s.categories.single_object, { accuracy: 0.5, n: 2 });
  assert.deepEqual(s.categories.position, { accuracy: 0.5, n: 4 });
  assert.equal(s.categories.colors, undefined);
  // (0.5 + 1 + 0.5) / 3, not 4 / 7.
  assert.ok(Math.abs(s.overall - 2 / 3) < 1e-12);
  assert.equal(s.n, 7);
  assert.equal(summariseGeneval([]).overall, 0);
});
