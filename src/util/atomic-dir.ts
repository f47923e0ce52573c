/**
 * Folder writes that lose no data: the contents go into a temporary folder beside the target, which is then
 * renamed into place (an existing target is renamed aside first and removed only after the swap). A crash
 * leaves either the old folder or the new one, never a half-written one under the target's name.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Fills a temporary folder beside `dir`, then renames it into place (replacing `dir` if it exists). */
export function writeDirAtomically(dir: string, fill: (tmp: string) => void): void {
  const target = path.resolve(dir);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  const stamp = `${process.pid}-${Date.now()}`;
  const tmp = `${target}.tmp-${stamp}`;
  try {
    fs.mkdirSync(tmp);
    fill(tmp);
    const old = `${target}.old-${stamp}`;
    const existed = fs.existsSync(target);
    if (existed) fs.renameSync(target, old);
    fs.renameSync(tmp, target);
    if (existed) fs.rmSync(old, { recursive: true, force: true });
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}
