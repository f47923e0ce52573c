/**
 * Writing and reading a run's report card: DIR/report.json (the validated data, pretty-printed) and
 * DIR/report.html (self-contained page), each written to a temporary file and renamed into place, so a
 * reader never sees half a report.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../util/errors.js';
import { renderReport, type RenderOptions } from './html.js';
import { parseReport, type Report, type ReportInput } from './schema.js';

export { ciHalfWidth, markBest, meanCell, tQuantile975 } from './stats.js';

export const REPORT_JSON = 'report.json';
export const REPORT_HTML = 'report.html';

export interface WrittenReport {
  jsonPath: string;
  htmlPath: string;
  /** The validated report as written (defaults filled). */
  report: Report;
  /** Rendering problems (missing images), also listed at the top of the page. */
  warnings: string[];
}

/** Writes `text` to `path` through a temporary file in the same folder and a rename (atomic on POSIX). */
export function writeFileAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * Validates `report` (throws ReportValidationError listing every problem), then writes DIR/report.json and
 * DIR/report.html. Images named in grids are read from DIR and embedded; a missing one becomes a placeholder
 * and a warning, never a crash.
 */
export function writeReport(dir: string, report: ReportInput, opts: RenderOptions = {}): WrittenReport {
  const valid = parseReport(report);
  mkdirSync(dir, { recursive: true });
  const { html, warnings } = renderReport(valid, dir, opts);
  const jsonPath = join(dir, REPORT_JSON);
  const htmlPath = join(dir, REPORT_HTML);
  writeFileAtomic(jsonPath, JSON.stringify(valid, null, 2) + '\n');
  writeFileAtomic(htmlPath, html);
  return { jsonPath, htmlPath, report: valid, warnings };
}

/** Reads and validates DIR/report.json; a missing or invalid file is a UserError naming it. */
export function readReport(dir: string): Report {
  const path = join(dir, REPORT_JSON);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(code === 'ENOENT' ? `no report at ${path}` : `cannot read ${path}: ${code ?? err}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new UserError(`${path} is not valid JSON: ${(err as Error).message}`);
  }
  try {
    return parseReport(data, path);
  } catch (err) {
    throw new UserError((err as Error).message);
  }
}
