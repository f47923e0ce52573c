/**
 * Recipes live in configs/, nowhere else: the preset code (src/pipeline/presets.ts, recipes.ts,
 * src/pretrain/presets.ts) holds no literal for a field the YAMLs set, except the world-micro size override
 * (SIZE_FIELDS only, each changing something); the pretraining presets are their YAMLs as written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { parse } from 'yaml';
import { SIZE_FIELDS } from '../../src/pipeline/presets.js';
import { CONFIGS_DIR, STAGES, recipeByName, recipeNames } from '../../src/pipeline/recipes.js';
import { PRETRAIN_CONFIGS, PRETRAIN_PRESET_NAMES, pretrainPreset } from '../../src/pretrain/presets.js';

const ROOT = join(import.meta.dirname, '..', '..');
const yaml = (file: string) => parse(readFileSync(file, 'utf8')) as Record<string, unknown>;

/** Every key of a YAML document, at any depth (a curriculum phase's, a reward's name). */
function keysOf(v: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(v)) v.forEach((x) => keysOf(x, out));
  else if (typeof v === 'object' && v !== null)
    for (const [k, x] of Object.entries(v)) {
      out.add(k);
      keysOf(x, out);
    }
  return out;
}

/** A key as compared: case and underscores aside (`mergeLambda` in code is `merge_lambda` in a YAML). */
const norm = (k: string) => k.toLowerCase().replace(/_/g, '');

/** Labels, not settings: a recipe's or preset's name and description. */
const LABELS = new Set(['name', 'description']);

const recipeFiles = recipeNames().flatMap((n) => {
  const dir = recipeByName(n).dir;
  return ['recipe.yaml', ...STAGES.map((s) => `${s}.yaml`)].map((f) => join(dir, f));
});
const pretrainFiles = readdirSync(PRETRAIN_CONFIGS).map((f) => join(PRETRAIN_CONFIGS, f));
const fieldsOf = (files: string[]) => {
  const keys = new Set<string>();
  for (const f of files) keysOf(yaml(f), keys);
  for (const l of LABELS) keys.delete(l);
  return new Set([...keys].map(norm));
};

interface Literal {
  key: string;
  value: unknown;
  /** The names of the property assignments around it, outermost first. */
  path: string[];
  line: number;
}

/** Property assignments in `source` whose value is a literal (number, string, boolean, or a list of them). */
function literalsIn(source: string, file = 'x.ts'): Literal[] {
  const sf = ts.createSourceFile(file, source, ts.ScriptTarget.ES2022, true);
  const out: Literal[] = [];
  const nameOf = (n: ts.PropertyName) =>
    ts.isIdentifier(n) || ts.isStringLiteral(n) || ts.isNumericLiteral(n) ? n.text : undefined;
  const valueOf = (e: ts.Expression): unknown => {
    if (ts.isNumericLiteral(e)) return Number(e.text);
    if (ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e)) return e.text;
    if (e.kind === ts.SyntaxKind.TrueKeyword) return true;
    if (e.kind === ts.SyntaxKind.FalseKeyword) return false;
    if (ts.isPrefixUnaryExpression(e) && e.operator === ts.SyntaxKind.MinusToken) {
      const v = valueOf(e.operand);
      return typeof v === 'number' ? -v : undefined;
    }
    if (ts.isArrayLiteralExpression(e)) {
      const vs = e.elements.map(valueOf);
      return vs.length > 0 && vs.every((v) => v !== undefined) ? vs : undefined;
    }
    return undefined;
  };
  const visit = (node: ts.Node, path: string[]) => {
    if (ts.isPropertyAssignment(node)) {
      const key = nameOf(node.name);
      const value = valueOf(node.initializer);
      if (key !== undefined && value !== undefined)
        out.push({ key, value, path, line: sf.getLineAndCharacterOfPosition(node.getStart()).line + 1 });
      ts.forEachChild(node, (c) => visit(c, key === undefined ? path : [...path, key]));
      return;
    }
    ts.forEachChild(node, (c) => visit(c, path));
  };
  visit(sf, []);
  return out;
}

/** The literals of `files` that set a field of the YAMLs, but those `allowed` says may. */
function recipeLiterals(files: string[], fields: Set<string>, allowed: (l: Literal) => boolean): string[] {
  return files.flatMap((f) =>
    literalsIn(readFileSync(join(ROOT, f), 'utf8'), f)
      .filter((l) => fields.has(norm(l.key)) && !allowed(l))
      .map((l) => `${f}:${l.line}: ${[...l.path, l.key].join('.')} = ${JSON.stringify(l.value)}`),
  );
}

const PIPELINE_CODE = ['src/pipeline/presets.ts', 'src/pipeline/recipes.ts'];
const PRETRAIN_CODE = ['src/pretrain/presets.ts'];
const isMicroSize = (l: Literal) =>
  l.path.length === 2 &&
  l.path[0] === 'world-micro' &&
  ['stage1', 'stage2'].includes(l.path[1]!) &&
  (SIZE_FIELDS as readonly string[]).includes(l.key);

test('the scan finds a recipe number written in code', () => {
  const planted = literalsIn(
    "const P = { 'world-tiny': { stage1: { lr: 5e-5, tasks: ['t2i'] }, beta: -0.1, x: f(1) } };",
  );
  assert.deepEqual(
    planted.map((l) => [[...l.path, l.key].join('.'), l.value]),
    [
      ['world-tiny.stage1.lr', 5e-5],
      ['world-tiny.stage1.tasks', ['t2i']],
      ['world-tiny.beta', -0.1],
    ],
  );
});

test('no recipe number in the pipeline presets: only the world-micro sizes', () => {
  const fields = fieldsOf(recipeFiles);
  for (const f of ['lr', 'beta', 'num_generations', 'steps', 'mergeLambda', 'departures', 'geneval'])
    assert.ok(fields.has(norm(f)), f);
  assert.deepEqual(recipeLiterals(PIPELINE_CODE, fields, isMicroSize), []);

  // each world-micro size changes the value of some recipe's YAML (none merely repeats them all)
  const sizes = literalsIn(readFileSync(join(ROOT, 'src/pipeline/presets.ts'), 'utf8')).filter(isMicroSize);
  assert.ok(sizes.length >= 8, 'the world-micro override is found');
  for (const l of sizes) {
    const stages = STAGES.filter((s) => (s === 'stage1') === (l.path[1] === 'stage1'));
    const values = recipeNames().flatMap((r) => stages.map((s) => recipeByName(r).stages[s][l.key]));
    assert.ok(
      values.some((v) => JSON.stringify(v) !== JSON.stringify(l.value)),
      `world-micro ${l.path[1]}.${l.key} = ${String(l.value)} repeats every recipe's value`,
    );
  }
});

test('no pretraining number in the pretraining presets, and each preset is its YAML as written', () => {
  const fields = fieldsOf(pretrainFiles);
  for (const f of ['lr', 'steps', 'batchSize', 'curriculum', 'mix', 'genPrompts'])
    assert.ok(fields.has(norm(f)), f);
  assert.deepEqual(
    recipeLiterals(PRETRAIN_CODE, fields, () => false),
    [],
  );
  assert.deepEqual(
    pretrainFiles.map((f) => f.split('/').pop()).sort(),
    PRETRAIN_PRESET_NAMES.map((n) => `${n}.yaml`).sort(),
  );
  for (const name of PRETRAIN_PRESET_NAMES) {
    const { name: n, model, ...numbers } = pretrainPreset(name);
    assert.equal(n, name);
    assert.equal(typeof model, 'function');
    assert.deepEqual(numbers, yaml(join(PRETRAIN_CONFIGS, `${name}.yaml`)), name);
  }
  assert.throws(
    () => pretrainPreset('nope'),
    /unknown pretrain preset "nope" \(known: world-tiny, world-micro\)/,
  );
});

test('every recipe and pretraining YAML is under configs/', () => {
  for (const f of [...recipeFiles, ...pretrainFiles]) assert.ok(f.startsWith(CONFIGS_DIR + '/'), f);
});
