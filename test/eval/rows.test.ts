/** corl eval's row loader: the rows evaluate() keeps must hold what it reads, or loading fails naming the line. */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildDataset, type WorldRow } from '../../src/world/dataset.js';
import { loadEvalRows } from '../../src/eval/rows.js';
import { UserError } from '../../src/util/errors.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corl-eval-rows-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
buildDataset({ out: dir, seed: 4, train: 1, test: 1 });
const first = (f: string): Record<string, unknown> =>
  JSON.parse(fs.readFileSync(path.join(dir, 'eval', f), 'utf8').split('\n')[0]!);

test('loadEvalRows: kept rows missing what evaluate() reads fail at load (found by fuzzing)', () => {
  const file = path.join(dir, 'eval', 'fuzzed.jsonl');
  const { qa_solution: _s, ...mcqNoSolution } = first('mcq.jsonl');
  const { qa_answer: _a, ...popeNoAnswer } = first('pope.jsonl');
  const { spec: _g, ...genNoSpec } = first('gen.jsonl');
  const { qa_problem: _q, ...oeNoProblem } = first('oe.jsonl');
  const cases: [Record<string, unknown>, RegExp][] = [
    // evaluate() read these with `!` and crashed (or, for POPE, scored every answer against "no")
    [mcqNoSolution, /a question needs qa_problem and qa_solution/],
    [oeNoProblem, /a question needs qa_problem and qa_solution/],
    [popeNoAnswer, /a POPE question needs qa_answer "yes" or "no"/],
    [{ ...first('pope.jsonl'), qa_answer: 'maybe' }, /a POPE question needs qa_answer/],
    [genNoSpec, /a generation row needs a prompt and its GenEval spec/],
    [{ ...first('gen.jsonl'), prompt: '' }, /a generation row needs a prompt/],
  ];
  for (const [row, re] of cases) {
    fs.writeFileSync(file, `${JSON.stringify(first('gen.jsonl'))}\n${JSON.stringify(row)}\n`);
    assert.throws(
      () => loadEvalRows([file]),
      (e: unknown) => e instanceof UserError && e.message.startsWith(`${file}:2: `) && re.test(e.message),
    );
    // a row the caller does not keep is not checked
    const rows = loadEvalRows([file], (all: WorldRow[]) => all.slice(0, 1));
    assert.equal(rows.length, 1);
    assert.ok(rows[0]!.image.width > 0);
  }
});
