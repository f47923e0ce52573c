/**
 * The shipped train configs parse, and every reward they name exists in its modality; the recipes' stage YAMLs
 * validate against the same schema; every field is documented with its default and the paper's value; config
 * loading errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import ts from 'typescript';
import { parse as parseYaml } from 'yaml';
import {
  DEFAULT_REWARDS,
  TrainConfigSchema,
  loadTrainConfig,
  parseTrainConfig,
} from '../../src/rl/config.js';
import { UserError } from '../../src/util/errors.js';
import { createRewardRegistry } from '../../src/rewards/index.js';

const dir = path.resolve('configs/world');
const CLI = path.join(import.meta.dirname, '..', '..', 'bin', 'corl.js');
const RUN = { model: 'm', data: 'd.jsonl', out: 'o' };

function assertRegistered(cfg: { rewards: { image: object; text: object } }, f: string) {
  const registry = createRewardRegistry();
  for (const name of Object.keys(cfg.rewards.image))
    assert.ok(registry.names('image').includes(name), `${f}: image reward ${name}`);
  for (const name of Object.keys(cfg.rewards.text))
    assert.ok(registry.names('text').includes(name), `${f}: text reward ${name}`);
}

test('configs/world/unified*.yaml: valid train configs whose rewards are registered', () => {
  const files = fs.readdirSync(dir).filter((f) => f.startsWith('unified') && f.endsWith('.yaml'));
  assert.deepEqual(files.sort(), ['unified-geneval.yaml', 'unified.yaml']);
  for (const f of files) {
    const cfg = loadTrainConfig(path.join(dir, f));
    assert.deepEqual(cfg.tasks, ['t2i', 'mm2t'], f);
    assertRegistered(cfg, f);
  }
  assert.deepEqual(loadTrainConfig(path.join(dir, 'unified-geneval.yaml')).rewards.image, { geneval: 1 });
});

test("configs/*/stage*.yaml: partial train configs, valid once the run's model, data and out are given", () => {
  const files = fs
    .readdirSync('configs', { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) =>
      fs
        .readdirSync(path.join('configs', d.name))
        .filter((f) => /^stage.*\.yaml$/.test(f))
        .map((f) => path.join('configs', d.name, f)),
    );
  assert.equal(files.length, 12, files.join(', ')); // paper, world, janus-pro-1b
  for (const f of files) {
    const raw = parseYaml(fs.readFileSync(f, 'utf8')) as Record<string, unknown>;
    for (const k of ['model', 'data', 'out', 'seed', 'eval_data']) assert.ok(!(k in raw), `${f}: ${k}`);
    assert.throws(() => loadTrainConfig(f), /model, data, out are missing: .*--set model=\.\.\./, f);
    const cfg = loadTrainConfig(f, RUN);
    assertRegistered(cfg, f);
    for (const [k, v] of Object.entries(raw)) assert.deepEqual(cfg[k as keyof typeof cfg], v, `${f}: ${k}`);
  }
});

test('corl config show on a stage YAML: the run fields with --set, or one line naming them', () => {
  const ok = spawnSync(
    process.execPath,
    [
      CLI,
      'config',
      'show',
      'configs/world/stage1.yaml',
      '--set',
      'model=m',
      '--set',
      'data=d',
      '--set',
      'out=o',
    ],
    { encoding: 'utf8' },
  );
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /^lr +0\.00005 +file$/m);
  assert.match(ok.stdout, /^model +".*\/m" +--set$/m);
  assert.match(ok.stdout, /^cfg_weight +5 +default$/m);
  const bad = spawnSync(process.execPath, [CLI, 'config', 'show', 'configs/paper/stage2-gen.yaml'], {
    encoding: 'utf8',
  });
  assert.equal(bad.status, 2);
  assert.equal(bad.stderr.trim().split('\n').length, 1);
  assert.match(bad.stderr, /model, data, out are missing: a recipe's stage YAML leaves them to the pipeline/);
});

/** Each TrainConfigSchema field's doc comment in src/rl/config.ts, by field name. */
function fieldDocs(): Map<string, string> {
  const file = path.resolve('src/rl/config.ts');
  const sf = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const docs = new Map<string, string>();
  const visit = (node: ts.Node) => {
    if (ts.isVariableDeclaration(node) && node.name.getText() === 'TrainConfigSchema') {
      const find = (n: ts.Node): ts.ObjectLiteralExpression | undefined =>
        ts.isObjectLiteralExpression(n) ? n : ts.forEachChild(n, find);
      for (const prop of find(node.initializer!)!.properties) {
        const ranges = ts.getLeadingCommentRanges(sf.text, prop.getFullStart()) ?? [];
        const doc = ranges
          .map((r) => sf.text.slice(r.pos, r.end))
          .filter((c) => c.startsWith('/**'))
          .pop();
        docs.set(
          prop.name!.getText(),
          (doc ?? '').replace(/^\s*(\/\*\*|\*\/|\*)/gm, ' ').replace(/\s+/g, ' '),
        );
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return docs;
}

test("src/rl/config.ts: every field documented with its default (as the schema has it) and the paper's value", () => {
  const docs = fieldDocs();
  const fields = Object.keys(TrainConfigSchema.shape);
  assert.deepEqual([...docs.keys()].sort(), [...fields].sort());
  const defaults = TrainConfigSchema.parse(RUN) as Record<string, unknown>;
  for (const f of fields) {
    const doc = docs.get(f)!;
    assert.match(doc, /Paper\b[^:]*: /, `${f}: the paper's value`);
    if (f in RUN) {
      assert.match(doc, /required/, `${f}: required`);
      continue;
    }
    const d = /Default: (`([^`]*)`|[^.(]+)/.exec(doc);
    assert.ok(d, `${f}: its default`);
    if (d[2] !== undefined) assert.deepEqual(parseYaml(d[2]), defaults[f], `${f}: documented default`);
    else if (defaults[f] !== undefined) assert.match(d[1]!, /DEFAULT_REWARDS/, f);
  }
  assert.deepEqual(defaults.rewards, DEFAULT_REWARDS, 'the reward defaults are DEFAULT_REWARDS');
  const again = TrainConfigSchema.parse(RUN);
  again.rewards.image.geneval = 1;
  assert.deepEqual(TrainConfigSchema.parse(RUN).rewards, DEFAULT_REWARDS, 'defaults are not shared objects');
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
