/** Overriding train-config fields from the command line (--set) and `corl config show` with each value's source. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { applyConfigSets, explainTrainConfig, loadTrainConfig, parseConfigSet } from '../../src/rl/config.js';
import { UserError } from '../../src/util/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'corl-config-set-'));
const file = join(dir, 'c.yaml');
writeFileSync(
  file,
  stringify({
    model: 'm',
    data: 'd.jsonl',
    out: 'o',
    lr: 1e-4,
    rewards: { image: { t2i_ti_sim: 1 }, text: { format: 1 } },
  }),
);
const CLI = join(import.meta.dirname, '..', '..', 'bin', 'corl.js');

test('--set: values read as YAML, deep keys, validated by the schema as the file is', () => {
  assert.deepEqual(parseConfigSet('beta=0.02'), { path: ['beta'], value: 0.02, text: 'beta=0.02' });
  assert.deepEqual(parseConfigSet('tasks=[t2i]').value, ['t2i']);
  assert.deepEqual(parseConfigSet('rewards.image.geneval=1').path, ['rewards', 'image', 'geneval']);
  for (const bad of ['beta', '=1', 'a..b=1', 'beta=[1'])
    assert.throws(() => parseConfigSet(bad), UserError, bad);
  const raw = { rewards: { image: { a: 1 } }, lr: 1 };
  const out = applyConfigSets(raw, [parseConfigSet('rewards.image.b=2'), parseConfigSet('lr=3')]);
  assert.deepEqual(out, { rewards: { image: { a: 1, b: 2 } }, lr: 3 });
  assert.deepEqual(raw, { rewards: { image: { a: 1 } }, lr: 1 }, 'the input is not modified');
  assert.throws(() => applyConfigSets({ lr: 1 }, [parseConfigSet('lr.x=1')]), /lr is not a mapping/);

  const cfg = loadTrainConfig(
    file,
    {},
    ['beta=0.02', 'rewards.image.geneval=1', 'rewards.image.t2i_ti_sim=0'].map(parseConfigSet),
  );
  assert.equal(cfg.beta, 0.02);
  assert.deepEqual(cfg.rewards.image, { t2i_ti_sim: 0, geneval: 1 });
  assert.throws(() => loadTrainConfig(file, {}, [parseConfigSet('beta=-1')]), /beta: .*>=0|beta/);
  assert.throws(() => loadTrainConfig(file, {}, [parseConfigSet('betta=1')]), /betta/);
  assert.throws(
    () => loadTrainConfig(file, {}, [parseConfigSet('rewards.image.nope=1')]),
    /unknown image reward "nope"/,
  );
});

test('explainTrainConfig: each field from the file, an option, --set or the default', () => {
  const { config, sources } = explainTrainConfig(file, { steps: 7 }, [
    parseConfigSet('rewards.image.geneval=1'),
  ]);
  assert.equal(config.steps, 7);
  assert.equal(sources.lr, 'file');
  assert.equal(sources.steps, 'option');
  assert.equal(sources.beta, 'default');
  assert.equal(sources['rewards.image.geneval'], '--set');
  assert.equal(sources['rewards.image.t2i_ti_sim'], 'file');
});

test('corl config show prints the resolved config; corl train --set checks before anything loads', () => {
  const r = spawnSync(process.execPath, [CLI, 'config', 'show', file, '--set', 'beta=0.02'], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^beta +0\.02 +--set$/m);
  assert.match(r.stdout, /^lr +0\.0001 +file$/m);
  assert.match(r.stdout, /^kl_estimator +"k3" +default$/m);
  const j = spawnSync(process.execPath, [CLI, 'config', 'show', file, '--json'], { encoding: 'utf8' });
  assert.equal((JSON.parse(j.stdout) as { sources: Record<string, string> }).sources.model, 'file');
  const t = spawnSync(process.execPath, [CLI, 'train', '--config', file, '--set', 'beta=oops'], {
    encoding: 'utf8',
  });
  assert.equal(t.status, 2);
  assert.match(t.stderr, /^corl: error: .*invalid config \(beta: /);
  assert.equal(t.stderr.trim().split('\n').length, 1);
});
