/**
 * Fuzzing the JSONL row loaders: readWorldRowLines (ShapesWorld rows), loadExamples (the RL data), and
 * loadEvalRows / evalFiles (corl eval). Files mix real rows of a built world with mutated ones (a field
 * deleted or of the wrong type, nested scene / spec fields broken, odd image paths: missing, not a PNG, a
 * folder, absolute, control characters, too long), arbitrary lines and JSON of the wrong shape.
 *
 * Properties: only a UserError escapes; what a loader returns has the types it declares, and what its
 * consumers read of it works (the RL rewards' GenEval spec check and answer scorers, evaluate()'s routing,
 * GenEval scoring and answer scorers), so a bad row fails at load time naming its line, not mid-run.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildDataset, readWorldRowLines, type WorldRow } from '../../src/world/dataset.js';
import { encodePng } from '../../src/world/png.js';
import { loadExamples } from '../../src/rl/data.js';
import { EVAL_FILES, evalFiles, loadEvalRows } from '../../src/eval/rows.js';
import { isGenRow, questionFamily, scoreImages } from '../../src/eval/evaluate.js';
import { scoreAnswer } from '../../src/world/answers.js';
import { asGenevalSpec } from '../../src/rewards/geneval-reward.js';
import { scoreGeneval } from '../../src/world/geneval.js';
import type { RgbImage } from '../../src/world/image.js';
import { fc, fuzzParams, userErrorOr } from './fuzz.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'corl-fuzz-rows-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));

// A small built world gives real rows of every task; the fuzzed files sit next to its images folder.
const world = path.join(root, 'world');
buildDataset({ out: world, seed: 5, train: 4, test: 2 });
const templates: Record<string, unknown>[] = ['train.jsonl', ...EVAL_FILES.map((f) => `eval/${f}`)].flatMap(
  (f) =>
    fs
      .readFileSync(path.join(world, f), 'utf8')
      .trim()
      .split('\n')
      .slice(0, 3)
      .map((l) => {
        const row = JSON.parse(l) as Record<string, unknown>;
        return { ...row, real_image: (row.real_image as string).replace(/^\.\.\//, '') };
      }),
);
const goodImages = [...new Set(templates.map((r) => r.real_image as string))];
const img = (name: string) => path.join(world, 'images', name);
fs.writeFileSync(img('bad.png'), 'not a png');
fs.writeFileSync(img('empty.png'), '');
fs.writeFileSync(img('truncated.png'), fs.readFileSync(path.join(world, goodImages[0]!)).subarray(0, 40));
fs.writeFileSync(img('tiny.png'), encodePng({ width: 1, height: 1, data: new Uint8Array([1, 2, 3]) }));
fs.mkdirSync(img('folder.png'));

const oddImage = fc.oneof(
  fc.constantFrom(
    'images/bad.png',
    'images/empty.png',
    'images/truncated.png',
    'images/tiny.png',
    'images/folder.png',
    'images/missing.png',
    'images',
    '.',
    '..',
    '/',
    '/dev/null',
    path.join(world, goodImages[0]!),
    `images/${'x'.repeat(300)}.png`,
    'images/a\nb.png',
    'images/a\rb.png',
    'images/a\u0000b.png',
    'images/\u2028.png',
    ' ',
    '',
  ),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 6 }).map((s) => `images/${s}.png`),
);

/** A value of a wrong (or right) type for any field. */
const anyValue = fc.oneof(
  fc.constantFrom(null, true, 0, -1, 1.5, '', 'x', [], {}, ['a'], [1], { a: 1 }),
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom('MC', 'OE', 'mcq', 'pope', 'gen', 'unified', 'yes', 'no', 'exist', 'random', 'colors'),
);

/** A broken row, as data (so a counterexample prints it). */
type Mutation =
  | { op: 'delete'; key: string }
  | { op: 'set'; key: string; v: unknown }
  | { op: 'object'; i: number; key: string; v: unknown }
  | { op: 'include'; i: number; key: string; v: unknown }
  | { op: 'spec'; key: string; v: unknown }
  | { op: 'image'; v: string };

const FIELDS = [
  'id',
  'task',
  'category',
  'prompt',
  'real_image',
  'qa_problem',
  'qa_solution',
  'qa_type',
  'qa_think',
  'qa_kind',
  'qa_answer',
  'qa_options',
  'pope_split',
  'caption',
  'spec',
  'scene',
  'extra',
];
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('delete' as const), key: fc.constantFrom(...FIELDS) }),
  fc.record({ op: fc.constant('set' as const), key: fc.constantFrom(...FIELDS), v: anyValue }),
  fc.record({
    op: fc.constant('object' as const),
    i: fc.nat(),
    key: fc.constantFrom('shape', 'color', 'size', 'x', 'y', 'z'),
    v: fc.oneof(anyValue, fc.double()),
  }),
  fc.record({
    op: fc.constant('include' as const),
    i: fc.nat(),
    key: fc.constantFrom('class', 'count', 'color', 'position'),
    v: fc.oneof(
      anyValue,
      fc.constantFrom(['left of', 0], ['beside', 0], ['above', 7], ['below', -1], ['above', 0.5]),
    ),
  }),
  fc.record({
    op: fc.constant('spec' as const),
    key: fc.constantFrom('tag', 'include', 'exclude', 'prompt'),
    v: fc.oneof(anyValue, fc.constant([{ class: 'circle', count: 2 }]), fc.constant([{ class: 'blob' }])),
  }),
  fc.record({ op: fc.constant('image' as const), v: oddImage }),
);

function mutate(row: Record<string, unknown>, m: Mutation): void {
  const objects = (row.scene as { objects?: unknown } | undefined)?.objects;
  const spec = row.spec as Record<string, unknown> | undefined;
  const at = (xs: unknown, i: number) =>
    Array.isArray(xs) && xs.length > 0 ? (xs[i % xs.length] as Record<string, unknown>) : undefined;
  switch (m.op) {
    case 'delete':
      delete row[m.key];
      return;
    case 'set':
      row[m.key] = m.v;
      return;
    case 'image':
      row.real_image = m.v;
      return;
    case 'object': {
      const o = at(objects, m.i);
      if (o && typeof o === 'object') o[m.key] = m.v;
      return;
    }
    case 'include': {
      const o = at(spec?.include, m.i);
      if (o && typeof o === 'object') o[m.key] = m.v;
      return;
    }
    case 'spec':
      if (spec && typeof spec === 'object') spec[m.key] = m.v;
      return;
  }
}

/** A line that is not a row: arbitrary text, JSON of the wrong shape, deep nesting. */
const junkLine = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 20 }),
  fc.constantFrom('{}', '[]', 'null', '"row"', '{"real_image": "images/bad.png"}', '{"scene": {}}'),
  fc.nat(5000).map((n) => `{"real_image": "x", "scene": ${'['.repeat(n)}${']'.repeat(n)}}`),
);

/**
 * A file: real rows (some repeated), up to two of them mutated, maybe one junk line and blank lines; or
 * arbitrary lines.
 */
const file = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .record({
        rows: fc.array(fc.nat(templates.length - 1), { minLength: 1, maxLength: 4 }),
        mutations: fc.array(fc.record({ at: fc.nat(), m: mutation }), { maxLength: 2 }),
        junk: fc.oneof(
          { weight: 4, arbitrary: fc.constant(undefined) },
          fc.record({ at: fc.nat(), text: junkLine }),
        ),
        blank: fc.constantFrom('', '', ' ', '\r'),
      })
      .map(({ rows, mutations, junk, blank }) => {
        const objs = rows.map((t) => structuredClone(templates[t]!));
        // structuredClone: generated values (constants included) are shared and must not be mutated
        for (const { at, m } of mutations) mutate(objs[at % objs.length]!, structuredClone(m));
        const lines = objs.map((o) => JSON.stringify(o));
        if (junk) lines.splice(junk.at % (lines.length + 1), 0, junk.text);
        return lines.join(`${blank}\n`);
      }),
  },
  fc.array(fc.oneof(junkLine, fc.constantFrom('', ' ')), { maxLength: 4 }).map((ls) => ls.join('\n')),
);

let counter = 0;
/** Writes the lines to a fresh JSONL file in the world folder (so "images/..." paths resolve). */
function writeRows(text: string): string {
  const f = path.join(world, `fuzz-${counter++ % 4}.jsonl`);
  fs.writeFileSync(f, text);
  return f;
}

// ---- contract checks -------------------------------------------------------------------------------------

const isString = (x: unknown): x is string => typeof x === 'string';
const isImage = (im: RgbImage): boolean =>
  Number.isInteger(im.width) &&
  Number.isInteger(im.height) &&
  im.width > 0 &&
  im.height > 0 &&
  im.data.length === im.width * im.height * 3;

/** The WorldRow fields a row holds have their declared types. */
function checkWorldRow(r: WorldRow, where: string): void {
  const opt = (k: keyof WorldRow, ok: (x: unknown) => boolean) =>
    assert.ok(r[k] === undefined || ok(r[k]), `${where}: ${k} = ${JSON.stringify(r[k])}`);
  assert.ok(isString(r.real_image) && r.real_image !== '', `${where}: real_image`);
  assert.ok(Array.isArray(r.scene.objects) && r.scene.objects.length > 0, `${where}: scene`);
  for (const o of r.scene.objects) assert.ok(Number.isFinite(o.x) && Number.isFinite(o.y), `${where}: x, y`);
  for (const k of ['id', 'prompt', 'qa_problem', 'qa_solution', 'qa_think', 'qa_answer', 'caption'] as const)
    opt(k, isString);
  opt('task', (x) => ['unified', 'gen', 'mcq', 'oe', 'pope'].includes(x as string));
  opt('qa_type', (x) => x === 'MC' || x === 'OE');
  opt('qa_options', (x) => Array.isArray(x) && x.every(isString));
  opt('pope_split', (x) => ['random', 'popular', 'adversarial'].includes(x as string));
  opt('spec', (x) => {
    asGenevalSpec(x, 0);
    scoreGeneval(x as WorldRow['spec'], []);
    return true;
  });
}

test('fuzz readWorldRowLines: only user errors; rows have their declared field types', () => {
  fc.assert(
    fc.property(file, (text) => {
      const f = writeRows(text);
      const r = userErrorOr(() => readWorldRowLines(f));
      if (!r.ok) return assert.ok(r.error.message.startsWith(`${f}`), r.error.message);
      const lines = text.split('\n');
      for (const { line: n, row } of r.value) {
        assert.deepEqual(row, JSON.parse(lines[n - 1]!));
        checkWorldRow(row, `line ${n}`);
      }
    }),
    fuzzParams(1500),
  );
});

test('fuzz loadExamples: only user errors; examples are complete and their rewards can score them', () => {
  fc.assert(
    fc.property(file, fc.boolean(), (text, requireQuestion) => {
      const f = writeRows(text);
      const r = userErrorOr(() => loadExamples(f, { requireQuestion }));
      if (!r.ok) return assert.ok(r.error.message.startsWith(`${f}`), r.error.message);
      for (const e of r.value) {
        assert.ok(isString(e.id) && isString(e.prompt) && e.prompt !== '', `prompt of ${e.id}`);
        // a prompt-only row may come without an image; a question never does
        if (requireQuestion || e.realImage !== undefined) assert.ok(isImage(e.realImage!));
        assert.ok(isString(e.qaProblem) && isString(e.qaSolution));
        assert.ok(e.qaType === 'MC' || e.qaType === 'OE');
        if (requireQuestion) assert.ok(e.qaProblem !== '' && e.qaSolution !== '');
        if (e.spec !== undefined) asGenevalSpec(e.spec, 0);
        for (const task of ['mcq', 'oe', 'format', 'pope'] as const)
          scoreAnswer(task, '<think>x</think><answer>A</answer>', e.qaSolution, e.qaProblem);
      }
    }),
    fuzzParams(1500),
  );
});

test('fuzz loadEvalRows: only user errors; kept rows hold what evaluate() reads', () => {
  fc.assert(
    fc.property(fc.array(file, { minLength: 1, maxLength: 2 }), fc.nat(), (texts, mask) => {
      const files = texts.map(writeRows);
      // Keep every row, or a subset (evaluate keeps the rows it routes).
      const keep = (rows: WorldRow[]) => (mask % 3 === 0 ? rows : rows.filter((_, i) => (mask >> i) & 1));
      const r = userErrorOr(() => loadEvalRows(files, keep));
      if (!r.ok) return;
      for (const row of r.value) {
        checkWorldRow(row, row.id ?? '?');
        assert.ok(isImage(row.image));
        const family = questionFamily(row);
        if (family !== null) {
          assert.ok(isString(row.qa_problem) && isString(row.qa_solution), 'a question and its solution');
          scoreAnswer(family, '<answer>yes</answer>', row.qa_solution, row.qa_problem);
          if (family === 'pope') assert.ok(row.qa_answer === 'yes' || row.qa_answer === 'no', 'POPE gold');
        }
        if (isGenRow(row)) {
          assert.ok(isString(row.prompt) && row.prompt !== '', 'a generation prompt');
          asGenevalSpec(row.spec, 0);
          scoreImages([row], [row.image]);
        }
      }
    }),
    fuzzParams(1000),
  );
});

test('fuzz evalFiles: any folder layout or path gives existing JSONL files or a user error', () => {
  const layouts = fc.record({
    top: fc.subarray([...EVAL_FILES, 'other.jsonl']),
    evalDir: fc.option(fc.subarray([...EVAL_FILES]), { nil: undefined }),
    evalIsFile: fc.boolean(),
    target: fc.oneof(
      fc.constantFrom('', 'gen.jsonl', 'eval', 'eval/gen.jsonl', 'missing', 'a\u0000b', 'x'.repeat(300)),
      fc.string({ maxLength: 8 }),
    ),
  });
  let n = 0;
  fc.assert(
    fc.property(layouts, ({ top, evalDir, evalIsFile, target }) => {
      const dir = path.join(root, `layout-${n++}`);
      fs.mkdirSync(dir);
      for (const f of top) fs.writeFileSync(path.join(dir, f), '');
      if (evalDir !== undefined) {
        fs.mkdirSync(path.join(dir, 'eval'));
        for (const f of evalDir) fs.writeFileSync(path.join(dir, 'eval', f), '');
      } else if (evalIsFile) fs.writeFileSync(path.join(dir, 'eval'), '');
      const data = target === '' ? dir : path.join(dir, target);
      const r = userErrorOr(() => evalFiles(data));
      if (r.ok) {
        assert.ok(r.value.length > 0);
        for (const f of r.value) assert.ok(fs.statSync(f).isFile(), f);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    }),
    fuzzParams(500),
  );
});
