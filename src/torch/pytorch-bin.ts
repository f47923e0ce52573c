/**
 * PyTorch checkpoints as `torch.save` writes them since 1.6 (`pytorch_model.bin`): a ZIP archive holding
 * `PREFIX/data.pkl` (the pickled state dict, tensors as references to storages), `PREFIX/data/KEY` (each
 * storage's raw little-endian bytes, stored uncompressed) and `PREFIX/byteorder`.
 *
 * The pickle goes through corl's restricted unpickler (pickle.ts: an allow-list of what a state dict needs;
 * nothing is executed). Every tensor is then checked against its storage before anything is read: the
 * storage's entry must exist and hold exactly its declared bytes, and each tensor's offset, sizes and strides
 * must stay inside it. Data is copied from the file chunk by chunk straight into the caller's tensor
 * (tensor-file.ts), so a 4 GB checkpoint is never held twice. The legacy (pre-1.6) format is refused.
 */
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { UserError } from '../util/errors.js';
import { noGrad } from './autograd.js';
import { fromBytes } from './creation.js';
import { BYTES_PER_ELEMENT } from './dtype.js';
import { PyDict, TensorRef, describe, unpickle } from './pickle.js';
import { copyChunked, rowRange, type StoredTensor, type TensorFile } from './tensor-file.js';
import { ZipReader, type ZipEntry } from './zip.js';

/** The pickle of a state dict is about 100 bytes per tensor; this is far above any real one. */
export const MAX_PICKLE_BYTES = 256 * 1024 * 1024;

interface Planned {
  ref: TensorRef;
  entry: ZipEntry;
  contiguous: boolean;
  numel: number;
}

/** Opens a PyTorch zip checkpoint; every tensor is validated before this returns. */
export function openPytorchFile(file: string): TensorFile {
  checkMagic(file);
  const zip = ZipReader.open(file);
  try {
    const plans = plan(file, zip);
    const entries = new Map<string, StoredTensor>();
    for (const [n, p] of plans) entries.set(n, { dtype: p.ref.dtype, shape: p.ref.shape });
    return {
      file,
      entries,
      readInto: (name, target, rows) => readInto(file, zip, plans, name, target, rows),
      close: () => zip.close(),
    };
  } catch (e) {
    zip.close();
    throw e;
  }
}

function checkMagic(file: string): void {
  const head = Buffer.alloc(4);
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw new UserError(`${file}: cannot open (${(e as Error).message})`);
  }
  let n: number;
  try {
    n = fs.readSync(fd, head, 0, 4, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (n === 4 && head.readUInt32LE(0) === 0x04034b50) return;
  if (n >= 2 && head[0] === 0x80 && head[1]! <= 5)
    throw new UserError(
      `${file}: a legacy torch.save file (PyTorch before 1.6, a bare pickle), which corl does not read; ` +
        're-save it with a newer PyTorch, or convert it to safetensors',
    );
  throw new UserError(`${file}: not a PyTorch checkpoint (not a ZIP archive)`);
}

function plan(file: string, zip: ZipReader): Map<string, Planned> {
  const fail = (msg: string): never => {
    throw new UserError(`${file}: ${msg}`);
  };
  const pkls = [...zip.entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pkls.length !== 1)
    fail(pkls.length === 0 ? 'no PREFIX/data.pkl: not a torch.save archive' : 'more than one data.pkl');
  const prefix = pkls[0]!.slice(0, -'data.pkl'.length);
  const order = zip.entries.has(`${prefix}byteorder`)
    ? zip.read(`${prefix}byteorder`, 64).toString('latin1')
    : 'little';
  if (order !== 'little')
    fail(`stored ${JSON.stringify(order.slice(0, 20))}-endian; corl reads little-endian only`);
  const root = unpickle(zip.read(pkls[0]!, MAX_PICKLE_BYTES), { source: file });
  if (!(root instanceof PyDict)) fail(`holds ${describe(root)}, not a state dict (name -> tensor)`);
  const out = new Map<string, Planned>();
  for (const [key, value] of (root as PyDict).map) {
    if (typeof key !== 'string') fail(`state dict key ${describe(key)} is not a name`);
    const name = key as string;
    const t = `tensor ${JSON.stringify(name.slice(0, 200))}`;
    if (!(value instanceof TensorRef))
      fail(`${t} is ${describe(value)}, not a tensor (a training checkpoint rather than a state dict?)`);
    const ref = value as TensorRef;
    const s = ref.storage;
    const entry =
      zip.entries.get(`${prefix}data/${s.key}`) ?? fail(`${t}: its storage ${s.key} is not in the archive`);
    const es = BYTES_PER_ELEMENT[ref.dtype];
    const storageBytes = s.dtype === 'untyped' ? s.numel : s.numel * BYTES_PER_ELEMENT[s.dtype];
    if (!Number.isSafeInteger(storageBytes) || storageBytes > zip.size)
      fail(
        `storage ${s.key}: ${s.numel} elements of ${s.typeName} is more than the file holds (absurd size)`,
      );
    if (entry.size !== storageBytes)
      fail(
        `storage ${s.key}: ${s.typeName} of ${s.numel} elements needs ${storageBytes} bytes but its entry holds ${entry.size}`,
      );
    if (storageBytes % es !== 0)
      fail(`storage ${s.key}: ${storageBytes} bytes is not a whole number of ${ref.dtype}`);
    const storageElems = storageBytes / es;
    let numel = 1;
    for (const d of ref.shape) {
      numel *= d;
      if (numel > Number.MAX_SAFE_INTEGER) fail(`${t}: size [${ref.shape.join(', ')}] is absurd`);
    }
    if (numel > 0) {
      let last = ref.offset;
      ref.shape.forEach((d, i) => (last += (d - 1) * ref.stride[i]!));
      if (!Number.isSafeInteger(last) || last >= storageElems)
        fail(
          `${t}: storage offset ${ref.offset}, size [${ref.shape.join(', ')}] and stride [${ref.stride.join(', ')}] ` +
            `reach element ${last}, past the end of its storage ${s.key} (${storageElems} elements)`,
        );
    } else if (ref.offset > storageElems) {
      fail(
        `${t}: storage offset ${ref.offset} is past the end of its storage ${s.key} (${storageElems} elements)`,
      );
    }
    let expect = 1;
    let contiguous = true;
    for (let i = ref.shape.length - 1; i >= 0; i--) {
      if (ref.shape[i] !== 1 && ref.stride[i] !== expect) contiguous = false;
      expect *= ref.shape[i]!;
    }
    out.set(name, { ref, entry, contiguous, numel });
  }
  return out;
}

function readInto(
  file: string,
  zip: ZipReader,
  plans: Map<string, Planned>,
  name: string,
  target: import('./tensor.js').Tensor,
  rows: [number, number] | undefined,
): void {
  const p = plans.get(name);
  if (p === undefined) throw new UserError(`${file}: no tensor ${JSON.stringify(name)}`);
  const { ref, entry } = p;
  const es = BYTES_PER_ELEMENT[ref.dtype];
  const { first, elements } = rowRange(file, name, ref.shape, rows);
  if (p.contiguous) {
    const start = (ref.offset + first) * es;
    const length = elements * es;
    // a read of the whole entry checks its CRC-32 on the way
    const whole = start === 0 && length === entry.size && entry.method === 0;
    let crc = 0;
    copyChunked(target, ref.dtype, length, (buf, at) => {
      zip.readRange(entry, start + at, buf);
      if (whole) crc = zlib.crc32(buf, crc);
    });
    if (whole && crc >>> 0 !== entry.crc32 >>> 0)
      throw new UserError(
        `${file}: tensor ${name}: its storage ${ref.storage.key} is corrupt (CRC-32 mismatch)`,
      );
    return;
  }
  // strided (a transposed or sliced tensor was saved): gather its elements in row-major order
  let last = ref.offset;
  ref.shape.forEach((d, i) => (last += (d - 1) * ref.stride[i]!));
  const span = Buffer.alloc((last - ref.offset + 1) * es);
  zip.readRange(entry, ref.offset * es, span);
  const out = Buffer.alloc(elements * es);
  const idx = new Array<number>(ref.shape.length).fill(0);
  const rowElems = ref.shape.slice(1).reduce((a, d) => a * d, 1);
  if (rowElems > 0) idx[0] = first / rowElems;
  for (let k = 0; k < elements; k++) {
    let src = 0;
    for (let i = 0; i < idx.length; i++) src += idx[i]! * ref.stride[i]!;
    span.copy(out, k * es, src * es, src * es + es);
    for (let i = idx.length - 1; i >= 0; i--) {
      if (++idx[i]! < ref.shape[i]!) break;
      idx[i] = 0;
    }
  }
  noGrad(() => {
    const src = fromBytes(out, [elements], ref.dtype);
    const flat = target.view([-1]);
    try {
      if (flat.numel !== elements)
        throw new Error(`readInto: ${elements} elements for a tensor of ${flat.numel}`);
      flat.copy_(src);
    } finally {
      src.dispose();
      flat.dispose();
    }
  });
}
