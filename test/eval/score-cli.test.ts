import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { mcProblem } from '../../src/world/templates.js';

const root = mkdtempSync(join(tmpdir(), 'corl-score-'));
after(() => rmSync(root, { recursive: true, force: true }));

function corl(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/corl.js', ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function jsonl(name: string, rows: unknown[]): string {
  const p = join(root, name);
  writeFileSync(p, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return p;
}

test('corl score --task mcq --json: one reward line per input, then the mean', () => {
  const problem = mcProblem('what color is the circle?', ['red', 'blue', 'green', 'yellow']);
  const input = jsonl('mcq.jsonl', [
    { completion: '<think>x</think><answer>B</answer>', solution: '<answer>B</answer>', problem },
    { completion: '<think>x</think><answer>blue</answer>', solution: '<answer>B</answer>', problem },
    { completion: '<think>x</think><answer>A or B</answer>', solution: '<answer>B</answer>', problem },
    { completion: '<think>B</think><answer></answer>', solution: '<answer>B</answer>', problem },
  ]);
  const r = corl('score', '--task', 'mcq', '--input', input, '--json');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(
    r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l)),
    [{ reward: 1 }, { reward: 1 }, { reward: 0 }, { reward: 0 }, { mean: 0.5, n: 4 }],
  );
});

test('corl score: oe, format and pope; errors are one line', () => {
  const oe = jsonl('oe.jsonl', [
    { completion: '<think>3 + 4 = 7</think><answer>seven</answer>', solution: '<answer>7</answer>' },
    { completion: '<think>x</think><answer>3 + 4 = 7</answer>', solution: '<answer>7</answer>' },
  ]);
  assert.equal(
    corl('score', '--task', 'oe', '--input', oe, '--json').stdout.trim().split('\n').pop(),
    '{"mean":0.5,"n":2}',
  );
  const fmt = jsonl('fmt.jsonl', [{ completion: '<think>x</think><answer>B</answer>' }, { completion: 'B' }]);
  assert.equal(
    corl('score', '--task', 'format', '--input', fmt).stdout,
    'format: mean reward 0.5000 over 2 completions\n',
  );
  const pope = jsonl('pope.jsonl', [
    { completion: '<answer>not</answer>', solution: '<answer>no</answer>' },
    { completion: '<answer>nothing</answer>', solution: '<answer>no</answer>' },
    { completion: '<answer>Yes.</answer>', solution: '<answer>yes</answer>' },
  ]);
  const p = corl('score', '--task', 'pope', '--input', pope, '--json').stdout.trim().split('\n');
  assert.deepEqual(p.slice(0, 3), ['{"reward":1}', '{"reward":0}', '{"reward":1}']);

  const bad = join(root, 'bad.jsonl');
  writeFileSync(bad, '{"completion": "x", "solution": "y"}\n{"completion": 3, "solution": "y"}\n');
  let r = corl('score', '--task', 'oe', '--input', bad, '--json');
  assert.equal(r.code, 2);
  assert.equal(r.stderr, `corl: error: ${bad}:2: "completion" must be a string\n`);
  writeFileSync(bad, '{"completion": "x"}\n');
  r = corl('score', '--task', 'mcq', '--input', bad);
  assert.equal(r.stderr, `corl: error: ${bad}:1: missing "solution"\n`);
  writeFileSync(bad, 'not json\n');
  r = corl('score', '--task', 'pope', '--input', bad);
  assert.match(r.stderr, /^corl: error: .*bad\.jsonl:1: bad JSON line \(.*\)\n$/);
  r = corl('score', '--task', 'pope', '--input', join(root, 'missing.jsonl'));
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^corl: error: JSONL file not found: .*missing\.jsonl\n$/);
  r = corl('score', '--task', 'bleu', '--input', bad);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /Allowed choices are mcq, oe, format, pope/);
});
