/**
 * The `geneval` reward: the world's renders of a prompt's own scene score 1 in every category, an empty or
 * wrong-colour image scores 0, a sample without a spec is NaN, a malformed spec throws.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { genevalReward } from '../../src/rewards/geneval-reward.js';
import { GENEVAL_CATEGORIES, type GenevalSpec } from '../../src/world/geneval.js';
import { samplePrompt, sceneForSpec } from '../../src/world/prompts.js';
import { renderScene } from '../../src/world/render.js';
import { Rng } from '../../src/world/rng.js';
import type { ImageSample } from '../../src/rewards/types.js';
import { closeAll, solid } from './helpers.js';

test('geneval reward: real renders score 1, a black image 0, no spec NaN', () => {
  const rng = new Rng(3);
  const fn = genevalReward();
  const samples: ImageSample[] = GENEVAL_CATEGORIES.map((c) => {
    const p = samplePrompt(rng, c);
    return { image: renderScene(sceneForSpec(rng, p.spec)), prompt: p.prompt, spec: p.spec };
  });
  const out = fn.score({ samples });
  assert.ok(!Array.isArray(out));
  closeAll(out.values, [1, 1, 1, 1, 1, 1]);
  const black = samples.map((s) => ({ ...s, image: solid(32, 32, [0, 0, 0]) }));
  const none = fn.score({ samples: [...black, { image: samples[0]!.image, prompt: 'x' }] });
  assert.ok(!Array.isArray(none));
  closeAll(none.values, [0, 0, 0, 0, 0, 0, NaN]);
  assert.match(none.note ?? '', /1 without a spec/);
});

test('geneval reward: the wrong colour fails a colors prompt', () => {
  const spec: GenevalSpec = {
    tag: 'colors',
    include: [{ class: 'circle', count: 1, color: 'red' }],
    prompt: 'a red circle',
  };
  const scene = {
    objects: [{ shape: 'circle' as const, color: 'blue' as const, size: 'large' as const, x: 0.5, y: 0.5 }],
  };
  const red = { objects: [{ ...scene.objects[0]!, color: 'red' as const }] };
  const out = genevalReward().score({
    samples: [
      { image: renderScene(scene), prompt: spec.prompt, spec },
      { image: renderScene(red), prompt: spec.prompt, spec },
    ],
  });
  closeAll(Array.isArray(out) ? out : out.values, [0, 1]);
  assert.throws(
    () =>
      genevalReward().score({ samples: [{ image: renderScene(red), prompt: '', spec: { tag: 'nope' } }] }),
    /sample 0 has a spec that is not a GenEval spec/,
  );
});
