/** The shipped train configs parse, and every reward they name exists in its modality; config loading errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadTrainConfig, parseTrainConfig } from '../../src/rl/config.js';
import { UserError } from '../../src/util/errors.js';
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

// ---- found by fuzzing (test/fuzz/config.test.ts) ------------------------------------------------------------

test('parseTrainConfig: odd keys are quoted and the error stays on one line', () => {
  const raw = { model: 'm', data: 'd', out: 'o', 'a\nb': 1, rewards: { text: { '': 'x' } } };
  assert.throws(
    () => parseTrainConfig(raw, 'c.yaml'),
    (e: unknown) =>
      e instanceof UserError &&
      e.message.includes('(root): Unrecognized key: "a\\u000ab"') &&
      e.message.includes('rewards.text."": Invalid input') &&
      !/[\n\r]/.test(e.message),
  );
});

test('loadTrainConfig: deeply nested YAML is refused, and parsing it again does not abort the process', () => {
  // yaml composes recursively; the stack overflow on a deep document once left V8's regexp engine broken, so
  // the second such parse in a process died of "RegExpCompiler Allocation failed - process out of memory".
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corl-config-'));
  try {
    const deep = path.join(dir, 'deep.yaml');
    fs.writeFileSync(deep, `${'- '.repeat(3000)}x`);
    const script = path.join(dir, 'load.ts');
    const config = path.resolve('src/rl/config.ts');
    fs.writeFileSync(
      script,
      `import { loadTrainConfig } from ${JSON.stringify(config)};\n` +
        `for (let i = 0; i < 3; i++) {\n` +
        `  try { loadTrainConfig(${JSON.stringify(deep)}); } catch (e) { console.log((e as Error).message); }\n` +
        `}\n`,
    );
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr.slice(0, 500));
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 3);
    for (const l of lines) assert.equal(l, `${deep}: YAML nested more than 64 levels deep`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
