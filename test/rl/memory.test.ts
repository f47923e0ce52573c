/** The memory estimate printed before training, and the measured peak RSS in the metrics. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { loadTrainConfig } from '../../src/rl/config.js';
import { buildRun, disposeRun, train } from '../../src/rl/trainer.js';
import { loadExamples } from '../../src/rl/data.js';
import { loadULM } from '../../src/model/index.js';
import { cudaPeak, estimateMemory, describeMemory } from '../../src/rl/memory.js';
import { makeFixture, writeConfig } from './fixture.js';

const fx = makeFixture();

test('the estimate counts weights, gradients, AdamW moments and activations; LoRA and checkpointing shrink theirs', () => {
  const live0 = torch.liveTensors();
  const estimate = (fields: Record<string, unknown>) => {
    const cfg = loadTrainConfig(writeConfig(fx, 'mem', fields));
    const run = buildRun(cfg, loadULM(cfg.model), loadExamples(cfg.data));
    const m = estimateMemory(cfg, run.policy.model, run.opt.params);
    const all = run.policy.model.numParameters() * 4;
    const trained = run.opt.params.reduce((a, p) => a + p.numel, 0) * 4;
    disposeRun(run);
    return { m, all, trained };
  };
  const full = estimate({});
  assert.equal(full.m.weights, full.all);
  assert.equal(full.m.grads, full.trained);
  assert.equal(full.m.optimizer, 2 * full.trained);
  assert.ok(full.m.activations > 0);
  assert.equal(full.m.total, full.m.weights + full.m.grads + full.m.optimizer + full.m.activations);
  const lora = estimate({ lora: { r: 2 } });
  assert.ok(lora.m.grads < full.m.grads / 10, 'LoRA trains a small fraction');
  const ckpt = estimate({ gradient_checkpointing: true });
  assert.ok(ckpt.m.activations < full.m.activations);
  assert.match(describeMemory(full.m), /^memory estimate: weights .* total ~/);
  assert.equal(torch.liveTensors(), live0);
});

test('metrics.jsonl has mem/peak_rss per step, and no mem/cuda_peak on the CPU', () => {
  const cfg = loadTrainConfig(writeConfig(fx, 'rss', { steps: 1, save_every: 0, sample_every: 0 }));
  train(cfg, { quiet: true });
  const row = JSON.parse(
    readFileSync(join(cfg.out, 'metrics.jsonl'), 'utf8').trim().split('\n')[0]!,
  ) as Record<string, number>;
  assert.ok(row['mem/peak_rss']! > 50, `peak RSS ${row['mem/peak_rss']} MB`);
  // mem/cuda_peak only for a model on a CUDA device (scripts/device-check/cuda.test.ts checks it there)
  assert.equal(row['mem/cuda_peak'], undefined);
  assert.deepEqual(cudaPeak('cpu'), {});
  if (!torch.cudaBuild()) assert.deepEqual(cudaPeak('cuda:0'), {}, 'no allocator statistics without CUDA');
});
