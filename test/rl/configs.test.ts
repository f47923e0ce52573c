/** The shipped train configs parse, and every reward they name exists in its modality. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadTrainConfig } from '../../src/rl/config.js';
import { createRewardRegistry } from '../../src/rewards/index.js';

const dir = path.resolve('configs/world');

test('configs/world/*.yaml: valid train configs whose rewards are registered', () => {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.includes('unified.yaml') && files.includes('unified-geneval.yaml'), files.join(', '));
  const registry = createRewardRegistry();
  for (const f of files) {
    const cfg = loadTrainConfig(path.join(dir, f));
    assert.deepEqual(cfg.tasks, ['t2i', 'mm2t'], f);
    for (const name of Object.keys(cfg.rewards.image))
      assert.ok(registry.names('image').includes(name), `${f}: image reward ${name}`);
    for (const name of Object.keys(cfg.rewards.text))
      assert.ok(registry.names('text').includes(name), `${f}: text reward ${name}`);
  }
  assert.deepEqual(loadTrainConfig(path.join(dir, 'unified-geneval.yaml')).rewards.image, { geneval: 1 });
});
