/**
 * Output folders that can never hurt a user's data. One rule for every corl writer (models, VQ folders,
 * merges, training runs, worlds, pipelines, pilots):
 *
 *   --out may be absent (it is created, parents included), an empty folder, or a folder that corl wrote
 *   before as the same kind of output, recognised by the marker file corl writes into every output folder
 *   (MARKER, below) and holding only names that kind of folder holds. Replacing such a folder takes an
 *   explicit --overwrite (a resumable command resumes instead). Never a regular file, the current folder
 *   or one above it, an input of the same command (or a folder inside or around one), a folder of another
 *   kind, or a folder holding anything corl did not write: these are refused, naming the first such entry.
 *
 * `checkOutDir` applies the rule before any expensive work; `writeDirAtomically` (atomic-dir.ts) and
 * `clearOwnEntries` apply it again when they replace or clear a folder, and remove only the entries that
 * match the folder kind's own names.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from './errors.js';

/** The marker corl writes into every output folder: `{ "kind": ..., "written_by": ..., ... }`. */
export const MARKER = '.corl-output.json';

export type OutputKind = 'model' | 'vq' | 'checkpoint' | 'run' | 'world' | 'pipeline' | 'pilot';

/** Leftovers of corl's own atomic writes: `NAME.tmp-PID-TIME` / `NAME.old-PID-TIME` (atomic-dir.ts, report files). */
export const TEMP_ENTRY = /\.(tmp|old)-\d+-[0-9a-z]+$/;

/** The names each kind of folder holds (besides MARKER and TEMP_ENTRY leftovers). */
const OWN_ENTRIES: Record<OutputKind, readonly RegExp[]> = {
  model: [
    /^config\.json$/,
    /^tokenizer(_config)?\.json$/,
    /^(special_tokens_map|preprocessor_config|processor_config|chat_template|generation_config)\.json$/,
    /^chat_template\.jinja$/,
    /^model\.safetensors(\.index\.json)?$/,
    /^model-\d+-of-\d+\.safetensors$/,
    /^pretrain\.json$/,
    /^vq$/,
  ],
  vq: [/^vq\.json$/, /^model\.safetensors$/, /^pretrain\.json$/],
  checkpoint: [/^model$/, /^optimizer\.safetensors$/, /^trainer_state\.json$/],
  run: [/^config\.json$/, /^metrics\.jsonl$/, /^checkpoint-\d+$/, /^samples$/],
  world: [/^images$/, /^stage2$/, /^eval$/, /^(train|test)\.jsonl$/, /^manifest\.json$/],
  pipeline: [
    /^world$/,
    /^base$/,
    /^stage1$/,
    /^stage2-\w+$/,
    /^merged$/,
    /^logs$/,
    /^configs$/,
    /^pipeline\.json$/,
    /^report\.(json|html)$/,
    /^report-images$/,
    /^seed-\d+$/,
  ],
  pilot: [/^seed-\d+$/, /^report\.(json|html)$/, /^report-images$/],
};

const WHAT: Record<OutputKind, string> = {
  model: 'a model checkpoint',
  vq: 'a VQ folder',
  checkpoint: 'a trainer checkpoint',
  run: 'a training run',
  world: 'a ShapesWorld dataset',
  pipeline: 'a pipeline run',
  pilot: 'a pilot study',
};

export interface Marker {
  kind: OutputKind;
  written_by: string;
  /** Kind-specific facts, e.g. a training run's config fingerprint. */
  [key: string]: unknown;
}

/** True for the names a folder of `kind` holds that corl wrote (its own files, the marker, temp leftovers). */
export function isOwnEntry(kind: OutputKind, name: string): boolean {
  return (
    name === MARKER || name === LOCK || TEMP_ENTRY.test(name) || OWN_ENTRIES[kind].some((re) => re.test(name))
  );
}

/** A folder being written holds this file with the writer's pid (lockDir), so a second writer is refused. */
export const LOCK = '.corl-lock';

/** The pid of another live corl process writing `dir`, or null (no lock, our own, or a dead writer's). */
export function lockHolder(dir: string): number | null {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(path.join(dir, LOCK), 'utf8').trim());
  } catch {
    return null;
  }
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid) return null;
  try {
    process.kill(pid, 0); // signal 0: is it alive?
    return pid;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM' ? pid : null;
  }
}

/** Refuses `dir` while another live corl process writes it. */
export function checkUnlocked(dir: string): void {
  const pid = lockHolder(dir);
  if (pid !== null)
    throw new UserError(
      `${dir} is being written by another corl process (pid ${pid}); wait for it or stop it`,
    );
}

/** Marks `dir` as written by this process until it exits (a dead writer's lock is taken over). */
export function lockDir(dir: string): void {
  checkUnlocked(dir);
  const file = path.join(dir, LOCK);
  fs.writeFileSync(file, `${process.pid}\n`);
  process.once('exit', () => {
    try {
      if (fs.readFileSync(file, 'utf8').trim() === String(process.pid)) fs.rmSync(file, { force: true });
    } catch {
      // already gone
    }
  });
}

/** Reads a folder's marker; null when there is none, a UserError when it is unreadable. */
export function readMarker(dir: string): Marker | null {
  const file = path.join(dir, MARKER);
  if (!fs.existsSync(file)) return null;
  try {
    const m = JSON.parse(fs.readFileSync(file, 'utf8')) as Marker;
    if (typeof m !== 'object' || m === null || !(m.kind in OWN_ENTRIES)) throw new Error('no known kind');
    return m;
  } catch (e) {
    throw new UserError(`${file} is not a valid corl marker (${(e as Error).message}); not touching ${dir}`);
  }
}

/** Writes `dir`'s marker (no time stamp: save -> load -> save of a model gives identical bytes). */
export function writeMarker(dir: string, kind: OutputKind, extra: Record<string, unknown> = {}): void {
  const m: Marker = {
    kind,
    written_by: `corl ${process.argv.slice(2, 4).join(' ')}`.trim(),
    ...extra,
  };
  fs.writeFileSync(path.join(dir, MARKER), JSON.stringify(m, null, 2) + '\n');
}

/** Updates fields of a marker corl wrote. */
export function updateMarker(dir: string, extra: Record<string, unknown>): void {
  const m = readMarker(dir);
  if (m === null) throw new Error(`${dir} has no corl marker`);
  fs.writeFileSync(path.join(dir, MARKER), JSON.stringify({ ...m, ...extra }, null, 2) + '\n');
}

export type OutDirState =
  { state: 'absent' } | { state: 'empty' } | { state: 'own'; marker: Marker; entries: string[] };

/** The current folder, or one above it, is never an output. */
function checkNotCwd(abs: string, shown: string): void {
  if (within(process.cwd(), abs))
    throw new UserError(
      `${shown} is ${abs === process.cwd() ? 'the current folder' : 'a folder above the current one'}; choose a new or empty folder`,
    );
}

/** a is b or inside b */
function within(a: string, b: string): boolean {
  const rel = path.relative(b, a);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * What is at `dir`, if corl may write there as `kind`; a UserError naming the problem otherwise. Does not
 * look at --overwrite: an 'own' state still needs the user's consent (checkOutDir).
 */
export function inspectOutDir(dir: string, kind: OutputKind, flag = '--out'): OutDirState {
  const abs = path.resolve(dir);
  const shown = `${flag} ${dir}`;
  checkNotCwd(abs, shown);
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new UserError(`${shown}: cannot inspect (${code})`);
    checkCreatable(abs, shown);
    return { state: 'absent' };
  }
  if (!st.isDirectory()) throw new UserError(`${shown} is a file, not a folder; corl will not replace it`);
  const entries = fs.readdirSync(abs).sort();
  if (entries.length === 0) {
    checkWritable(abs, shown);
    return { state: 'empty' };
  }
  const marker = readMarker(abs);
  if (marker === null)
    throw new UserError(
      `${shown} is not empty and corl did not write it (it holds "${entries[0]}"); choose a new or empty folder`,
    );
  if (marker.kind !== kind)
    throw new UserError(`${shown} holds ${WHAT[marker.kind]}, not ${WHAT[kind]}; choose another folder`);
  const foreign = entries.find((e) => !isOwnEntry(kind, e));
  if (foreign !== undefined)
    throw new UserError(
      `${shown} holds "${foreign}", which corl did not write; move it away or choose another folder`,
    );
  checkWritable(abs, shown);
  return { state: 'own', marker, entries };
}

/**
 * The whole rule, before any expensive work. `inputs` are the command's input paths (an output may not be,
 * contain or lie inside one); an 'own' folder needs `overwrite` (or `resume`, for resumable commands).
 */
export function checkOutDir(
  dir: string,
  o: {
    kind: OutputKind;
    overwrite?: boolean;
    resume?: boolean;
    /** Resumable commands (pipeline, pilot) resume an own folder without a flag. */
    resumable?: boolean;
    /** [label, path] of each input, e.g. ['--base', dir]. */
    inputs?: [string, string | undefined][];
    flag?: string;
  },
): OutDirState {
  const flag = o.flag ?? '--out';
  const abs = path.resolve(dir);
  checkNotCwd(abs, `${flag} ${dir}`);
  for (const [name, input] of o.inputs ?? []) {
    if (input === undefined) continue;
    const inp = path.resolve(input);
    if (within(abs, inp) || within(inp, abs))
      throw new UserError(
        `${flag} ${dir} ${abs === inp ? 'is' : within(abs, inp) ? 'lies inside' : 'contains'} the input ${name} ${input}; choose another folder`,
      );
  }
  const s = inspectOutDir(dir, o.kind, flag);
  if (s.state === 'own' && !o.overwrite && !o.resume && !o.resumable)
    throw new UserError(
      `${flag} ${dir} holds ${WHAT[o.kind]} written by corl; pass --overwrite to replace it` +
        (o.kind === 'run' ? ' or --resume to continue it' : ''),
    );
  return s;
}

/** Creates `dir` (and its parents) as an output folder of `kind` with its marker, if it has none yet. */
export function claimDir(dir: string, kind: OutputKind, extra: Record<string, unknown> = {}): void {
  fs.mkdirSync(dir, { recursive: true });
  if (readMarker(dir) === null) writeMarker(dir, kind, extra);
}

/**
 * Removes the entries of a `kind` folder that corl wrote (all but the marker, or only those `which` selects);
 * refuses (nothing removed) when the folder holds anything else.
 */
export function clearOwnEntries(
  dir: string,
  kind: OutputKind,
  which: (name: string) => boolean = () => true,
): void {
  const s = inspectOutDir(dir, kind);
  if (s.state !== 'own') return;
  for (const e of s.entries)
    if (e !== MARKER && e !== LOCK && which(e))
      fs.rmSync(path.join(dir, e), { recursive: true, force: true });
}

/** The first existing ancestor of a path that is to be created must be a writable folder. */
function checkCreatable(abs: string, shown: string): void {
  let p = path.dirname(abs);
  for (;;) {
    if (fs.existsSync(p)) {
      if (!fs.statSync(p).isDirectory()) throw new UserError(`${shown}: ${p} is a file, not a folder`);
      checkWritable(p, shown);
      return;
    }
    const up = path.dirname(p);
    if (up === p) return;
    p = up;
  }
}

function checkWritable(dir: string, shown: string): void {
  try {
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK);
  } catch {
    throw new UserError(`${shown}: ${dir} is not writable`);
  }
}

/**
 * An output FILE (a PNG grid, a contact sheet): its folder must exist and be writable; an existing file is
 * replaced only with `overwrite` and only when corl wrote it (`ownFile` recognises corl's files).
 */
export function checkOutFile(
  file: string,
  o: { overwrite?: boolean; ownFile: (file: string) => boolean; flag?: string },
): void {
  const shown = `${o.flag ?? '--out'} ${file}`;
  const abs = path.resolve(file);
  const parent = path.dirname(abs);
  if (!fs.existsSync(parent) || !fs.statSync(parent).isDirectory())
    throw new UserError(`${shown}: the folder ${path.dirname(file)} does not exist`);
  checkWritable(parent, shown);
  if (!fs.existsSync(abs)) return;
  if (fs.statSync(abs).isDirectory()) throw new UserError(`${shown} is a folder, not a file`);
  if (!o.ownFile(abs))
    throw new UserError(`${shown} exists and corl did not write it; corl will not replace it`);
  if (!o.overwrite) throw new UserError(`${shown} exists; pass --overwrite to replace it`);
}
