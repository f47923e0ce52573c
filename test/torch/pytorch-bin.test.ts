/**
 * PyTorch zip checkpoints through the restricted unpickler: files written by torch.save itself (fixtures from
 * scripts/fixtures/torch_bin.py: every dtype, tied and offset views, a transposed tensor, a Parameter, pickle
 * protocols 2 and 4) read back bit-exactly; files written by test/helpers/torch-save.ts (the layout of
 * torch.save, ZIP64 records included) likewise; and hostile files are refused, each with its own error:
 * a GLOBAL of os.system (written by PyTorch and by hand), REDUCE of a builtin, a storage offset past the
 * data, absurd sizes, zip bombs (an entry inflating past its declared size, overlapping entries, a pickle
 * declaring gigabytes), a corrupt storage. Nothing is ever executed; the live tensor count stays flat.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import * as torch from '../../src/torch/index.js';
import { openPytorchFile } from '../../src/torch/pytorch-bin.js';
import { UserError } from '../../src/util/errors.js';
import {
  OP,
  PickleWriter,
  ZipWriter,
  pickleTensor,
  stateDictPickle,
  torchSave,
  writeTorchArchive,
  type TensorSpec,
} from '../helpers/torch-save.js';

torch.setNumThreads(1);
const FIXTURES = path.join(import.meta.dirname, '..', 'fixtures', 'torch-bin');
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'corl-torchbin-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
let n = 0;
const tmp = (name = 'x.bin') => path.join(root, `${n++}-${name}`);

interface Expected {
  dtype: string;
  shape: number[];
  values: (number | string)[];
}
const expected = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'expected.json'), 'utf8')) as Record<
  string,
  Expected
>;

/** Every tensor of a file, read into fresh tensors (the caller disposes them). */
function readAll(file: string): Map<string, torch.Tensor> {
  const f = openPytorchFile(file);
  const out = new Map<string, torch.Tensor>();
  try {
    for (const [name, e] of f.entries) {
      const t = torch.empty(e.shape, { dtype: e.dtype });
      out.set(name, t);
      f.readInto(name, t);
    }
  } finally {
    f.close();
  }
  return out;
}

const values = (t: torch.Tensor): (number | string)[] =>
  t.dtype === 'int64' ? Array.from(t.data() as BigInt64Array, String) : t.toArray();

for (const proto of [2, 4]) {
  test(`torch.save's own file (pickle protocol ${proto}) reads back every tensor exactly`, () => {
    const before = torch.liveTensors();
    torch.tidy(() => {
      const got = readAll(path.join(FIXTURES, `state-p${proto}.bin`));
      assert.deepEqual([...got.keys()].sort(), Object.keys(expected).sort());
      for (const [name, t] of got) {
        const e = expected[name]!;
        assert.equal(t.dtype, e.dtype, name);
        assert.deepEqual(t.shape, e.shape, name);
        assert.deepEqual(values(t), e.values, name);
      }
    });
    assert.equal(torch.liveTensors(), before);
  });
}

test('rows of a tensor can be read alone (a fused qkv split), into a tensor of another dtype', () => {
  torch.tidy(() => {
    const f = openPytorchFile(path.join(FIXTURES, 'state-p2.bin'));
    try {
      // w = arange(12).reshape(3, 4) / 8; rows 1..2, as bf16
      const t = torch.empty([2, 4], { dtype: 'bfloat16' });
      f.readInto('w', t, [1, 2]);
      assert.deepEqual(
        t.toArray(),
        [4, 5, 6, 7, 8, 9, 10, 11].map((v) => v / 8),
      );
      // the transposed (strided) tensor too: w.t() rows 2..3
      const s = torch.empty([2, 3]);
      f.readInto('transposed', s, [2, 2]);
      assert.deepEqual(
        s.toArray(),
        [2, 6, 10, 3, 7, 11].map((v) => v / 8),
      );
      assert.throws(() => f.readInto('w', torch.empty([2, 4]), [2, 2]), /no rows \[2, 4\)/);
    } finally {
      f.close();
    }
  });
});

test('a file written like torch.save by the test writer reads back exactly', () => {
  torch.tidy(() => {
    const file = tmp();
    const g = new torch.Generator(3);
    const made = new Map<string, torch.Tensor>();
    const specs = [
      { name: 'a.weight', dtype: 'bfloat16' as const, shape: [5, 7] },
      { name: 'b', dtype: 'float32' as const, shape: [3] },
      { name: 'ids', dtype: 'int64' as const, shape: [4] },
    ];
    torchSave(file, specs, (name) => {
      const s = specs.find((x) => x.name === name)!;
      const t =
        s.dtype === 'int64'
          ? torch.arange(0, 4, 1, { dtype: 'int64' })
          : torch.randn(s.shape, { generator: g }).to(s.dtype);
      made.set(name, t.clone().keep());
      return t;
    });
    const got = readAll(file);
    for (const [name, t] of made) {
      assert.deepEqual(values(got.get(name)!), values(t), name);
      t.dispose();
    }
  });
});

test('ZIP64: a storage past 4 GiB (a sparse file) and the 64-bit end records are read', () => {
  const file = tmp();
  const z = new ZipWriter(file);
  z.add(
    'archive/data.pkl',
    stateDictPickle([{ name: 'x', key: '0', dtype: 'float32', numel: 2, shape: [2] }]),
  );
  z.add('archive/data/0', Buffer.from(new Float32Array([1.5, -2]).buffer), { at: 2 ** 32 + 4096 });
  z.finish();
  assert.ok(fs.statSync(file).size > 2 ** 32);
  torch.tidy(() => assert.deepEqual(readAll(file).get('x')!.toArray(), [1.5, -2]));
  fs.rmSync(file);
});

// ---- hostile files ------------------------------------------------------------------------------------------

function rejects(file: string, pattern: RegExp): void {
  const before = torch.liveTensors();
  assert.throws(
    () => torch.tidy(() => readAll(file)),
    (e: Error) => {
      assert.ok(e instanceof UserError, `not a UserError: ${e.stack}`);
      assert.match(e.message, pattern);
      assert.ok(!e.message.includes('\n'), 'one line');
      assert.ok(e.message.startsWith(file), 'names the file');
      return true;
    },
  );
  assert.equal(torch.liveTensors(), before);
}

/** An archive holding `pickle` and one float storage "0" of 4 elements. */
function archive(pickle: Uint8Array, storage: Uint8Array = Buffer.alloc(16)): string {
  const file = tmp();
  writeTorchArchive(file, pickle, [['0', storage]]);
  return file;
}

test('a pickle that calls os.system (written by torch.save) is refused, naming it; nothing runs', () => {
  fs.rmSync('/tmp/corl-pwned', { force: true });
  rejects(path.join(FIXTURES, 'evil.bin'), /refusing to load: the pickle calls posix\.system /);
  assert.ok(!fs.existsSync('/tmp/corl-pwned'));
});

test('a GLOBAL of os.system is refused, in every opcode that names a global', () => {
  const call = (w: PickleWriter) => w.str('echo hi').op(OP.TUPLE1).op(OP.REDUCE).op(OP.STOP).bytes();
  rejects(archive(call(new PickleWriter().proto(2).global('os', 'system'))), /the pickle calls os\.system /);
  // protocol 4's STACK_GLOBAL
  const sg = new PickleWriter().proto(4).str('os').str('system').op(OP.STACK_GLOBAL);
  rejects(archive(call(sg)), /the pickle calls os\.system /);
  // protocol 0's INST
  const inst = new PickleWriter()
    .op(OP.MARK)
    .str('x')
    .op(0x69)
    .raw(Buffer.from('subprocess\nPopen\n'))
    .op(OP.STOP);
  rejects(archive(inst.bytes()), /the pickle calls subprocess\.Popen /);
  // the global hidden as a state dict value
  const w = new PickleWriter()
    .proto(2)
    .op(OP.EMPTY_DICT)
    .str('w')
    .global('posix', 'system')
    .op(OP.SETITEM)
    .op(OP.STOP);
  rejects(archive(w.bytes()), /the pickle calls posix\.system /);
});

test('REDUCE of a builtin is refused; so are allowed names that are not callables, and EXT opcodes', () => {
  const reduce = (w: PickleWriter) => w.str('1+1').op(OP.TUPLE1).op(OP.REDUCE).op(OP.STOP).bytes();
  rejects(
    archive(reduce(new PickleWriter().proto(2).global('builtins', 'eval'))),
    /the pickle calls builtins\.eval /,
  );
  rejects(
    archive(reduce(new PickleWriter().proto(2).global('__builtin__', 'getattr'))),
    /calls __builtin__\.getattr /,
  );
  // torch.FloatStorage is allowed as a storage type, but a state dict never calls it
  rejects(
    archive(reduce(new PickleWriter().proto(2).global('torch', 'FloatStorage'))),
    /the pickle calls torch\.FloatStorage, which a state dict never calls/,
  );
  // a REDUCE whose callable is data
  rejects(
    archive(reduce(new PickleWriter().proto(2).str('os.system'))),
    /the pickle calls "os\.system", which is not a function/,
  );
  rejects(
    archive(new PickleWriter().proto(2).op(OP.EXT1).raw([1]).op(OP.STOP).bytes()),
    /extension registry/,
  );
  // BUILD on a tensor (setstate of an arbitrary object)
  const b = new PickleWriter().proto(2);
  pickleTensor(b, { name: 'x', key: '0', dtype: 'float32', numel: 4, shape: [4] });
  rejects(archive(b.op(OP.EMPTY_DICT).op(OP.BUILD).op(OP.STOP).bytes()), /sets the state of a tensor/);
});

test('malformed pickles are UserErrors: truncated, no STOP, unknown opcode, bad memo', () => {
  const good = stateDictPickle([{ name: 'x', key: '0', dtype: 'float32', numel: 4, shape: [4] }]);
  rejects(archive(good.subarray(0, good.length - 10)), /malformed pickle at byte \d+/);
  rejects(archive(Uint8Array.from([OP.PROTO, 2, OP.NONE])), /no STOP opcode/);
  rejects(archive(Uint8Array.from([OP.PROTO, 2, 0xff])), /unknown opcode 0xff/);
  rejects(archive(Uint8Array.from([OP.PROTO, 2, OP.BINGET, 7, OP.STOP])), /memo 7 is not set/);
  rejects(
    archive(new PickleWriter().proto(2).str('just a string').op(OP.STOP).bytes()),
    /holds "just a string", not a state dict/,
  );
});

const one = (t: Partial<TensorSpec>): Uint8Array =>
  stateDictPickle([{ name: 'w', key: '0', dtype: 'float32', numel: 4, shape: [4], ...t }]);

test('a storage offset past the data is refused, naming the tensor and the storage', () => {
  rejects(
    archive(one({ offset: 100, shape: [2] })),
    /tensor "w": storage offset 100, size \[2\] .* past the end of its storage 0 \(4 elements\)/,
  );
  // a stride that walks off the end
  rejects(archive(one({ shape: [2, 2], stride: [3, 1] })), /reach element 4, past the end of its storage 0/);
  // an empty tensor may sit at the end, not beyond it
  rejects(archive(one({ offset: 9, shape: [0] })), /storage offset 9 is past the end of its storage 0/);
});

test('absurd sizes are refused before anything is allocated', () => {
  // sizes whose product passes 2^53
  rejects(
    archive(one({ shape: [2n ** 40n, 2n ** 40n], stride: [0, 0] })),
    /tensor "w": size \[1099511627776, 1099511627776\] is absurd/,
  );
  // a storage that claims more elements than the file holds
  rejects(
    archive(one({ numel: 2n ** 50n })),
    /storage 0: 1125899906842624 elements of torch\.FloatStorage is more than the file holds \(absurd size\)/,
  );
  // a storage whose entry is shorter than its declared size
  rejects(
    archive(one({ numel: 3 })),
    /storage 0: torch\.FloatStorage of 3 elements needs 12 bytes but its entry holds 16/,
  );
  // a negative size (a LONG1 of -1)
  rejects(archive(one({ shape: [-1] })), /a tensor's size holds -1 \(absurd\)/);
  // a storage the archive lacks
  rejects(archive(one({ key: '7' })), /tensor "w": its storage 7 is not in the archive/);
});

test('zip bombs are refused: inflating past the declared size, overlapping entries, a huge pickle', () => {
  // data.pkl deflated: 40 MB of zeros declared as its real deflated length's worth
  const bomb = tmp();
  const z = new ZipWriter(bomb);
  const pkl = Buffer.concat([one({}), Buffer.alloc(40_000_000)]);
  z.add('archive/data.pkl', pkl, { deflate: true, declaredSize: 1000 });
  z.add('archive/data/0', Buffer.alloc(16));
  z.finish();
  rejects(bomb, /entry "archive\/data\.pkl" inflates past its declared 1000 bytes \(a zip bomb\?\)/);
  // the overlapping-file zip bomb: data.pkl's local record lies inside the storage entry's data
  const overlap = tmp();
  const pklName = Buffer.from('archive/data.pkl');
  const pkl0 = one({});
  const lh = Buffer.alloc(30);
  lh.writeUInt32LE(0x04034b50, 0);
  lh.writeUInt16LE(20, 4);
  lh.writeUInt32LE(zlib.crc32(pkl0), 14);
  lh.writeUInt32LE(pkl0.length, 18);
  lh.writeUInt32LE(pkl0.length, 22);
  lh.writeUInt16LE(pklName.length, 26);
  const o = new ZipWriter(overlap);
  // "archive/data/0": header 30 + 14 name bytes, padded so its data starts at 64; the record sits at 200
  o.add('archive/data/0', Buffer.concat([Buffer.alloc(136), lh, pklName, pkl0]));
  o.alias('archive/data.pkl', 200, pkl0.length, zlib.crc32(pkl0));
  o.finish();
  rejects(overlap, /entries .* overlap \(a zip bomb or a damaged archive\)/);
  // a pickle that declares 300 MB (refused from the directory, before inflating anything)
  const huge = tmp();
  const h = new ZipWriter(huge);
  h.add('archive/data.pkl', Buffer.alloc(1000), { deflate: true, declaredSize: 300_000_000 });
  h.add('archive/data/0', Buffer.alloc(16));
  h.finish();
  rejects(huge, /entry "archive\/data\.pkl" declares 300000000 bytes, more than the 268435456 allowed/);
});

test('a corrupt storage (a flipped byte) fails its CRC-32 when read; a truncated file is refused', () => {
  const file = archive(one({}), Buffer.from(new Float32Array([1, 2, 3, 4]).buffer));
  const bytes = fs.readFileSync(file);
  const at = bytes.indexOf(Buffer.from(new Float32Array([3]).buffer));
  bytes[at]! ^= 1;
  fs.writeFileSync(file, bytes);
  rejects(file, /tensor w: its storage 0 is corrupt \(CRC-32 mismatch\)/);
  const cut = tmp();
  fs.writeFileSync(cut, bytes.subarray(0, bytes.length - 30));
  rejects(cut, /no end-of-central-directory record/);
});

test('not a zip, and the legacy torch.save format, are refused with their own errors', () => {
  const junk = tmp();
  fs.writeFileSync(junk, 'hello, not a checkpoint');
  rejects(junk, /not a PyTorch checkpoint \(not a ZIP archive\)/);
  const legacy = tmp();
  fs.writeFileSync(legacy, Buffer.concat([Buffer.from([0x80, 0x02, 0x8a, 0x0a]), Buffer.alloc(20)]));
  rejects(legacy, /a legacy torch\.save file/);
  // a pickle whose CRC-32 does not match its bytes
  const bad = tmp();
  const z = new ZipWriter(bad);
  z.add('archive/data.pkl', Buffer.from('not deflate at all'), {
    deflate: false,
    crc: zlib.crc32(Buffer.from('x')),
  });
  z.finish();
  rejects(bad, /entry "archive\/data\.pkl" is corrupt \(CRC-32 mismatch\)/);
});
