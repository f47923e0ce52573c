/**
 * The default registry end to end on a world example: text rewards (format + accuracy) and image rewards
 * (cycle + TIM, plus geneval and the CLIP baseline), hand-computed totals.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { CORL_REWARDS, createRewardRegistry } from '../../src/rewards/index.js';
import { renderScene } from '../../src/world/render.js';
import type { GenevalSpec } from '../../src/world/geneval.js';
import type { HiddenSpans, RgbImage } from '../../src/rewards/types.js';
import type { UnderstandingHidden } from '../../src/model/logprobs.js';
import type { RGBImage as ModelImage } from '../../src/model/preprocess.js';
import type { RgbImage as WorldImage } from '../../src/world/image.js';
import { close, closeAll, solid } from './helpers.js';

// compile-time: the model's TIM inputs and the world's and model's images are reward inputs as they are
const _hidden: (u: UnderstandingHidden) => HiddenSpans = (u) => u;
const _world: (i: WorldImage) => RgbImage = (i) => i;
const _model: (i: ModelImage) => RgbImage = (i) => i;

torch.setNumThreads(1);

test('default registry: names and modalities', () => {
  const reg = createRewardRegistry();
  assert.deepEqual(reg.names('text'), ['format', 'qa_accuracy', 'think_match']);
  assert.deepEqual(reg.names('image'), ['t2i_bid_cycle_reward', 't2i_ti_sim', 't2i_clip_sim', 'geneval']);
});

test('default registry: CoRL text and image totals on a world example', () => {
  const reg = createRewardRegistry();
  // text: format 1 + accuracy 1 = 2; format 0 + accuracy 0 = 0
  const text = reg.score('text', CORL_REWARDS.text, {
    samples: [
      {
        completion: '<think>red</think><answer>red</answer>',
        qa_solution: '<answer>red</answer>',
        qa_type: 'OE',
      },
      { completion: 'blue', qa_solution: '<answer>red</answer>', qa_type: 'OE' },
    ],
  });
  closeAll(text.total, [2, 0]);

  const spec: GenevalSpec = {
    tag: 'colors',
    include: [{ class: 'circle', count: 1, color: 'red' }],
    prompt: 'a red circle',
  };
  const real = renderScene({ objects: [{ shape: 'circle', color: 'red', size: 'large', x: 0.5, y: 0.5 }] });
  // sample 0 = the real image itself, re-captioned "a large red circle":
  //   image side SSIM(x, x) = 1; text side tuples: candidate {circle, circle|red, circle|large}, reference
  //   {circle, circle|red}: P = 2/3, R = 1, F1 = 2 (2/3) / (5/3) = 0.8; cycle = 0.5 + 0.4 = 0.9
  //   TIM: image token (1,0), text token (2,0): cos 1 -> 1.  total = 0.9 + 1 = 1.9
  // sample 1 = a black image, no re-caption: cycle = image side alone (SSIM of black vs the render, in
  //   [0, 1)); TIM row: image (1,0), text (0,1): 0.5
  torch.tidy(() => {
    // prettier-ignore
    const hidden = {
      hidden: torch.tensor([
        [[1, 0], [2, 0]],
        [[1, 0], [0, 1]],
      ]),
      imageMask: torch.tensor([[true, false], [true, false]]),
      textMask: torch.tensor([[false, true], [false, true]]),
    };
    const samples = [
      { image: real, realImage: real, prompt: 'a red circle', recaption: 'a large red circle', spec },
      { image: solid(32, 32, [0, 0, 0]), realImage: real, prompt: 'a red circle', spec },
    ];
    const specs = [
      ...CORL_REWARDS.image,
      { name: 'geneval', weight: 0 },
      { name: 't2i_clip_sim', weight: 0 },
    ];
    const s = reg.score('image', specs, { samples, hidden });
    close(s.byFn.t2i_bid_cycle_reward![0]!, 0.9, 1e-6);
    closeAll(s.parts.t2i_bid_cycle_reward!.text_side!, [0.8, NaN], 1e-9);
    const blackSide = s.parts.t2i_bid_cycle_reward!.image_side![1]!;
    assert.ok(blackSide >= 0 && blackSide < 1);
    close(s.byFn.t2i_bid_cycle_reward![1]!, blackSide, 1e-9);
    closeAll(s.byFn.t2i_ti_sim!, [1, 0.5], 1e-6);
    closeAll(s.byFn.geneval!, [1, 0]);
    closeAll(s.byFn.t2i_clip_sim!, [1, 0.5], 1e-6);
    // weight-0 rewards are logged but not added
    closeAll(s.total, [1.9, blackSide + 0.5], 1e-6);
  });
});
