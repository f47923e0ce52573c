/**
 * Hugging Face safetensors, read and written in plain TypeScript.
 *
 * File layout: an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON (padded with spaces to 8-byte
 * alignment), then the tensor bytes. The JSON maps each tensor name to
 * `{"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}` (offsets relative to the data that follows
 * the header) and may hold `"__metadata__": {str: str}`. Data is little-endian, row-major, contiguous.
 *
 * Reading validates the whole header before it allocates anything large, then reads each tensor's byte range
 * with positioned reads (never the whole file at once). Malformed or hostile files are rejected with a
 * `UserError` that names the file (and the tensor). Gaps between tensor ranges are tolerated; overlaps are not.
 *
 * Writing follows the reference implementation: tensors sorted by descending dtype alignment, then by name,
 * packed with no gaps, so each tensor's data is aligned to its element size and the bytes are deterministic.
 *
 * Loaded tensors are ordinary tensors: inside `tidy()` they belong to that scope (returning the Map from the
 * tidy callback keeps them); otherwise the caller owns them and must `dispose()` them (or `keep()` them for
 * long-lived parameters).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../util/errors.js';
import { BYTES_PER_ELEMENT, type DType, isFloating } from './dtype.js';
import { fromBytes } from './creation.js';
import type { Tensor } from './tensor.js';

/** The reference implementation's limit on the header length. */
export const MAX_HEADER_BYTES = 100_000_000;
export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';

/** safetensors dtype names, in the reference's alignment order (the writer sorts by descending rank). */
export const FORMAT_DTYPES: readonly (readonly [string, DType])[] = [
  ['BOOL', 'bool'],
  ['U8', 'uint8'],
  ['F16', 'float16'],
  ['BF16', 'bfloat16'],
  ['I32', 'int32'],
  ['F32', 'float32'],
  ['F64', 'float64'],
  ['I64', 'int64'],
];
const TO_DTYPE = new Map(FORMAT_DTYPES);
const TO_FORMAT = new Map(FORMAT_DTYPES.map(([f, d]) => [d, f]));
const RANK = new Map(FORMAT_DTYPES.map(([, d], i) => [d, i]));

export interface SafetensorsEntry {
  dtype: DType;
  shape: number[];
  /** Byte range [begin, end) relative to the start of the data (dataOffset in the file). */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  entries: Map<string, SafetensorsEntry>;
  metadata: Record<string, string>;
  /** File offset of the data: 8 + header length. */
  dataOffset: number;
}

export interface LoadOptions {
  /** Convert floating tensors to this (floating) dtype, e.g. bf16 weights to float32. Others load as stored. */
  dtype?: DType;
  /** Load only the tensors whose names pass this filter. */
  names?: (name: string) => boolean;
}

type TensorDict = Map<string, Tensor> | Record<string, Tensor>;

// ---- reading --------------------------------------------------------------------------------------------

/** Reads and validates the header of a safetensors file (tensor data is not read). */
export function readSafetensorsHeader(file: string): SafetensorsHeader {
  return withFile(file, (fd, size) => parseHeader(file, fd, size));
}

/** Loads the tensors of a safetensors file (all, or those `opts.names` accepts) and its metadata. */
export function loadSafetensors(
  file: string,
  opts: LoadOptions = {},
): { tensors: Map<string, Tensor>; metadata: Record<string, string> } {
  return withFile(file, (fd, size) => {
    const header = parseHeader(file, fd, size);
    const names = [...header.entries.keys()].filter((n) => opts.names?.(n) ?? true);
    return { tensors: readTensors(file, fd, header, names, opts.dtype), metadata: header.metadata };
  });
}

function withFile<T>(file: string, fn: (fd: number, size: number) => T): T {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw new UserError(`${file}: cannot open safetensors file (${(e as Error).message})`);
  }
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw new UserError(`${file}: not a regular file`);
    return fn(fd, stat.size);
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads exactly buf.length bytes at position, or fails naming the file. */
function readFully(file: string, fd: number, buf: Uint8Array, position: number): void {
  const CHUNK = 1 << 30; // readSync's length is limited to 2 GiB
  let done = 0;
  while (done < buf.length) {
    const n = fs.readSync(fd, buf, done, Math.min(CHUNK, buf.length - done), position + done);
    if (n === 0) throw new UserError(`${file}: unexpected end of file (was it truncated while reading?)`);
    done += n;
  }
}

const quote = (name: string): string => JSON.stringify(name.length > 200 ? `${name.slice(0, 200)}...` : name);
const isPlainObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x);
const fmtShape = (dims: number[]): string =>
  dims.length > 8 ? `[${dims.slice(0, 8).join(', ')}, ... (${dims.length} dims)]` : `[${dims.join(', ')}]`;
const isIndex = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;
/** An error text on one line: control characters (newlines in a JSON error's excerpt) escaped. */
const oneLine = (s: string): string =>
  s.replace(/\p{Cc}|[\u2028\u2029]/gu, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

function parseHeader(file: string, fd: number, size: number): SafetensorsHeader {
  const fail = (msg: string): never => {
    throw new UserError(`${file}: ${msg}`);
  };
  if (size < 8) fail(`not a safetensors file (${size} bytes, shorter than the 8-byte header length)`);
  const lenBytes = new Uint8Array(8);
  readFully(file, fd, lenBytes, 0);
  const n = new DataView(lenBytes.buffer).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES))
    fail(`header length ${n} is larger than the ${MAX_HEADER_BYTES}-byte limit`);
  const headerLen = Number(n);
  if (8 + headerLen > size) fail(`header length ${headerLen} runs past the end of the file (${size} bytes)`);
  const headerBytes = new Uint8Array(headerLen);
  readFully(file, fd, headerBytes, 8);

  let text = '';
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    fail('header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    fail(`header is not valid JSON (${oneLine((e as Error).message.slice(0, 200))})`);
  }
  if (!isPlainObject(json)) fail('header is not a JSON object');
  const header = json as Record<string, unknown>;

  const dataOffset = 8 + headerLen;
  const dataSize = size - dataOffset;
  let metadata: Record<string, string> = {};
  const entries = new Map<string, SafetensorsEntry>();
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isPlainObject(raw) || !Object.values(raw).every((v) => typeof v === 'string'))
        fail('"__metadata__" is not an object of strings');
      metadata = Object.fromEntries(Object.entries(raw as Record<string, string>));
    } else {
      entries.set(name, parseEntry(name, raw, dataSize, fail));
    }
  }

  // No two tensors may share bytes (empty ranges share none).
  const ranges = [...entries].filter(([, e]) => e.end > e.begin).sort(([, a], [, b]) => a.begin - b.begin);
  for (let i = 1; i < ranges.length; i++) {
    const [pn, p] = ranges[i - 1]!;
    const [cn, c] = ranges[i]!;
    if (c.begin < p.end)
      fail(`tensors ${quote(pn)} [${p.begin}, ${p.end}) and ${quote(cn)} [${c.begin}, ${c.end}) overlap`);
  }
  return { entries, metadata, dataOffset };
}

function parseEntry(
  name: string,
  raw: unknown,
  dataSize: number,
  fail: (msg: string) => never,
): SafetensorsEntry {
  const t = `tensor ${quote(name)}`;
  if (!isPlainObject(raw)) fail(`${t}: entry is not an object`);
  const { dtype: format, shape, data_offsets: offsets } = raw as Record<string, unknown>;
  if (typeof format !== 'string') fail(`${t}: "dtype" is missing or not a string`);
  const dtype = TO_DTYPE.get(format as string) ?? fail(`${t}: unsupported dtype ${JSON.stringify(format)}`);
  if (!Array.isArray(shape) || !shape.every(isIndex))
    fail(`${t}: "shape" is missing or not an array of non-negative integers`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex) || offsets[0] > offsets[1])
    fail(`${t}: "data_offsets" is missing or not [begin, end] integers with 0 <= begin <= end`);
  const dims = shape as number[];
  const [begin, end] = offsets as [number, number];
  if (end > dataSize) fail(`${t}: data_offsets end ${end} is past the end of the data (${dataSize} bytes)`);

  const elementSize = BYTES_PER_ELEMENT[dtype];
  let numel = dims.includes(0) ? 0 : 1;
  for (const d of dims) {
    numel *= d;
    if (numel * elementSize > dataSize)
      fail(`${t}: shape ${fmtShape(dims)} declares more data than the file holds`);
  }
  // An empty tensor holds no data, but libtorch still multiplies its dimensions (and fails on an overflow).
  let bytes = elementSize;
  for (const d of dims)
    if (d > 0 && (bytes *= d) > Number.MAX_SAFE_INTEGER) fail(`${t}: shape ${fmtShape(dims)} is too large`);
  if (numel * elementSize !== end - begin)
    fail(
      `${t}: data_offsets span ${end - begin} bytes but ${format} ${fmtShape(dims)} needs ${numel * elementSize}`,
    );
  return { dtype, shape: dims, begin, end };
}

function readTensors(
  file: string,
  fd: number,
  header: SafetensorsHeader,
  names: readonly string[],
  dtype: DType | undefined,
): Map<string, Tensor> {
  if (dtype !== undefined && !isFloating(dtype))
    throw new TypeError(`loadSafetensors: dtype ${dtype} is not floating`);
  const out = new Map<string, Tensor>();
  try {
    for (const name of names) {
      const e = header.entries.get(name);
      if (e === undefined) throw new UserError(`${file}: no tensor ${quote(name)}`);
      const bytes = new Uint8Array(e.end - e.begin);
      readFully(file, fd, bytes, header.dataOffset + e.begin);
      if (e.dtype === 'bool') for (let i = 0; i < bytes.length; i++) bytes[i] = bytes[i] === 0 ? 0 : 1;
      const t = fromBytes(bytes, e.shape, e.dtype);
      if (dtype !== undefined && isFloating(e.dtype) && e.dtype !== dtype) {
        out.set(name, t.to(dtype));
        t.dispose();
      } else {
        out.set(name, t);
      }
    }
  } catch (err) {
    for (const t of out.values()) t.dispose();
    throw err;
  }
  return out;
}

// ---- writing --------------------------------------------------------------------------------------------

const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const nbytes = (t: Tensor): number => t.numel * BYTES_PER_ELEMENT[t.dtype];

function entriesOf(tensors: TensorDict): [string, Tensor][] {
  return tensors instanceof Map ? [...tensors] : Object.entries(tensors);
}

/**
 * Writes tensors (and optional string metadata) to a safetensors file, atomically (a temporary file renamed
 * into place). The bytes depend only on the names, dtypes, shapes, data and metadata.
 */
export function saveSafetensors(file: string, tensors: TensorDict, metadata?: Record<string, string>): void {
  const list = entriesOf(tensors);
  const byNameMap = new Map(list);
  saveSafetensorsStreaming(
    file,
    list.map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape })),
    (name) => byNameMap.get(name)!,
    metadata,
    false,
  );
}

/** A tensor to be written: its name, dtype and shape (the data comes later). */
export interface TensorSpec {
  name: string;
  dtype: DType;
  shape: readonly number[];
}

const specBytes = (s: TensorSpec): number => s.shape.reduce((a, d) => a * d, 1) * BYTES_PER_ELEMENT[s.dtype];

/**
 * saveSafetensors for tensors produced one at a time: the header is written from `specs`, then each tensor is
 * asked for (`produce(name)`), written in 16 MiB slices, and disposed (unless `dispose` is false), so a
 * checkpoint larger than memory can be written. Same bytes as saveSafetensors.
 */
export function saveSafetensorsStreaming(
  file: string,
  specs: readonly TensorSpec[],
  produce: (name: string) => Tensor,
  metadata?: Record<string, string>,
  dispose = true,
): void {
  const list = [...specs].sort((a, b) => RANK.get(b.dtype)! - RANK.get(a.dtype)! || byName(a.name, b.name));
  const parts: string[] = [];
  if (metadata !== undefined) {
    const meta = Object.entries(metadata).sort(([a], [b]) => byName(a, b));
    for (const [k, v] of meta)
      if (typeof v !== 'string') throw new TypeError(`metadata ${quote(k)} is not a string`);
    parts.push(
      `"__metadata__":{${meta.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`,
    );
  }
  let offset = 0;
  for (const t of list) {
    if (t.name === '__metadata__') throw new TypeError('"__metadata__" is reserved and cannot name a tensor');
    const entry = {
      dtype: TO_FORMAT.get(t.dtype),
      shape: t.shape,
      data_offsets: [offset, offset + specBytes(t)],
    };
    parts.push(`${JSON.stringify(t.name)}:${JSON.stringify(entry)}`);
    offset += specBytes(t);
  }
  let json = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  if (json.length % 8 !== 0) json = Buffer.concat([json, Buffer.alloc(8 - (json.length % 8), ' ')]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));

  writeAtomic(file, (fd) => {
    writeFully(fd, len);
    writeFully(fd, json);
    for (const spec of list) {
      const t = produce(spec.name);
      try {
        if (t.dtype !== spec.dtype || t.shape.join(',') !== spec.shape.join(','))
          throw new Error(
            `saveSafetensors: tensor ${quote(spec.name)} is not ${spec.dtype} [${spec.shape.join(', ')}]`,
          );
        writeTensorData(fd, spec.name, t);
      } finally {
        if (dispose) t.dispose();
      }
    }
  });
}

/** Writes a tensor's bytes, in slices of at most 16 MiB for large ones (no whole second copy). */
function writeTensorData(fd: number, name: string, t: Tensor): void {
  const SLICE = 16 * 1024 * 1024;
  const total = nbytes(t);
  const write = (x: Tensor) => {
    const data = x.data();
    writeFully(fd, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return data.byteLength;
  };
  if (total <= SLICE || t.numel === 0) {
    if (write(t) !== total) throw new Error(`saveSafetensors: tensor ${quote(name)} data size mismatch`);
    return;
  }
  const flat = t.isContiguous() ? t.view([-1]) : t.contiguous().view([-1]);
  try {
    const step = SLICE / BYTES_PER_ELEMENT[t.dtype];
    for (let at = 0; at < t.numel; at += step) {
      const part = flat.narrow(0, at, Math.min(step, t.numel - at));
      try {
        write(part);
      } finally {
        part.dispose();
      }
    }
  } finally {
    flat.dispose();
  }
}

function writeFully(fd: number, bytes: Uint8Array): void {
  for (let done = 0; done < bytes.length;) done += fs.writeSync(fd, bytes, done, bytes.length - done);
}

/** Writes through `path.tmp-<pid>`, then renames it over `file`; the temporary file is removed on failure. */
function writeAtomic(file: string, write: (fd: number) => void): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w');
  try {
    try {
      write(fd);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

// ---- sharded checkpoints --------------------------------------------------------------------------------

/**
 * Loads a checkpoint directory: the shards listed in `model.safetensors.index.json` if it exists (every shard
 * and every listed tensor is checked before anything is loaded), else `model.safetensors`.
 */
export function loadSharded(dir: string, opts: LoadOptions = {}): Map<string, Tensor> {
  const indexPath = path.join(dir, INDEX_FILE);
  if (!fs.existsSync(indexPath)) {
    const single = path.join(dir, SINGLE_FILE);
    if (!fs.existsSync(single)) throw new UserError(`${dir}: neither ${INDEX_FILE} nor ${SINGLE_FILE} found`);
    return loadSafetensors(single, opts).tensors;
  }
  const plans = [...readIndex(indexPath)].map(([shard, names]) => {
    const file = path.join(dir, shard);
    if (!fs.existsSync(file)) throw new UserError(`${indexPath}: shard file ${shard} does not exist`);
    const header = readSafetensorsHeader(file);
    for (const n of names)
      if (!header.entries.has(n))
        throw new UserError(`${indexPath}: tensor ${quote(n)} is not in its shard ${shard}`);
    return { file, names: names.filter((n) => opts.names?.(n) ?? true) };
  });
  const out = new Map<string, Tensor>();
  try {
    for (const { file, names } of plans) {
      const loaded = withFile(file, (fd, size) =>
        readTensors(file, fd, parseHeader(file, fd, size), names, opts.dtype),
      );
      for (const [n, t] of loaded) out.set(n, t);
    }
  } catch (err) {
    for (const t of out.values()) t.dispose();
    throw err;
  }
  return out;
}

/**
 * Parses a sharded checkpoint's index file (`weight_map`: tensor name -> shard file, as safetensors' and
 * pytorch_model.bin's indexes write it) into shard file name -> tensor names; a shard must be a plain file
 * name in the index's folder.
 */
export function readIndex(indexPath: string): Map<string, string[]> {
  const fail = (msg: string): never => {
    throw new UserError(`${indexPath}: ${msg}`);
  };
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(indexPath, 'utf8'));
  } catch (e) {
    fail(`not valid JSON (${(e as Error).message.slice(0, 200).replace(/\s+/g, ' ')})`);
  }
  const weightMap = isPlainObject(json) ? json.weight_map : undefined;
  if (!isPlainObject(weightMap)) fail('"weight_map" is missing or not an object');
  const byShard = new Map<string, string[]>();
  for (const [name, shard] of Object.entries(weightMap as Record<string, unknown>)) {
    if (typeof shard !== 'string' || path.basename(shard) !== shard || shard === '.' || shard === '..')
      fail(
        `tensor ${quote(name)} maps to ${JSON.stringify(shard)}, not a shard file name in the same directory`,
      );
    const names = byShard.get(shard as string) ?? [];
    names.push(name);
    byShard.set(shard as string, names);
  }
  return byShard;
}

/**
 * Saves a checkpoint directory: one `model.safetensors` when the data fits in `maxShardBytes` (default 5 GB),
 * else `model-00001-of-0000n.safetensors` shards (filled in name order) plus `model.safetensors.index.json`.
 * Returns the file names written. A stale index is removed when a single file is written.
 */
export function saveSharded(
  dir: string,
  tensors: TensorDict,
  opts: { maxShardBytes?: number; metadata?: Record<string, string> } = {},
): string[] {
  const max = opts.maxShardBytes ?? 5_000_000_000;
  const shards: [string, Tensor][][] = [[]];
  let size = 0;
  for (const [name, t] of entriesOf(tensors).sort(([a], [b]) => byName(a, b))) {
    if (size > 0 && size + nbytes(t) > max) {
      shards.push([]);
      size = 0;
    }
    shards[shards.length - 1]!.push([name, t]);
    size += nbytes(t);
  }
  fs.mkdirSync(dir, { recursive: true });
  if (shards.length === 1) {
    saveSafetensors(path.join(dir, SINGLE_FILE), new Map(shards[0]), opts.metadata);
    fs.rmSync(path.join(dir, INDEX_FILE), { force: true });
    return [SINGLE_FILE];
  }
  const pad = (i: number): string => String(i).padStart(5, '0');
  const files = shards.map((_, i) => `model-${pad(i + 1)}-of-${pad(shards.length)}.safetensors`);
  shards.forEach((shard, i) => saveSafetensors(path.join(dir, files[i]!), new Map(shard), opts.metadata));
  const weightMap = Object.fromEntries(
    shards.flatMap((shard, i) => shard.map(([name]) => [name, files[i]!])),
  );
  const totalSize = shards.flat().reduce((sum, [, t]) => sum + nbytes(t), 0);
  const index =
    JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2) + '\n';
  writeAtomic(path.join(dir, INDEX_FILE), (fd) => writeFully(fd, Buffer.from(index, 'utf8')));
  return [...files, INDEX_FILE];
}

/**
 * saveSharded for tensors produced one at a time (saveSafetensorsStreaming): the same shard assignment
 * (name order, at most `maxShardBytes` per shard), file names and index. Returns the file names written.
 */
export function saveShardedStreaming(
  dir: string,
  specs: readonly TensorSpec[],
  produce: (name: string) => Tensor,
  opts: { maxShardBytes?: number; metadata?: Record<string, string> } = {},
): string[] {
  const max = opts.maxShardBytes ?? 5_000_000_000;
  const shards: TensorSpec[][] = [[]];
  let size = 0;
  for (const spec of [...specs].sort((a, b) => byName(a.name, b.name))) {
    if (size > 0 && size + specBytes(spec) > max) {
      shards.push([]);
      size = 0;
    }
    shards[shards.length - 1]!.push(spec);
    size += specBytes(spec);
  }
  fs.mkdirSync(dir, { recursive: true });
  if (shards.length === 1) {
    saveSafetensorsStreaming(path.join(dir, SINGLE_FILE), shards[0]!, produce, opts.metadata);
    fs.rmSync(path.join(dir, INDEX_FILE), { force: true });
    return [SINGLE_FILE];
  }
  const pad = (i: number): string => String(i).padStart(5, '0');
  const files = shards.map((_, i) => `model-${pad(i + 1)}-of-${pad(shards.length)}.safetensors`);
  shards.forEach((shard, i) =>
    saveSafetensorsStreaming(path.join(dir, files[i]!), shard, produce, opts.metadata),
  );
  const weightMap = Object.fromEntries(shards.flatMap((shard, i) => shard.map((s) => [s.name, files[i]!])));
  const totalSize = specs.reduce((sum, s) => sum + specBytes(s), 0);
  const index =
    JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2) + '\n';
  writeAtomic(path.join(dir, INDEX_FILE), (fd) => writeFully(fd, Buffer.from(index, 'utf8')));
  return [...files, INDEX_FILE];
}
