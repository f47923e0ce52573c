/** Pipeline presets: the image-reward override (`--image-rewards`) and the rewards each kind of run gets. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  PAPER_IMAGE_REWARDS,
  TEXT_REWARDS,
  parseImageRewards,
  pipelinePreset,
  rewardsFor,
} from '../../src/pipeline/presets.js';
import { RECIPES, withRecipe } from '../../src/pipeline/recipes.js';
import { branchFields, recipeNote } from '../../src/pipeline/presets.js';

test('parseImageRewards: names, weights, "paper", and one clear error for anything else', () => {
  assert.deepEqual(parseImageRewards('geneval'), { geneval: 1 });
  assert.deepEqual(parseImageRewards('geneval=2, t2i_ti_sim=0.5'), { geneval: 2, t2i_ti_sim: 0.5 });
  assert.deepEqual(parseImageRewards('paper'), PAPER_IMAGE_REWARDS);
  assert.throws(() => parseImageRewards('clip'), /unknown image reward "clip"/);
  assert.throws(() => parseImageRewards('geneval=-1'), /positive number/);
  assert.throws(() => parseImageRewards('geneval=x'), /positive number/);
});

test('rewardsFor: image rewards only for runs that generate, text rewards only for runs that answer', () => {
  const p = pipelinePreset('world-tiny', { recipe: 'paper' });
  assert.deepEqual(p.imageRewards, PAPER_IMAGE_REWARDS);
  assert.deepEqual(rewardsFor(p, ['t2i', 'mm2t']), { image: PAPER_IMAGE_REWARDS, text: TEXT_REWARDS });
  assert.deepEqual(rewardsFor(p, ['t2i']), { image: PAPER_IMAGE_REWARDS, text: {} });
  assert.deepEqual(rewardsFor(p, ['mm2t']), { image: {}, text: TEXT_REWARDS });
  const g = pipelinePreset('world-tiny', { imageRewards: 'geneval', recipe: 'paper' });
  assert.deepEqual(rewardsFor(g, ['t2i']).image, { geneval: 1 });
  // the preset itself is not modified by an override
  assert.deepEqual(pipelinePreset('world-tiny', { recipe: 'paper' }).imageRewards, PAPER_IMAGE_REWARDS);
  assert.deepEqual(pipelinePreset('world-tiny').imageRewards, RECIPES.corl!.imageRewards);
});

test("--recipe paper: Table 5 of the paper, steps scaled to the preset's prompts per run", () => {
  const p = pipelinePreset('world-tiny', { recipe: 'paper' });
  const d = pipelinePreset('world-tiny');
  // stage 1: G 8, beta 0, batch 16, lr 4e-6, one joint reward, conditional image log-probs
  for (const [k, v] of Object.entries({
    num_generations: 8,
    beta: 0,
    batch_size: 16,
    lr: 4e-6,
    lambda: 0.8,
    advantage: 'unify_reward',
    image_logprob_mode: 'cond',
  }))
    assert.equal(p.stage1[k], v, `stage1.${k}`);
  // as many prompts per run as the default: 80 steps x 4 = 20 x 16
  assert.equal(Number(p.stage1.steps) * 16, Number(d.stage1.steps) * Number(d.stage1.batch_size));
  // stage 2: G 16, beta 0.02, lr 1e-6, batch 16 / 32 / 32
  for (const [branch, batch] of [
    ['gen', 16],
    ['mcq', 32],
    ['oe', 32],
  ] as const) {
    const f = branchFields(p, branch);
    assert.deepEqual([f.num_generations, f.beta, f.lr, f.batch_size], [16, 0.02, 1e-6, batch], branch);
    assert.equal(Number(f.batch_size) % Number(f.micro_batch_size), 0, 'micro batch divides the batch');
  }
  assert.match(recipeNote(p), /Recipe "paper"/);
  assert.match(recipeNote(d), /departs from the paper in: .*--recipe paper/);
  assert.throws(
    () => pipelinePreset('world-tiny', { recipe: 'nope' }),
    /unknown --recipe "nope" \(known: corl, paper\)/,
  );
  // withRecipe: 10 steps x batch 4 -> batch 16 gives 3 steps (40 / 16 rounded), at least 1
  assert.deepEqual(withRecipe({ steps: 10, batch_size: 4, micro_batch_size: 4 }, { batch_size: 16 }), {
    steps: 3,
    batch_size: 16,
    micro_batch_size: 4,
  });
  assert.equal(withRecipe({ steps: 1, batch_size: 2 }, { batch_size: 32 }).steps, 1);
});
