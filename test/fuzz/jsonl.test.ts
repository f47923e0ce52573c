/**
 * Fuzzing the JSON Lines reader (parseJsonl / readJsonl): arbitrary text, files of JSON values with blank
 * lines and CRLF endings, one bad line among good ones, odd paths. Only a UserError may escape; good lines
 * come back with their 1-based numbers and values; a bad line's error names the file and its line.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseJsonl, readJsonl } from '../../src/util/jsonl.js';
import { fc, fuzzParams, userErrorOr } from './fuzz.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'corl-fuzz-jsonl-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
const FILE = path.join(root, 'rows.jsonl');

/** Arbitrary text, line-shaped: random strings, JSON-ish fragments, control characters, deep nesting. */
const line = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.json({ maxDepth: 2 }),
  fc.json({ maxDepth: 2 }).map((j) => j.slice(0, Math.max(0, j.length - 1))),
  fc.constantFrom('', ' ', '\r', '\t', '\u2028', '\ufeff{}', '{"a":1}\r', 'a\rb', 'nul\u0000l', '{', ']'),
  fc.nat(1000).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`), // deeper: assert.deepEqual overflows
  fc.nat(3000).map((n) => '['.repeat(n)),
);

test('fuzz parseJsonl: arbitrary text', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ unit: 'binary', maxLength: 200 }),
        fc.array(line, { maxLength: 8 }).map((ls) => ls.join('\n')),
      ),
      (text) => {
        const r = userErrorOr(() => parseJsonl(text, 'rows.jsonl'));
        if (!r.ok) assert.match(r.error.message, /^rows\.jsonl:\d+: bad JSON line \(/);
        else
          for (const { line: n, value } of r.value)
            assert.deepEqual(value, JSON.parse(text.split('\n')[n - 1]!.trim()));
      },
    ),
    fuzzParams(1500),
  );
});

/** A file of JSON values, blank and whitespace lines, with LF or CRLF endings. */
const goodFile = fc.record({
  lines: fc.array(
    fc.oneof(
      { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => ({ value: v })) },
      fc.constantFrom('', '  ', '\t', '\r').map((blank) => ({ blank })),
    ),
    { maxLength: 12 },
  ),
  crlf: fc.boolean(),
  finalNewline: fc.boolean(),
  indent: fc.constantFrom('', ' ', '\t'),
});

test('fuzz readJsonl: good lines come back in order with their line numbers', () => {
  fc.assert(
    fc.property(goodFile, ({ lines, crlf, finalNewline, indent }) => {
      const text = lines
        .map((l) => ('blank' in l ? l.blank : `${indent}${JSON.stringify(l.value)}${indent}`))
        .join(crlf ? '\r\n' : '\n');
      fs.writeFileSync(FILE, finalNewline ? `${text}\n` : text);
      const want = lines.flatMap((l, i) =>
        'value' in l ? [{ line: i + 1, value: JSON.parse(JSON.stringify(l.value)) as unknown }] : [],
      );
      assert.deepEqual(readJsonl(FILE), want);
    }),
    fuzzParams(1000),
  );
});

test('fuzz readJsonl: one bad line among good ones is reported with its file and line number', () => {
  const bad = fc.oneof(
    fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }),
    fc.json({ maxDepth: 2 }).map((j) => `${j},`),
  );
  fc.assert(
    fc.property(
      fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 6 }),
      fc.nat(),
      bad.filter((b) => {
        try {
          JSON.parse(b.trim());
          return false;
        } catch {
          return b.trim() !== '' && !b.includes('\n');
        }
      }),
      (values, at, badLine) => {
        const lines = values.map((v) => JSON.stringify(v));
        const k = at % (lines.length + 1);
        lines.splice(k, 0, badLine);
        fs.writeFileSync(FILE, lines.join('\n'));
        const r = userErrorOr(() => readJsonl(FILE));
        assert.ok(!r.ok, 'a bad line is an error');
        assert.ok(
          r.error.message.startsWith(`${FILE}:${k + 1}: bad JSON line (`),
          `names the line: ${r.error.message}`,
        );
      },
    ),
    fuzzParams(1000),
  );
});

test('fuzz readJsonl: odd paths are user errors', () => {
  fs.mkdirSync(path.join(root, 'dir.jsonl'), { recursive: true });
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string({ maxLength: 20 }).map((s) => path.join(root, s)),
        fc.constantFrom(
          '',
          root,
          path.join(root, 'dir.jsonl'),
          path.join(root, 'missing.jsonl'),
          `${root}/a\u0000b`,
          path.join(root, 'x'.repeat(300)),
          path.join(root, 'rows.jsonl', 'below-a-file'),
        ),
      ),
      (p) => {
        const r = userErrorOr(() => readJsonl(p));
        if (!r.ok) assert.ok(r.error.message.includes('JSONL file') || r.error.message.includes(p));
      },
    ),
    fuzzParams(500),
  );
});
