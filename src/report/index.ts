/** The report card: schema of a run's results, the self-contained HTML renderer, and the writer/reader. */
export * from './schema.js';
export { ciHalfWidth, markBest, mean, meanCell, sampleStd, tQuantile975, T_975 } from './stats.js';
export { cellTitle, escapeHtml, formatCell, formatDuration, renderReport, renderReportHtml } from './html.js';
export type { RenderOptions, RenderResult } from './html.js';
export { niceAxis, renderChartSvg, SERIES_COLOURS } from './chart.js';
export { averageWindow, curveFromMetrics, readMetricsJsonl, trailingMean } from './curves.js';
export type { CurveSpec, MetricsRow } from './curves.js';
export { readReport, REPORT_HTML, REPORT_JSON, writeFileAtomic, writeReport } from './write.js';
export type { WrittenReport } from './write.js';
