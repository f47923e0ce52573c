/**
 * A writer of PyTorch zip checkpoints as `torch.save` lays them out (`PREFIX/data.pkl` with a protocol-2
 * pickle, `PREFIX/data/KEY` storages stored uncompressed and 64-byte aligned, `PREFIX/version`, ZIP64 records
 * when offsets pass 4 GiB), for the tests and the Janus-Pro benchmark: corl itself only reads this format.
 * The pickle and zip builders are exposed so that tests can write hostile files opcode by opcode.
 */
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import type { DType } from '../../src/torch/dtype.js';
import type { Tensor } from '../../src/torch/tensor.js';

// ---- pickle -------------------------------------------------------------------------------------------------

/** Pickle opcodes by name (the subset the tests write). */
export const OP = {
  PROTO: 0x80,
  STOP: 0x2e,
  MARK: 0x28,
  NONE: 0x4e,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  BININT: 0x4a,
  LONG1: 0x8a,
  BINUNICODE: 0x58,
  EMPTY_TUPLE: 0x29,
  TUPLE: 0x74,
  TUPLE1: 0x85,
  EMPTY_DICT: 0x7d,
  EMPTY_LIST: 0x5d,
  SETITEMS: 0x75,
  SETITEM: 0x73,
  GLOBAL: 0x63,
  STACK_GLOBAL: 0x93,
  REDUCE: 0x52,
  BUILD: 0x62,
  BINPERSID: 0x51,
  BINPUT: 0x71,
  BINGET: 0x68,
  EXT1: 0x82,
} as const;

export class PickleWriter {
  private readonly parts: number[] = [];
  op(code: number): this {
    this.parts.push(code);
    return this;
  }
  raw(bytes: Iterable<number>): this {
    for (const b of bytes) this.parts.push(b);
    return this;
  }
  proto(n = 2): this {
    return this.op(OP.PROTO).raw([n]);
  }
  str(s: string): this {
    const b = Buffer.from(s, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    return this.op(OP.BINUNICODE).raw(len).raw(b);
  }
  int(n: number | bigint): this {
    if (typeof n === 'number' && Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31) {
      const b = Buffer.alloc(4);
      b.writeInt32LE(n);
      return this.op(OP.BININT).raw(b);
    }
    // LONG1: little-endian two's complement
    let v = BigInt(n);
    const bytes: number[] = [];
    for (;;) {
      const byte = Number(v & 0xffn);
      bytes.push(byte);
      v >>= 8n;
      if ((v === 0n && !(byte & 0x80)) || (v === -1n && byte & 0x80)) break;
    }
    return this.op(OP.LONG1).raw([bytes.length]).raw(bytes);
  }
  global(module: string, name: string): this {
    return this.op(OP.GLOBAL).raw(Buffer.from(`${module}\n${name}\n`, 'latin1'));
  }
  /** A tuple of ints (sizes, strides). */
  ints(values: readonly (number | bigint)[]): this {
    this.op(OP.MARK);
    for (const v of values) this.int(v);
    return this.op(OP.TUPLE);
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

export const STORAGE_TYPE: Partial<Record<DType, string>> = {
  float32: 'FloatStorage',
  float64: 'DoubleStorage',
  float16: 'HalfStorage',
  bfloat16: 'BFloat16Storage',
  int64: 'LongStorage',
  int32: 'IntStorage',
  uint8: 'ByteStorage',
  bool: 'BoolStorage',
};

/** One state-dict entry as `_rebuild_tensor_v2` describes it. */
export interface TensorSpec {
  name: string;
  key: string;
  dtype: DType;
  /** The storage's element count. */
  numel: number | bigint;
  offset?: number | bigint;
  shape: readonly (number | bigint)[];
  stride?: readonly (number | bigint)[];
}

function contiguousStride(shape: readonly (number | bigint)[]): (number | bigint)[] {
  const out: number[] = [];
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    out.unshift(s);
    s *= Number(shape[i]);
  }
  return out;
}

/** Writes one tensor's `_rebuild_tensor_v2(...)` call onto the stack. */
export function pickleTensor(w: PickleWriter, t: TensorSpec): PickleWriter {
  w.global('torch._utils', '_rebuild_tensor_v2');
  w.op(OP.MARK);
  // persistent id ('storage', torch.XStorage, key, location, numel)
  w.op(OP.MARK)
    .str('storage')
    .global('torch', STORAGE_TYPE[t.dtype]!)
    .str(t.key)
    .str('cpu')
    .int(t.numel)
    .op(OP.TUPLE);
  w.op(OP.BINPERSID);
  w.int(t.offset ?? 0);
  w.ints(t.shape);
  w.ints(t.stride ?? contiguousStride(t.shape));
  w.op(OP.NEWFALSE);
  w.global('collections', 'OrderedDict').op(OP.EMPTY_TUPLE).op(OP.REDUCE);
  return w.op(OP.TUPLE).op(OP.REDUCE);
}

/** The pickle of an OrderedDict state dict, as torch.save (protocol 2) writes it. */
export function stateDictPickle(specs: readonly TensorSpec[]): Uint8Array {
  const w = new PickleWriter().proto(2);
  w.global('collections', 'OrderedDict').op(OP.EMPTY_TUPLE).op(OP.REDUCE);
  w.op(OP.MARK);
  for (const t of specs) pickleTensor(w.str(t.name), t);
  return w.op(OP.SETITEMS).op(OP.STOP).bytes();
}

// ---- zip ----------------------------------------------------------------------------------------------------

const U32 = 0xffffffff;

interface CentralRecord {
  name: Buffer;
  crc: number;
  csize: number;
  size: number;
  offset: number;
  method: number;
}

/** A ZIP writer: stored entries aligned to 64 bytes (as PyTorch), deflated ones, ZIP64 when needed. */
export class ZipWriter {
  private readonly fd: number;
  private pos = 0;
  private readonly central: CentralRecord[] = [];

  constructor(file: string) {
    this.fd = fs.openSync(file, 'w');
  }

  private write(b: Uint8Array): void {
    for (let done = 0; done < b.length;)
      done += fs.writeSync(this.fd, b, done, b.length - done, this.pos + done);
    this.pos += b.length;
  }

  /**
   * Adds an entry. `declaredSize` overrides the uncompressed size written in the headers (hostile files);
   * `crc` likewise.
   */
  add(
    name: string,
    data: Uint8Array,
    opts: { deflate?: boolean; declaredSize?: number; crc?: number; at?: number } = {},
  ): void {
    const nameBuf = Buffer.from(name, 'utf8');
    const body = opts.deflate ? zlib.deflateRawSync(data) : data;
    const size = opts.declaredSize ?? data.length;
    const crc = opts.crc ?? zlib.crc32(data);
    if (opts.at !== undefined) this.pos = opts.at;
    const offset = this.pos;
    const zip64 = size >= U32 || body.length >= U32;
    const z64extra = zip64 ? Buffer.alloc(20) : Buffer.alloc(0);
    if (zip64) {
      z64extra.writeUInt16LE(0x0001, 0);
      z64extra.writeUInt16LE(16, 2);
      z64extra.writeBigUInt64LE(BigInt(size), 4);
      z64extra.writeBigUInt64LE(BigInt(body.length), 12);
    }
    // pad the data start to 64 bytes with an extra field, as PyTorch's writer does
    let extraLen = z64extra.length;
    const unpadded = offset + 30 + nameBuf.length + extraLen;
    let pad = opts.deflate ? 0 : (64 - (unpadded % 64)) % 64;
    if (pad > 0 && pad < 4) pad += 64;
    const padExtra = Buffer.alloc(pad);
    if (pad > 0) {
      padExtra.writeUInt16LE(0x4246, 0);
      padExtra.writeUInt16LE(pad - 4, 2);
    }
    extraLen += pad;
    const h = Buffer.alloc(30);
    h.writeUInt32LE(0x04034b50, 0);
    h.writeUInt16LE(zip64 ? 45 : 20, 4);
    h.writeUInt16LE(0, 6);
    h.writeUInt16LE(opts.deflate ? 8 : 0, 8);
    h.writeUInt16LE(0, 10);
    h.writeUInt16LE(0x21, 12);
    h.writeUInt32LE(crc >>> 0, 14);
    h.writeUInt32LE(zip64 ? U32 : body.length, 18);
    h.writeUInt32LE(zip64 ? U32 : size, 22);
    h.writeUInt16LE(nameBuf.length, 26);
    h.writeUInt16LE(extraLen, 28);
    this.write(h);
    this.write(nameBuf);
    this.write(z64extra);
    this.write(padExtra);
    this.write(body);
    this.central.push({ name: nameBuf, crc, csize: body.length, size, offset, method: opts.deflate ? 8 : 0 });
  }

  /** A central-directory record for bytes already written (a second name for them: hostile files). */
  alias(name: string, headerOffset: number, size: number, crc: number): void {
    this.central.push({
      name: Buffer.from(name, 'utf8'),
      crc,
      csize: size,
      size,
      offset: headerOffset,
      method: 0,
    });
  }

  /** Writes the central directory and end records, and closes the file. */
  finish(): void {
    const cdOffset = this.pos;
    for (const c of this.central) {
      const big: bigint[] = [];
      if (c.size >= U32) big.push(BigInt(c.size));
      if (c.csize >= U32) big.push(BigInt(c.csize));
      if (c.offset >= U32) big.push(BigInt(c.offset));
      const extra = Buffer.alloc(big.length > 0 ? 4 + 8 * big.length : 0);
      if (big.length > 0) {
        extra.writeUInt16LE(0x0001, 0);
        extra.writeUInt16LE(8 * big.length, 2);
        big.forEach((v, i) => extra.writeBigUInt64LE(v, 4 + 8 * i));
      }
      const h = Buffer.alloc(46);
      h.writeUInt32LE(0x02014b50, 0);
      h.writeUInt16LE(45, 4);
      h.writeUInt16LE(big.length > 0 ? 45 : 20, 6);
      h.writeUInt16LE(0, 8);
      h.writeUInt16LE(c.method, 10);
      h.writeUInt16LE(0, 12);
      h.writeUInt16LE(0x21, 14);
      h.writeUInt32LE(c.crc >>> 0, 16);
      h.writeUInt32LE(Math.min(c.csize, U32), 20);
      h.writeUInt32LE(Math.min(c.size, U32), 24);
      h.writeUInt16LE(c.name.length, 28);
      h.writeUInt16LE(extra.length, 30);
      h.writeUInt32LE(Math.min(c.offset, U32), 42);
      this.write(h);
      this.write(c.name);
      this.write(extra);
    }
    const cdSize = this.pos - cdOffset;
    const zip64 = cdOffset >= U32 || this.central.length >= 0xffff;
    if (zip64) {
      const z64Offset = this.pos;
      const r = Buffer.alloc(56);
      r.writeUInt32LE(0x06064b50, 0);
      r.writeBigUInt64LE(44n, 4);
      r.writeUInt16LE(45, 12);
      r.writeUInt16LE(45, 14);
      r.writeBigUInt64LE(BigInt(this.central.length), 24);
      r.writeBigUInt64LE(BigInt(this.central.length), 32);
      r.writeBigUInt64LE(BigInt(cdSize), 40);
      r.writeBigUInt64LE(BigInt(cdOffset), 48);
      this.write(r);
      const loc = Buffer.alloc(20);
      loc.writeUInt32LE(0x07064b50, 0);
      loc.writeBigUInt64LE(BigInt(z64Offset), 8);
      loc.writeUInt32LE(1, 16);
      this.write(loc);
    }
    const e = Buffer.alloc(22);
    e.writeUInt32LE(0x06054b50, 0);
    e.writeUInt16LE(zip64 ? 0xffff : this.central.length, 8);
    e.writeUInt16LE(zip64 ? 0xffff : this.central.length, 10);
    e.writeUInt32LE(zip64 ? U32 : cdSize, 12);
    e.writeUInt32LE(zip64 ? U32 : cdOffset, 16);
    this.write(e);
    fs.ftruncateSync(this.fd, this.pos);
    fs.closeSync(this.fd);
  }
}

/**
 * Writes a torch.save-style archive: `pickle` as PREFIX/data.pkl and each storage as PREFIX/data/KEY.
 * Storages are given as bytes or produced one at a time (`() => bytes`), so a large checkpoint is written
 * without holding it.
 */
export function writeTorchArchive(
  file: string,
  pickle: Uint8Array,
  storages: Iterable<[string, Uint8Array | (() => Uint8Array)]>,
  prefix = 'archive',
): void {
  const z = new ZipWriter(file);
  z.add(`${prefix}/data.pkl`, pickle);
  for (const [key, data] of storages)
    z.add(`${prefix}/data/${key}`, typeof data === 'function' ? data() : data);
  z.add(`${prefix}/version`, Buffer.from('3\n'));
  z.finish();
}

/** The bytes of a tensor (contiguous, little-endian). */
export function tensorBytes(t: Tensor): Uint8Array {
  const d = t.data();
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

/**
 * Saves a state dict like torch.save: one storage per tensor, keys "0", "1", ... in order. `make(name)` is
 * called once per tensor, just before its bytes are written (and the tensor disposed after), so the whole
 * state dict is never in memory.
 */
export function torchSave(
  file: string,
  specs: readonly { name: string; dtype: DType; shape: number[] }[],
  make: (name: string) => Tensor,
): void {
  const entries: TensorSpec[] = specs.map((s, i) => ({
    name: s.name,
    key: String(i),
    dtype: s.dtype,
    numel: s.shape.reduce((a, d) => a * d, 1),
    shape: s.shape,
  }));
  writeTorchArchive(
    file,
    stateDictPickle(entries),
    specs.map((s, i): [string, () => Uint8Array] => [
      String(i),
      () => {
        const t = make(s.name);
        try {
          if (t.dtype !== s.dtype || t.shape.join() !== s.shape.join())
            throw new Error(`torchSave: ${s.name} is ${t.dtype} [${t.shape}], not ${s.dtype} [${s.shape}]`);
          return tensorBytes(t);
        } finally {
          t.dispose();
        }
      },
    ]),
  );
}
