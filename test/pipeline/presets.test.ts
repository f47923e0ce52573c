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

test('parseImageRewards: names, weights, "paper", and one clear error for anything else', () => {
  assert.deepEqual(parseImageRewards('geneval'), { geneval: 1 });
  assert.deepEqual(parseImageRewards('geneval=2, t2i_ti_sim=0.5'), { geneval: 2, t2i_ti_sim: 0.5 });
  assert.deepEqual(parseImageRewards('paper'), PAPER_IMAGE_REWARDS);
  assert.throws(() => parseImageRewards('clip'), /unknown image reward "clip"/);
  assert.throws(() => parseImageRewards('geneval=-1'), /positive number/);
  assert.throws(() => parseImageRewards('geneval=x'), /positive number/);
});

test('rewardsFor: image rewards only for runs that generate, text rewards only for runs that answer', () => {
  const p = pipelinePreset('world-tiny');
  assert.deepEqual(p.imageRewards, PAPER_IMAGE_REWARDS);
  assert.deepEqual(rewardsFor(p, ['t2i', 'mm2t']), { image: PAPER_IMAGE_REWARDS, text: TEXT_REWARDS });
  assert.deepEqual(rewardsFor(p, ['t2i']), { image: PAPER_IMAGE_REWARDS, text: {} });
  assert.deepEqual(rewardsFor(p, ['mm2t']), { image: {}, text: TEXT_REWARDS });
  const g = pipelinePreset('world-tiny', { imageRewards: 'geneval' });
  assert.deepEqual(rewardsFor(g, ['t2i']).image, { geneval: 1 });
  // the preset itself is not modified by an override
  assert.deepEqual(pipelinePreset('world-tiny').imageRewards, PAPER_IMAGE_REWARDS);
});
