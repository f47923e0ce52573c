/**
 * Evaluation rows from files: which JSONL files a `--data` path stands for, and world rows with their images
 * attached (for `evaluate()`). Torch-free.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../util/errors.js';
import { RowImages, readWorldRowLines, type WorldRow } from '../world/dataset.js';
import type { RgbImage } from '../world/image.js';

export const EVAL_FILES = ['gen.jsonl', 'mcq.jsonl', 'oe.jsonl', 'pope.jsonl'] as const;

/** The JSONL files a --data path stands for (see the file comment). */
export function evalFiles(data: string): string[] {
  if (!fs.existsSync(data)) throw new UserError(`--data ${data} does not exist`);
  if (!fs.statSync(data).isDirectory()) return [data];
  for (const dir of [path.join(data, 'eval'), data]) {
    const files = EVAL_FILES.map((f) => path.join(dir, f)).filter((f) => fs.existsSync(f));
    if (files.length > 0) return files;
  }
  throw new UserError(
    `--data ${data}: no eval/{gen,mcq,oe,pope}.jsonl or {gen,mcq,oe,pope}.jsonl in the folder`,
  );
}

/**
 * What `evaluate()` reads of a row it keeps, checked here so a bad row fails before the model loads (this
 * mirrors its routing, `questionFamily` / `isGenRow`): a question needs its problem and solution, a POPE
 * question its yes/no answer, a generation prompt its text and GenEval spec.
 */
function checkEvalRow(row: WorldRow, where: string): void {
  const missing = (what: string): never => {
    throw new UserError(`${where}: ${what}`);
  };
  const question =
    row.task === 'mcq' ||
    row.task === 'oe' ||
    row.task === 'pope' ||
    (row.task !== 'gen' && row.qa_problem !== undefined);
  if (question) {
    if (row.qa_problem === undefined || row.qa_solution === undefined)
      missing('a question needs qa_problem and qa_solution');
    const pope =
      row.task === 'pope' ||
      ((row.task === undefined || row.task === 'unified') &&
        (row.pope_split !== undefined || row.qa_kind === 'exist'));
    if (pope && row.qa_answer !== 'yes' && row.qa_answer !== 'no')
      missing('a POPE question needs qa_answer "yes" or "no"');
  }
  const gen =
    row.task === 'gen' || row.task === 'unified' || (row.task === undefined && row.qa_problem === undefined);
  if (gen && (row.prompt === undefined || row.prompt.trim() === '' || row.spec === undefined))
    missing('a generation row needs a prompt and its GenEval spec');
}

/** Reads rows from the files, checks the kept ones and attaches their images (each PNG read once). */
export function loadEvalRows(
  files: readonly string[],
  keep: (rows: WorldRow[]) => WorldRow[] = (r) => r,
): (WorldRow & { image: RgbImage })[] {
  const rows: { row: WorldRow; file: string; line: number }[] = [];
  for (const file of files)
    for (const { line, row } of readWorldRowLines(file)) rows.push({ row, file, line });
  if (rows.length === 0) throw new UserError(`${files.join(', ')}: no rows`);
  const wanted = new Set(keep(rows.map((r) => r.row)));
  const images = new RowImages();
  return rows
    .filter((r) => wanted.has(r.row))
    .map(({ row, file, line }) => {
      checkEvalRow(row, `${file}:${line}`);
      return { ...row, image: images.get(file, row, `${file}:${line}`) };
    });
}
