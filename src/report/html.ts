/**
 * The report card as one self-contained HTML page (nanochat's report card in spirit: one page that tells the
 * run's story). Everything is inline (CSS, SVG charts, images as base64 data URIs) and a Content-Security-
 * Policy forbids any fetch, so the page reads the same offline, from an archive, or attached to an issue.
 * Every piece of data text is escaped. Stable hooks for tests and tools: `table.report-table[data-table-id]`,
 * `svg.report-chart[data-curve-id]`, `img.report-image`, `table.report-grid`, `table.report-stages`,
 * `table.report-answers`, `#report-warnings`.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { hasData, renderChartSvg } from './chart.js';
import { escapeHtml } from './escape.js';
import type { Answer, Cell, Curve, Grid, Report, ReportTable, Stage } from './schema.js';

export { escapeHtml } from './escape.js';

export interface RenderOptions {
  /** Sampled answers shown per stage (the rest are counted, not shown). Default 6. */
  maxAnswersPerStage?: number;
}

export interface RenderResult {
  html: string;
  /** Problems met while rendering (missing or unreadable images); also listed at the top of the page. */
  warnings: string[];
}

// ---------------------------------------------------------------------------------------------- cells

function fixed(v: number, decimals: number): string {
  const s = v.toFixed(decimals);
  return /^-0(\.0*)?$/.test(s) ? s.slice(1) : s;
}

/** A cell as text: "0.712 ± 0.031" (mean ± 95% CI half-width), "0.712", free text, or "—" for null. */
export function formatCell(cell: Cell, decimals = 3): string {
  if (cell === null) return '—';
  if ('text' in cell) return cell.text;
  if (!Number.isFinite(cell.mean)) return '—';
  const m = fixed(cell.mean, decimals);
  return cell.ci === undefined ? m : `${m} ± ${fixed(cell.ci, decimals)}`;
}

/** The hover text of a numeric cell: n and the interval itself. */
export function cellTitle(cell: Cell, decimals = 3): string | undefined {
  if (cell === null || 'text' in cell) return undefined;
  const parts: string[] = [];
  if (cell.n !== undefined) parts.push(`n = ${cell.n}`);
  if (cell.ci !== undefined)
    parts.push(`95% CI [${fixed(cell.mean - cell.ci, decimals)}, ${fixed(cell.mean + cell.ci, decimals)}]`);
  return parts.length > 0 ? parts.join(', ') : undefined;
}

function renderCell(cell: Cell, decimals: number): string {
  if (cell === null) return '<td class="empty">—</td>';
  if ('text' in cell) return `<td class="text">${escapeHtml(cell.text)}</td>`;
  const title = cellTitle(cell, decimals);
  const t = title === undefined ? '' : ` title="${escapeHtml(title)}"`;
  const m = Number.isFinite(cell.mean) ? fixed(cell.mean, decimals) : '—';
  const ci = cell.ci === undefined ? '' : `<span class="ci"> ± ${fixed(cell.ci, decimals)}</span>`;
  const inner = m + ci;
  return cell.best
    ? `<td class="num best"${t}><strong>${inner}</strong></td>`
    : `<td class="num"${t}>${inner}</td>`;
}

// --------------------------------------------------------------------------------------------- images

interface Embedded {
  src: string;
  width?: number;
  height?: number;
}

function sniffMime(buf: Buffer): string | null {
  if (buf.length >= 24 && buf.readUInt32BE(0) === 0x89504e47 && buf.readUInt32BE(4) === 0x0d0a1a0a)
    return 'image/png';
  if (buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff) return 'image/jpeg';
  if (buf.length >= 6 && buf.subarray(0, 4).toString('latin1') === 'GIF8') return 'image/gif';
  if (buf.length >= 12 && buf.subarray(0, 4).toString('latin1') === 'RIFF') {
    if (buf.subarray(8, 12).toString('latin1') === 'WEBP') return 'image/webp';
  }
  return null;
}

/** Reads DIR/rel as a data URI; a string is the reason it could not (missing, outside DIR, not an image). */
function loadImage(dir: string, rel: string): Embedded | string {
  const root = resolve(dir);
  const path = resolve(root, rel);
  const inside = relative(root, path);
  if (isAbsolute(rel) || inside === '' || inside.startsWith('..') || isAbsolute(inside))
    return `image path ${rel} is outside the report folder`;
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? `missing image ${rel}` : `cannot read image ${rel} (${code ?? String(err)})`;
  }
  const mime = sniffMime(buf);
  if (mime === null) return `${rel} is not a PNG, JPEG, GIF or WebP image`;
  const e: Embedded = { src: `data:${mime};base64,${buf.toString('base64')}` };
  if (mime === 'image/png') {
    e.width = buf.readUInt32BE(16);
    e.height = buf.readUInt32BE(20);
  }
  return e;
}

function embedImage(dir: string, rel: string, cache: Map<string, Embedded | string>): Embedded | string {
  let e = cache.get(rel);
  if (e === undefined) {
    e = loadImage(dir, rel);
    cache.set(rel, e);
  }
  return e;
}

/** Display size: small images (32x32) are scaled up by a whole factor to about 96 px, pixelated. */
function displaySize(e: Embedded): { w: number; h: number } | null {
  if (e.width === undefined || e.height === undefined || e.width === 0 || e.height === 0) return null;
  const k = e.width >= 96 ? 1 : Math.ceil(96 / e.width);
  let w = e.width * k;
  let h = e.height * k;
  if (w > 256) {
    h = Math.round((h * 256) / w);
    w = 256;
  }
  return { w, h };
}

// ------------------------------------------------------------------------------------------- sections

function slug(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '—';
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`;
  const s = Math.round(seconds);
  if (s < 3600) return `${Math.floor(s / 60)} m ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} m`;
}

function renderTable(t: ReportTable): string {
  const head =
    `<tr><th scope="col">${escapeHtml(t.row_header)}</th>` +
    t.columns
      .map((c, j) => {
        // Columns of text only (notes) are left-aligned like their cells; numeric ones right-aligned.
        const textOnly = t.rows.every((r) => r.cells[j] === null || 'text' in (r.cells[j] as object));
        return `<th scope="col"${textOnly ? ' class="text"' : ''}>${escapeHtml(c)}</th>`;
      })
      .join('') +
    '</tr>';
  const body = t.rows
    .map(
      (r) =>
        `<tr><th scope="row">${escapeHtml(r.label)}</th>${r.cells.map((c) => renderCell(c, t.decimals)).join('')}</tr>`,
    )
    .join('\n');
  const caption = t.caption === undefined ? '' : ` <span class="caption">${escapeHtml(t.caption)}</span>`;
  return (
    `<figure class="report-figure" id="table-${slug(t.id)}">\n` +
    `<figcaption><span class="fig-title">${escapeHtml(t.title)}</span>${caption}</figcaption>\n` +
    `<div class="scroll"><table class="report-table" data-table-id="${escapeHtml(t.id)}">\n` +
    `<thead>${head}</thead>\n<tbody>\n${body}\n</tbody></table></div>\n</figure>`
  );
}

function renderCurve(c: Curve): string {
  const caption = c.caption === undefined ? '' : ` <span class="caption">${escapeHtml(c.caption)}</span>`;
  const body = hasData(c)
    ? renderChartSvg(c)
    : `<p class="report-empty" data-curve-id="${escapeHtml(c.id)}">no data points</p>`;
  return (
    `<figure class="report-figure chart" id="curve-${slug(c.id)}">\n` +
    `<figcaption><span class="fig-title">${escapeHtml(c.title)}</span>${caption}</figcaption>\n${body}\n</figure>`
  );
}

function renderGrid(
  g: Grid,
  index: number,
  dir: string,
  warn: (w: string) => void,
  cache: Map<string, Embedded | string>,
): string {
  const head =
    '<tr><th scope="col">prompt</th>' +
    g.columns.map((c) => `<th scope="col">${escapeHtml(c)}</th>`).join('') +
    '</tr>';
  const body = g.rows
    .map((r) => {
      const cells = r.images.map((rel, j) => {
        if (rel === null) return '<td class="image none">—</td>';
        const e = embedImage(dir, rel, cache);
        if (typeof e === 'string') {
          warn(`grid "${g.title}": ${e}`);
          return `<td class="image"><div class="report-missing" title="${escapeHtml(e)}">missing image<br><code>${escapeHtml(rel)}</code></div></td>`;
        }
        const alt = `${g.columns[j] ?? ''}: ${r.prompt}`;
        const size = displaySize(e);
        const dims = size === null ? '' : ` width="${size.w}" height="${size.h}"`;
        return `<td class="image"><img class="report-image" src="${e.src}" alt="${escapeHtml(alt)}" title="${escapeHtml(rel)}"${dims}></td>`;
      });
      return `<tr><th scope="row" class="prompt">${escapeHtml(r.prompt)}</th>${cells.join('')}</tr>`;
    })
    .join('\n');
  const caption = g.caption === undefined ? '' : ` <span class="caption">${escapeHtml(g.caption)}</span>`;
  return (
    `<figure class="report-figure" id="grid-${index}">\n` +
    `<figcaption><span class="fig-title">${escapeHtml(g.title)}</span>${caption}</figcaption>\n` +
    `<div class="scroll"><table class="report-grid">\n<thead>${head}</thead>\n<tbody>\n${body}\n</tbody></table></div>\n</figure>`
  );
}

function renderStages(stages: Stage[]): string {
  const max = Math.max(0, ...stages.map((s) => s.seconds ?? 0));
  const total = stages.reduce((a, s) => a + (s.seconds ?? 0), 0);
  const rows = stages
    .map((s, i) => {
      const pct = max > 0 && s.seconds !== undefined ? Math.max(0.5, (100 * s.seconds) / max) : 0;
      const bar =
        pct > 0 ? `<div class="bar status-${s.status}" style="width:${pct.toFixed(1)}%"></div>` : '';
      return (
        `<tr class="status-${s.status}"><td class="num">${i + 1}</td><th scope="row">${escapeHtml(s.name)}</th>` +
        `<td><span class="badge status-${s.status}">${s.status}</span></td>` +
        `<td class="num">${s.seconds === undefined ? '—' : formatDuration(s.seconds)}</td>` +
        `<td class="barcell">${bar}</td><td class="detail">${escapeHtml(s.detail ?? '')}</td></tr>`
      );
    })
    .join('\n');
  return (
    `<table class="report-stages">\n<thead><tr><th scope="col">#</th><th scope="col">stage</th>` +
    `<th scope="col">status</th><th scope="col">time</th><th scope="col" class="barcell"></th><th scope="col">detail</th></tr></thead>\n` +
    `<tbody>\n${rows}\n</tbody>\n<tfoot><tr><td></td><th scope="row">total</th><td></td>` +
    `<td class="num">${formatDuration(total)}</td><td></td><td></td></tr></tfoot></table>`
  );
}

function renderAnswers(answers: Answer[], maxPerStage: number): string {
  const byStage = new Map<string, Answer[]>();
  for (const a of answers) {
    const list = byStage.get(a.stage) ?? [];
    list.push(a);
    byStage.set(a.stage, list);
  }
  const out: string[] = [];
  for (const [stage, list] of byStage) {
    const judged = list.filter((a) => a.correct !== undefined);
    const right = judged.filter((a) => a.correct).length;
    const score = judged.length > 0 ? ` <span class="score">${right} / ${judged.length} correct</span>` : '';
    const shown = list.slice(0, maxPerStage);
    const more =
      list.length > shown.length ? `<p class="more">${list.length - shown.length} more not shown.</p>` : '';
    const rows = shown
      .map((a) => {
        const mark =
          a.correct === undefined
            ? '<td class="mark"></td>'
            : a.correct
              ? '<td class="mark correct" title="correct">✓</td>'
              : '<td class="mark wrong" title="wrong">✗</td>';
        return (
          `<tr>${mark}<td><pre class="question">${escapeHtml(a.question)}</pre></td>` +
          `<td><pre class="solution">${escapeHtml(a.solution)}</pre></td>` +
          `<td><pre class="answer">${escapeHtml(a.answer)}</pre></td></tr>`
        );
      })
      .join('\n');
    out.push(
      `<h3>${escapeHtml(stage)}${score}</h3>\n` +
        `<table class="report-answers" data-stage="${escapeHtml(stage)}">\n<thead><tr><th scope="col"></th>` +
        `<th scope="col" class="question">question</th><th scope="col" class="solution">solution</th>` +
        `<th scope="col" class="answer">answer</th></tr></thead>\n` +
        `<tbody>\n${rows}\n</tbody></table>${more}`,
    );
  }
  return out.join('\n');
}

function renderMeta(report: Report): string {
  const m = report.meta;
  const machine =
    `${m.machine.cpus} CPU${m.machine.cpus === 1 ? '' : 's'}, ${m.machine.threads} thread${m.machine.threads === 1 ? '' : 's'}` +
    (m.machine.device === undefined ? '' : `, ${m.machine.device}`);
  const rows: [string, string][] = [
    ['preset', escapeHtml(m.preset)],
    ['created', `<time datetime="${escapeHtml(m.created)}">${escapeHtml(m.created)}</time>`],
    ['wall time', escapeHtml(formatDuration(m.wall_seconds))],
    ['machine', escapeHtml(machine)],
    ['corl', escapeHtml(m.corl_version)],
    ['command', `<code>${escapeHtml(m.command)}</code>`],
  ];
  const dl = `<dl class="report-meta">${rows.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join('')}</dl>`;
  const notes =
    m.notes.length === 0
      ? ''
      : `\n<ul class="report-notes">${m.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>`;
  return dl + notes;
}

const CSS = `
:root { color-scheme: light; --fg: #1d1d1f; --muted: #6b6b70; --line: #d9d9de; --soft: #f4f4f6; --accent: #1f5fa8; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", "Liberation Sans", sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 28px; margin: 0 0 8px; }
h2 { font-size: 21px; margin: 36px 0 12px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 16px; margin: 22px 0 8px; }
code, pre { font-family: ui-monospace, "DejaVu Sans Mono", "Liberation Mono", monospace; font-size: 13px; }
nav.toc { margin: 12px 0 0; font-size: 14px; }
nav.toc a { color: var(--accent); text-decoration: none; margin-right: 14px; }
dl.report-meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 8px 0; font-size: 14px; }
dl.report-meta dt { color: var(--muted); }
dl.report-meta dd { margin: 0; overflow-wrap: anywhere; }
ul.report-notes { margin: 8px 0; padding-left: 20px; font-size: 14px; }
.report-warnings { background: #fff6e5; border: 1px solid #f0c36d; border-radius: 6px; padding: 8px 14px; margin: 16px 0; }
.report-warnings h2 { border: 0; margin: 4px 0; font-size: 16px; }
.report-warnings ul { margin: 4px 0; padding-left: 20px; font-size: 14px; }
figure.report-figure { margin: 16px 0 24px; }
figcaption { margin-bottom: 6px; font-size: 14px; color: var(--muted); }
figcaption .fig-title { font-weight: 600; color: var(--fg); margin-right: 6px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 14px; }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
thead th { border-bottom: 2px solid #b9b9c0; font-weight: 600; white-space: nowrap; }
tbody tr:nth-child(even) { background: var(--soft); }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.report-table thead th:not(:first-child):not(.text) { text-align: right; }
td.num .ci { color: var(--muted); }
td.best strong { font-weight: 700; }
td.best .ci { color: inherit; }
td.empty { color: var(--muted); text-align: center; }
table.report-stages td.barcell { width: 30%; min-width: 120px; }
.bar { height: 12px; border-radius: 3px; background: #7aa6d6; }
.bar.status-cached { background: #b9c7d6; }
.bar.status-failed { background: #e07a7a; }
.badge { display: inline-block; padding: 0 7px; border-radius: 9px; font-size: 12px; line-height: 18px; background: #e4e4e8; }
.badge.status-done { background: #d8f0dc; color: #1e6b2c; }
.badge.status-cached { background: #e1e9f3; color: #2b4d73; }
.badge.status-skipped { background: #ececef; color: #6b6b70; }
.badge.status-failed { background: #fbdada; color: #9b1c1c; }
td.detail { color: var(--muted); font-size: 13px; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr)); gap: 8px 28px; }
svg.report-chart { width: 100%; height: auto; max-width: 640px; display: block; font-family: system-ui, "DejaVu Sans", "Liberation Sans", sans-serif; }
.report-empty { color: var(--muted); font-style: italic; }
table.report-grid th.prompt { max-width: 260px; font-weight: 400; }
table.report-grid td.image { text-align: center; vertical-align: middle; }
img.report-image { display: block; margin: 0 auto; min-width: 96px; height: auto; image-rendering: pixelated; border: 1px solid var(--line); }
.report-missing { width: 96px; min-height: 96px; margin: 0 auto; display: flex; flex-direction: column; justify-content: center; border: 1px dashed #d08a8a; color: #9b1c1c; background: #fff5f5; font-size: 11px; overflow-wrap: anywhere; }
table.report-answers { width: 100%; table-layout: fixed; }
table.report-answers th:first-child, table.report-answers td.mark { width: 32px; text-align: center; }
table.report-answers th.question { width: 40%; }
table.report-answers th.solution { width: 14%; }
table.report-answers pre { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; }
td.mark.correct { color: #1e6b2c; font-weight: 700; }
td.mark.wrong { color: #9b1c1c; font-weight: 700; }
h3 .score { font-weight: 400; color: var(--muted); font-size: 14px; margin-left: 8px; }
p.more { color: var(--muted); font-size: 13px; margin: 4px 0; }
footer { margin-top: 40px; color: var(--muted); font-size: 13px; }
@media print { main { max-width: none; } .charts { display: block; } }
`.trim();

/** Renders the report; images are read from `dir` (paths in the report are relative to it). */
export function renderReport(report: Report, dir: string, opts: RenderOptions = {}): RenderResult {
  const warnings: string[] = [];
  const warn = (w: string) => {
    if (!warnings.includes(w)) warnings.push(w);
  };
  const cache = new Map<string, Embedded | string>();
  const maxAnswers = opts.maxAnswersPerStage ?? 6;

  const sections: { id: string; title: string; html: string }[] = [];
  if (report.stages.length > 0)
    sections.push({ id: 'pipeline', title: 'Pipeline', html: renderStages(report.stages) });
  if (report.tables.length > 0)
    sections.push({ id: 'results', title: 'Results', html: report.tables.map(renderTable).join('\n') });
  if (report.curves.length > 0)
    sections.push({
      id: 'curves',
      title: 'Training curves',
      html: `<div class="charts">\n${report.curves.map(renderCurve).join('\n')}\n</div>`,
    });
  if (report.grids.length > 0)
    sections.push({
      id: 'samples',
      title: 'Generated images',
      html: report.grids.map((g, i) => renderGrid(g, i, dir, warn, cache)).join('\n'),
    });
  if (report.answers.length > 0)
    sections.push({
      id: 'answers',
      title: 'Sampled answers',
      html: renderAnswers(report.answers, maxAnswers),
    });

  const toc = sections.map((s) => `<a href="#${s.id}">${s.title}</a>`).join('');
  const warningsHtml =
    warnings.length === 0
      ? ''
      : `<section id="report-warnings" class="report-warnings"><h2>Warnings</h2><ul>${warnings
          .map((w) => `<li>${escapeHtml(w)}</li>`)
          .join('')}</ul></section>\n`;
  const title = escapeHtml(report.meta.title);
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="corl ${escapeHtml(report.meta.corl_version)}">
<title>${title}</title>
<style>
${CSS}
</style>
</head>
<body>
<main>
<header>
<h1>${title}</h1>
${renderMeta(report)}
<nav class="toc">${toc}</nav>
</header>
${warningsHtml}${sections.map((s) => `<section id="${s.id}">\n<h2>${s.title}</h2>\n${s.html}\n</section>`).join('\n')}
<footer>Generated by corl ${escapeHtml(report.meta.corl_version)} on ${escapeHtml(report.meta.created)}. Means are shown ± the half-width of a 95% Student-t interval; hover a cell for n.</footer>
</main>
</body>
</html>
`;
  return { html, warnings };
}

/** The report card's HTML (see `renderReport` for the warnings as data). */
export function renderReportHtml(report: Report, dir: string, opts: RenderOptions = {}): string {
  return renderReport(report, dir, opts).html;
}
