/** JSON Lines parsing: line numbers, blank lines, and one-line errors for bad lines. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseJsonl } from '../../src/util/jsonl.js';
import { UserError } from '../../src/util/errors.js';

test('parseJsonl: values with their 1-based line numbers; blank and CRLF lines are fine', () => {
  assert.deepEqual(parseJsonl('{"a":1}\r\n\r\n  \n[2]\n', 'f.jsonl'), [
    { line: 1, value: { a: 1 } },
    { line: 4, value: [2] },
  ]);
});

test('parseJsonl: a bad line holding a CR is reported on one line (found by test/fuzz/jsonl.test.ts)', () => {
  // JSON.parse's message quotes the bad text, here with a raw carriage return inside it
  assert.throws(
    () => parseJsonl('{}\na\rb\n', 'f.jsonl'),
    (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, /^f\.jsonl:2: bad JSON line \(.*a\\u000db/);
      assert.doesNotMatch(e.message, /[\r\n]/);
      return true;
    },
  );
});
