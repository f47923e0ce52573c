/** JSON Lines reading with user-facing errors (missing file, bad line with its number). */
import { readFileSync } from 'node:fs';
import { UserError } from './errors.js';

export interface JsonlLine {
  /** 1-based line number in the file. */
  line: number;
  value: unknown;
}

export function readTextFile(path: string, what = 'file'): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError(`${what} not found: ${path}`);
    if (code === 'EISDIR') throw new UserError(`${what} is a directory, not a file: ${path}`);
    throw new UserError(`cannot read ${what} ${path}: ${code ?? String(err)}`);
  }
}

/** An error text on one line: control characters (a CR in the bad line JSON.parse quotes) escaped. */
const oneLine = (s: string): string =>
  s.replace(/\p{Cc}|[\u2028\u2029]/gu, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/** Parses JSONL text; blank lines are skipped. `name` labels errors. */
export function parseJsonl(text: string, name: string): JsonlLine[] {
  const out: JsonlLine[] = [];
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const s = raw.trim();
    if (s === '') return;
    try {
      out.push({ line: i + 1, value: JSON.parse(s) as unknown });
    } catch (err) {
      throw new UserError(`${name}:${i + 1}: bad JSON line (${oneLine((err as Error).message)})`);
    }
  });
  return out;
}

export function readJsonl(path: string): JsonlLine[] {
  return parseJsonl(readTextFile(path, 'JSONL file'), path);
}
