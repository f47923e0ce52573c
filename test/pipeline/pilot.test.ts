/**
 * `corl pilot` on the micro preset with two seeds: every strategy and ablation row gets mean +- CI cells in
 * the pilot and ablation tables of its report.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, pretrainMicroBase } from '../helpers/micro-base.js';

test('the micro pilot writes the pilot and ablation tables over two seeds', () => {
  const dir = mkdtempSync(join(tmpdir(), 'corl-pilot-'));
  const base = pretrainMicroBase(dir);
  const r = spawnSync(
    process.execPath,
    [
      CLI,
      'pilot',
      '--preset',
      'world-micro',
      '--base',
      base,
      '--seeds',
      '2',
      '--steps',
      '1',
      '--out',
      join(dir, 'pilot'),
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(readFileSync(join(dir, 'pilot', 'report.json'), 'utf8')) as {
    tables: {
      id: string;
      rows: { label: string; cells: ({ mean: number; ci?: number; n?: number } | null)[] }[];
    }[];
  };
  const pilot = report.tables.find((t) => t.id === 'pilot')!;
  const ablation = report.tables.find((t) => t.id === 'ablation')!;
  assert.equal(pilot.rows.length, 6);
  assert.equal(ablation.rows.length, 5);
  assert.match(pilot.rows[0]!.label, /base/);
  assert.ok(!pilot.rows[0]!.cells.some((c) => c !== null && 'best' in c && (c as { best?: boolean }).best));
  for (const row of [...pilot.rows, ...ablation.rows]) {
    const mcq = row.cells[7]!; // the MCQ column
    assert.ok(
      mcq !== null && mcq.n === 2 && typeof mcq.ci === 'number',
      `${row.label}: ${JSON.stringify(mcq)}`,
    );
    assert.ok(mcq.mean >= 0 && mcq.mean <= 1);
  }
});
