import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  cellTitle,
  averageWindow,
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
  trailingMean,
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
    const t2i = html.match(
      /data-series="t2i\/reward" data-style="faint"><path class="report-series" d="([^"]+)"/,
    );
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

test('curveFromMetrics: skips steps without the key, NaN/null break the line', () => {
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
});

test('trailingMean against hand-computed values; averageWindow is 10 steps or 10% of the run', () => {
  const pts: [number, number | null][] = [
    [1, 1],
    [2, 3],
    [3, 5],
    [4, null],
    [5, 10],
    [8, 2],
  ];
  // window 3: (x-3, x] -> {1}, {1,2}, {1,2,3}, {2,3,4}, {3,4,5}, {6,7,8}; nulls left out of the means
  assert.deepEqual(trailingMean(pts, 3), [
    [1, 1],
    [2, 2],
    [3, 3],
    [4, 4], // (3 + 5) / 2
    [5, 7.5], // (5 + 10) / 2
    [8, 2],
  ]);
  // window 1 is the raw series (a null stays null: nothing finite in its window)
  assert.deepEqual(trailingMean(pts, 1), pts);
  // a window longer than the run: the running mean
  assert.deepEqual(
    trailingMean(pts, 100).map(([, y]) => y),
    [1, 2, 3, 3, 19 / 4, 21 / 5],
  );
  assert.deepEqual(trailingMean([[0, null]], 5), [[0, null]]);
  // full windows only: from x = first x + window - 1 (the window of 3 at x = 3 holds steps 1, 2, 3)
  assert.deepEqual(trailingMean(pts, 3, { full: true }), [
    [1, null],
    [2, null],
    [3, 3],
    [4, 4],
    [5, 7.5],
    [8, 2],
  ]);
  assert.throws(() => trailingMean(pts, 0), /positive/);
  assert.equal(averageWindow(2), 10);
  assert.equal(averageWindow(80), 10);
  assert.equal(averageWindow(300), 30);
});

test('curveFromMetrics: average -> faint raw + bold mean in one colour; held-out keys -> markers', () => {
  // a run of 12 steps with held-out rows at steps 0, 6 and 12 (the trainer's eval_every 6)
  const rows: Record<string, unknown>[] = [
    { step: 0, 'eval/gen_reward': 0.5, 'eval/accuracy': 0.25, 'eval/n': 8 },
  ];
  for (let s = 1; s <= 12; s++) {
    rows.push({ step: s, 't2i/reward': s % 2, 'mm2t/reward': s === 3 ? NaN : 1 });
    if (s % 6 === 0)
      rows.push({ step: s, 'eval/gen_reward': 0.5 + s / 100, 'eval/accuracy': 0.5, 'eval/n': 8 });
  }
  const c = curveFromMetrics(rows, {
    id: 'r',
    title: 'R',
    keys: ['t2i/reward', 'mm2t/reward', 'mm2t/missing'],
    names: ['gen', 'und', 'nothing'],
    average: 'auto',
    heldOut: [
      { key: 'eval/gen_reward', name: 'held-out gen', colourOf: 0 },
      { key: 'eval/accuracy', name: 'held-out acc' },
    ],
  });
  assert.deepEqual(
    c.series.map((s) => [s.name, s.style, s.colour]),
    [
      ['gen (per step)', 'faint', 0],
      ['gen (mean of last 10 steps)', undefined, 0],
      ['und (per step)', 'faint', 1],
      ['und (mean of last 10 steps)', undefined, 1],
      ['nothing', undefined, 2], // no data: one empty series, the legend says so
      ['held-out gen', 'markers', 0],
      ['held-out acc', 'markers', 4],
    ],
  );
  assert.equal(c.series[0]!.points.length, 12);
  // the mean of t2i at step 12: steps 3..12, five odd steps of ten = 0.5; none before the window is full
  assert.deepEqual(c.series[1]!.points[11], [12, 0.5]);
  assert.deepEqual(
    c.series[1]!.points.slice(0, 10).map(([, y]) => y),
    [null, null, null, null, null, null, null, null, null, 0.5],
  );
  // NaN at step 3 is a gap in the raw line and left out of the mean: steps 1..10 without 3 -> 9 ones
  assert.deepEqual(c.series[2]!.points[2], [3, null]);
  assert.deepEqual(c.series[3]!.points[9], [10, 1]);
  assert.deepEqual(c.series[5]!.points, [
    [0, 0.5],
    [6, 0.56],
    [12, 0.62],
  ]);
  // a fixed window
  const w3 = curveFromMetrics(rows, { id: 'r', title: 'R', keys: ['t2i/reward'], average: 3 });
  assert.equal(w3.series[1]!.name, 't2i/reward (mean of last 3 steps)');
  assert.deepEqual(w3.series[1]!.points.slice(0, 4), [
    [1, null],
    [2, null],
    [3, 2 / 3],
    [4, 1 / 3],
  ]);
  // a run shorter than its window: the raw values alone, no mean series
  const short = curveFromMetrics(rows.slice(0, 4), {
    id: 's',
    title: 'S',
    keys: ['t2i/reward'],
    average: 'auto',
  });
  assert.deepEqual(
    short.series.map((s) => [s.name, s.style]),
    [['t2i/reward (per step)', 'faint']],
  );
  assert.throws(() => curveFromMetrics(rows, { id: 'r', title: 'R', keys: ['x'], average: 0 }), /positive/);
});

test('schema: a chart with held-out points and styles is valid, an old one without too; bad styles not', () => {
  const meta = {
    title: 't',
    preset: 'p',
    created: '2025-06-01T12:00:00.000Z',
    wall_seconds: 1,
    machine: { cpus: 2, threads: 2 },
    corl_version: '0.1.0',
    command: 'corl',
  };
  const old = { id: 'old', title: 'old', x: 'step', series: [{ name: 'a', points: [[0, 1]] }] };
  const styled = {
    id: 'new',
    title: 'new',
    x: 'step',
    series: [
      { name: 'raw', points: [[0, 1]], style: 'faint', colour: 0 },
      { name: 'mean', points: [[0, 1]], colour: 0 },
      { name: 'held-out', points: [[0, 0.5]], style: 'markers', colour: 0 },
    ],
  };
  const r = parseReport({ meta, curves: [old, styled] });
  assert.deepEqual(r.curves[0], old, 'an old chart reads back as it was (no fields added)');
  assert.equal(r.curves[1]!.series[2]!.style, 'markers');
  const bad = structuredClone(styled);
  (bad.series[0] as Record<string, unknown>).style = 'dotted';
  (bad.series[1] as Record<string, unknown>).colour = -1;
  assert.throws(
    () => parseReport({ meta, curves: [bad] }),
    (e: Error) =>
      /curves\.0\.series\.0\.style/.test(e.message) && /curves\.0\.series\.1\.colour/.test(e.message),
  );
});

test('renderer: faint raw values under a bold mean, held-out markers on top, each in the legend', () => {
  const dir = tmp();
  try {
    const report = parseReport(buildFixture(dir));
    const html = renderReportHtml(report, dir);
    const svg = html.match(/<svg class="report-chart" data-curve-id="reward"[\s\S]*?<\/svg>/)![0];
    const groups = [
      ...svg.matchAll(/<g class="series" data-series="([^"]+)"(?: data-style="(\w+)")?>([\s\S]*?)<\/g>/g),
    ];
    // drawing order: faint, then lines, then markers
    assert.deepEqual(
      groups.map((g) => [g[1], g[2]]),
      [
        ['t2i/reward', 'faint'],
        ['t2i/reward (mean of last 10 steps)', undefined],
        ['mm2t/reward', undefined],
        ['held-out generation', 'markers'],
      ],
    );
    const body = (k: number) => groups[k]![3]!;
    const blue = '#1f77b4'; // colour 0: the raw series, its mean and the held-out markers
    assert.match(body(0), new RegExp(`stroke="${blue}" stroke-width="1" stroke-opacity="0.35"`));
    assert.ok(!body(0).includes('<circle'), 'no markers on the faint series');
    assert.match(body(1), new RegExp(`stroke="${blue}" stroke-width="2"`));
    assert.ok(!body(1).includes('<circle'), 'no dots on the mean line');
    assert.match(body(2), /stroke="#2ca02c"/, "a series without a colour gets its index's (2)");
    assert.equal(body(3).match(/<circle [^>]*r="3.75" fill="#1f77b4" stroke="#fff"/g)?.length, 4);
    assert.equal(body(3).match(/M/g)?.length, 1, 'the markers are joined by one line');
    const legend = svg.match(/<g class="legend"[\s\S]*$/)![0];
    assert.deepEqual(
      [...legend.matchAll(/<text [^>]*>([^<]*)<\/text>/g)].map((m) => m[1]),
      ['t2i/reward', 't2i/reward (mean of last 10 steps)', 'mm2t/reward', 'held-out generation'],
    );
    assert.match(legend, /stroke-width="1.5" stroke-opacity="0.45"/);
    assert.equal(legend.match(/<circle /g)?.length, 1, 'the held-out legend item has a marker');
    // the old-style chart renders as before: plain lines, dots at its few points, no styles
    const acc = html.match(/<svg class="report-chart" data-curve-id="accuracy"[\s\S]*?<\/svg>/)![0];
    assert.ok(!acc.includes('data-style'));
    assert.equal(acc.match(/<circle [^>]*r="2.5"/g)?.length, 12);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
