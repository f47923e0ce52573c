/**
 * scripts/device-check.sh step 5, corl's side: writes a random-weight checkpoint in Janus's layout (float32,
 * preset $LOGITS_PRESET, default test-micro; janus-pro-1b at full size on a GPU machine), and corl's text and
 * gen-head logits on fixed token ids (DIR/corl-logits.safetensors: ids [1, T], text [1, T, V], gen [1, T, K]).
 * The shell script then converts the checkpoint with `corl convert --layout hf` and compare_logits.py runs
 * transformers' JanusForConditionalGeneration on the converted folder.
 *
 *   npx tsx scripts/device-check/logits.ts DIR
 */
import * as path from 'node:path';
import * as torch from '../../src/torch/index.js';
import { presetConfig, type PresetName } from '../../src/model/config.js';
import { buildWordLevelTokenizer } from '../../src/model/tokenizer.js';
import { loadULM } from '../../src/model/index.js';
import { writeJanusCheckpoint } from '../../test/helpers/janus-checkpoint.js';
import { WORDS } from '../../test/model/helpers.js';

const dir = process.argv[2];
if (dir === undefined) throw new Error('usage: logits.ts DIR');
const preset = (process.env.LOGITS_PRESET ?? 'test-micro') as PresetName;
const tokenizer = buildWordLevelTokenizer(WORDS);
const vocab = (tokenizer as { model: { vocab: Record<string, number> } }).model.vocab;
const janus = path.join(dir, 'janus');
const config = presetConfig(preset, preset === 'test-micro' ? { vocabSize: Object.keys(vocab).length } : {});
// as the release: the VQ model carries codebook_used (transformers' Janus expects it)
config.gen_vision_config.params.codebook_show_usage = true;
writeJanusCheckpoint(janus, {
  format: 'safetensors',
  layout: 'janus',
  config,
  tokenizer,
  seed: 1,
  dtype: 'float32',
});
const { model } = loadULM(janus);
torch.tidy(() => {
  const T = 12;
  const ids = torch.tensor(
    Array.from({ length: T }, (_, i) => (i * 7 + 3) % Object.keys(vocab).length),
    { shape: [1, T], dtype: 'int64' },
  );
  const { hidden } = torch.noGrad(() => model.forward({ inputIds: ids, logits: false }));
  const out = new Map([
    ['ids', ids],
    ['text', model.textLogits(hidden).contiguous()],
    ['gen', model.genLogits(hidden).contiguous()],
  ]);
  torch.safetensors.saveSafetensors(path.join(dir, 'corl-logits.safetensors'), out);
});
model.dispose();
console.log(`wrote ${janus} (${preset}) and corl's logits`);
