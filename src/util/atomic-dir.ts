/**
 * Folder writes that lose no data: the contents go into a temporary folder beside the target, which is then
 * renamed into place. A crash leaves either the old folder or the new one, never a half-written one under the
 * target's name. The target may only be absent, empty, or a folder of the same kind that corl wrote
 * (output-dir.ts); the old folder is renamed aside and only corl's own entries are removed from it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MARKER, inspectOutDir, isOwnEntry, writeMarker, type OutputKind } from './output-dir.js';

/**
 * Fills a temporary folder beside `dir`, marks it as `kind`, then renames it into place, replacing `dir` only
 * when output-dir.ts's rule allows (the caller has the user's consent to replace an own folder).
 */
export function writeDirAtomically(
  dir: string,
  kind: OutputKind,
  fill: (tmp: string) => void,
  marker: Record<string, unknown> = {},
): void {
  const target = path.resolve(dir);
  inspectOutDir(target, kind, 'output folder');
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const stamp = `${process.pid}-${Date.now()}`;
  const tmp = `${target}.tmp-${stamp}`;
  try {
    fs.mkdirSync(tmp);
    fill(tmp);
    writeMarker(tmp, kind, marker);
    const old = `${target}.old-${stamp}`;
    const existed = fs.existsSync(target);
    if (existed) {
      inspectOutDir(target, kind, 'output folder'); // again, just before the swap
      fs.renameSync(target, old);
    }
    fs.renameSync(tmp, target);
    if (existed) removeOwn(old, kind);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** Removes what corl wrote from a folder renamed aside; a folder left non-empty is kept and reported. */
function removeOwn(old: string, kind: OutputKind): void {
  const left: string[] = [];
  for (const e of fs.readdirSync(old)) {
    if (e !== MARKER && isOwnEntry(kind, e)) fs.rmSync(path.join(old, e), { recursive: true, force: true });
    else if (e !== MARKER) left.push(e);
  }
  if (left.length === 0) {
    fs.rmSync(path.join(old, MARKER), { force: true });
    fs.rmdirSync(old);
  } else {
    process.stderr.write(
      `corl: warning: kept ${old}: it holds ${left.join(', ')}, which corl did not write\n`,
    );
  }
}
