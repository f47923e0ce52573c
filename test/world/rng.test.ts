import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BlockBalancer, Rng, deriveSeed } from '../../src/world/rng.js';

test('the same seed gives the same stream; different seeds and labels differ', () => {
  const a = new Rng(42);
  const b = new Rng(42);
  const xs = Array.from({ length: 100 }, () => a.nextUint32());
  assert.deepEqual(
    Array.from({ length: 100 }, () => b.nextUint32()),
    xs,
  );
  const c = new Rng(43);
  assert.notDeepEqual(
    Array.from({ length: 100 }, () => c.nextUint32()),
    xs,
  );
  assert.equal(deriveSeed(1, 'train', 3), deriveSeed(1, 'train', 3));
  assert.notEqual(deriveSeed(1, 'train', 3), deriveSeed(1, 'test', 3));
  assert.notEqual(deriveSeed(1, 'train', 3), deriveSeed(2, 'train', 3));
});

test('int, range, shuffle and normal behave', () => {
  const rng = new Rng(7);
  const counts = new Array(6).fill(0);
  for (let i = 0; i < 60000; i++) counts[rng.int(6)]++;
  for (const c of counts) assert.ok(Math.abs(c - 10000) < 500, `int(6) counts ${counts}`);
  for (let i = 0; i < 1000; i++) {
    const v = rng.range(-2, 3);
    assert.ok(Number.isInteger(v) && v >= -2 && v <= 3);
  }
  const items = [1, 2, 3, 4, 5];
  assert.deepEqual(
    rng.shuffle(items).sort((p, q) => p - q),
    items,
  );
  let s = 0;
  let s2 = 0;
  for (let i = 0; i < 20000; i++) {
    const z = rng.normal();
    s += z;
    s2 += z * z;
  }
  assert.ok(Math.abs(s / 20000) < 0.05);
  assert.ok(Math.abs(s2 / 20000 - 1) < 0.05);
  assert.throws(() => rng.int(0), RangeError);
  assert.throws(() => rng.pick([]), RangeError);
});

test('BlockBalancer deals every item once per block', () => {
  const b = new BlockBalancer(['A', 'B', 'C', 'D'], new Rng(1));
  for (let block = 0; block < 50; block++) {
    const got = [b.next(), b.next(), b.next(), b.next()].sort();
    assert.deepEqual(got, ['A', 'B', 'C', 'D']);
  }
});
