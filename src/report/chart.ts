/**
 * Inline SVG line charts for the report: no script and no library, so the page renders offline and in any
 * browser. Axes with "nice" ticks (1-2-5 steps), light grid lines, one colour per series (or per group of
 * series: `colour`), a legend below the plot; null / non-finite points break the line instead of being drawn.
 * Series styles: `line` (bold), `faint` (thin and pale, under the rest: raw per-step values) and `markers`
 * (a marker at every point joined by a thin line, over the rest: held-out evaluations).
 */
import { escapeHtml } from './escape.js';
import type { Curve, SeriesStyle } from './schema.js';

/** Tableau 10: distinct hues that stay distinguishable for most colour-vision deficiencies. */
export const SERIES_COLOURS = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#ff7f0e',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
] as const;

const WIDTH = 640;
const PLOT_HEIGHT = 300;
const MARGIN = { left: 64, right: 20, top: 14, bottom: 44 };
const LEGEND_ROW = 20;
const CHAR_W = 7.5; // approximate width of a 13px sans-serif character, for legend layout

/** A nice step (1, 2 or 5 times a power of ten) near `raw`. */
function niceStep(raw: number): number {
  const exp = Math.floor(Math.log10(raw));
  const f = raw / 10 ** exp;
  const nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
  return nf * 10 ** exp;
}

export interface Axis {
  lo: number;
  hi: number;
  ticks: number[];
  decimals: number;
}

/** Axis bounds rounded out to nice ticks (about `count` of them) covering [min, max]. */
export function niceAxis(min: number, max: number, count = 5): Axis {
  if (min === max) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    min -= pad;
    max += pad;
  }
  const step = niceStep((max - min) / Math.max(1, count - 1));
  const lo = Math.floor(min / step + 1e-9) * step;
  const hi = Math.ceil(max / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let i = 0; lo + i * step <= hi + step * 1e-6; i++) ticks.push(lo + i * step);
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return { lo, hi, ticks, decimals };
}

function fmtTick(v: number, decimals: number): string {
  const s = v.toFixed(decimals);
  return /^-0(\.0*)?$/.test(s) ? s.slice(1) : s;
}

const r2 = (v: number): string => (Math.round(v * 100) / 100).toString();

/** Splits a series into runs of consecutive finite points (a null or non-finite y ends a run). */
export function segments(points: readonly (readonly [number, number | null])[]): [number, number][][] {
  const out: [number, number][][] = [];
  let cur: [number, number][] = [];
  for (const [x, y] of points) {
    if (y === null || !Number.isFinite(y) || !Number.isFinite(x)) {
      if (cur.length > 0) out.push(cur);
      cur = [];
    } else {
      cur.push([x, y]);
    }
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/** True when the curve has at least one finite point to draw. */
export function hasData(curve: Curve): boolean {
  return curve.series.some((s) => segments(s.points).length > 0);
}

/** Drawing order: faint series under bold lines under held-out markers. */
const STYLE_LAYER: Record<SeriesStyle, number> = { faint: 0, line: 1, markers: 2 };
const STROKE: Record<SeriesStyle, string> = {
  line: 'stroke-width="2"',
  faint: 'stroke-width="1" stroke-opacity="0.35"',
  markers: 'stroke-width="1.25"',
};
/** The legend's strokes, a little heavier than the plot's so that a 22-pixel sample reads. */
const LEGEND_STROKE: Record<SeriesStyle, string> = {
  line: 'stroke-width="2.5"',
  faint: 'stroke-width="1.5" stroke-opacity="0.45"',
  markers: 'stroke-width="1.25"',
};

/** A point marker: small dots on lines; held-out points larger, white-rimmed so they stand out on the lines. */
function marker(style: SeriesStyle, x: number, y: number, colour: string): string {
  return style === 'markers'
    ? `<circle cx="${r2(x)}" cy="${r2(y)}" r="3.75" fill="${colour}" stroke="#fff" stroke-width="1.25"/>`
    : `<circle cx="${r2(x)}" cy="${r2(y)}" r="2.5" fill="${colour}"/>`;
}

/** Renders `curve` as an `<svg class="report-chart">` (call only when `hasData(curve)`). */
export function renderChartSvg(curve: Curve): string {
  const runs = curve.series.map((s) => segments(s.points));
  const all = runs.flat(2);
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const xAxis = niceAxis(Math.min(...xs), Math.max(...xs), 6);
  const yAxis = niceAxis(Math.min(...ys), Math.max(...ys), 5);

  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = PLOT_HEIGHT - MARGIN.top - MARGIN.bottom;
  const sx = (x: number) => MARGIN.left + ((x - xAxis.lo) / (xAxis.hi - xAxis.lo)) * plotW;
  const sy = (y: number) => MARGIN.top + plotH - ((y - yAxis.lo) / (yAxis.hi - yAxis.lo)) * plotH;
  const x0 = MARGIN.left;
  const x1 = MARGIN.left + plotW;
  const y0 = MARGIN.top + plotH;
  const y1 = MARGIN.top;

  const colourOf = (i: number) => {
    const c = curve.series[i]!.colour ?? i;
    return SERIES_COLOURS[c % SERIES_COLOURS.length];
  };
  const styleOf = (i: number): SeriesStyle => curve.series[i]!.style ?? 'line';

  // Legend layout: items left to right, wrapping to new rows.
  const legend: {
    x: number;
    row: number;
    name: string;
    colour: string;
    style: SeriesStyle;
    empty: boolean;
  }[] = [];
  let lx = MARGIN.left;
  let row = 0;
  curve.series.forEach((s, i) => {
    const empty = (runs[i] as [number, number][][]).length === 0;
    const label = empty ? `${s.name} (no data)` : s.name;
    const w = 28 + label.length * CHAR_W + 18;
    if (lx + w > WIDTH - MARGIN.right && lx > MARGIN.left) {
      row++;
      lx = MARGIN.left;
    }
    legend.push({ x: lx, row, name: label, colour: colourOf(i), style: styleOf(i), empty });
    lx += w;
  });
  const height = PLOT_HEIGHT + (row + 1) * LEGEND_ROW + 6;

  const parts: string[] = [];
  const title = escapeHtml(curve.title);
  parts.push(
    `<svg class="report-chart" data-curve-id="${escapeHtml(curve.id)}" xmlns="http://www.w3.org/2000/svg" ` +
      `viewBox="0 0 ${WIDTH} ${height}" width="${WIDTH}" height="${height}" role="img" aria-label="${title}">`,
    `<title>${title}</title>`,
  );
  // Grid lines and ticks.
  parts.push('<g class="grid" stroke="#e6e6e6" stroke-width="1">');
  for (const t of yAxis.ticks)
    parts.push(`<line x1="${x0}" x2="${x1}" y1="${r2(sy(t))}" y2="${r2(sy(t))}"/>`);
  for (const t of xAxis.ticks)
    parts.push(`<line x1="${r2(sx(t))}" x2="${r2(sx(t))}" y1="${y1}" y2="${y0}"/>`);
  parts.push('</g>');
  parts.push(`<g class="axis" stroke="#555" fill="none"><path d="M${x0} ${y1}V${y0}H${x1}"/></g>`);
  parts.push('<g class="ticks" fill="#333" font-size="13">');
  for (const t of yAxis.ticks) {
    const y = r2(sy(t));
    parts.push(`<line x1="${x0 - 5}" x2="${x0}" y1="${y}" y2="${y}" stroke="#555"/>`);
    parts.push(
      `<text x="${x0 - 8}" y="${y}" text-anchor="end" dominant-baseline="middle">${fmtTick(t, yAxis.decimals)}</text>`,
    );
  }
  for (const t of xAxis.ticks) {
    const x = r2(sx(t));
    parts.push(`<line x1="${x}" x2="${x}" y1="${y0}" y2="${y0 + 5}" stroke="#555"/>`);
    parts.push(`<text x="${x}" y="${y0 + 18}" text-anchor="middle">${fmtTick(t, xAxis.decimals)}</text>`);
  }
  parts.push('</g>');
  // Axis labels.
  parts.push(
    `<text class="axis-label" font-size="14" fill="#333" x="${r2(x0 + plotW / 2)}" y="${y0 + 36}" text-anchor="middle">${escapeHtml(curve.x)}</text>`,
  );
  if (curve.yLabel !== undefined) {
    const cy = r2(y1 + plotH / 2);
    parts.push(
      `<text class="axis-label" font-size="14" fill="#333" x="14" y="${cy}" text-anchor="middle" transform="rotate(-90 14 ${cy})">${escapeHtml(curve.yLabel)}</text>`,
    );
  }
  // Series: one path each (M starts a new run after a gap); faint ones first, markers last (on top).
  const order = curve.series.map((_, i) => i);
  order.sort((a, b) => STYLE_LAYER[styleOf(a)] - STYLE_LAYER[styleOf(b)]);
  // Dots on plain lines where points are few (or isolated); in a chart of faint and held-out series, only
  // isolated points get them, so that the held-out markers are the only dots.
  const styled = curve.series.some((s) => s.style === 'faint' || s.style === 'markers');
  for (const i of order) {
    const s = curve.series[i]!;
    const colour = colourOf(i);
    const style = styleOf(i);
    const sRuns = runs[i] as [number, number][][];
    if (sRuns.length === 0) continue;
    const d = sRuns.map((run) => 'M' + run.map(([x, y]) => `${r2(sx(x))} ${r2(sy(y))}`).join('L')).join('');
    const nPoints = sRuns.reduce((a, r) => a + r.length, 0);
    const styleAttr = s.style === undefined ? '' : ` data-style="${s.style}"`;
    parts.push(`<g class="series" data-series="${escapeHtml(s.name)}"${styleAttr}>`);
    parts.push(
      `<path class="report-series" d="${d}" stroke="${colour}" ${STROKE[style]} fill="none" stroke-linejoin="round"><title>${escapeHtml(s.name)}</title></path>`,
    );
    for (const run of sRuns) {
      if (style === 'faint') continue;
      if (style === 'line' && run.length > 1 && (styled || nPoints > 40)) continue;
      for (const [x, y] of run) parts.push(marker(style, sx(x), sy(y), colour));
    }
    parts.push('</g>');
  }
  // Legend: each item drawn as its series is.
  parts.push('<g class="legend" font-size="13" fill="#333">');
  for (const it of legend) {
    const y = PLOT_HEIGHT + it.row * LEGEND_ROW + 8;
    const dash = it.empty ? ' stroke-dasharray="3 3"' : '';
    parts.push(
      `<line x1="${it.x}" x2="${it.x + 22}" y1="${y}" y2="${y}" stroke="${it.colour}" ${LEGEND_STROKE[it.style]}${dash}/>`,
    );
    if (it.style === 'markers' && !it.empty) parts.push(marker('markers', it.x + 11, y, it.colour));
    parts.push(`<text x="${it.x + 28}" y="${y}" dominant-baseline="middle">${escapeHtml(it.name)}</text>`);
  }
  parts.push('</g></svg>');
  return parts.join('');
}
