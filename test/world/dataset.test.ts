import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { after, test } from 'node:test';
import { UserError } from '../../src/util/errors.js';
import { detectObjects, matchScene } from '../../src/world/detect.js';
import { buildDataset, readWorldRows, type WorldRow } from '../../src/world/dataset.js';
import { readImage } from '../../src/world/image-file.js';

const root = mkdtempSync(join(tmpdir(), 'corl-world-'));
after(() => rmSync(root, { recursive: true, force: true }));

function build(name: string, seed: number, train = 300, test = 60): string {
  const out = join(root, name);
  buildDataset({ out, seed, train, test });
  return out;
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out;
}

const a = build('a', 17);
const rows = (file: string): WorldRow[] => readWorldRows(join(a, file));

test('same seed -> byte-identical files; another seed -> different data', () => {
  const b = build('b', 17);
  const files = listFiles(a);
  assert.deepEqual(listFiles(b), files);
  assert.ok(files.length === 300 + 60 + 9 + 1, `${files.length} files`);
  for (const f of files) assert.ok(readFileSync(join(a, f)).equals(readFileSync(join(b, f))), `${f} differs`);
  const c = build('c', 18);
  assert.ok(!readFileSync(join(a, 'train.jsonl')).equals(readFileSync(join(c, 'train.jsonl'))));
  const differing = files
    .filter((f) => f.startsWith('images/'))
    .filter((f) => !readFileSync(join(a, f)).equals(readFileSync(join(c, f))));
  assert.ok(differing.length > 300, `${differing.length} images differ`);
});

test('the train rows do not depend on the test size', () => {
  const d = build('d', 17, 300, 10);
  assert.ok(readFileSync(join(a, 'train.jsonl')).equals(readFileSync(join(d, 'train.jsonl'))));
  assert.ok(readFileSync(join(a, 'stage2/mcq.jsonl')).equals(readFileSync(join(d, 'stage2/mcq.jsonl'))));
});

test("stage-1 rows carry ULM-R1's fields: a generation prompt and a question about the same image", () => {
  const train = rows('train.jsonl');
  assert.equal(train.length, 300);
  for (const r of train) {
    assert.equal(r.task, 'unified');
    for (const key of [
      'prompt',
      'real_image',
      'qa_problem',
      'qa_solution',
      'qa_type',
      'qa_think',
      'category',
      'scene',
    ])
      assert.ok(key in r, `${r.id} lacks ${key}`);
    assert.ok(r.qa_type === 'MC' || r.qa_type === 'OE');
    assert.equal(r.qa_solution, `<answer>${r.qa_answer}</answer>`);
    assert.equal(r.spec.prompt, r.prompt);
    assert.equal(r.real_image, `images/${r.id}.png`);
  }
  const mc = train.filter((r) => r.qa_type === 'MC').length;
  const pope = train.filter((r) => r.qa_kind === 'exist').length;
  assert.equal(mc, 120);
  assert.equal(pope, 60);
  // Categories are dealt in blocks of six.
  const cats = new Map<string, number>();
  for (const r of train) cats.set(r.category, (cats.get(r.category) ?? 0) + 1);
  assert.deepEqual([...cats.values()], [50, 50, 50, 50, 50, 50]);
});

test('answers are balanced: MCQ letters and POPE yes/no', () => {
  for (const file of ['train.jsonl', 'stage2/mcq.jsonl', 'eval/mcq.jsonl']) {
    const letters = new Map<string, number>();
    for (const r of rows(file))
      if (r.qa_type === 'MC') letters.set(r.qa_answer!, (letters.get(r.qa_answer!) ?? 0) + 1);
    const counts = ['A', 'B', 'C', 'D'].map((l) => letters.get(l) ?? 0);
    const n = counts.reduce((x, y) => x + y, 0);
    // Dealt in blocks of four per question kind (6 kinds): at most one block per kind unfinished.
    for (const c of counts) assert.ok(Math.abs(c - n / 4) <= 6, `${file}: ${counts}`);
  }
  const pope = rows('eval/pope.jsonl');
  assert.equal(pope.length, 180);
  for (const split of ['random', 'popular', 'adversarial']) {
    const s = pope.filter((r) => r.pope_split === split);
    const yes = s.filter((r) => r.qa_answer === 'yes').length;
    assert.equal(s.length, 60);
    assert.equal(yes, 30, split);
  }
});

test('stage-2 and eval files: one task each, images relative to their folder', () => {
  for (const [file, task, n] of [
    ['stage2/gen.jsonl', 'gen', 300],
    ['stage2/mcq.jsonl', 'mcq', 300],
    ['stage2/oe.jsonl', 'oe', 300],
    ['eval/gen.jsonl', 'gen', 60],
    ['eval/oe.jsonl', 'oe', 60],
  ] as const) {
    const rs = rows(file);
    assert.equal(rs.length, n, file);
    for (const r of rs) {
      assert.equal(r.task, task);
      assert.ok(statSync(resolve(dirname(join(a, file)), r.real_image)).isFile());
      if (task === 'gen') assert.equal(r.qa_problem, undefined);
      if (task === 'mcq') assert.equal(r.qa_type, 'MC');
      if (task === 'oe') assert.equal(r.qa_type, 'OE');
    }
  }
  const manifest = JSON.parse(readFileSync(join(a, 'manifest.json'), 'utf8'));
  assert.equal(manifest.seed, 17);
  assert.equal(manifest.files.length, 9);
});

test('the images are the scenes (the parser reads them back exactly)', () => {
  for (const r of rows('test.jsonl')) {
    const img = readImage(join(a, r.real_image));
    assert.equal(img.width, 32);
    assert.ok(matchScene(r.scene, detectObjects(img), 32).exact, r.id);
  }
});

test('readWorldRows: clear errors with the line number', () => {
  const bad = join(root, 'bad.jsonl');
  const good = readFileSync(join(a, 'test.jsonl'), 'utf8').split('\n')[0];
  writeFileSync(bad, `${good}\n\n{"real_image": 3}\n`);
  assert.throws(
    () => readWorldRows(bad),
    (e: unknown) => e instanceof UserError && /bad\.jsonl:3: not a ShapesWorld row/.test(e.message),
  );
  writeFileSync(bad, `${good}\n{oops\n`);
  assert.throws(
    () => readWorldRows(bad),
    (e: unknown) => e instanceof UserError && /bad\.jsonl:2: bad JSON line/.test(e.message),
  );
  assert.throws(
    () => readWorldRows(join(root, 'missing.jsonl')),
    (e: unknown) => e instanceof UserError && /not found/.test(e.message),
  );
});

test('readWorldRows: fields of the wrong type are errors naming the line and field (found by fuzzing)', () => {
  const bad = join(root, 'typed.jsonl');
  const good = JSON.parse(readFileSync(join(a, 'test.jsonl'), 'utf8').split('\n')[0]!) as Record<
    string,
    unknown
  >;
  const spec = good.spec as { include: Record<string, unknown>[] };
  const cases: [Record<string, unknown>, RegExp][] = [
    // a bad GenEval spec used to load, then threw a RangeError in the geneval reward mid-run
    [
      { ...good, spec: { ...spec, include: [{ ...spec.include[0], class: 'blob' }] } },
      /spec\.include\.0\.class/,
    ],
    [{ ...good, spec: { ...spec, tag: null } }, /spec\.tag/],
    [{ ...good, qa_problem: 7 }, /qa_problem/],
    [{ ...good, qa_type: 'mc' }, /qa_type/],
    [{ ...good, pope_split: 'sometimes' }, /pope_split/],
    [{ ...good, qa_options: ['a', 2] }, /qa_options\.1/],
    [{ ...good, real_image: 'images/a\nb.png' }, /real_image: contains a control character/],
  ];
  for (const [row, re] of cases) {
    writeFileSync(bad, `${JSON.stringify(good)}\n${JSON.stringify(row)}\n`);
    assert.throws(
      () => readWorldRows(bad),
      (e: unknown) =>
        e instanceof UserError &&
        /typed\.jsonl:2: not a ShapesWorld row/.test(e.message) &&
        re.test(e.message) &&
        !e.message.includes('\n'),
    );
  }
  // optional fields may be missing, and unknown ones are kept
  const { spec: _s, qa_problem: _q, ...rest } = good;
  writeFileSync(bad, `${JSON.stringify({ ...rest, extra: [1] })}\n`);
  assert.deepEqual(readWorldRows(bad), [{ ...rest, extra: [1] }]);
});
