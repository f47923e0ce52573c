import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as torch from '../../src/torch/index.js';
import type { Tensor, DType } from '../../src/torch/index.js';
import {
  loadSafetensors,
  loadSharded,
  readSafetensorsHeader,
  saveSafetensors,
  saveSharded,
} from '../../src/torch/safetensors.js';
import { BYTES_PER_ELEMENT } from '../../src/torch/dtype.js';
import { UserError } from '../../src/util/errors.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'corl-safetensors-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let counter = 0;
const tmpFile = (): string => path.join(root, `t${counter++}.safetensors`);
const tmpDir = (): string => path.join(root, `d${counter++}`);

const bytesOf = (v: ArrayBufferView): Uint8Array => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
const rawBytes = (t: Tensor): Uint8Array => bytesOf(t.data());
const fromView = (v: ArrayBufferView, shape: number[], dtype: DType): Tensor =>
  torch.fromBytes(bytesOf(v), shape, dtype);

/** A safetensors file built by hand: u64 header length, header text padded to 8 bytes, data. */
function handFile(header: string | Uint8Array, data: Uint8Array = new Uint8Array(0), pad = true): Buffer {
  let h = typeof header === 'string' ? Buffer.from(header, 'utf8') : Buffer.from(header);
  if (pad && h.length % 8 !== 0) h = Buffer.concat([h, Buffer.alloc(8 - (h.length % 8), ' ')]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return Buffer.concat([len, h, data]);
}
function writeFile(bytes: Uint8Array): string {
  const f = tmpFile();
  fs.writeFileSync(f, bytes);
  return f;
}

function every(): Map<string, Tensor> {
  const f32 = new Uint32Array([
    0x7fc00000, // quiet NaN
    0x7f800001, // signalling NaN
    0xffc12345, // negative NaN with payload
    0x7f800000, // +Inf
    0xff800000, // -Inf
    0x80000000, // -0
    0x00000000,
    0x00000001, // smallest subnormal
    0x3f800000,
    0xc0490fdb,
    0x7f7fffff,
    0x807fffff,
  ]);
  const f64 = new BigUint64Array([
    0x7ff8000000000000n,
    0x7ff0000000000001n,
    0xfff8000000000123n,
    0x7ff0000000000000n,
    0xfff0000000000000n,
    0x8000000000000000n,
    0x0000000000000001n,
    0x400921fb54442d18n,
  ]);
  const all16 = Uint16Array.from({ length: 65536 }, (_, i) => i);
  const i64 = new BigInt64Array([2n ** 63n - 1n, -(2n ** 63n), 2n ** 53n + 1n, -(2n ** 53n) - 1n, -1n, 0n]);
  const i32 = new Int32Array([2147483647, -2147483648, -1, 0, 123456789, 7]);
  const u8 = Uint8Array.from({ length: 256 }, (_, i) => i);
  return new Map([
    ['f32', fromView(f32, [3, 4], 'float32')],
    ['f64', fromView(f64, [2, 2, 2], 'float64')],
    ['f16', fromView(all16, [256, 256], 'float16')],
    ['bf16', fromView(all16, [65536], 'bfloat16')],
    ['i64', fromView(i64, [2, 3], 'int64')],
    ['i32', fromView(i32, [3, 2], 'int32')],
    ['u8', fromView(u8, [16, 16], 'uint8')],
    ['bool', fromView(new Uint8Array([1, 0, 1, 1, 0, 0]), [2, 3], 'bool')],
  ]);
}

function assertSameTensors(a: Map<string, Tensor>, b: Map<string, Tensor>): void {
  assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort());
  for (const [name, t] of a) {
    const u = b.get(name)!;
    assert.equal(u.dtype, t.dtype, name);
    assert.deepEqual(u.shape, t.shape, name);
    assert.deepEqual(rawBytes(u), rawBytes(t), name);
  }
}

describe('round trips', () => {
  test('every dtype round-trips bit-exactly (NaN payloads, Inf, -0, all f16/bf16 patterns, i64 beyond 2^53)', () => {
    const src = every();
    const f = tmpFile();
    saveSafetensors(f, src);
    const { tensors, metadata } = loadSafetensors(f);
    assertSameTensors(src, tensors);
    assert.deepEqual(metadata, {});
    const i64 = tensors.get('i64')!.data() as BigInt64Array;
    assert.equal(i64[0], 2n ** 63n - 1n);
    assert.equal(i64[2], 2n ** 53n + 1n);
    torch.dispose([src, tensors]);
  });

  test('scalars and zero-size tensors', () => {
    const src = new Map<string, Tensor>([
      ['scalar', torch.scalarTensor(3.5)],
      ['scalar_i64', fromView(new BigInt64Array([-(2n ** 60n)]), [], 'int64')],
      ['empty', torch.zeros([0])],
      ['empty3d', torch.zeros([3, 0, 2], { dtype: 'int64' })],
      ['empty_bool', torch.zeros([0], { dtype: 'bool' })],
    ]);
    const f = tmpFile();
    saveSafetensors(f, src);
    const header = readSafetensorsHeader(f);
    assert.deepEqual(header.entries.get('scalar')!.shape, []);
    assert.equal(header.entries.get('empty3d')!.end - header.entries.get('empty3d')!.begin, 0);
    const { tensors } = loadSafetensors(f);
    assertSameTensors(src, tensors);
    assert.equal(tensors.get('scalar')!.item(), 3.5);
    assert.deepEqual(tensors.get('empty3d')!.shape, [3, 0, 2]);
    torch.dispose([src, tensors]);
  });

  test('metadata round-trips, including unicode and integer-like keys', () => {
    const meta = { format: 'pt', note: 'ünïcode ✓ "quoted"\n', '0': 'integer-like key', empty: '' };
    const f = tmpFile();
    const t = torch.ones([2]);
    saveSafetensors(f, { w: t }, meta);
    const { tensors, metadata } = loadSafetensors(f);
    assert.deepEqual(metadata, meta);
    assert.deepEqual(readSafetensorsHeader(f).metadata, meta);
    torch.dispose([t, tensors]);
  });

  test('save -> load -> save is byte-identical, and insertion order does not matter', () => {
    const src = every();
    const meta = { b: '2', a: '1' };
    const f1 = tmpFile();
    saveSafetensors(f1, src, meta);
    const { tensors, metadata } = loadSafetensors(f1);
    const f2 = tmpFile();
    saveSafetensors(f2, tensors, metadata);
    assert.deepEqual(fs.readFileSync(f2), fs.readFileSync(f1));
    const reversed = Object.fromEntries([...src].reverse());
    const f3 = tmpFile();
    saveSafetensors(f3, reversed, { a: '1', b: '2' });
    assert.deepEqual(fs.readFileSync(f3), fs.readFileSync(f1));
    torch.dispose([src, tensors]);
  });

  test('writes tensors by descending alignment then name, 8-byte aligned header, packed aligned data', () => {
    const src = every();
    const f = tmpFile();
    saveSafetensors(f, src);
    const header = readSafetensorsHeader(f);
    assert.equal(header.dataOffset % 8, 0);
    const order = [...header.entries].sort(([, a], [, b]) => a.begin - b.begin);
    assert.deepEqual(
      order.map(([n]) => n),
      ['i64', 'f64', 'f32', 'i32', 'bf16', 'f16', 'u8', 'bool'],
    );
    let offset = 0;
    for (const [name, e] of order) {
      assert.equal(e.begin, offset, `${name} packed`);
      assert.equal(e.begin % BYTES_PER_ELEMENT[e.dtype], 0, `${name} aligned`);
      offset = e.end;
    }
    assert.equal(fs.statSync(f).size, header.dataOffset + offset);
    torch.dispose(src);
  });

  test('non-contiguous tensors are written in row-major order', () => {
    const base = torch.arange(6, undefined, 1, { dtype: 'float32' }).reshape([2, 3]);
    const tr = base.t();
    const f = tmpFile();
    saveSafetensors(f, { tr });
    const { tensors } = loadSafetensors(f);
    assert.deepEqual(tensors.get('tr')!.shape, [3, 2]);
    assert.deepEqual(tensors.get('tr')!.toArray(), [0, 3, 1, 4, 2, 5]);
    torch.dispose([base, tr, tensors]);
  });

  test('names filter loads only the selected tensors', () => {
    const src = every();
    const f = tmpFile();
    saveSafetensors(f, src);
    const { tensors } = loadSafetensors(f, { names: (n) => n.startsWith('f') });
    assert.deepEqual([...tensors.keys()].sort(), ['f16', 'f32', 'f64']);
    torch.dispose([src, tensors]);
  });

  test('dtype option converts floating tensors (bf16 -> f32) and leaves integer tensors alone', () => {
    const f32 = torch.tensor([1.5, -2, 3.140625, 65280, 1e-3]);
    const bf16 = f32.to('bfloat16');
    const f16 = f32.to('float16');
    const ids = torch.tensor(new BigInt64Array([5n, 2n ** 60n]));
    const f = tmpFile();
    saveSafetensors(f, { bf16, f16, ids });
    const { tensors } = loadSafetensors(f, { dtype: 'float32' });
    assert.equal(tensors.get('bf16')!.dtype, 'float32');
    assert.equal(tensors.get('f16')!.dtype, 'float32');
    assert.equal(tensors.get('ids')!.dtype, 'int64');
    assert.deepEqual(tensors.get('bf16')!.toArray(), bf16.toArray());
    assert.deepEqual(tensors.get('f16')!.toArray(), f16.toArray());
    assert.deepEqual(Array.from(tensors.get('bf16')!.toArray().slice(0, 4)), [1.5, -2, 3.140625, 65280]);
    assert.deepEqual(rawBytes(tensors.get('ids')!), rawBytes(ids));
    assert.throws(() => loadSafetensors(f, { dtype: 'int32' }), /not floating/);
    torch.dispose([f32, bf16, f16, ids, tensors]);
  });

  test('saving is atomic: a failed save leaves the old file and no temporary file', () => {
    const dir = tmpDir();
    fs.mkdirSync(dir);
    const f = path.join(dir, 'model.safetensors');
    const a = torch.ones([3]);
    saveSafetensors(f, { a });
    const before = fs.readFileSync(f);
    // fails while writing the data, after the temporary file was opened
    const b = torch.zeros([2]);
    b.data = () => {
      throw new Error('device lost');
    };
    assert.throws(() => saveSafetensors(f, { a, b }), /device lost/);
    assert.deepEqual(fs.readFileSync(f), before);
    assert.deepEqual(fs.readdirSync(dir), ['model.safetensors']);
    // fails before writing (a disposed tensor)
    b.dispose();
    assert.throws(() => saveSafetensors(f, { a, b }), /dispose/);
    assert.deepEqual(fs.readFileSync(f), before);
    assert.deepEqual(fs.readdirSync(dir), ['model.safetensors']);
    a.dispose();
  });
});

describe('format compatibility (files built by hand)', () => {
  const f32Bytes = (xs: number[]): Uint8Array => bytesOf(new Float32Array(xs));

  test('reference layout: one F32 tensor, header padded to 8 bytes', () => {
    const json = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
    const bytes = handFile(json, f32Bytes([0, 1, 2, 3, 4, 5]));
    assert.equal(bytes.readBigUInt64LE(0), 64n); // 62 bytes of JSON + 2 spaces
    const f = writeFile(bytes);
    const { tensors } = loadSafetensors(f);
    const t = tensors.get('attn.0')!;
    assert.equal(t.dtype, 'float32');
    assert.deepEqual(t.shape, [1, 2, 3]);
    assert.deepEqual(t.toArray(), [0, 1, 2, 3, 4, 5]);
    // and our writer produces exactly these bytes
    const g = tmpFile();
    saveSafetensors(g, tensors);
    assert.deepEqual(fs.readFileSync(g), bytes);
    torch.dispose(tensors);
  });

  test('mixed dtypes and metadata: writer output equals the reference ordering byte for byte', () => {
    const json =
      '{"__metadata__":{"format":"pt"},' +
      '"b":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},' +
      '"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},' +
      '"c":{"dtype":"U8","shape":[3],"data_offsets":[16,19]}}';
    const data = Buffer.concat([
      bytesOf(new BigInt64Array([-7n])),
      f32Bytes([1.5, -2]),
      Buffer.from([1, 2, 255]),
    ]);
    const bytes = handFile(json, data);
    const f = writeFile(bytes);
    const { tensors, metadata } = loadSafetensors(f);
    assert.deepEqual(metadata, { format: 'pt' });
    assert.deepEqual(tensors.get('a')!.toArray(), [1.5, -2]);
    assert.deepEqual(tensors.get('b')!.data(), new BigInt64Array([-7n]));
    assert.deepEqual(tensors.get('c')!.toArray(), [1, 2, 255]);
    const g = tmpFile();
    saveSafetensors(g, tensors, metadata);
    assert.deepEqual(fs.readFileSync(g), bytes);
    torch.dispose(tensors);
  });

  test('empty file with and without metadata', () => {
    const f = tmpFile();
    saveSafetensors(f, {});
    assert.deepEqual(fs.readFileSync(f), handFile('{}'));
    assert.deepEqual(fs.readFileSync(f).subarray(8).toString(), '{}      ');
    saveSafetensors(f, new Map(), { framework: 'pt' });
    assert.deepEqual(fs.readFileSync(f), handFile('{"__metadata__":{"framework":"pt"}}'));
    assert.equal(loadSafetensors(f).tensors.size, 0);
  });

  test('tolerates unpadded headers, whitespace, any tensor order, gaps, and extra entry keys', () => {
    const json = `{
      "z": {"data_offsets": [12, 16], "shape": [2], "dtype": "BF16", "extra": true},
      "y": {"dtype": "BOOL", "shape": [2, 2], "data_offsets": [0, 4]}
    }`;
    const data = Buffer.from([
      1, 0, 2, 1, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xc0, 0x3f, 0x80, 0xbf,
    ]);
    const f = writeFile(handFile(json, data, false));
    const { tensors } = loadSafetensors(f);
    assert.deepEqual(tensors.get('z')!.toArray(), [1.5, -1]);
    // bool bytes other than 0/1 are normalized to 1
    assert.deepEqual(Array.from(rawBytes(tensors.get('y')!)), [1, 0, 1, 1]);
    torch.dispose(tensors);
  });

  test('readSafetensorsHeader reports entries, metadata and the data offset', () => {
    const json = '{"__metadata__":{"k":"v"},"w":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]}}';
    const f = writeFile(handFile(json, new Uint8Array(8)));
    const h = readSafetensorsHeader(f);
    assert.deepEqual(h.metadata, { k: 'v' });
    assert.deepEqual(h.entries.get('w'), { dtype: 'float16', shape: [2, 2], begin: 0, end: 8 });
    assert.equal(h.dataOffset, 8 + Math.ceil(json.length / 8) * 8);
  });
});

describe('sharded checkpoints', () => {
  function fiveTensors(): Map<string, Tensor> {
    return new Map(
      Array.from({ length: 5 }, (_, i) => [`layer.${i}.w`, torch.full([10], i + 0.25)] as [string, Tensor]),
    );
  }

  test('saveSharded splits by maxShardBytes and loadSharded merges them back', () => {
    const src = fiveTensors();
    const dir = tmpDir();
    const files = saveSharded(dir, src, { maxShardBytes: 100, metadata: { format: 'pt' } });
    assert.deepEqual(files, [
      'model-00001-of-00003.safetensors',
      'model-00002-of-00003.safetensors',
      'model-00003-of-00003.safetensors',
      'model.safetensors.index.json',
    ]);
    assert.deepEqual(fs.readdirSync(dir).sort(), [...files].sort());
    const index = JSON.parse(fs.readFileSync(path.join(dir, 'model.safetensors.index.json'), 'utf8')) as {
      metadata: { total_size: number };
      weight_map: Record<string, string>;
    };
    assert.equal(index.metadata.total_size, 200);
    assert.equal(index.weight_map['layer.0.w'], 'model-00001-of-00003.safetensors');
    assert.equal(index.weight_map['layer.2.w'], 'model-00002-of-00003.safetensors');
    assert.equal(index.weight_map['layer.4.w'], 'model-00003-of-00003.safetensors');
    assert.deepEqual(loadSafetensors(path.join(dir, files[0]!)).metadata, { format: 'pt' });

    const loaded = loadSharded(dir);
    assertSameTensors(src, loaded);
    const some = loadSharded(dir, { names: (n) => n.startsWith('layer.3'), dtype: 'float64' });
    assert.deepEqual([...some.keys()], ['layer.3.w']);
    assert.equal(some.get('layer.3.w')!.dtype, 'float64');
    torch.dispose([src, loaded, some]);
  });

  test('a checkpoint that fits is one model.safetensors, and a stale index is removed', () => {
    const src = fiveTensors();
    const dir = tmpDir();
    saveSharded(dir, src, { maxShardBytes: 100 });
    const files = saveSharded(dir, src, { maxShardBytes: 1000 });
    assert.deepEqual(files, ['model.safetensors']);
    assert.ok(!fs.existsSync(path.join(dir, 'model.safetensors.index.json')));
    const loaded = loadSharded(dir);
    assertSameTensors(src, loaded);
    torch.dispose([src, loaded]);
  });

  test('a tensor larger than maxShardBytes gets a shard of its own', () => {
    const src = new Map([
      ['a', torch.zeros([100])],
      ['b', torch.zeros([1])],
    ]);
    const dir = tmpDir();
    assert.equal(saveSharded(dir, src, { maxShardBytes: 10 }).length, 3);
    const loaded = loadSharded(dir);
    assertSameTensors(src, loaded);
    torch.dispose([src, loaded]);
  });
});

describe('live tensor accounting', () => {
  test('loading then disposing returns the live count to its start', () => {
    const src = every();
    const f = tmpFile();
    saveSafetensors(f, src);
    const start = torch.liveTensors();
    const { tensors } = loadSafetensors(f, { dtype: 'float32' });
    assert.equal(torch.liveTensors(), start + tensors.size);
    torch.dispose(tensors);
    assert.equal(torch.liveTensors(), start);
    // inside tidy the loaded tensors belong to the scope
    torch.tidy(() => {
      loadSafetensors(f);
    });
    assert.equal(torch.liveTensors(), start);
    const kept = torch.tidy(() => loadSafetensors(f).tensors);
    assert.equal(torch.liveTensors(), start + kept.size);
    torch.dispose(kept);
    assert.equal(torch.liveTensors(), start);
    torch.dispose(src);
  });

  test('a load that fails validation creates no tensors', () => {
    const start = torch.liveTensors();
    const json =
      '{"ok":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"bad":{"dtype":"F32","shape":[2],"data_offsets":[4,8]}}';
    const f = writeFile(handFile(json, new Uint8Array(8)));
    assert.throws(() => loadSafetensors(f), UserError);
    assert.equal(torch.liveTensors(), start);
  });
});

describe('hostile or malformed files are rejected with a UserError naming the file', () => {
  function rejects(file: string, re: RegExp): void {
    const start = torch.liveTensors();
    for (const load of [() => readSafetensorsHeader(file), () => loadSafetensors(file)]) {
      assert.throws(load, (e: unknown) => {
        assert.ok(e instanceof UserError, `expected a UserError, got ${String(e)}`);
        assert.ok(e.message.startsWith(`${file}: `), e.message);
        assert.match(e.message, re);
        return true;
      });
    }
    assert.equal(torch.liveTensors(), start);
  }
  const entry = (body: string, data = new Uint8Array(16)): string =>
    writeFile(handFile(`{"w":${body}}`, data));

  test('missing file', () => {
    rejects(path.join(root, 'nope.safetensors'), /cannot open safetensors file \(ENOENT/);
  });
  test('a directory', () => {
    rejects(root, /not a regular file/);
  });
  test('file shorter than 8 bytes', () => {
    rejects(
      writeFile(new Uint8Array(5)),
      /not a safetensors file \(5 bytes, shorter than the 8-byte header length\)/,
    );
  });
  test('absurd header length (> 100 MB)', () => {
    const b = Buffer.alloc(16);
    b.writeBigUInt64LE(2n ** 40n);
    rejects(writeFile(b), /header length 1099511627776 is larger than the 100000000-byte limit/);
    b.writeBigUInt64LE(2n ** 64n - 1n);
    rejects(writeFile(b), /header length 18446744073709551615 is larger than the 100000000-byte limit/);
  });
  test('header length past the end of the file', () => {
    const b = handFile('{}');
    b.writeBigUInt64LE(1000n);
    rejects(writeFile(b), /header length 1000 runs past the end of the file \(16 bytes\)/);
  });
  test('header not valid UTF-8', () => {
    rejects(writeFile(handFile(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]))), /header is not valid UTF-8/);
  });
  test('header not valid JSON', () => {
    rejects(writeFile(handFile('{"w": ')), /header is not valid JSON/);
    rejects(writeFile(handFile('')), /header is not valid JSON/);
  });
  test('header not a JSON object', () => {
    for (const h of ['[1, 2]', '"str"', 'null', '42'])
      rejects(writeFile(handFile(h)), /header is not a JSON object/);
  });
  test('__metadata__ not an object of strings', () => {
    rejects(writeFile(handFile('{"__metadata__":{"a":1}}')), /"__metadata__" is not an object of strings/);
    rejects(writeFile(handFile('{"__metadata__":["a"]}')), /"__metadata__" is not an object of strings/);
  });
  test('entry not an object', () => {
    rejects(entry('5'), /tensor "w": entry is not an object/);
    rejects(entry('null'), /tensor "w": entry is not an object/);
  });
  test('missing or non-string dtype', () => {
    rejects(entry('{"shape":[1],"data_offsets":[0,4]}'), /tensor "w": "dtype" is missing or not a string/);
    rejects(
      entry('{"dtype":4,"shape":[1],"data_offsets":[0,4]}'),
      /tensor "w": "dtype" is missing or not a string/,
    );
  });
  test('unknown dtype', () => {
    rejects(
      entry('{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}'),
      /tensor "w": unsupported dtype "F8_E4M3"/,
    );
    rejects(entry('{"dtype":"toString","shape":[1],"data_offsets":[0,1]}'), /unsupported dtype "toString"/);
  });
  test('missing shape, negative or non-integer dims', () => {
    const re = /tensor "w": "shape" is missing or not an array of non-negative integers/;
    rejects(entry('{"dtype":"U8","data_offsets":[0,1]}'), re);
    rejects(entry('{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}'), re);
    rejects(entry('{"dtype":"U8","shape":[1.5],"data_offsets":[0,1]}'), re);
    rejects(entry('{"dtype":"U8","shape":["1"],"data_offsets":[0,1]}'), re);
    rejects(entry('{"dtype":"U8","shape":[1e300],"data_offsets":[0,1]}'), re);
    rejects(entry('{"dtype":"U8","shape":3,"data_offsets":[0,1]}'), re);
  });
  test('bad data_offsets', () => {
    const re = /tensor "w": "data_offsets" is missing or not \[begin, end\] integers with 0 <= begin <= end/;
    rejects(entry('{"dtype":"U8","shape":[1]}'), re);
    rejects(entry('{"dtype":"U8","shape":[1],"data_offsets":[0]}'), re);
    rejects(entry('{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}'), re);
    rejects(entry('{"dtype":"U8","shape":[1],"data_offsets":[2,1]}'), re);
    rejects(entry('{"dtype":"U8","shape":[1],"data_offsets":[-1,0]}'), re);
    rejects(entry('{"dtype":"U8","shape":[1],"data_offsets":[0,0.5]}'), re);
    rejects(entry('{"dtype":"U8","shape":[1],"data_offsets":{"0":0,"1":1}}'), re);
  });
  test('data end past the end of the file', () => {
    rejects(
      entry('{"dtype":"F32","shape":[100],"data_offsets":[0,400]}'),
      /tensor "w": data_offsets end 400 is past the end of the data \(16 bytes\)/,
    );
  });
  test('byte length != numel * element size', () => {
    rejects(
      entry('{"dtype":"F32","shape":[3],"data_offsets":[0,8]}'),
      /tensor "w": data_offsets span 8 bytes but F32 \[3\] needs 12/,
    );
    rejects(entry('{"dtype":"I64","shape":[],"data_offsets":[0,4]}'), /span 4 bytes but I64 \[\] needs 8/);
  });
  test('absurd declared sizes (numel overflow, more data than the file)', () => {
    const re = /tensor "w": shape \[.*\] declares more data than the file holds/;
    rejects(entry(`{"dtype":"F32","shape":[${2 ** 40},${2 ** 40}],"data_offsets":[0,16]}`), re);
    rejects(entry(`{"dtype":"F64","shape":[${Number.MAX_SAFE_INTEGER}],"data_offsets":[0,8]}`), re);
    rejects(entry('{"dtype":"U8","shape":[2,2,2,2,2],"data_offsets":[0,16]}'), re);
  });
  test('overlapping tensor ranges', () => {
    const json =
      '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}';
    rejects(writeFile(handFile(json, new Uint8Array(16))), /tensors "a" \[0, 8\) and "b" \[4, 12\) overlap/);
    const same =
      '{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}}';
    rejects(
      writeFile(handFile(same, new Uint8Array(4))),
      /tensors "(a|b)" \[0, 4\) and "(a|b)" \[0, 4\) overlap/,
    );
  });
  test('hostile tensor names are quoted and truncated in messages', () => {
    const name = 'x\n'.repeat(500);
    const f = writeFile(handFile(`{${JSON.stringify(name)}:{"dtype":"Q"}}`));
    assert.throws(
      () => readSafetensorsHeader(f),
      (e: Error) =>
        !e.message.includes('\n') && e.message.length < 600 && /unsupported dtype "Q"/.test(e.message),
    );
  });

  describe('sharded index errors', () => {
    function shardedDir(): string {
      const dir = tmpDir();
      const src = new Map([
        ['a', torch.ones([4])],
        ['b', torch.ones([4])],
      ]);
      saveSharded(dir, src, { maxShardBytes: 16 });
      torch.dispose(src);
      return dir;
    }
    const indexOf = (dir: string): string => path.join(dir, 'model.safetensors.index.json');
    function rejectsDir(dir: string, re: RegExp, prefix = indexOf(dir)): void {
      const start = torch.liveTensors();
      assert.throws(
        () => loadSharded(dir),
        (e: unknown) => e instanceof UserError && e.message.startsWith(`${prefix}: `) && re.test(e.message),
      );
      assert.equal(torch.liveTensors(), start);
    }

    test('index not valid JSON', () => {
      const dir = shardedDir();
      fs.writeFileSync(indexOf(dir), '{"weight_map": ');
      rejectsDir(dir, /not valid JSON/);
    });
    test('index without a weight_map object', () => {
      const dir = shardedDir();
      fs.writeFileSync(indexOf(dir), '{"metadata": {}}');
      rejectsDir(dir, /"weight_map" is missing or not an object/);
      fs.writeFileSync(indexOf(dir), '[]');
      rejectsDir(dir, /"weight_map" is missing or not an object/);
    });
    test('shard name outside the directory', () => {
      const dir = shardedDir();
      fs.writeFileSync(
        indexOf(dir),
        JSON.stringify({ weight_map: { a: '../model-00001-of-00002.safetensors' } }),
      );
      rejectsDir(dir, /tensor "a" maps to "..\/model-00001-of-00002.safetensors", not a shard file name/);
      fs.writeFileSync(indexOf(dir), JSON.stringify({ weight_map: { a: 3 } }));
      rejectsDir(dir, /tensor "a" maps to 3, not a shard file name/);
    });
    test('missing shard file', () => {
      const dir = shardedDir();
      fs.rmSync(path.join(dir, 'model-00002-of-00002.safetensors'));
      rejectsDir(dir, /shard file model-00002-of-00002.safetensors does not exist/);
    });
    test('tensor listed in the index but absent from its shard', () => {
      const dir = shardedDir();
      const index = JSON.parse(fs.readFileSync(indexOf(dir), 'utf8')) as {
        weight_map: Record<string, string>;
      };
      index.weight_map['c'] = 'model-00001-of-00002.safetensors';
      fs.writeFileSync(indexOf(dir), JSON.stringify(index));
      rejectsDir(dir, /tensor "c" is not in its shard model-00001-of-00002.safetensors/);
    });
    test('a corrupt shard is reported with its own path', () => {
      const dir = shardedDir();
      const shard = path.join(dir, 'model-00002-of-00002.safetensors');
      fs.writeFileSync(shard, new Uint8Array(3));
      rejectsDir(dir, /shorter than the 8-byte header length/, shard);
    });
    test('a directory with no checkpoint', () => {
      const dir = tmpDir();
      fs.mkdirSync(dir);
      rejectsDir(dir, /neither model.safetensors.index.json nor model.safetensors found/, dir);
    });
  });
});

describe('found by fuzzing (test/fuzz/safetensors.test.ts)', () => {
  function rejectsOneLine(file: string, re: RegExp): void {
    const start = torch.liveTensors();
    for (const load of [() => readSafetensorsHeader(file), () => loadSafetensors(file)])
      assert.throws(load, (e: unknown) => {
        assert.ok(e instanceof UserError, `expected a UserError, got ${String(e)}`);
        assert.match(e.message, re);
        assert.doesNotMatch(e.message, /[\n\r]/, 'one line');
        return true;
      });
    assert.equal(torch.liveTensors(), start);
  }

  test('a JSON error quoting a newline of the header is still one line', () => {
    // JSON.parse's message quotes the text around the error, here a raw newline
    rejectsOneLine(writeFile(handFile('\u0080\n\u{10000}')), /header is not valid JSON \(.*\\u000a/);
  });

  test('a zero-size tensor whose other dimensions overflow is a UserError, not a libtorch error', () => {
    // libtorch's storage size check overflows on 2^40 * 2^40 before it reaches the 0
    for (const shape of [
      [2 ** 40, 2 ** 40, 0],
      [0, 2 ** 40, 2 ** 40],
    ])
      rejectsOneLine(
        writeFile(handFile(JSON.stringify({ a: { dtype: 'F32', shape, data_offsets: [0, 0] } }))),
        /tensor "a": shape \[.*\] is too large/,
      );
    // zero-size tensors with sane shapes still load
    const f = writeFile(
      handFile(JSON.stringify({ a: { dtype: 'F32', shape: [65536, 0], data_offsets: [0, 0] } })),
    );
    const { tensors } = loadSafetensors(f);
    assert.deepEqual(tensors.get('a')!.shape, [65536, 0]);
    for (const t of tensors.values()) t.dispose();
  });
});
