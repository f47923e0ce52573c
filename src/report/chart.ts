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
/** Where a chart's data go: axes, scales from data to pixels, the plot's corners. */
interface Frame {
  xAxis: ReturnType<typeof niceAxis>;
  yAxis: ReturnType<typeof niceAxis>;
  plotW: number;
  plotH: number;
  sx: (x: number) => number;
  sy: (y: number) => number;
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

interface LegendItem {
  x: number;
  row: number;
  name: string;
  colour: string;
  style: SeriesStyle;
  empty: boolean;
}

/**
 * One curve as a self-contained SVG chart, top-down: the frame (axes and scales from the data), the legend's
 * layout (its rows set the height), then grid and ticks, axis labels, the series (faint ones first, markers
 * on top) and the legend.
 */
export function renderChartSvg(curve: Curve): string {
  const runs = curve.series.map((s) => segments(s.points) as [number, number][][]);
  const bandPoints = curve.series.flatMap((s) =>
    (s.band ?? []).flatMap(([x, lo, hi]) => [[x, lo] as [number, number], [x, hi] as [number, number]]),
  );
  const frame = chartFrame([...runs.flat(2), ...bandPoints]);
  const colourOf = (i: number) => SERIES_COLOURS[(curve.series[i]!.colour ?? i) % SERIES_COLOURS.length]!;
  const styleOf = (i: number): SeriesStyle => curve.series[i]!.style ?? 'line';
  const legend = legendLayout(curve, runs, colourOf, styleOf);
  const rows = legend.length === 0 ? 0 : legend[legend.length - 1]!.row;
  const height = PLOT_HEIGHT + (rows + 1) * LEGEND_ROW + 6;
  const title = escapeHtml(curve.title);
  return [
    `<svg class="report-chart" data-curve-id="${escapeHtml(curve.id)}" xmlns="http://www.w3.org/2000/svg" ` +
      `viewBox="0 0 ${WIDTH} ${height}" width="${WIDTH}" height="${height}" role="img" aria-label="${title}">`,
    `<title>${title}</title>`,
    ...gridAndTicks(frame),
    ...axisLabels(curve, frame),
    ...bands(curve, frame, colourOf),
    ...seriesPaths(curve, runs, frame, colourOf, styleOf),
    ...legendItems(legend),
    '</svg>',
  ].join('');
}

function chartFrame(all: [number, number][]): Frame {
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const xAxis = niceAxis(Math.min(...xs), Math.max(...xs), 6);
  const yAxis = niceAxis(Math.min(...ys), Math.max(...ys), 5);
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = PLOT_HEIGHT - MARGIN.top - MARGIN.bottom;
  return {
    xAxis,
    yAxis,
    plotW,
    plotH,
    sx: (x) => MARGIN.left + ((x - xAxis.lo) / (xAxis.hi - xAxis.lo)) * plotW,
    sy: (y) => MARGIN.top + plotH - ((y - yAxis.lo) / (yAxis.hi - yAxis.lo)) * plotH,
    x0: MARGIN.left,
    x1: MARGIN.left + plotW,
    y0: MARGIN.top + plotH,
    y1: MARGIN.top,
  };
}

/** Legend items left to right, wrapping to new rows. */
function legendLayout(
  curve: Curve,
  runs: [number, number][][][],
  colourOf: (i: number) => string,
  styleOf: (i: number) => SeriesStyle,
): LegendItem[] {
  const legend: LegendItem[] = [];
  let lx = MARGIN.left;
  let row = 0;
  curve.series.forEach((s, i) => {
    if (s.legend === false) return;
    const empty = runs[i]!.length === 0;
    const label = empty ? `${s.name} (no data)` : s.name;
    const w = 28 + label.length * CHAR_W + 18;
    if (lx + w > WIDTH - MARGIN.right && lx > MARGIN.left) {
      row++;
      lx = MARGIN.left;
    }
    legend.push({ x: lx, row, name: label, colour: colourOf(i), style: styleOf(i), empty });
    lx += w;
  });
  return legend;
}

function gridAndTicks(f: Frame): string[] {
  const parts = ['<g class="grid" stroke="#e6e6e6" stroke-width="1">'];
  for (const t of f.yAxis.ticks)
    parts.push(`<line x1="${f.x0}" x2="${f.x1}" y1="${r2(f.sy(t))}" y2="${r2(f.sy(t))}"/>`);
  for (const t of f.xAxis.ticks)
    parts.push(`<line x1="${r2(f.sx(t))}" x2="${r2(f.sx(t))}" y1="${f.y1}" y2="${f.y0}"/>`);
  parts.push('</g>');
  parts.push(`<g class="axis" stroke="#555" fill="none"><path d="M${f.x0} ${f.y1}V${f.y0}H${f.x1}"/></g>`);
  parts.push('<g class="ticks" fill="#333" font-size="13">');
  for (const t of f.yAxis.ticks) {
    const y = r2(f.sy(t));
    parts.push(`<line x1="${f.x0 - 5}" x2="${f.x0}" y1="${y}" y2="${y}" stroke="#555"/>`);
    parts.push(
      `<text x="${f.x0 - 8}" y="${y}" text-anchor="end" dominant-baseline="middle">${fmtTick(t, f.yAxis.decimals)}</text>`,
    );
  }
  for (const t of f.xAxis.ticks) {
    const x = r2(f.sx(t));
    parts.push(`<line x1="${x}" x2="${x}" y1="${f.y0}" y2="${f.y0 + 5}" stroke="#555"/>`);
    parts.push(`<text x="${x}" y="${f.y0 + 18}" text-anchor="middle">${fmtTick(t, f.xAxis.decimals)}</text>`);
  }
  parts.push('</g>');
  return parts;
}

function axisLabels(curve: Curve, f: Frame): string[] {
  const parts = [
    `<text class="axis-label" font-size="14" fill="#333" x="${r2(f.x0 + f.plotW / 2)}" y="${f.y0 + 36}" text-anchor="middle">${escapeHtml(curve.x)}</text>`,
  ];
  if (curve.yLabel !== undefined) {
    const cy = r2(f.y1 + f.plotH / 2);
    parts.push(
      `<text class="axis-label" font-size="14" fill="#333" x="14" y="${cy}" text-anchor="middle" transform="rotate(-90 14 ${cy})">${escapeHtml(curve.yLabel)}</text>`,
    );
  }
  return parts;
}

/** Each series' band as one translucent polygon (upper edge left to right, lower edge back), under the lines. */
function bands(curve: Curve, f: Frame, colourOf: (i: number) => string): string[] {
  return curve.series.flatMap((s, i) => {
    const band = (s.band ?? []).filter(([x, lo, hi]) => [x, lo, hi].every(Number.isFinite));
    if (band.length < 2) return [];
    const upper = band.map(([x, , hi]) => `${r2(f.sx(x))} ${r2(f.sy(hi))}`);
    const lower = [...band].reverse().map(([x, lo]) => `${r2(f.sx(x))} ${r2(f.sy(lo))}`);
    return [
      `<path class="report-band" data-series="${escapeHtml(s.name)}" d="M${upper.join('L')}L${lower.join('L')}Z" ` +
        `fill="${colourOf(i)}" fill-opacity="0.15" stroke="none"/>`,
    ];
  });
}

/** One path per series (M starts a new run after a gap); faint ones first, markers last (on top). */
function seriesPaths(
  curve: Curve,
  runs: [number, number][][][],
  f: Frame,
  colourOf: (i: number) => string,
  styleOf: (i: number) => SeriesStyle,
): string[] {
  const parts: string[] = [];
  const order = curve.series.map((_, i) => i);
  order.sort((a, b) => STYLE_LAYER[styleOf(a)] - STYLE_LAYER[styleOf(b)]);
  // Dots on plain lines where points are few (or isolated); in a chart of faint and held-out series, only
  // isolated points get them, so that the held-out markers are the only dots.
  const styled = curve.series.some((s) => s.style === 'faint' || s.style === 'markers');
  for (const i of order) {
    const s = curve.series[i]!;
    const colour = colourOf(i);
    const style = styleOf(i);
    const sRuns = runs[i]!;
    if (sRuns.length === 0) continue;
    const d = sRuns
      .map((run) => 'M' + run.map(([x, y]) => `${r2(f.sx(x))} ${r2(f.sy(y))}`).join('L'))
      .join('');
    const nPoints = sRuns.reduce((a, r) => a + r.length, 0);
    const styleAttr = s.style === undefined ? '' : ` data-style="${s.style}"`;
    parts.push(`<g class="series" data-series="${escapeHtml(s.name)}"${styleAttr}>`);
    parts.push(
      `<path class="report-series" d="${d}" stroke="${colour}" ${STROKE[style]} fill="none" stroke-linejoin="round"><title>${escapeHtml(s.name)}</title></path>`,
    );
    for (const run of sRuns) {
      if (style === 'faint') continue;
      if (style === 'line' && run.length > 1 && (styled || nPoints > 40)) continue;
      for (const [x, y] of run) parts.push(marker(style, f.sx(x), f.sy(y), colour));
    }
    parts.push('</g>');
  }
  return parts;
}

/** The legend: each item drawn as its series is. */
function legendItems(legend: LegendItem[]): string[] {
  const parts = ['<g class="legend" font-size="13" fill="#333">'];
  for (const it of legend) {
    const y = PLOT_HEIGHT + it.row * LEGEND_ROW + 8;
    const dash = it.empty ? ' stroke-dasharray="3 3"' : '';
    parts.push(
      `<line x1="${it.x}" x2="${it.x + 22}" y1="${y}" y2="${y}" stroke="${it.colour}" ${LEGEND_STROKE[it.style]}${dash}/>`,
    );
    if (it.style === 'markers' && !it.empty) parts.push(marker('markers', it.x + 11, y, it.colour));
    parts.push(`<text x="${it.x + 28}" y="${y}" dominant-baseline="middle">${escapeHtml(it.name)}</text>`);
  }
  parts.push('</g>');
  return parts;
}
