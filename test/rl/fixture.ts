/** A tiny RL setup built by the tests: a small ShapesWorld dataset and a random test-micro ULM checkpoint. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import * as torch from '../../src/torch/index.js';
import { rolloutAnswers, rolloutImages, type ImageRollout, type TextRollout } from '../../src/rl/rollout.js';
import type { Run, StepRewards } from '../../src/rl/trainer.js';
import { buildDataset } from '../../src/world/dataset.js';
import { worldVocabulary } from '../../src/world/vocabulary.js';
import {
  MultiModalityCausalLM,
  ULMTokenizer,
  buildWordLevelTokenizer,
  presetConfig,
  saveULM,
} from '../../src/model/index.js';

export interface RLFixture {
  dir: string;
  model: string;
  data: string;
  test: string;
}

export function makeFixture(): RLFixture {
  const dir = mkdtempSync(join(tmpdir(), 'corl-rl-'));
  buildDataset({ out: join(dir, 'world'), seed: 3, train: 24, test: 8 });
  const tok = ULMTokenizer.fromJSON(buildWordLevelTokenizer(worldVocabulary()));
  const model = new MultiModalityCausalLM(presetConfig('test-micro', { vocabSize: tok.vocabSize }), {
    generator: new torch.Generator(7),
  });
  saveULM(model, tok, join(dir, 'base'));
  model.dispose();
  return {
    dir,
    model: join(dir, 'base'),
    data: join(dir, 'world', 'train.jsonl'),
    test: join(dir, 'world', 'test.jsonl'),
  };
}

/** Writes a YAML config for a short run and returns its path. */
export function writeConfig(fx: RLFixture, name: string, fields: Record<string, unknown>): string {
  const cfg = {
    model: fx.model,
    data: fx.data,
    out: join(fx.dir, name),
    steps: 4,
    batch_size: 2,
    num_generations: 2,
    micro_batch_size: 1,
    max_completion_length: 6,
    recaption_max_tokens: 6,
    sample_every: 2,
    save_every: 2,
    eval_rows: 0,
    ...fields,
  };
  const file = join(fx.dir, `${name}.yaml`);
  writeFileSync(file, stringify(cfg));
  return file;
}

/** A rollout of a whole batch with made-up rewards: the same in every process that builds it. */
export interface FixedRollout {
  images: ImageRollout;
  answers: TextRollout;
  rewards: StepRewards;
  prompts: number;
}

/** A rollout of step 0's batch by `run`'s policy from a fixed generator, with fixed rewards. */
export function fixedRollout(run: Run): FixedRollout {
  const G = run.cfg.num_generations;
  const batch = run.data.batch(0);
  const gen = new torch.Generator(99);
  const images = rolloutImages(run.policy, batch, G, run.sampling, gen);
  const answers = rolloutAnswers(run.policy, batch, G, run.sampling, gen);
  const n = batch.length * G;
  const rewards = {
    t2i: Array.from({ length: n }, (_, i) => ((i * 37) % 11) / 10),
    mm2t: Array.from({ length: n }, (_, i) => ((i * 53) % 7) / 6),
    metrics: {},
  };
  return { images, answers, rewards, prompts: batch.length };
}
