/**
 * A read-only ZIP archive reader for PyTorch checkpoints (`torch.save`'s zip format: `pytorch_model.bin`).
 *
 * Reads the central directory (ZIP64 included: a Janus-Pro-1B checkpoint is 4.2 GB) and gives positioned
 * reads of each entry's bytes, so a storage is copied from the file in chunks and never held whole in memory.
 * PyTorch writes every entry stored (uncompressed); deflated entries (a checkpoint re-zipped by a tool) are
 * inflated with Node's zlib, bounded by their declared size.
 *
 * Everything in the file is checked before it is used: the end records, every central-directory field, that
 * each entry's local header agrees with it, that entries lie before the central directory and do not overlap
 * (the overlapping-entry zip bomb), duplicate names, and that an inflated entry is exactly its declared size
 * (the classic zip bomb). Errors are UserErrors naming the file and the entry.
 */
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { UserError } from '../util/errors.js';

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflated. */
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  /** Offset of the local file header. */
  headerOffset: number;
  /** Offset of the entry's (compressed) data, from its local header. */
  dataOffset: number;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const MAX_COMMENT = 0xffff;
/** More entries than any checkpoint has (one per storage: Janus-Pro-7B has about 900). */
export const MAX_ZIP_ENTRIES = 1_000_000;
/** A central directory larger than this is not a checkpoint's. */
const MAX_CENTRAL_DIR = 256 * 1024 * 1024;
/** Largest entry inflated in memory (deflated entries are read whole). */
export const MAX_INFLATED_BYTES = 2 ** 31 - 1;

export class ZipReader {
  readonly entries = new Map<string, ZipEntry>();
  private readonly fd: number;
  readonly size: number;

  private constructor(
    readonly file: string,
    fd: number,
    size: number,
  ) {
    this.fd = fd;
    this.size = size;
  }

  /** Opens `file` and reads its central directory; a UserError when it is not a sound ZIP archive. */
  static open(file: string): ZipReader {
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch (e) {
      throw new UserError(`${file}: cannot open (${(e as Error).message})`);
    }
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) throw new UserError(`${file}: not a regular file`);
      const z = new ZipReader(file, fd, st.size);
      z.readDirectory();
      return z;
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  close(): void {
    fs.closeSync(this.fd);
  }

  private fail(msg: string): never {
    throw new UserError(`${this.file}: ${msg}`);
  }

  /** Reads exactly buf.length bytes at `position`. */
  readAt(buf: Uint8Array, position: number): void {
    const CHUNK = 1 << 30;
    let done = 0;
    while (done < buf.length) {
      const n = fs.readSync(this.fd, buf, done, Math.min(CHUNK, buf.length - done), position + done);
      if (n === 0) this.fail('unexpected end of file (was it truncated while reading?)');
      done += n;
    }
  }

  private bytes(position: number, length: number): Buffer {
    if (position < 0 || position + length > this.size)
      this.fail(`a ZIP record at ${position} runs past the end`);
    const b = Buffer.alloc(length);
    this.readAt(b, position);
    return b;
  }

  /**
   * The archive's table of contents: the end records (ZIP64 when a field is saturated), every central
   * directory entry, then each entry's local header, and that no two entries overlap.
   */
  private readDirectory(): void {
    const { count, cdSize, cdOffset, cdEnd } = this.endRecords();
    if (count > MAX_ZIP_ENTRIES) this.fail(`${count} entries is more than a checkpoint holds`);
    if (cdSize > MAX_CENTRAL_DIR || cdOffset + cdSize > cdEnd)
      this.fail(`central directory [${cdOffset}, +${cdSize}) does not fit before the end records`);
    const cd = this.bytes(cdOffset, cdSize);
    let p = 0;
    const list: ZipEntry[] = [];
    for (let i = 0; i < count; i++) {
      const { entry, end } = this.centralEntry(cd, p, i);
      if (this.entries.has(entry.name))
        this.fail(`entry ${JSON.stringify(entry.name.slice(0, 200))} appears twice`);
      list.push(entry);
      this.entries.set(entry.name, entry);
      p = end;
    }
    for (const e of list) this.localHeader(e, cdOffset);
    const sorted = [...list].sort((a, b) => a.headerOffset - b.headerOffset);
    for (let i = 1; i < sorted.length; i++) {
      const a = sorted[i - 1]!;
      const b = sorted[i]!;
      if (b.headerOffset < a.dataOffset + a.compressedSize)
        this.fail(
          `entries ${JSON.stringify(a.name)} and ${JSON.stringify(b.name)} overlap (a zip bomb or a damaged archive)`,
        );
    }
  }

  /** The end-of-central-directory record (22 bytes plus a comment of at most 64 KiB, at the very end), ZIP64's if needed. */
  private endRecords(): { count: number; cdSize: number; cdOffset: number; cdEnd: number } {
    if (this.size < 22) this.fail(`not a ZIP archive (${this.size} bytes)`);
    const tailLen = Math.min(this.size, 22 + MAX_COMMENT);
    const tail = this.bytes(this.size - tailLen, tailLen);
    let at = -1;
    for (let i = tailLen - 22; i >= 0; i--)
      if (tail.readUInt32LE(i) === SIG_EOCD && i + 22 + tail.readUInt16LE(i + 20) === tailLen) {
        at = i;
        break;
      }
    if (at < 0) this.fail('not a ZIP archive (no end-of-central-directory record)');
    const eocdPos = this.size - tailLen + at;
    let count = tail.readUInt16LE(at + 10);
    let cdSize = tail.readUInt32LE(at + 12);
    let cdOffset = tail.readUInt32LE(at + 16);
    if (tail.readUInt16LE(at + 4) !== 0 || tail.readUInt16LE(at + 6) !== 0)
      this.fail('multi-part ZIP archives are not supported');
    let cdEnd = eocdPos;
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      if (eocdPos < 20) this.fail('ZIP64 end records are missing');
      const loc = this.bytes(eocdPos - 20, 20);
      if (loc.readUInt32LE(0) !== SIG_ZIP64_LOCATOR) this.fail('ZIP64 end-record locator is missing');
      const z64 = this.u64(loc, 8, 'ZIP64 end-record offset');
      if (z64 + 56 > eocdPos - 20) this.fail('ZIP64 end record lies outside the file');
      const rec = this.bytes(z64, 56);
      if (rec.readUInt32LE(0) !== SIG_ZIP64_EOCD) this.fail('ZIP64 end record is missing');
      count = this.u64(rec, 32, 'entry count');
      cdSize = this.u64(rec, 40, 'central directory size');
      cdOffset = this.u64(rec, 48, 'central directory offset');
      cdEnd = z64;
    }
    return { count, cdSize, cdOffset, cdEnd };
  }

  /** Central directory entry `i` at `p` (its ZIP64 extra field read), and where the next one starts. */
  private centralEntry(cd: Buffer, p: number, i: number): { entry: ZipEntry; end: number } {
    if (p + 46 > cd.length || cd.readUInt32LE(p) !== SIG_CENTRAL)
      this.fail(`central directory entry ${i} is damaged`);
    const flags = cd.readUInt16LE(p + 8);
    const method = cd.readUInt16LE(p + 10);
    const crc32 = cd.readUInt32LE(p + 16);
    let compressedSize = cd.readUInt32LE(p + 20);
    let size = cd.readUInt32LE(p + 24);
    const nameLen = cd.readUInt16LE(p + 28);
    const extraLen = cd.readUInt16LE(p + 30);
    const commentLen = cd.readUInt16LE(p + 32);
    let headerOffset = cd.readUInt32LE(p + 42);
    const end = p + 46 + nameLen + extraLen + commentLen;
    if (end > cd.length) this.fail(`central directory entry ${i} runs past the directory`);
    const name = cd.toString('utf8', p + 46, p + 46 + nameLen);
    const what = `entry ${JSON.stringify(name.slice(0, 200))}`;
    if (flags & 1) this.fail(`${what} is encrypted`);
    // ZIP64 extra field: the 64-bit values of the fields saturated above, in this order
    let q = p + 46 + nameLen;
    const extraEnd = q + extraLen;
    while (q + 4 <= extraEnd) {
      const id = cd.readUInt16LE(q);
      const len = cd.readUInt16LE(q + 2);
      if (q + 4 + len > extraEnd) this.fail(`${what}: extra field runs past its header`);
      if (id === 0x0001) {
        let r = q + 4;
        const take = (field: string): number => {
          if (r + 8 > q + 4 + len) this.fail(`${what}: ZIP64 field lacks the ${field}`);
          const v = this.u64(cd, r, `${what} ${field}`);
          r += 8;
          return v;
        };
        if (size === 0xffffffff) size = take('size');
        if (compressedSize === 0xffffffff) compressedSize = take('compressed size');
        if (headerOffset === 0xffffffff) headerOffset = take('header offset');
      }
      q += 4 + len;
    }
    if (method !== 0 && method !== 8)
      this.fail(`${what} uses compression method ${method} (only stored and deflate)`);
    if (method === 0 && size !== compressedSize)
      this.fail(`${what} is stored but its sizes differ (${compressedSize} vs ${size})`);
    return { entry: { name, method, crc32, compressedSize, size, headerOffset, dataOffset: 0 }, end };
  }

  /** An entry's local header: where its data starts, and that it lies before the directory. */
  private localHeader(e: ZipEntry, cdOffset: number): void {
    const what = `entry ${JSON.stringify(e.name.slice(0, 200))}`;
    if (e.headerOffset + 30 > cdOffset)
      this.fail(`${what}: its header offset ${e.headerOffset} is past the data`);
    const h = this.bytes(e.headerOffset, 30);
    if (h.readUInt32LE(0) !== SIG_LOCAL) this.fail(`${what}: no local header at ${e.headerOffset}`);
    if (h.readUInt16LE(8) !== e.method)
      this.fail(`${what}: local and central headers disagree on the method`);
    const nameLen = h.readUInt16LE(26);
    if (this.bytes(e.headerOffset + 30, nameLen).toString('utf8') !== e.name)
      this.fail(`${what}: local and central headers disagree on the name`);
    e.dataOffset = e.headerOffset + 30 + nameLen + h.readUInt16LE(28);
    if (e.dataOffset + e.compressedSize > cdOffset)
      this.fail(`${what}: its data [${e.dataOffset}, +${e.compressedSize}) runs past the end of the data`);
  }

  private u64(b: Buffer, at: number, what: string): number {
    const v = b.readBigUInt64LE(at);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${what} ${v} is absurd`);
    return Number(v);
  }

  /**
   * The whole (inflated) content of a small entry, at most `limit` bytes; its CRC-32 is checked. A deflated
   * entry that inflates to anything but its declared size is refused.
   */
  read(name: string, limit: number): Buffer {
    const e = this.entries.get(name) ?? this.fail(`no entry ${JSON.stringify(name)}`);
    const what = `entry ${JSON.stringify(name)}`;
    if (e.size > limit) this.fail(`${what} declares ${e.size} bytes, more than the ${limit} allowed`);
    const raw = Buffer.alloc(e.compressedSize);
    this.readAt(raw, e.dataOffset);
    const out = e.method === 0 ? raw : this.inflate(e, raw);
    if (zlib.crc32(out) >>> 0 !== e.crc32 >>> 0) this.fail(`${what} is corrupt (CRC-32 mismatch)`);
    return out;
  }

  private inflate(e: ZipEntry, raw: Buffer): Buffer {
    const what = `entry ${JSON.stringify(e.name)}`;
    let out: Buffer;
    try {
      out = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(1, Math.min(e.size, MAX_INFLATED_BYTES)) });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError)
        this.fail(`${what} inflates past its declared ${e.size} bytes (a zip bomb?)`);
      this.fail(`${what} does not inflate (${(err as Error).message})`);
    }
    if (out.length !== e.size)
      this.fail(`${what} inflates to ${out.length} bytes, not its declared ${e.size}`);
    return out;
  }

  /**
   * Reads `length` bytes at `offset` within entry `name` into `buf` (positioned reads straight from the file
   * for stored entries; a deflated entry is inflated whole, bounded by its declared size).
   */
  readRange(e: ZipEntry, offset: number, buf: Uint8Array): void {
    if (offset < 0 || offset + buf.length > e.size)
      this.fail(`entry ${JSON.stringify(e.name)}: read [${offset}, +${buf.length}) past its ${e.size} bytes`);
    if (e.method === 0) {
      this.readAt(buf, e.dataOffset + offset);
      return;
    }
    if (this.inflated?.entry !== e) {
      this.inflated = null;
      if (e.size > MAX_INFLATED_BYTES) this.fail(`entry ${JSON.stringify(e.name)} is too large to inflate`);
      const raw = Buffer.alloc(e.compressedSize);
      this.readAt(raw, e.dataOffset);
      const data = this.inflate(e, raw);
      if (zlib.crc32(data) >>> 0 !== e.crc32 >>> 0)
        this.fail(`entry ${JSON.stringify(e.name)} is corrupt (CRC-32 mismatch)`);
      this.inflated = { entry: e, data };
    }
    buf.set(this.inflated.data.subarray(offset, offset + buf.length));
  }
  /** The last inflated entry (a deflated storage is read in several chunks). */
  private inflated: { entry: ZipEntry; data: Buffer } | null = null;
}
