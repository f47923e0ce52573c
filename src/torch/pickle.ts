/**
 * A restricted unpickler for PyTorch state dicts: a pickle-opcode interpreter that builds plain data and never
 * executes anything from the file.
 *
 * A pickle is a program for a small stack machine; Python's unpickler imports any `module.name` a GLOBAL
 * opcode names and calls it on REDUCE, which is how a hostile `pytorch_model.bin` runs `os.system`. This
 * interpreter knows the opcodes of protocols 0-5 and resolves GLOBALs against an allow-list of exactly what a
 * state dict needs:
 *  - `collections.OrderedDict` (the state dict and its `_metadata`),
 *  - `torch._utils._rebuild_tensor` / `_rebuild_tensor_v2` / `_rebuild_tensor_v3`, `_rebuild_parameter`,
 *    `_rebuild_parameter_with_state`, `torch._tensor._rebuild_from_type_v2` (tensors and parameters),
 *  - the storage types (`torch.FloatStorage`, `torch.BFloat16Storage`, `torch.HalfStorage`, ...,
 *    `torch.UntypedStorage`), the dtypes (`torch.bfloat16`, ...), `torch.Size`, `torch.Tensor`,
 *    `torch.nn.parameter.Parameter`, and `_codecs.encode` (how protocol 2 writes bytes).
 * Each allowed callable is implemented here as a pure function over the decoded arguments; no other global is
 * ever resolved: a GLOBAL naming anything else ends the load with "refusing to load: the pickle calls X".
 * Tensors come out as references (storage key, dtype, offset, size, stride); their bytes are read later by
 * the caller (pytorch-bin.ts), which validates them against the storages in the archive.
 */
import { UserError } from '../util/errors.js';
import type { DType } from './dtype.js';

export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}
export class PyList {
  constructor(readonly items: PyValue[] = []) {}
}
export class PySet {
  constructor(readonly items: PyValue[] = []) {}
}
export class PyBytes {
  constructor(readonly bytes: Uint8Array) {}
}
/** A dict or OrderedDict; keys are Python scalars (str, int, float, bool, None). */
export class PyDict {
  readonly map = new Map<PyKey, PyValue>();
  /** What a BUILD set on it (OrderedDict's `_metadata`), kept as data. */
  state: PyValue = null;
}
/** An allow-listed global (a class, dtype or function), never a resolved Python object. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualname(): string {
    return `${this.module}.${this.name}`;
  }
}
/** A storage named by a persistent id: `('storage', torch.XStorage, key, location, numel)`. */
export class StorageRef {
  constructor(
    readonly key: string,
    /** Element type; 'untyped' for torch.UntypedStorage (numel counts bytes). */
    readonly dtype: DType | 'untyped',
    /** The storage type's name, for error messages. */
    readonly typeName: string,
    readonly numel: number,
  ) {}
}
/** A tensor as `_rebuild_tensor_v2` describes it. Nothing is read yet. */
export class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly dtype: DType,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}
export type PyKey = string | number | bigint | boolean | null;
export type PyValue = PyKey | PyTuple | PyList | PySet | PyBytes | PyDict | PyGlobal | StorageRef | TensorRef;

/** torch storage type names -> element type (null: a dtype corl has no tensors of). */
const STORAGE_TYPES: Record<string, DType | 'untyped' | null> = {
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
  ShortStorage: null,
  CharStorage: null,
  ComplexFloatStorage: null,
  ComplexDoubleStorage: null,
  UntypedStorage: 'untyped',
};
/** torch dtype globals -> element type (null: no corl tensors of it). */
const DTYPES: Record<string, DType | null> = {
  float32: 'float32',
  float: 'float32',
  float64: 'float64',
  double: 'float64',
  float16: 'float16',
  half: 'float16',
  bfloat16: 'bfloat16',
  int64: 'int64',
  long: 'int64',
  int32: 'int32',
  int: 'int32',
  uint8: 'uint8',
  bool: 'bool',
  int16: null,
  short: null,
  int8: null,
  complex64: null,
  complex128: null,
};

/** Every global a state dict may name. Anything else is refused at the GLOBAL opcode. */
function isAllowed(module: string, name: string): boolean {
  switch (module) {
    case 'collections':
      return name === 'OrderedDict';
    case 'torch._utils':
      return [
        '_rebuild_tensor',
        '_rebuild_tensor_v2',
        '_rebuild_tensor_v3',
        '_rebuild_parameter',
        '_rebuild_parameter_with_state',
      ].includes(name);
    case 'torch._tensor':
      return name === '_rebuild_from_type_v2';
    case 'torch':
      return name in STORAGE_TYPES || name in DTYPES || name === 'Size' || name === 'Tensor';
    case 'torch.storage':
      return name === 'UntypedStorage';
    case 'torch.nn.parameter':
      return name === 'Parameter';
    case '_codecs':
      return name === 'encode';
    default:
      return false;
  }
}

export interface UnpickleOptions {
  /** Names the file in errors. */
  source: string;
}

const MARK = Symbol('mark');

/** Runs a pickle and returns the value it builds. Any refused global or malformed byte is a UserError. */
export function unpickle(data: Uint8Array, opts: UnpickleOptions): PyValue {
  return new Machine(data, opts.source).run();
}

class Machine {
  private pos = 0;
  private stack: (PyValue | typeof MARK)[] = [];
  private readonly memo = new Map<number, PyValue>();
  private readonly storages = new Map<string, StorageRef>();
  private readonly view: DataView;

  constructor(
    private readonly data: Uint8Array,
    private readonly source: string,
  ) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  private fail(msg: string): never {
    throw new UserError(`${this.source}: ${msg}`);
  }
  private bad(msg: string): never {
    this.fail(`malformed pickle at byte ${this.pos}: ${msg}`);
  }

  // ---- reading the byte stream ----
  private need(n: number): number {
    if (n < 0 || this.pos + n > this.data.length) this.bad('truncated');
    const at = this.pos;
    this.pos += n;
    return at;
  }
  private u8(): number {
    return this.data[this.need(1)]!;
  }
  private u16(): number {
    return this.view.getUint16(this.need(2), true);
  }
  private i32(): number {
    return this.view.getInt32(this.need(4), true);
  }
  private u32(): number {
    return this.view.getUint32(this.need(4), true);
  }
  private u64(): number {
    const v = this.view.getBigUint64(this.need(8), true);
    if (v > BigInt(this.data.length)) this.bad(`length ${v} runs past the pickle`);
    return Number(v);
  }
  private bytes(n: number): Uint8Array {
    const at = this.need(n);
    return this.data.subarray(at, at + n);
  }
  private line(): string {
    const end = this.data.indexOf(0x0a, this.pos);
    if (end < 0) this.bad('unterminated line');
    const s = Buffer.from(this.data.subarray(this.pos, end)).toString('latin1');
    this.pos = end + 1;
    return s;
  }
  private utf8(n: number): string {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(this.bytes(n));
    } catch {
      this.bad('a string is not valid UTF-8');
    }
  }

  // ---- the stack ----
  private push(v: PyValue): void {
    this.stack.push(v);
  }
  private pop(): PyValue {
    const v = this.stack.pop();
    if (v === undefined) this.bad('stack underflow');
    if (v === MARK) this.bad('unexpected mark');
    return v;
  }
  private top(): PyValue {
    const v = this.stack[this.stack.length - 1];
    if (v === undefined) this.bad('stack underflow');
    if (v === MARK) this.bad('unexpected mark');
    return v;
  }
  /** Pops everything above the topmost mark, and the mark. */
  private popMark(): PyValue[] {
    let i = this.stack.length - 1;
    while (i >= 0 && this.stack[i] !== MARK) i--;
    if (i < 0) this.bad('no mark');
    const items = this.stack.slice(i + 1) as PyValue[];
    this.stack.length = i;
    return items;
  }
  private key(k: PyValue): PyKey {
    if (k === null || ['string', 'number', 'bigint', 'boolean'].includes(typeof k)) return k as PyKey;
    this.fail(`unsupported dict key (${describe(k)}): a state dict is keyed by names`);
  }
  private setItem(d: PyValue, k: PyValue, v: PyValue): void {
    if (!(d instanceof PyDict)) this.bad(`SETITEM on ${describe(d)}`);
    d.map.set(this.key(k), v);
  }
  private memoGet(i: number): PyValue {
    if (!this.memo.has(i)) this.bad(`memo ${i} is not set`);
    return this.memo.get(i)!;
  }

  run(): PyValue {
    const n = this.data.length;
    while (this.pos < n) {
      const op = this.u8();
      if (op === 0x2e) return this.pop(); // STOP
      if (
        this.opStack(op) ||
        this.opScalar(op) ||
        this.opText(op) ||
        this.opContainer(op) ||
        this.opMemo(op) ||
        this.opCall(op)
      )
        continue;
      this.pos--;
      this.bad(`unknown opcode 0x${op.toString(16).padStart(2, '0')}`);
    }
    this.bad('no STOP opcode');
  }

  /** Protocol, framing and the stack: PROTO, FRAME, MARK, POP, POP_MARK, DUP. */
  private opStack(op: number): boolean {
    switch (op) {
      case 0x80: // PROTO
        if (this.u8() > 5) this.bad('unknown pickle protocol');
        return true;
      case 0x95: // FRAME
        this.u64();
        return true;
      case 0x28: // MARK
        this.stack.push(MARK);
        return true;
      case 0x30: // POP
        if (this.stack.pop() === undefined) this.bad('stack underflow');
        return true;
      case 0x31: // POP_MARK
        this.popMark();
        return true;
      case 0x32: // DUP
        this.push(this.top());
        return true;
      default:
        return false;
    }
  }

  /** None, booleans, integers and floats. */
  private opScalar(op: number): boolean {
    switch (op) {
      case 0x4e: // NONE
        this.push(null);
        return true;
      case 0x88: // NEWTRUE
        this.push(true);
        return true;
      case 0x89: // NEWFALSE
        this.push(false);
        return true;
      case 0x49: {
        // INT (protocol 0; "01"/"00" are True/False)
        const s = this.line();
        if (s === '01' || s === '00') this.push(s === '01');
        else this.push(this.parseInt(s));
        return true;
      }
      case 0x4a: // BININT
        this.push(this.i32());
        return true;
      case 0x4b: // BININT1
        this.push(this.u8());
        return true;
      case 0x4d: // BININT2
        this.push(this.u16());
        return true;
      case 0x4c: // LONG (protocol 0: digits and an L)
        this.push(this.parseInt(this.line().replace(/L$/, '')));
        return true;
      case 0x8a: // LONG1
        this.push(this.long(this.u8()));
        return true;
      case 0x8b: {
        // LONG4
        const len = this.i32();
        if (len < 0) this.bad('negative LONG4 length');
        this.push(this.long(len));
        return true;
      }
      case 0x46: {
        // FLOAT (text)
        const f = Number(this.line());
        if (Number.isNaN(f)) this.bad('bad FLOAT');
        this.push(f);
        return true;
      }
      case 0x47: // BINFLOAT (big-endian)
        this.push(this.view.getFloat64(this.need(8), false));
        return true;
      default:
        return false;
    }
  }

  /** Strings and bytes, every encoding. */
  private opText(op: number): boolean {
    switch (op) {
      case 0x53: {
        // STRING: a quoted Python 2 str literal
        const s = this.line();
        const m = /^(['"])(.*)\1$/.exec(s);
        if (!m) this.bad('bad STRING');
        this.push(m[2]!);
        return true;
      }
      case 0x54: // BINSTRING
        this.push(Buffer.from(this.bytes(this.lengthI32())).toString('latin1'));
        return true;
      case 0x55: // SHORT_BINSTRING
        this.push(Buffer.from(this.bytes(this.u8())).toString('latin1'));
        return true;
      case 0x42: // BINBYTES
        this.push(new PyBytes(this.bytes(this.u32())));
        return true;
      case 0x43: // SHORT_BINBYTES
        this.push(new PyBytes(this.bytes(this.u8())));
        return true;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        this.push(new PyBytes(this.bytes(this.u64())));
        return true;
      case 0x56: // UNICODE (raw-unicode-escape)
        this.push(
          this.line().replace(/\\u([0-9a-fA-F]{4})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))),
        );
        return true;
      case 0x58: // BINUNICODE
        this.push(this.utf8(this.u32()));
        return true;
      case 0x8c: // SHORT_BINUNICODE
        this.push(this.utf8(this.u8()));
        return true;
      case 0x8d: // BINUNICODE8
        this.push(this.utf8(this.u64()));
        return true;
      default:
        return false;
    }
  }

  /** Tuples, lists, dicts and sets. */
  private opContainer(op: number): boolean {
    switch (op) {
      case 0x29: // EMPTY_TUPLE
        this.push(new PyTuple([]));
        return true;
      case 0x74: // TUPLE
        this.push(new PyTuple(this.popMark()));
        return true;
      case 0x85: // TUPLE1
        this.push(new PyTuple([this.pop()]));
        return true;
      case 0x86: {
        // TUPLE2
        const b = this.pop();
        const a = this.pop();
        this.push(new PyTuple([a, b]));
        return true;
      }
      case 0x87: {
        // TUPLE3
        const c = this.pop();
        const b = this.pop();
        const a = this.pop();
        this.push(new PyTuple([a, b, c]));
        return true;
      }
      case 0x5d: // EMPTY_LIST
        this.push(new PyList());
        return true;
      case 0x6c: // LIST
        this.push(new PyList(this.popMark()));
        return true;
      case 0x61: {
        // APPEND
        const v = this.pop();
        const l = this.top();
        if (!(l instanceof PyList)) this.bad(`APPEND to ${describe(l)}`);
        l.items.push(v);
        return true;
      }
      case 0x65: {
        // APPENDS
        const items = this.popMark();
        const l = this.top();
        if (!(l instanceof PyList)) this.bad(`APPENDS to ${describe(l)}`);
        for (const v of items) l.items.push(v);
        return true;
      }
      case 0x7d: // EMPTY_DICT
        this.push(new PyDict());
        return true;
      case 0x64: {
        // DICT
        const items = this.popMark();
        if (items.length % 2 !== 0) this.bad('DICT with an odd number of items');
        const d = new PyDict();
        for (let i = 0; i < items.length; i += 2) this.setItem(d, items[i]!, items[i + 1]!);
        this.push(d);
        return true;
      }
      case 0x73: {
        // SETITEM
        const v = this.pop();
        const k = this.pop();
        this.setItem(this.top(), k, v);
        return true;
      }
      case 0x75: {
        // SETITEMS
        const items = this.popMark();
        if (items.length % 2 !== 0) this.bad('SETITEMS with an odd number of items');
        const d = this.top();
        for (let i = 0; i < items.length; i += 2) this.setItem(d, items[i]!, items[i + 1]!);
        return true;
      }
      case 0x8f: // EMPTY_SET
        this.push(new PySet());
        return true;
      case 0x90: {
        // ADDITEMS
        const items = this.popMark();
        const s = this.top();
        if (!(s instanceof PySet)) this.bad(`ADDITEMS to ${describe(s)}`);
        s.items.push(...items);
        return true;
      }
      case 0x91: // FROZENSET
        this.push(new PySet(this.popMark()));
        return true;
      default:
        return false;
    }
  }

  /** The memo: GET and PUT in all their sizes, MEMOIZE. */
  private opMemo(op: number): boolean {
    switch (op) {
      case 0x67: // GET
        this.push(this.memoGet(this.parseIndex(this.line())));
        return true;
      case 0x68: // BINGET
        this.push(this.memoGet(this.u8()));
        return true;
      case 0x6a: // LONG_BINGET
        this.push(this.memoGet(this.u32()));
        return true;
      case 0x70: // PUT
        this.memo.set(this.parseIndex(this.line()), this.top());
        return true;
      case 0x71: // BINPUT
        this.memo.set(this.u8(), this.top());
        return true;
      case 0x72: // LONG_BINPUT
        this.memo.set(this.u32(), this.top());
        return true;
      case 0x94: // MEMOIZE
        this.memo.set(this.memo.size, this.top());
        return true;
      default:
        return false;
    }
  }

  /** Globals and calls, all through the allow-list (global, call); extension and out-of-band opcodes are refused. */
  private opCall(op: number): boolean {
    switch (op) {
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = this.line();
        const name = this.line();
        this.push(this.global(module, name));
        return true;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = this.pop();
        const module = this.pop();
        if (typeof module !== 'string' || typeof name !== 'string') this.bad('STACK_GLOBAL of non-strings');
        this.push(this.global(module, name));
        return true;
      }
      case 0x52: {
        // REDUCE: callable(*args)
        const args = this.pop();
        const fn = this.pop();
        if (!(args instanceof PyTuple)) this.bad(`REDUCE with ${describe(args)} as arguments`);
        this.push(this.call(fn, args.items));
        return true;
      }
      case 0x81: {
        // NEWOBJ: cls.__new__(cls, *args)
        const args = this.pop();
        const cls = this.pop();
        if (!(args instanceof PyTuple)) this.bad(`NEWOBJ with ${describe(args)} as arguments`);
        this.push(this.call(cls, args.items));
        return true;
      }
      case 0x92: {
        // NEWOBJ_EX
        const kwargs = this.pop();
        const args = this.pop();
        const cls = this.pop();
        if (!(args instanceof PyTuple) || !(kwargs instanceof PyDict) || kwargs.map.size > 0)
          this.bad('NEWOBJ_EX with keyword arguments');
        this.push(this.call(cls, args.items));
        return true;
      }
      case 0x69: {
        // INST "module\nname\n" with the arguments above the mark
        const module = this.line();
        const name = this.line();
        const args = this.popMark();
        this.push(this.call(this.global(module, name), args));
        return true;
      }
      case 0x6f: {
        // OBJ: the class and its arguments above the mark
        const items = this.popMark();
        if (items.length === 0) this.bad('OBJ without a class');
        this.push(this.call(items[0]!, items.slice(1)));
        return true;
      }
      case 0x62: {
        // BUILD: obj.__setstate__(state)
        const state = this.pop();
        const obj = this.top();
        if (obj instanceof PyDict) obj.state = state;
        else
          this.fail(
            `refusing to load: the pickle sets the state of ${describe(obj)}, which a state dict never does`,
          );
        return true;
      }
      case 0x50: // PERSID
        this.push(this.persistent(this.line()));
        return true;
      case 0x51: // BINPERSID
        this.push(this.persistent(this.pop()));
        return true;
      case 0x82:
      case 0x83:
      case 0x84:
        this.fail(
          'refusing to load: the pickle uses the extension registry (EXT opcodes), which a state dict never does',
        );
        return true;
      case 0x97:
      case 0x98:
        this.fail('refusing to load: the pickle uses out-of-band buffers, which a state dict never does');
        return true;
      default:
        return false;
    }
  }

  private lengthI32(): number {
    const n = this.i32();
    if (n < 0) this.bad('negative length');
    return n;
  }
  private parseInt(s: string): number | bigint {
    if (!/^[+-]?\d+$/.test(s)) this.bad(`bad integer ${JSON.stringify(s.slice(0, 40))}`);
    const b = BigInt(s);
    return b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;
  }
  private parseIndex(s: string): number {
    const v = this.parseInt(s);
    if (typeof v !== 'number' || v < 0) this.bad('bad memo index');
    return v;
  }
  /** A little-endian two's-complement integer of n bytes. */
  private long(n: number): number | bigint {
    const b = this.bytes(n);
    if (n === 0) return 0;
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (b[n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  private global(module: string, name: string): PyGlobal {
    if (!isAllowed(module, name))
      this.fail(
        `refusing to load: the pickle calls ${printable(`${module}.${name}`)} ` +
          '(a state dict needs only tensors, storages and OrderedDict; nothing in a checkpoint is run)',
      );
    return new PyGlobal(module, name);
  }

  private persistent(pid: PyValue): StorageRef {
    const items = pid instanceof PyTuple ? pid.items : null;
    if (items === null || items.length !== 5 || items[0] !== 'storage')
      this.fail(
        `malformed pickle: persistent id ${describe(pid)} is not a ('storage', type, key, location, numel) tuple`,
      );
    const [, type, key, , numel] = items as [unknown, PyValue, PyValue, PyValue, PyValue];
    if (!(type instanceof PyGlobal) || !(type.name in STORAGE_TYPES) || !type.module.startsWith('torch'))
      this.fail(`malformed pickle: persistent id names ${describe(type)}, not a storage type`);
    if (typeof key !== 'string' || !/^[\w.-]{1,64}$/.test(key))
      this.fail(`malformed pickle: storage key ${describe(key)} is not a plain name`);
    if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0)
      this.fail(`storage ${key}: element count ${describe(numel)} is absurd`);
    const dtype = STORAGE_TYPES[type.name];
    if (dtype === null || dtype === undefined)
      this.fail(`storage ${key}: unsupported storage type ${type.qualname}`);
    const seen = this.storages.get(key);
    if (seen !== undefined) {
      if (seen.dtype !== dtype || seen.numel !== numel)
        this.fail(`storage ${key} is named twice with different types or sizes`);
      return seen;
    }
    const ref = new StorageRef(key, dtype, type.qualname, numel);
    this.storages.set(key, ref);
    return ref;
  }

  /** The allowed callables, as pure functions of their arguments. */
  private call(fn: PyValue, args: PyValue[]): PyValue {
    if (!(fn instanceof PyGlobal))
      this.fail(
        `refusing to load: the pickle calls ${describe(fn)}, which is not a function a state dict uses`,
      );
    const q = fn.qualname;
    switch (q) {
      case 'collections.OrderedDict': {
        const d = new PyDict();
        if (args.length === 0) return d;
        const pairs = args[0];
        if (args.length === 1 && (pairs instanceof PyList || pairs instanceof PyTuple)) {
          for (const p of pairs.items) {
            if (!(p instanceof PyTuple) || p.items.length !== 2) this.bad('OrderedDict of non-pairs');
            this.setItem(d, p.items[0]!, p.items[1]!);
          }
          return d;
        }
        return this.bad('OrderedDict with unexpected arguments');
      }
      case 'torch._utils._rebuild_tensor':
        if (args.length !== 4) this.bad(`_rebuild_tensor with ${args.length} arguments`);
        return this.tensor(args[0], args[1], args[2], args[3], undefined);
      case 'torch._utils._rebuild_tensor_v2':
        if (args.length < 6 || args.length > 7) this.bad(`_rebuild_tensor_v2 with ${args.length} arguments`);
        return this.tensor(args[0], args[1], args[2], args[3], undefined);
      case 'torch._utils._rebuild_tensor_v3': {
        if (args.length < 7 || args.length > 8) this.bad(`_rebuild_tensor_v3 with ${args.length} arguments`);
        const dt = args[6];
        if (!(dt instanceof PyGlobal) || !(dt.name in DTYPES) || dt.module !== 'torch')
          this.bad(`_rebuild_tensor_v3 with dtype ${describe(dt)}`);
        const dtype = DTYPES[dt.name] ?? this.fail(`unsupported tensor dtype ${dt.qualname}`);
        return this.tensor(args[0], args[1], args[2], args[3], dtype);
      }
      case 'torch._utils._rebuild_parameter':
      case 'torch._utils._rebuild_parameter_with_state': {
        const data = args[0];
        if (!(data instanceof TensorRef)) this.bad(`${fn.name} of ${describe(data)}`);
        return data;
      }
      case 'torch._tensor._rebuild_from_type_v2': {
        // (func, new_type, args, state): func(*args), its type being a plain Tensor or a Parameter
        const [f, type, inner] = args;
        if (
          !(type instanceof PyGlobal) ||
          !['torch.Tensor', 'torch.nn.parameter.Parameter'].includes(type.qualname)
        )
          this.fail(`refusing to load: the pickle rebuilds a tensor of type ${describe(type)}`);
        if (!(inner instanceof PyTuple)) this.bad('_rebuild_from_type_v2 without an argument tuple');
        return this.call(f ?? null, inner.items);
      }
      case 'torch.Size': {
        const t = args[0];
        if (args.length === 0) return new PyTuple([]);
        if (!(t instanceof PyTuple || t instanceof PyList)) this.bad('torch.Size of a non-sequence');
        return new PyTuple([...t.items]);
      }
      case '_codecs.encode': {
        const [s, enc] = args;
        if (typeof s !== 'string' || (enc !== 'latin1' && enc !== 'latin-1'))
          this.bad('_codecs.encode other than latin1');
        return new PyBytes(Buffer.from(s, 'latin1'));
      }
      default:
        return this.fail(`refusing to load: the pickle calls ${q}, which a state dict never calls`);
    }
  }

  private tensor(
    storage: PyValue | undefined,
    offset: PyValue | undefined,
    size: PyValue | undefined,
    stride: PyValue | undefined,
    dtype: DType | undefined,
  ): TensorRef {
    if (!(storage instanceof StorageRef))
      this.bad(`a tensor rebuilt from ${describe(storage)}, not a storage`);
    const ints = (v: PyValue | undefined, what: string): number[] => {
      const items =
        v instanceof PyTuple || v instanceof PyList ? v.items : this.bad(`tensor ${what} is not a tuple`);
      return items.map((x) => {
        if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0)
          this.fail(`storage ${storage.key}: a tensor's ${what} holds ${describe(x)} (absurd)`);
        return x;
      });
    };
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0)
      this.fail(`storage ${storage.key}: a tensor's storage offset ${describe(offset)} is absurd`);
    const shape = ints(size, 'size');
    const strides = ints(stride, 'stride');
    if (strides.length !== shape.length) this.bad('a tensor whose size and stride differ in length');
    let elementType: DType;
    if (storage.dtype === 'untyped') {
      if (dtype === undefined) this.bad('a tensor on an untyped storage without a dtype');
      elementType = dtype;
    } else {
      if (dtype !== undefined && dtype !== storage.dtype)
        this.bad('a tensor whose dtype differs from its storage');
      elementType = storage.dtype;
    }
    return new TensorRef(storage, elementType, offset, shape, strides);
  }
}

/** A short description of a value for error messages. */
export function describe(v: PyValue | undefined): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'None';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}...` : v);
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (v instanceof PyGlobal) return printable(v.qualname);
  if (v instanceof PyTuple) return `a tuple of ${v.items.length}`;
  if (v instanceof PyList) return `a list of ${v.items.length}`;
  if (v instanceof PyDict) return `a dict of ${v.map.size}`;
  if (v instanceof PySet) return 'a set';
  if (v instanceof PyBytes) return `${v.bytes.length} bytes`;
  if (v instanceof StorageRef) return `storage ${v.key}`;
  return 'a tensor';
}

/** A name from the file, safe to print on one line. */
function printable(s: string): string {
  const cut = s.length > 120 ? `${s.slice(0, 120)}...` : s;
  return cut.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
