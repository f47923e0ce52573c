/** Element types, with the codes shared with native/src/handle.h. */
export type DType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'uint8' | 'bool';

const CODES: Record<DType, number> = {
  float32: 0,
  float64: 1,
  float16: 2,
  bfloat16: 3,
  int64: 4,
  int32: 5,
  uint8: 6,
  bool: 7,
};
const NAMES: DType[] = ['float32', 'float64', 'float16', 'bfloat16', 'int64', 'int32', 'uint8', 'bool'];

/** Whether a string names a dtype (else, where a dtype or a device is taken, it names a device). */
export function isDType(s: string): s is DType {
  return (NAMES as string[]).includes(s);
}

export const BYTES_PER_ELEMENT: Record<DType, number> = {
  float32: 4,
  float64: 8,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  uint8: 1,
  bool: 1,
};

export function dtypeCode(d: DType): number {
  const c = CODES[d];
  if (c === undefined) throw new Error(`unknown dtype ${String(d)}`);
  return c;
}

export function dtypeFromCode(code: number): DType {
  const d = NAMES[code];
  if (d === undefined) throw new Error(`unknown dtype code ${code}`);
  return d;
}

export function isFloating(d: DType): boolean {
  return d === 'float32' || d === 'float64' || d === 'float16' || d === 'bfloat16';
}

/** The typed array that holds a dtype's raw elements (f16/bf16 as raw 16-bit patterns). */
export type TypedArrayFor =
  Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array | Uint16Array;

export function viewAs(d: DType, buf: ArrayBuffer): TypedArrayFor {
  switch (d) {
    case 'float32':
      return new Float32Array(buf);
    case 'float64':
      return new Float64Array(buf);
    case 'int64':
      return new BigInt64Array(buf);
    case 'int32':
      return new Int32Array(buf);
    case 'float16':
    case 'bfloat16':
      return new Uint16Array(buf);
    case 'uint8':
    case 'bool':
      return new Uint8Array(buf);
  }
}
