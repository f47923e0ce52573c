import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  cellTitle,
  ciHalfWidth,
  curveFromMetrics,
  escapeHtml,
  formatCell,
  formatDuration,
  markBest,
  meanCell,
  niceAxis,
  parseReport,
  readReport,
  renderReport,
  renderReportHtml,
  tQuantile975,
  writeReport,
  type ReportInput,
  type ReportTableInput,
} from '../../src/report/index.js';
import { UserError } from '../../src/util/errors.js';
import { buildFixture, XSS_PROMPT } from './fixture.js';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'corl-report-'));
}

const close = (a: number | undefined, b: number, tol = 1e-3) =>
  assert.ok(a !== undefined && Math.abs(a - b) < tol, `${a} != ${b}`);

test('ciHalfWidth: 95% Student-t half-width against hand-computed values', () => {
  // [1,2,3]: mean 2, s = 1, t_{0.975,2} = 4.303 -> 4.303 / sqrt(3) = 2.484
  close(ciHalfWidth([1, 2, 3]), 2.484);
  // [0, 1]: s = 0.7071, t_{0.975,1} = 12.706 -> 12.706 * 0.7071 / sqrt(2) = 6.353
  close(ciHalfWidth([0, 1]), 6.353);
  // [2, 4, 4, 4, 5, 5, 7, 9]: s = 2.138, t_{0.975,7} = 2.365 -> 2.365 * 2.138 / sqrt(8) = 1.788
  close(ciHalfWidth([2, 4, 4, 4, 5, 5, 7, 9]), 1.788);
  // n = 41 (df 40 > 30): 1.96 * s / sqrt(n); values 0/1 alternating, 21 ones: s = 0.5064
  const v = Array.from({ length: 41 }, (_, i) => (i % 2 === 0 ? 1 : 0));
  close(ciHalfWidth(v), (1.96 * 0.50637) / Math.sqrt(41));
  assert.equal(ciHalfWidth([0.5]), undefined);
  assert.equal(ciHalfWidth([]), undefined);
  assert.equal(ciHalfWidth([3, 3, 3]), 0);
  assert.equal(tQuantile975(2), 4.3027);
  assert.equal(tQuantile975(30), 2.0423);
  assert.equal(tQuantile975(31), 1.96);
});

test('meanCell and markBest', () => {
  const c = meanCell([1, 2, 3]);
  assert.ok(c !== null && 'mean' in c);
  assert.equal(c.mean, 2);
  assert.equal(c.n, 3);
  close(c.ci, 2.484);
  assert.deepEqual(meanCell([0.5]), { mean: 0.5, n: 1 });
  assert.equal(meanCell([]), null);
  assert.deepEqual(meanCell([NaN, 1, 3]), { mean: 2, n: 2, ci: (12.7062 * Math.SQRT2) / Math.SQRT2 });
  const table: Pick<ReportTableInput, 'columns' | 'rows'> = {
    columns: ['acc', 'loss', 'note'],
    rows: [
      { label: 'a', cells: [{ mean: 0.5 }, { mean: 1.0 }, { text: 'x' }] },
      { label: 'b', cells: [{ mean: 0.7 }, { mean: 0.2 }, null] },
      { label: 'c', cells: [{ mean: 0.7 }, null, null] },
    ],
  };
  const t = markBest(table, { lowerIsBetter: ['loss'] });
  const best = t.rows.map((r) => r.cells.map((x) => (x !== null && 'mean' in x ? (x.best ?? false) : null)));
  assert.deepEqual(best, [
    [false, false, null],
    [true, true, null],
    [true, null, null],
  ]);
});

test('cell formatting: mean ± CI with 3 decimals, n on hover, text, null', () => {
  assert.equal(formatCell({ mean: 0.71234, ci: 0.0311, n: 5 }), '0.712 ± 0.031');
  assert.equal(formatCell({ mean: 0.5 }), '0.500');
  assert.equal(formatCell({ mean: -0.0001 }), '0.000');
  assert.equal(formatCell({ mean: 12.3456, ci: 1 }, 1), '12.3 ± 1.0');
  assert.equal(formatCell({ text: 'n/a' }), 'n/a');
  assert.equal(formatCell(null), '—');
  assert.equal(cellTitle({ mean: 0.712, ci: 0.031, n: 5 }), 'n = 5, 95% CI [0.681, 0.743]');
  assert.equal(cellTitle({ mean: 0.712 }), undefined);
  assert.equal(formatDuration(5.25), '5.3 s');
  assert.equal(formatDuration(3725.4), '1 h 02 m');
  assert.equal(formatDuration(125), '2 m 05 s');
});

test('niceAxis covers the data with 1-2-5 steps', () => {
  const a = niceAxis(0.13, 0.87, 5);
  assert.ok(a.lo <= 0.13 && a.hi >= 0.87);
  assert.deepEqual(
    a.ticks.map((t) => t.toFixed(a.decimals)),
    ['0.0', '0.2', '0.4', '0.6', '0.8', '1.0'],
  );
  const flat = niceAxis(3, 3);
  assert.ok(flat.lo < 3 && flat.hi > 3);
});

test('escaping: a prompt with <script> renders as text', () => {
  assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  const dir = tmp();
  try {
    const report = parseReport(buildFixture(dir));
    const html = renderReportHtml(report, dir);
    assert.ok(!html.includes('<script'), 'no raw <script> in the page');
    assert.ok(html.includes(escapeHtml(XSS_PROMPT)));
    assert.ok(html.includes('out of &lt;memory&gt;'));
    assert.ok(html.includes('&lt;think&gt;I see 1 objects.&lt;/think&gt;'));
    assert.ok(html.includes(`Content-Security-Policy" content="default-src 'none'`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('renderer: tables, charts and embedded images', () => {
  const dir = tmp();
  try {
    const { html, warnings } = renderReport(parseReport(buildFixture(dir)), dir);
    assert.deepEqual(warnings, []);
    assert.equal(html.match(/<table class="report-table"/g)?.length, 3);
    assert.equal(html.match(/<svg class="report-chart"/g)?.length, 2);
    assert.equal(html.match(/<img class="report-image" src="data:image\/png;base64,/g)?.length, 12);
    // 32x32 images are shown at 96x96 (pixelated by CSS).
    assert.ok(html.includes('width="96" height="96"'));
    assert.ok(html.includes('image-rendering: pixelated'));
    // Best cells bold, n on hover.
    assert.match(html, /<td class="num best" title="n = 200"><strong>0\.710<\/strong><\/td>/);
    // The NaN at step 20 breaks the t2i line into two runs.
    const t2i = html.match(/data-series="t2i\/reward"><path class="report-series" d="([^"]+)"/);
    assert.ok(t2i);
    assert.equal(t2i[1]!.match(/M/g)?.length, 2);
    assert.ok(!/NaN|undefined/.test(html), 'no NaN or undefined printed');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('missing image: placeholder and a warning, no crash', () => {
  const dir = tmp();
  try {
    const input = buildFixture(dir, { missing: ['1,2'] });
    input.grids![0]!.rows[0]!.images[1] = '../../etc/passwd';
    writeFileSync(join(dir, 'samples', 'p2-s3.png'), 'not a png');
    const out = writeReport(dir, input);
    assert.equal(out.warnings.length, 3);
    assert.ok(out.warnings.some((w) => w.includes('missing image samples/p1-s2.png')));
    assert.ok(out.warnings.some((w) => w.includes('outside the report folder')));
    assert.ok(out.warnings.some((w) => w.includes('samples/p2-s3.png is not a PNG')));
    const html = readFileSync(out.htmlPath, 'utf8');
    assert.equal(html.match(/class="report-missing"/g)?.length, 3);
    assert.equal(html.match(/<img class="report-image"/g)?.length, 9);
    assert.ok(html.includes('id="report-warnings"'));
    assert.ok(html.includes('missing image samples/p1-s2.png'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('schema rejects malformed data with a clear message', () => {
  const dir = tmp();
  try {
    const good = buildFixture(dir);
    const bad = structuredClone(good) as ReportInput;
    bad.tables![0]!.rows[1]!.cells.pop();
    assert.throws(
      () => parseReport(bad),
      /invalid report: tables\.0\.rows\.1\.cells: row "stage1 unified" has 10 cells but the table has 11 columns/,
    );
    const bad2 = structuredClone(good) as Record<string, unknown> & ReportInput;
    (bad2.meta as Record<string, unknown>).created = 'yesterday';
    (bad2.stages![0] as Record<string, unknown>).status = 'running';
    assert.throws(
      () => parseReport(bad2),
      (err: Error) => {
        assert.match(err.message, /meta\.created: /);
        assert.match(err.message, /stages\.0\.status: /);
        return true;
      },
    );
    const bad3 = structuredClone(good);
    bad3.tables![1]!.id = 'main';
    assert.throws(() => parseReport(bad3), /tables\.1\.id: duplicate table id "main"/);
    const bad4 = structuredClone(good);
    bad4.grids![0]!.rows[2]!.images.push(null);
    assert.throws(
      () => writeReport(dir, bad4),
      /grids\.0\.rows\.2\.images: row .* has 5 images but the grid has 4/,
    );
    assert.ok(!existsSync(join(dir, 'report.json')), 'nothing written for invalid data');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writeReport / readReport round trip; atomic files; corrupt report is a UserError', () => {
  const dir = tmp();
  try {
    const out = writeReport(dir, buildFixture(dir));
    assert.equal(readdirSync(dir).filter((f) => f.includes('.tmp-')).length, 0);
    const back = readReport(dir);
    assert.deepEqual(back, out.report);
    // NaN became null in the JSON; defaults are filled.
    assert.equal(back.curves[0]!.series[0]!.points[20]![1], null);
    assert.equal(back.tables[2]!.decimals, 3);
    assert.equal(back.format_version, 1);
    const json = readFileSync(out.jsonPath, 'utf8');
    assert.ok(json.startsWith('{\n  "format_version": 1,'));
    writeFileSync(out.jsonPath, '{');
    assert.throws(
      () => readReport(dir),
      (e: Error) => e instanceof UserError && /is not valid JSON/.test(e.message),
    );
    writeFileSync(out.jsonPath, '{"meta": {}}');
    assert.throws(
      () => readReport(dir),
      (e: Error) => e instanceof UserError && /meta\.title/.test(e.message),
    );
    assert.throws(() => readReport(join(dir, 'nope')), /no report at/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('curveFromMetrics: skips steps without the key, NaN/null break the line, EMA smoothing', () => {
  const rows = [
    { step: 0, reward: 1, 't2i/reward': 0 },
    { step: 1, reward: 3 },
    { step: 2, reward: null, 't2i/reward': 1 },
    { step: 3, reward: 5 },
    { note: 'no step' },
  ];
  const c = curveFromMetrics(rows, { id: 'r', title: 'R', keys: ['reward', 't2i/reward'], names: ['all'] });
  assert.equal(c.x, 'step');
  assert.deepEqual(c.series[0], {
    name: 'all',
    points: [
      [0, 1],
      [1, 3],
      [2, null],
      [3, 5],
    ],
  });
  assert.deepEqual(c.series[1]!.points, [
    [0, 0],
    [2, 1],
  ]);
  const s = curveFromMetrics(rows, { id: 'r', title: 'R', keys: ['reward'], smooth: 0.5 });
  // debiased EMA: 1; (0.25 + 1.5) / 0.75 = 2.333; gap; (0.875 + 2.5) / 0.875 ...
  close(s.series[0]!.points[1]![1] as number, (0.5 * 0.5 * 1 + 0.5 * 3) / 0.75);
});
