/**
 * Fuzzing the safetensors reader (loadSafetensors / readSafetensorsHeader): random bytes, a valid length with
 * random JSON, and valid headers with one field mutated. The only exception allowed out is a UserError; a
 * header that was left valid must load, with the declared shapes and the exact bytes; every loaded tensor is
 * disposed (the live-tensor count is unchanged after each property).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as torch from '../../src/torch/index.js';
import { FORMAT_DTYPES, loadSafetensors, readSafetensorsHeader } from '../../src/torch/safetensors.js';
import { BYTES_PER_ELEMENT } from '../../src/torch/dtype.js';
import { fc, fuzzParams, userErrorOr } from './fuzz.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'corl-fuzz-safetensors-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
const FILE = path.join(root, 'f.safetensors');

const FORMATS = FORMAT_DTYPES;
const DTYPE = new Map(FORMATS);

/** u64 length, header bytes, data. */
function fileBytes(header: Uint8Array, data: Uint8Array, declaredLength: bigint = BigInt(header.length)) {
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(declaredLength);
  return Buffer.concat([len, header, data]);
}

/**
 * Loads the file every way the API offers (header only, all tensors, a name filter, conversion to f32) and
 * disposes what it got. Returns whether it loaded; throws for anything but a UserError.
 */
function loadEveryWay(): boolean {
  const header = userErrorOr(() => readSafetensorsHeader(FILE));
  for (const opts of [{}, { dtype: 'float32' as const }, { names: (n: string) => n.length % 2 === 0 }]) {
    const r = userErrorOr(() => loadSafetensors(FILE, opts));
    assert.equal(r.ok, header.ok, 'the header alone and the whole file agree on validity');
    if (r.ok) for (const t of r.value.tensors.values()) t.dispose();
  }
  return header.ok;
}

/** Runs a property, then checks no tensor leaked. */
function withLiveCheck(run: () => void): void {
  const live = torch.liveTensors();
  run();
  assert.equal(torch.liveTensors(), live, 'every loaded tensor was disposed');
}

test('fuzz safetensors: random bytes', () => {
  withLiveCheck(() =>
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        fs.writeFileSync(FILE, bytes);
        loadEveryWay();
      }),
      fuzzParams(1000),
    ),
  );
});

/** A declared header length: exact, off by a little, past the end, or anything up to 2^64 - 1. */
const lengthFor = (actual: number): fc.Arbitrary<bigint> =>
  fc.oneof(
    { weight: 5, arbitrary: fc.constant(BigInt(actual)) },
    fc.integer({ min: -8, max: 8 }).map((d) => BigInt(Math.max(0, actual + d))),
    fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    fc.constantFrom(100_000_000n, 100_000_001n, 1n << 53n, (1n << 64n) - 1n),
  );

test('fuzz safetensors: a length prefix with random JSON or text', () => {
  const text = fc.oneof(
    fc.json({ maxDepth: 3 }),
    fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify({ t: v })),
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('latin1')),
  );
  withLiveCheck(() =>
    fc.assert(
      fc.property(
        text.chain((t) => {
          const h = Buffer.from(t, 'utf8');
          return fc.tuple(fc.constant(h), lengthFor(h.length), fc.uint8Array({ maxLength: 64 }));
        }),
        ([header, declared, data]) => {
          fs.writeFileSync(FILE, fileBytes(header, data, declared));
          loadEveryWay();
        },
      ),
      fuzzParams(1000),
    ),
  );
});

// ---- near-valid headers ----------------------------------------------------------------------------------

interface Entry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

const tensorName = fc.oneof(
  { weight: 4, arbitrary: fc.stringMatching(/^[a-z][a-z0-9_.]{0,12}$/) },
  fc.string({ maxLength: 8 }),
  fc.string({ unit: 'grapheme', maxLength: 6 }),
  fc.constantFrom('', '__proto__', 'constructor', 'toString', '0', '__metadata', ' '),
);
const entryShape = fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 });

/** Valid entries, packed in order (with optional gaps); returns the entries and the data length. */
const validEntries: fc.Arbitrary<{ entries: Entry[]; dataLength: number }> = fc
  .uniqueArray(
    fc.record({
      name: tensorName,
      format: fc.constantFrom(...FORMATS.map(([f]) => f)),
      shape: entryShape,
      gap: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, fc.integer({ min: 1, max: 9 })),
    }),
    { maxLength: 5, selector: (e) => e.name },
  )
  .map((list) => {
    let offset = 0;
    const entries = list.map(({ name, format, shape, gap }) => {
      const bytes = shape.reduce((a, b) => a * b, 1) * BYTES_PER_ELEMENT[DTYPE.get(format)!];
      const begin = offset + gap;
      offset = begin + bytes;
      return { name, dtype: format, shape, begin, end: offset };
    });
    return { entries, dataLength: offset };
  });

/** Bad numbers: negative, fractional, unsafe, non-finite (written as JSON by hand), huge. */
const badNumber = fc.oneof(
  fc.integer({ min: -1000, max: -1 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => !Number.isInteger(x)),
  fc.constantFrom(2 ** 53, 2 ** 53 + 2, 2 ** 63, 2 ** 64, 1e300, -0.5, 1.5, Number.MAX_SAFE_INTEGER),
  fc.integer({ min: 0, max: 2 ** 40 }),
);
const notANumber = fc.oneof(
  fc.constantFrom(null, true, false, '1', '', [], {}, [1], { a: 1 }),
  fc.jsonValue({ maxDepth: 2 }),
);
const anyBadValue = fc.oneof(badNumber, notANumber);

/** One way to break a valid header, as data (so a counterexample prints it): `i` picks the entry. */
type Mutation =
  | { op: 'set'; i: number; key: string; v: unknown }
  | { op: 'setIn'; i: number; key: 'shape' | 'data_offsets'; d: number; v: unknown }
  | { op: 'shift'; i: number; db: number; de: number }
  | { op: 'overlap'; i: number; j: number }
  | { op: 'delete'; i: number; key: string }
  | { op: 'replace'; i: number; v: unknown }
  | { op: 'metadata'; v: unknown }
  | { op: 'alias'; i: number; name: string };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  // dtype: another known dtype (a size mismatch unless the sizes agree), unknown names, wrong types
  fc.record({
    op: fc.constant('set' as const),
    i: fc.nat(),
    key: fc.constant('dtype'),
    v: fc.oneof(
      fc.constantFrom(...FORMATS.map(([f]) => f), 'f32', 'F8_E4M3', 'U16', 'I8', 'C64', 'STR', ''),
      notANumber,
    ),
  }),
  // shape / data_offsets: one element replaced by a bad number or a wrong type
  fc.record({
    op: fc.constant('setIn' as const),
    i: fc.nat(),
    key: fc.constantFrom('shape' as const, 'data_offsets' as const),
    d: fc.nat(),
    v: anyBadValue,
  }),
  // shape: many dims, huge dims next to a zero, bad numbers, wrong types
  fc.record({
    op: fc.constant('set' as const),
    i: fc.nat(),
    key: fc.constant('shape'),
    v: fc.oneof(
      fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 5, maxLength: 70 }),
      fc.array(fc.constantFrom(1, 0, 2 ** 53 - 1, 2 ** 40, 65536), { maxLength: 12 }),
      fc.array(badNumber, { maxLength: 3 }),
      notANumber,
    ),
  }),
  // data_offsets: shifted (negative, swapped, past the end), overlapping another tensor, wrong length / type
  fc.record({
    op: fc.constant('shift' as const),
    i: fc.nat(),
    db: fc.integer({ min: -16, max: 16 }),
    de: fc.integer({ min: -16, max: 16 }),
  }),
  fc.record({ op: fc.constant('overlap' as const), i: fc.nat(), j: fc.nat() }),
  fc.record({
    op: fc.constant('set' as const),
    i: fc.nat(),
    key: fc.constant('data_offsets'),
    v: fc.oneof(fc.array(fc.nat(100), { maxLength: 4 }), fc.array(badNumber, { maxLength: 3 }), notANumber),
  }),
  // a field deleted, an entry that is not an object, extra keys
  fc.record({
    op: fc.constant('delete' as const),
    i: fc.nat(),
    key: fc.constantFrom('dtype', 'shape', 'data_offsets'),
  }),
  fc.record({ op: fc.constant('replace' as const), i: fc.nat(), v: notANumber }),
  fc.record({
    op: fc.constant('set' as const),
    i: fc.nat(),
    key: fc.string({ maxLength: 6 }),
    v: fc.jsonValue({ maxDepth: 2 }),
  }),
  // __metadata__: wrong types, non-string values
  fc.record({
    op: fc.constant('metadata' as const),
    v: fc.oneof(notANumber, fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }))),
  }),
  // a tensor entry under the name __metadata__ (or __proto__)
  fc.record({
    op: fc.constant('alias' as const),
    i: fc.nat(),
    name: fc.constantFrom('__metadata__', '__proto__'),
  }),
);

const isObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x);
/** Sets an own property, even one named "__proto__" (as JSON.parse would make it). */
const define = (o: object, key: string, value: unknown): void => {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
};

function applyMutation(h: Record<string, unknown>, entries: Entry[], m: Mutation): void {
  if (m.op === 'metadata') return define(h, '__metadata__', m.v);
  if (entries.length === 0) return;
  const name = entries[m.i % entries.length]!.name;
  const o = h[name];
  switch (m.op) {
    case 'replace':
      return define(h, name, m.v);
    case 'alias':
      return define(h, m.name, o);
    case 'overlap': {
      const a = entries[m.i % entries.length]!;
      const b = entries[m.j % entries.length]!;
      if (isObject(o)) o.data_offsets = [b.begin, b.begin + (a.end - a.begin)];
      return;
    }
  }
  if (!isObject(o)) return;
  switch (m.op) {
    case 'set':
      return define(o, m.key, m.v);
    case 'delete':
      delete o[m.key];
      return;
    case 'setIn': {
      const arr = o[m.key];
      if (!Array.isArray(arr)) o[m.key] = [m.v];
      else if (arr.length === 0) arr.push(m.v);
      else arr[m.d % arr.length] = m.v;
      return;
    }
    case 'shift': {
      const off = o.data_offsets;
      if (Array.isArray(off) && off.length === 2)
        o.data_offsets = [Number(off[0]) + m.db, Number(off[1]) + m.de];
      return;
    }
  }
}

/** JSON text of the header, with non-finite numbers written as the (invalid JSON) tokens they would be. */
function headerJson(h: Record<string, unknown>): string {
  return JSON.stringify(h, (_k, v: unknown) =>
    typeof v === 'number' && !Number.isFinite(v) ? `@@${String(v)}@@` : v,
  ).replace(/"@@(.*?)@@"/g, '$1');
}

function headerOf(entries: Entry[], metadata?: Record<string, string>): Record<string, unknown> {
  const h: Record<string, unknown> = {};
  if (metadata) h.__metadata__ = metadata;
  for (const e of entries)
    define(h, e.name, { dtype: e.dtype, shape: [...e.shape], data_offsets: [e.begin, e.end] });
  return h;
}

const metadata = fc.option(fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 })), {
  nil: undefined,
});

test('fuzz safetensors: valid headers load, with the declared shapes and bytes', () => {
  withLiveCheck(() =>
    fc.assert(
      fc.property(
        validEntries,
        metadata,
        fc.boolean(),
        fc.uint8Array({ minLength: 0, maxLength: 600 }),
        ({ entries, dataLength }, meta, pad, noise) => {
          let text = headerJson(headerOf(entries, meta));
          if (pad) text += ' '.repeat((8 - (Buffer.byteLength(text) % 8)) % 8);
          const data = new Uint8Array(dataLength);
          for (let i = 0; i < dataLength; i++) data[i] = noise[i % Math.max(1, noise.length)] ?? i;
          fs.writeFileSync(FILE, fileBytes(Buffer.from(text, 'utf8'), data));
          const { tensors, metadata: got } = loadSafetensors(FILE);
          try {
            assert.deepEqual(got, { ...meta });
            assert.equal(tensors.size, entries.length);
            for (const e of entries) {
              const t = tensors.get(e.name)!;
              assert.deepEqual(t.shape, e.shape, e.name);
              assert.equal(t.dtype, DTYPE.get(e.dtype));
              const raw = t.data();
              const bytes = new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
              const want = data.subarray(e.begin, e.end);
              if (e.dtype === 'BOOL')
                assert.deepEqual(
                  [...bytes],
                  [...want].map((b) => (b === 0 ? 0 : 1)),
                );
              else assert.deepEqual(bytes, want);
            }
          } finally {
            for (const t of tensors.values()) t.dispose();
          }
        },
      ),
      fuzzParams(500),
    ),
  );
});

test('fuzz safetensors: valid headers with one or two fields mutated', () => {
  withLiveCheck(() =>
    fc.assert(
      fc.property(
        validEntries,
        metadata,
        fc.array(mutation, { minLength: 1, maxLength: 2 }),
        fc.integer({ min: -8, max: 8 }),
        ({ entries, dataLength }, meta, mutations, dataDelta) => {
          const h = headerOf(entries, meta);
          // structuredClone: the generated values are reused while shrinking and must not be mutated
          for (const m of mutations) applyMutation(h, entries, structuredClone(m));
          const header = Buffer.from(headerJson(h), 'utf8');
          const data = new Uint8Array(Math.max(0, dataLength + dataDelta)).fill(7);
          fs.writeFileSync(FILE, fileBytes(header, data));
          loadEveryWay();
        },
      ),
      fuzzParams(2500),
    ),
  );
});
