import assert from 'node:assert/strict';
import { test } from 'node:test';
import { captionTuples, describeScene, parseCaption, spiceF1, spiceScore } from '../../src/world/caption.js';
import { GENEVAL_CATEGORIES } from '../../src/world/geneval.js';
import { samplePrompt } from '../../src/world/prompts.js';
import { Rng } from '../../src/world/rng.js';
import { difficultyOptions, sampleScene, type Scene } from '../../src/world/scene.js';

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} != ${b}`);

test('describeScene: left to right, with relations', () => {
  const side: Scene = {
    objects: [
      { shape: 'square', color: 'blue', size: 'large', x: 0.75, y: 0.5 },
      { shape: 'circle', color: 'red', size: 'small', x: 0.25, y: 0.5 },
    ],
  };
  assert.equal(describeScene(side), 'a small red circle to the left of a large blue square');
  const stacked: Scene = {
    objects: [
      { shape: 'square', color: 'blue', size: 'large', x: 0.5, y: 0.75 },
      { shape: 'circle', color: 'red', size: 'small', x: 0.5, y: 0.2 },
    ],
  };
  assert.equal(describeScene(stacked), 'a small red circle above a large blue square');
  assert.equal(describeScene({ objects: [side.objects[0]!] }), 'a large blue square');
});

test('parseCaption reads entities, attributes and relations', () => {
  const g = parseCaption('a small red circle to the left of a large blue square');
  assert.deepEqual(g.entities, [
    { shape: 'circle', count: 1, colors: ['red'], sizes: ['small'] },
    { shape: 'square', count: 1, colors: ['blue'], sizes: ['large'] },
  ]);
  assert.deepEqual(g.relations, [{ subject: 0, relation: 'left', object: 1 }]);
  const post = parseCaption('a circle that is red and a square that is blue');
  assert.deepEqual(
    post.entities.map((e) => [e.shape, e.colors]),
    [
      ['circle', ['red']],
      ['square', ['blue']],
    ],
  );
  assert.equal(parseCaption('a photo of three triangles').entities[0]!.count, 3);
  assert.equal(parseCaption('4 diamonds').entities[0]!.count, 4);
});

test('tuples of a prompt (hand-listed)', () => {
  assert.deepEqual([...captionTuples('a red circle to the left of a blue square')].sort(), [
    'circle',
    'circle|left of|square',
    'circle|red',
    'square',
    'square|blue',
  ]);
  assert.deepEqual([...captionTuples('a photo of three circles')].sort(), ['circle', 'circle|count=3']);
  // "right of" and "below" are rewritten with swapped arguments.
  assert.deepEqual(
    [...captionTuples('a square right of a circle')].sort(),
    [...captionTuples('a circle left of a square')].sort(),
  );
  assert.ok(captionTuples('a triangle below a diamond').has('diamond|above|triangle'));
});

test('SPICE-style F1, hand-computed', () => {
  // Caption has 7 tuples (5 + two sizes), the prompt 5, all 5 shared: P = 5/7, R = 1, F1 = 10/12.
  const s = spiceScore(
    'a small red circle to the left of a large blue square',
    'a red circle to the left of a blue square',
  );
  close(s.precision, 5 / 7);
  close(s.recall, 1);
  close(s.f1, 10 / 12);
  // Different objects: {circle, circle|red, triangle, triangle|green} vs {circle, circle|red, square,
  // square|blue}: 2 shared of 4 and 4 -> F1 0.5.
  close(spiceF1('a red circle and a green triangle', 'a red circle and a blue square'), 0.5);
  // Wrong relation: 4 of 5 tuples shared on each side -> 0.8.
  close(spiceF1('a red circle above a blue square', 'a red circle left of a blue square'), 0.8);
  // Listing two circles vs "two circles": {circle, circle|red, circle|blue, circle|count=2} vs
  // {circle, circle|count=2}: P = 2/4, R = 1 -> 2/3.
  close(spiceF1('a red circle and a blue circle', 'two circles'), 2 / 3);
  // Nothing parsed from the candidate -> 0; nothing on both sides -> 1.
  close(spiceF1('', 'a red circle'), 0);
  close(spiceF1('hello world', 'nothing here'), 1);
});

test('tolerant of word order, plurals, number words, adjective order and filler', () => {
  close(spiceF1('a blue square to the right of a red circle', 'a red circle left of a blue square'), 1);
  close(spiceF1('a blue square and a red circle', 'a red circle and a blue square'), 1);
  close(spiceF1('three circles', 'a picture of 3 circles'), 1);
  close(spiceF1('a circle that is red', 'a red circle'), 1);
  close(spiceF1('a red small circle', 'a small red circle'), 1);
  close(spiceF1('A Red Circle.', 'a red circle'), 1);
  close(spiceF1('a square below a circle', 'a circle above a square'), 1);
  close(spiceF1('two big squares', 'two large squares'), 1);
  assert.ok(spiceF1('two circles', 'three circles') < 1);
});

test('exact on the world grammar: a prompt matches itself, a caption matches its scene', () => {
  const rng = new Rng(4);
  for (const c of GENEVAL_CATEGORIES)
    for (let i = 0; i < 30; i++) {
      const p = samplePrompt(rng, c);
      close(spiceF1(p.prompt, p.prompt), 1);
      const g = parseCaption(p.prompt);
      const n = p.spec.include.reduce((a, inc) => a + inc.count, 0);
      assert.equal(
        g.entities.reduce((a, e) => a + e.count, 0),
        n,
        p.prompt,
      );
      for (const inc of p.spec.include) {
        const e = g.entities.find((x) => x.shape === inc.class)!;
        assert.ok(e, p.prompt);
        if (inc.color) assert.deepEqual(e.colors, [inc.color], p.prompt);
      }
      assert.equal(g.relations.length, p.spec.tag === 'position' ? 1 : 0, p.prompt);
    }
  for (let i = 0; i < 100; i++) {
    const s = sampleScene(rng, difficultyOptions('hard'));
    const g = parseCaption(describeScene(s));
    assert.equal(g.entities.length, s.objects.length);
    assert.equal(g.relations.length, s.objects.length - 1);
    for (const e of g.entities) {
      assert.ok(
        s.objects.some((o) => o.shape === e.shape && e.colors[0] === o.color && e.sizes[0] === o.size),
        describeScene(s),
      );
    }
  }
});
