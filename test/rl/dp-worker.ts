/**
 * One process of the data-parallel equivalence test (test/rl/distributed.test.ts): one GRPO update on a fixed
 * rollout with fixed rewards, either in one process on the whole batch or as rank RANK of WORLD on its share
 * of the same rollout. Writes the trainable parameters after the update (rank 0 only) and the update's metrics.
 *   node --import tsx dp-worker.ts CONFIG OUT_PREFIX [RANK WORLD INIT_METHOD]
 */
import { writeFileSync } from 'node:fs';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import * as dist from '../../src/torch/distributed.js';
import { loadULM } from '../../src/model/index.js';
import { loadTrainConfig } from '../../src/rl/config.js';
import { loadExamples } from '../../src/rl/data.js';
import { rolloutAnswers, rolloutImages, type ImageRollout, type TextRollout } from '../../src/rl/rollout.js';
import { buildRun, disposeRun, updateFromRewards, type World } from '../../src/rl/trainer.js';

const [config, outPrefix, rankS, worldS, initMethod] = process.argv.slice(2) as [
  string,
  string,
  string?,
  string?,
  string?,
];

function rows<T extends object>(b: T, start: number, len: number): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(b))
    out[k] =
      v instanceof torch.Tensor
        ? v.narrow(0, start, len)
        : Array.isArray(v)
          ? v.slice(start, start + len)
          : v;
  return out as T;
}

let world: World | null = null;
if (worldS !== undefined) {
  world = { rank: Number(rankS), size: Number(worldS) };
  dist.initProcessGroup({
    rank: world.rank,
    worldSize: world.size,
    initMethod: initMethod!,
    timeoutMs: 60_000,
  });
}
torch.setNumThreads(1);
torch.setBlasThreads(1);
const cfg = loadTrainConfig(config);
torch.manualSeed(cfg.seed);
const run = buildRun(cfg, loadULM(cfg.model), loadExamples(cfg.data, { requireQuestion: true }), world);
if (world) dist.broadcast([...run.policy.model.stateDict().values()], 0);
const G = cfg.num_generations;
const batch = run.data.batch(0);
const metrics = torch.tidy(() => {
  // the same rollout in every process: the whole batch, from one fixed generator
  const gen = new torch.Generator(99);
  const images = rolloutImages(run.policy, batch, G, run.sampling, gen);
  const answers = rolloutAnswers(run.policy, batch, G, run.sampling, gen);
  const n = batch.length * G;
  const rewards = {
    t2i: Array.from({ length: n }, (_, i) => ((i * 37) % 11) / 10),
    mm2t: Array.from({ length: n }, (_, i) => ((i * 53) % 7) / 6),
    metrics: {},
  };
  const P = world ? batch.length / world.size : batch.length;
  const start = (world?.rank ?? 0) * P * G;
  const li: ImageRollout = rows(images, start, P * G);
  li.prompts = rows(images.prompts, start, P * G);
  const la: TextRollout = rows(answers, start, P * G);
  la.prompts = rows(answers.prompts, start, P * G);
  return updateFromRewards(run, 0, li, la, rewards, P).update;
});
if ((world?.rank ?? 0) === 0) {
  const params = new Map<string, Tensor>(
    run.policy.model.namedParameters().filter(([, p]) => p.requiresGrad),
  );
  torch.safetensors.saveSafetensors(`${outPrefix}.safetensors`, params);
  writeFileSync(`${outPrefix}.json`, JSON.stringify(metrics));
}
disposeRun(run);
if (world) {
  dist.barrier();
  dist.destroyProcessGroup();
}
