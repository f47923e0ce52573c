/**
 * Opens a written report.html in headless Chromium (Debian's `chromium`, driven by playwright-core) and
 * checks what a reader sees: tables with the right rows, columns and texts, drawn charts, decoded images, no
 * console errors and no network request. Fails (does not skip) when Chromium is missing: CI installs it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { formatCell, parseReport, writeReport } from '../../src/report/index.js';
import {
  buildFixture,
  GRID_COLUMNS,
  GRID_PROMPTS,
  MAIN_COLUMNS,
  MAIN_ROWS,
  PILOT_ROWS,
  XSS_PROMPT,
} from './fixture.js';

const CHROMIUM = process.env.CORL_CHROMIUM ?? '/usr/bin/chromium';
const SCREENSHOT = '/tmp/report-test.png';

test('report.html renders offline in headless Chromium', { timeout: 120_000 }, async () => {
  assert.ok(
    existsSync(CHROMIUM),
    `Chromium not found at ${CHROMIUM}: install the Debian package with \`apt-get install -y chromium\` ` +
      '(or set CORL_CHROMIUM to a Chromium binary)',
  );
  const dir = mkdtempSync(join(tmpdir(), 'corl-report-browser-'));
  const profile = mkdtempSync(join(tmpdir(), 'corl-chromium-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
    viewport: { width: 1280, height: 900 },
  });
  try {
    const input = buildFixture(dir);
    const { htmlPath, warnings } = writeReport(dir, input);
    assert.deepEqual(warnings, []);
    const report = parseReport(input);

    const page = await context.newPage();
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('request', (r) => requests.push(r.url()));
    const url = pathToFileURL(htmlPath).href;
    await page.goto(url, { waitUntil: 'load' });

    // Tables: one per report table, with the expected shape and cell texts.
    const tables = await page.$$eval('table.report-table', (els) =>
      els.map((t) => ({
        id: t.getAttribute('data-table-id'),
        head: [...t.querySelectorAll('thead th')].map((th) => th.textContent ?? ''),
        rows: [...t.querySelectorAll('tbody tr')].map((tr) =>
          [...tr.children].map((c) => (c.textContent ?? '').trim()),
        ),
        bold: [...t.querySelectorAll('td.best strong')].map((b) => getComputedStyle(b).fontWeight),
        titles: [...t.querySelectorAll('td.num')].map((td) => td.getAttribute('title')),
      })),
    );
    assert.deepEqual(
      tables.map((t) => t.id),
      ['main', 'pilot', 'ablation'],
    );
    for (const [k, t] of tables.entries()) {
      const spec = report.tables[k]!;
      assert.deepEqual(t.head, [spec.row_header, ...spec.columns]);
      assert.equal(t.rows.length, spec.rows.length);
      t.rows.forEach((cells, i) => {
        const row = spec.rows[i]!;
        assert.deepEqual(cells, [row.label, ...row.cells.map((c) => formatCell(c, spec.decimals))]);
      });
      assert.ok(t.bold.length > 0 && t.bold.every((w) => Number(w) >= 700), `bold best cells in ${t.id}`);
    }
    assert.equal(tables[0]!.head.length, MAIN_COLUMNS.length + 1);
    assert.deepEqual(
      tables[0]!.rows.map((r) => r[0]),
      MAIN_ROWS,
    );
    assert.deepEqual(
      tables[1]!.rows.map((r) => r[0]),
      PILOT_ROWS,
    );
    assert.match(tables[1]!.rows[0]![1]!, /^\d\.\d{3} ± \d\.\d{3}$/);
    assert.ok(tables[1]!.titles.every((t) => t !== null && t.startsWith('n = 3, 95% CI [')));

    // Charts: drawn paths with real extent.
    const charts = await page.$$eval('svg.report-chart', (els) =>
      els.map((svg) => {
        const paths = [...svg.querySelectorAll('path.report-series')] as SVGPathElement[];
        return {
          id: svg.getAttribute('data-curve-id'),
          ds: paths.map((p) => p.getAttribute('d') ?? ''),
          lengths: paths.map((p) => p.getTotalLength()),
          legend: [...svg.querySelectorAll('.legend text')].map((t) => t.textContent),
          width: svg.getBoundingClientRect().width,
        };
      }),
    );
    assert.deepEqual(
      charts.map((c) => c.id),
      ['reward', 'accuracy'],
    );
    for (const [k, c] of charts.entries()) {
      const spec = report.curves[k]!;
      assert.equal(c.ds.length, spec.series.length);
      assert.ok(
        c.ds.every((d) => d.length > 0),
        `non-empty paths in ${c.id}`,
      );
      assert.ok(
        c.lengths.every((l) => l > 50),
        `visible lines in ${c.id}: ${c.lengths}`,
      );
      assert.deepEqual(
        c.legend,
        spec.series.map((s) => s.name),
      );
      assert.ok(c.width > 300);
    }

    // Images: all decoded from their data URIs, upscaled and pixelated.
    const images = await page.$$eval('img.report-image', (els) =>
      (els as HTMLImageElement[]).map((img) => ({
        src: img.src.slice(0, 22),
        complete: img.complete,
        natural: [img.naturalWidth, img.naturalHeight],
        shown: img.getBoundingClientRect().width,
        rendering: getComputedStyle(img).imageRendering,
      })),
    );
    assert.equal(images.length, GRID_PROMPTS.length * GRID_COLUMNS.length);
    for (const img of images) {
      assert.equal(img.src, 'data:image/png;base64,');
      assert.ok(img.complete);
      assert.deepEqual(img.natural, [32, 32]);
      assert.equal(img.shown, 96);
      assert.equal(img.rendering, 'pixelated');
    }
    const grid = await page.$$eval('table.report-grid tbody tr', (trs) =>
      trs.map(
        (tr) => [tr.querySelector('th')?.textContent ?? '', tr.querySelectorAll('img').length] as const,
      ),
    );
    assert.deepEqual(
      grid,
      GRID_PROMPTS.map((p) => [p, GRID_COLUMNS.length]),
    );

    // The prompt with <script> is text, nothing ran; answers and stages are there.
    assert.equal(await page.$$eval('script', (s) => s.length), 0);
    assert.ok((await page.textContent('table.report-grid'))?.includes(XSS_PROMPT));
    assert.equal(await page.$$eval('table.report-answers', (t) => t.length), 3);
    assert.equal(await page.$$eval('table.report-stages tbody tr', (t) => t.length), report.stages.length);
    assert.equal(await page.title(), report.meta.title);

    assert.deepEqual(errors, [], 'no console errors');
    const foreign = requests.filter((u) => !u.startsWith('file://') && !u.startsWith('data:'));
    assert.deepEqual(foreign, [], 'no network requests');
    assert.ok(requests.includes(url));

    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  } finally {
    await context.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(profile, { recursive: true, force: true });
  }
});
