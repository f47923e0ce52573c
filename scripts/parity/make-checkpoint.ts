/**
 * Writes the parity fixture's inputs: a tiny random ULM checkpoint in Janus's layout and the model inputs
 * (an understanding batch and a generation batch, left-padded). scripts/parity/janus_reference.py then computes
 * the expected outputs with an independent PyTorch implementation; test/model/parity.test.ts compares.
 *
 * Regenerate (from the repository root):
 *   npx tsx scripts/parity/make-checkpoint.ts        # test/fixtures/parity/{model/, inputs.safetensors}
 *   /usr/bin/python3 scripts/parity/janus_reference.py  # test/fixtures/parity/expected.safetensors
 */
import * as path from 'node:path';
import * as torch from '../../src/torch/index.js';
import { saveSafetensors } from '../../src/torch/safetensors.js';
import { presetConfig } from '../../src/model/config.js';
import { MultiModalityCausalLM } from '../../src/model/ulm.js';
import { buildWordLevelTokenizer, ULMTokenizer } from '../../src/model/tokenizer.js';
import { generationBatch, understandingBatch } from '../../src/model/inputs.js';
import { generationPrompt, understandingPrompt } from '../../src/model/templates.js';
import { saveULM } from '../../src/model/checkpoint.js';

const OUT = path.join('test', 'fixtures', 'parity');
const WORDS =
  'a the red blue green circle square triangle what color shape is of left right how many ?'.split(' ');

torch.setNumThreads(1);
const tok = ULMTokenizer.fromJSON(buildWordLevelTokenizer(WORDS));
const config = presetConfig('test-micro', { vocabSize: tok.vocabSize });
const gen = new torch.Generator(2024);
const model = new MultiModalityCausalLM(config, { generator: gen });
// perturb every tensor (norm weights 1 / biases 0 would hide a missing scale or shift)
torch.noGrad(() => {
  for (const [, p] of model.stateDict())
    torch.tidy(() => p.copy_(p.add(torch.randn(p.shape, { generator: gen }).mul(0.05))));
});
saveULM(model, tok, path.join(OUT, 'model'));

const S = config.vision_config.params.image_size;
const inputs = torch.tidy(() => {
  const pixels = torch.rand([2, 3, S, S], { generator: gen }).mul(2).sub(1);
  const und = understandingBatch(
    tok,
    [understandingPrompt('what color is the circle ?'), understandingPrompt('how many ?')],
    [[pixels.select(0, 0)], [pixels.select(0, 1)]],
    model.numImageTokens,
  );
  const g = generationBatch(tok, [
    generationPrompt('a red circle left of a blue square'),
    generationPrompt('a green triangle'),
  ]);
  const codes = torch.randint(0, config.gen_vision_config.params.image_token_size, [2, model.numGenTokens], {
    generator: gen,
  });
  return new Map([
    ['und_input_ids', und.ids],
    ['und_attention_mask', und.attentionMask],
    ['und_images_seq_mask', und.imagesSeqMask.to('uint8')],
    ['und_pixel_values', und.pixelValues!],
    ['gen_input_ids', g.ids],
    ['gen_attention_mask', g.attentionMask],
    ['gen_codes', codes],
  ]);
});
saveSafetensors(path.join(OUT, 'inputs.safetensors'), inputs, {
  pad_id: String(tok.special.pad),
  cfg_weight: '3',
});
console.log(`wrote ${OUT}/model and ${OUT}/inputs.safetensors (${model.numParameters()} parameters)`);
