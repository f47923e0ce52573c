/**
 * Weight files opened for streaming: a `TensorFile` lists every tensor's name, dtype and shape from the file's
 * header (nothing is read yet) and copies one tensor, or a run of its rows, into a tensor the caller owns
 * (a model's parameter, for instance), converting the dtype on the way. The copy goes through one reused
 * 16 MiB buffer, so loading a checkpoint never holds a second copy of a tensor, let alone of the file.
 * Implemented for safetensors (here) and PyTorch zip checkpoints (pytorch-bin.ts).
 */
import * as fs from 'node:fs';
import { UserError } from '../util/errors.js';
import { noGrad } from './autograd.js';
import { fromBytes } from './creation.js';
import { BYTES_PER_ELEMENT, type DType } from './dtype.js';
import { readSafetensorsHeader } from './safetensors.js';
import type { Tensor } from './tensor.js';

export interface StoredTensor {
  dtype: DType;
  shape: number[];
}

export interface TensorFile {
  readonly file: string;
  readonly entries: ReadonlyMap<string, StoredTensor>;
  /**
   * Copies tensor `name` into `target` (contiguous, as many elements; any dtype: floating values are
   * converted as Tensor.copy_ converts them). With `rows = [start, count]` only those rows of the first
   * dimension are copied (a split of a fused tensor).
   */
  readInto(name: string, target: Tensor, rows?: [number, number]): void;
  close(): void;
}

/** Bytes copied per step: the only buffer a load allocates besides the tensors themselves. */
export const COPY_CHUNK_BYTES = 16 * 1024 * 1024;
let scratch: Buffer | null = null;

/**
 * Copies `byteLength` bytes of `dtype` elements into `target`, chunk by chunk: `read(buf, at)` fills `buf` with
 * the bytes at `at` (relative to the first).
 */
export function copyChunked(
  target: Tensor,
  dtype: DType,
  byteLength: number,
  read: (buf: Uint8Array, at: number) => void,
): void {
  const es = BYTES_PER_ELEMENT[dtype];
  if (target.numel * es !== byteLength)
    throw new Error(`copyChunked: ${byteLength} bytes of ${dtype} for a tensor of ${target.numel} elements`);
  if (!target.isContiguous()) throw new Error('copyChunked: the target is not contiguous');
  if (byteLength === 0) return;
  scratch ??= Buffer.allocUnsafeSlow(COPY_CHUNK_BYTES);
  const buf = scratch;
  noGrad(() => {
    const flat = target.view([-1]);
    try {
      for (let at = 0; at < byteLength; at += COPY_CHUNK_BYTES) {
        const n = Math.min(COPY_CHUNK_BYTES, byteLength - at);
        const bytes = buf.subarray(0, n);
        read(bytes, at);
        if (dtype === 'bool') for (let i = 0; i < n; i++) bytes[i] = bytes[i] === 0 ? 0 : 1;
        const src = fromBytes(bytes, [n / es], dtype);
        const dst = flat.narrow(0, at / es, n / es);
        try {
          dst.copy_(src);
        } finally {
          src.dispose();
          dst.dispose();
        }
      }
    } finally {
      flat.dispose();
    }
  });
}

/** Elements per row of the first dimension, and the rows range checked. */
export function rowRange(
  file: string,
  name: string,
  shape: readonly number[],
  rows: [number, number] | undefined,
): { first: number; elements: number } {
  const perRow = shape.slice(1).reduce((a, d) => a * d, 1);
  const total = shape.length === 0 ? 1 : shape[0]!;
  if (rows === undefined) return { first: 0, elements: perRow * total };
  const [start, count] = rows;
  if (shape.length === 0 || start < 0 || count < 0 || start + count > total)
    throw new UserError(`${file}: tensor ${name} has no rows [${start}, ${start + count})`);
  return { first: start * perRow, elements: count * perRow };
}

/** Opens a safetensors file for streaming reads (its header is validated whole first). */
export function openSafetensorsFile(file: string): TensorFile {
  const header = readSafetensorsHeader(file);
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw new UserError(`${file}: cannot open safetensors file (${(e as Error).message})`);
  }
  const entries = new Map<string, StoredTensor>();
  for (const [n, e] of header.entries) entries.set(n, { dtype: e.dtype, shape: e.shape });
  return {
    file,
    entries,
    readInto(name, target, rows) {
      const e = header.entries.get(name);
      if (e === undefined) throw new UserError(`${file}: no tensor ${JSON.stringify(name)}`);
      const es = BYTES_PER_ELEMENT[e.dtype];
      const { first, elements } = rowRange(file, name, e.shape, rows);
      const base = header.dataOffset + e.begin + first * es;
      copyChunked(target, e.dtype, elements * es, (buf, at) => {
        let done = 0;
        while (done < buf.length) {
          const n = fs.readSync(fd, buf, done, buf.length - done, base + at + done);
          if (n === 0)
            throw new UserError(`${file}: unexpected end of file (was it truncated while reading?)`);
          done += n;
        }
      });
    },
    close() {
      fs.closeSync(fd);
    },
  };
}
