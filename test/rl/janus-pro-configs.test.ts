/** configs/janus-pro-1b/: the stage-1 and three stage-2 configs validate and carry Table 5's values. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseTrainConfig, readConfigFile } from '../../src/rl/config.js';
import { createRewardRegistry } from '../../src/rewards/index.js';

const dir = path.resolve('configs/janus-pro-1b');
const RUN = { model: 'm', data: 'd.jsonl', out: 'o' };

test('configs/janus-pro-1b validate with the paper’s Table 5 values', () => {
  assert.deepEqual(fs.readdirSync(dir).sort(), [
    'stage1.yaml',
    'stage2-gen.yaml',
    'stage2-mcq.yaml',
    'stage2-oe.yaml',
  ]);
  const want = {
    'stage1.yaml': { G: 8, beta: 0, batch: 16, lr: 4e-6, tasks: ['t2i', 'mm2t'], prompt: 1024 },
    'stage2-gen.yaml': { G: 16, beta: 0.02, batch: 16, lr: 1e-6, tasks: ['t2i'], prompt: 256 },
    'stage2-mcq.yaml': { G: 16, beta: 0.02, batch: 32, lr: 1e-6, tasks: ['mm2t'], prompt: 1024 },
    'stage2-oe.yaml': { G: 16, beta: 0.02, batch: 32, lr: 1e-6, tasks: ['mm2t'], prompt: 1024 },
  } as const;
  const registry = createRewardRegistry();
  for (const [f, w] of Object.entries(want)) {
    const file = path.join(dir, f);
    // without the run's paths: one line saying how to give them
    assert.throws(() => parseTrainConfig(readConfigFile(file), f), /--set model=\.\.\./);
    const c = parseTrainConfig({ ...readConfigFile(file), ...RUN }, f);
    assert.equal(c.num_generations, w.G, f);
    assert.equal(c.beta, w.beta, f);
    assert.equal(c.batch_size, w.batch, f);
    assert.equal(c.lr, w.lr, f);
    assert.deepEqual(c.tasks, w.tasks, f);
    assert.equal(c.max_completion_length, 512, f);
    assert.equal(c.max_prompt_length, w.prompt, f);
    assert.equal(c.cfg_weight, 5, f);
    assert.equal(c.gradient_checkpointing, true, f);
    assert.deepEqual(c.trainable, ['language_model'], f);
    for (const m of ['image', 'text'] as const)
      for (const name of Object.keys(c.rewards[m]))
        assert.ok(registry.names(m).includes(name), `${f}: ${name}`);
  }
});
