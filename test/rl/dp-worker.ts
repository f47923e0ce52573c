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
import { joinTestWorld } from '../helpers/data-parallel.js';
import { loadULM } from '../../src/model/index.js';
import { loadTrainConfig } from '../../src/rl/config.js';
import { loadExamples } from '../../src/rl/data.js';
import type { ImageRollout, TextRollout } from '../../src/rl/rollout.js';
import { buildRun, disposeRun, shardLayout, updateFromRewards } from '../../src/rl/trainer.js';
import { fixedRollout } from './fixture.js';

const [config, outPrefix, rankS, worldS, initMethod] = process.argv.slice(2) as [
  string,
  string,
  string?,
  string?,
  string?,
];

/** The rows `idx` of a rollout or batch: tensors along dim 0, arrays by element. */
function rows<T extends object>(b: T, idx: readonly number[]): T {
  const out: Record<string, unknown> = {};
  const index = torch.tensor(Array.from(idx), { dtype: 'int64' });
  for (const [k, v] of Object.entries(b))
    out[k] =
      v instanceof torch.Tensor ? v.indexSelect(0, index) : Array.isArray(v) ? idx.map((i) => v[i]) : v;
  return out as T;
}

const world = joinTestWorld(rankS, worldS, initMethod);
const cfg = loadTrainConfig(config);
torch.manualSeed(cfg.seed);
const run = buildRun(cfg, loadULM(cfg.model), loadExamples(cfg.data, { requireQuestion: true }), world);
if (world) dist.broadcast([...run.policy.model.stateDict().values()], 0);
// the gradients AdamW receives (summed over ranks and clipped), saved by rank 0 before the step
const trainable = run.policy.model.namedParameters().filter(([, p]) => p.requiresGrad);
const adamStep = run.opt.step.bind(run.opt);
run.opt.step = () => {
  if ((world?.rank ?? 0) === 0)
    torch.tidy(() => {
      const grads = new Map<string, Tensor>();
      for (const [name, p] of trainable) {
        const g = p.grad;
        if (g) grads.set(name, g);
      }
      torch.safetensors.saveSafetensors(`${outPrefix}.grads.safetensors`, grads);
    });
  adamStep();
};
const G = cfg.num_generations;
const batch = run.data.batch(0);
const metrics = torch.tidy(() => {
  // the same rollout in every process: the whole batch, from one fixed generator
  const { images, answers, rewards } = fixedRollout(run);
  // this process's prompts (all of them, or the rank's share) and their G rows each
  const mine = world ? shardLayout(cfg, world).prompts[world.rank]! : batch.map((_, i) => i);
  const idx = mine.flatMap((p) => Array.from({ length: G }, (_, g) => p * G + g));
  const li: ImageRollout = rows(images, idx);
  li.prompts = rows(images.prompts, idx);
  const la: TextRollout = rows(answers, idx);
  la.prompts = rows(answers.prompts, idx);
  return updateFromRewards(run, 0, li, la, rewards, mine.length).update;
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
