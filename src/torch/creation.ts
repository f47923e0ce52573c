/** Tensor creation: from JS data, constants, ranges. Random creation lives in random.ts. */
import { native } from './native.js';
import { type DType, dtypeCode } from './dtype.js';
import { Tensor, type Scalar } from './tensor.js';

export interface TensorOptions {
  dtype?: DType;
  device?: string;
}

type Nested = number | boolean | Nested[];

function inferShape(data: Nested): number[] {
  const shape: number[] = [];
  let x: Nested = data;
  while (Array.isArray(x)) {
    shape.push(x.length);
    x = x[0] as Nested;
  }
  return shape;
}

function firstLeaf(data: Nested): number | boolean | undefined {
  let x: Nested | undefined = data;
  while (Array.isArray(x)) x = x[0];
  return x;
}

function flattenNested(data: Nested, out: number[]): void {
  if (Array.isArray(data)) for (const d of data) flattenNested(d, out);
  else out.push(typeof data === 'boolean' ? (data ? 1 : 0) : data);
}

function packed(values: ArrayLike<number>, dtype: DType): ArrayBufferView {
  switch (dtype) {
    case 'float32':
      return Float32Array.from(values);
    case 'float64':
      return Float64Array.from(values);
    case 'int64':
      return BigInt64Array.from(Array.from(values, (v) => BigInt(Math.trunc(v))));
    case 'int32':
      return Int32Array.from(values);
    case 'uint8':
      return Uint8Array.from(values);
    case 'bool':
      return Uint8Array.from(values, (v) => (v ? 1 : 0));
    case 'float16':
    case 'bfloat16':
      throw new Error(`tensor(): build ${dtype} tensors from float32 data with .to('${dtype}')`);
  }
}

/**
 * A tensor from JS data: nested arrays (shape inferred) or a flat array / typed array with `shape`.
 * The dtype defaults to float32 for numbers, bool for booleans, int64 for BigInt64Array, and to the natural
 * dtype of a Float64Array (float64), Int32Array (int32) or Uint8Array (uint8).
 */
export function tensor(
  data: Nested | ArrayLike<number> | BigInt64Array,
  opts: TensorOptions & { shape?: readonly number[] } = {},
): Tensor {
  let dtype = opts.dtype;
  let view: ArrayBufferView;
  let shape: readonly number[];
  if (data instanceof BigInt64Array) {
    dtype ??= 'int64';
    shape = opts.shape ?? [data.length];
    view = dtype === 'int64' ? data : packed(Array.from(data, Number), dtype);
  } else if (ArrayBuffer.isView(data)) {
    const ta = data as unknown as ArrayLike<number>;
    dtype ??=
      data instanceof Float64Array
        ? 'float64'
        : data instanceof Int32Array
          ? 'int32'
          : data instanceof Uint8Array
            ? 'uint8'
            : 'float32';
    shape = opts.shape ?? [ta.length];
    const natural =
      (dtype === 'float32' && data instanceof Float32Array) ||
      (dtype === 'float64' && data instanceof Float64Array) ||
      (dtype === 'int32' && data instanceof Int32Array) ||
      (dtype === 'uint8' && data instanceof Uint8Array);
    view = natural ? (data as ArrayBufferView) : packed(ta, dtype);
  } else {
    const flat: number[] = [];
    flattenNested(data as Nested, flat);
    const first = firstLeaf(data as Nested);
    dtype ??= typeof first === 'boolean' ? 'bool' : 'float32';
    shape = opts.shape ?? inferShape(data as Nested);
    view = packed(flat, dtype);
  }
  return new Tensor(native.fromBuffer(view, shape, dtypeCode(dtype), opts.device ?? null));
}

/** A tensor from raw little-endian bytes (used by safetensors loading). */
export function fromBytes(
  bytes: Uint8Array,
  shape: readonly number[],
  dtype: DType,
  device?: string,
): Tensor {
  return new Tensor(native.fromBuffer(bytes, shape, dtypeCode(dtype), device ?? null));
}

export function scalarTensor(v: Scalar, opts: TensorOptions = {}): Tensor {
  return full([], v, opts);
}

export function zeros(shape: readonly number[], opts: TensorOptions = {}): Tensor {
  return new Tensor(native.zeros(shape, code(opts), opts.device ?? null));
}
export function ones(shape: readonly number[], opts: TensorOptions = {}): Tensor {
  return new Tensor(native.ones(shape, code(opts), opts.device ?? null));
}
export function empty(shape: readonly number[], opts: TensorOptions = {}): Tensor {
  return new Tensor(native.empty(shape, code(opts), opts.device ?? null));
}
export function full(shape: readonly number[], value: Scalar, opts: TensorOptions = {}): Tensor {
  return new Tensor(native.full(shape, value, code(opts), opts.device ?? null));
}
export function zerosLike(t: Tensor): Tensor {
  return new Tensor(native.zerosLike(t.handle));
}
export function onesLike(t: Tensor): Tensor {
  return new Tensor(native.onesLike(t.handle));
}
export function fullLike(t: Tensor, value: Scalar): Tensor {
  return new Tensor(native.fullLike(t.handle, value));
}

/** [start, end) with step; int64 unless a dtype is given. */
export function arange(start: number, end?: number, step = 1, opts: TensorOptions = {}): Tensor {
  if (end === undefined) {
    end = start;
    start = 0;
  }
  return new Tensor(native.arange(start, end, step, dtypeCode(opts.dtype ?? 'int64'), opts.device ?? null));
}

function code(opts: TensorOptions): number | null {
  return opts.dtype === undefined ? null : dtypeCode(opts.dtype);
}
