/**
 * One process of the data-parallel pretraining equivalence test (test/pretrain/distributed.test.ts): one
 * step of a pretraining stage (sft, vq or vision) of world-micro from the same seeded start, either in one
 * process on the whole batch or as rank RANK of WORLD on its share. Rank 0 (or the one process) writes the
 * trainable parameters after the step (OUT.safetensors), the gradients the optimizer got (OUT.grads.safetensors:
 * summed over ranks; clipping is off) and the step's log (OUT.json).
 *   node --import tsx dp-worker.ts sft|vq|vision OUT [RANK WORLD INIT_METHOD]
 */
import { writeFileSync } from 'node:fs';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import * as dist from '../../src/torch/distributed.js';
import { joinTestWorld } from '../helpers/data-parallel.js';
import { pretrainPreset } from '../../src/pretrain/presets.js';
import { buildULM, trainSFT, worldTokenizer } from '../../src/pretrain/sft.js';
import { trainVQ } from '../../src/pretrain/vq.js';
import { trainVision } from '../../src/pretrain/vision.js';
import { VQModel } from '../../src/model/vq.js';
import type { nn } from '../../src/torch/index.js';

const [mode, out, rankS, worldS, initMethod] = process.argv.slice(2) as [
  'sft' | 'vq' | 'vision',
  string,
  string?,
  string?,
  string?,
];

const world = joinTestWorld(rankS, worldS, initMethod);
const preset = pretrainPreset('world-micro');
const tok = worldTokenizer();
const config = preset.model(tok.vocabSize);
const seed = 5;

function save(module: nn.Module, log: unknown): void {
  if ((world?.rank ?? 0) !== 0) return;
  torch.tidy(() => {
    const params = new Map<string, Tensor>();
    const grads = new Map<string, Tensor>();
    for (const [name, p] of module.namedParameters()) {
      if (!p.requiresGrad) continue;
      params.set(name, p.contiguous());
      if (p.grad) grads.set(name, p.grad.contiguous());
    }
    torch.safetensors.saveSafetensors(`${out}.safetensors`, params);
    torch.safetensors.saveSafetensors(`${out}.grads.safetensors`, grads);
  });
  writeFileSync(`${out}.json`, JSON.stringify(log));
}

if (mode === 'vq') {
  const r = trainVQ({
    params: config.gen_vision_config.params,
    seed,
    steps: 1,
    batchSize: 6,
    lr: 1e-2,
    restartEvery: 1,
    evalImages: 4,
    world,
  });
  save(r.vq, r.logs);
  r.vq.dispose();
} else {
  const vq = new VQModel(config.gen_vision_config.params, { generator: new torch.Generator(3) });
  const model = buildULM(config, vq, seed);
  vq.dispose();
  if (mode === 'vision') {
    const r = trainVision(model.vision_model, config, {
      seed,
      steps: 1,
      batchSize: 5,
      lr: 1e-2,
      evalScenes: 4,
      world,
    });
    save(model.vision_model, r.logs);
  } else {
    model.gen_vision_model.requiresGrad_(false);
    const s = preset.sft;
    const r = trainSFT(model, tok, {
      seed,
      steps: 1,
      curriculum: s.curriculum.slice(-1),
      lr: 1e-2,
      warmup: 0,
      clip: 1e9,
      uncondProb: s.uncondProb,
      mcAnswer: s.mcAnswer,
      popeThink: s.popeThink,
      perImage: s.perImage,
      // several micro-batches, so that each rank has some of them
      maxTokens: 200,
      world,
      onShare: (own, of) =>
        writeFileSync(`${out}.share-${world?.rank ?? 0}.json`, JSON.stringify({ own, of })),
    });
    save(model, r.logs);
  }
  model.dispose();
}
if (world) dist.destroyProcessGroup();
