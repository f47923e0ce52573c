/** Seeded randomness: reproducible streams, generator state save/restore, the default generator. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { assertClose, assertShape } from '../helpers/gradcheck.js';

const PROBS = [0.1, 0.2, 0.3, 0.4];

/** One draw of every random op from `gen`, as plain numbers. */
function draws(gen: torch.Generator): number[][] {
  return torch.tidy(() => [
    torch.randn([6], { generator: gen }).toArray(),
    torch.rand([4], { generator: gen, dtype: 'float64' }).toArray(),
    torch.randint(0, 1000, [6], { generator: gen }).toArray(),
    torch.multinomial(torch.tensor(PROBS), 16, { replacement: true, generator: gen }).toArray(),
    torch.randperm(8, { generator: gen }).toArray(),
    torch.bernoulli(torch.full([8], 0.5), { generator: gen }).toArray(),
    torch.empty([4]).normal_(1, 2, gen).toArray(),
    torch.empty([4]).uniform_(-1, 1, gen).toArray(),
  ]);
}

test('same seed gives the same randn / rand / randint / multinomial / randperm / bernoulli / normal_ / uniform_', () => {
  const a = draws(new torch.Generator(123));
  const b = draws(new torch.Generator(123));
  assert.deepEqual(a, b);
  // and manualSeed on an existing generator rewinds it
  const g = new torch.Generator(5);
  draws(g);
  g.manualSeed(123);
  assert.deepEqual(draws(g), a);
});

test('different seeds give different streams; a generator advances', () => {
  const a = draws(new torch.Generator(1));
  const b = draws(new torch.Generator(2));
  assert.notDeepEqual(a[0], b[0]);
  assert.notDeepEqual(a[2], b[2]);
  assert.notDeepEqual(a[3], b[3]);
  const g = new torch.Generator(1);
  const first = torch.tidy(() => torch.randn([6], { generator: g }).toArray());
  const second = torch.tidy(() => torch.randn([6], { generator: g }).toArray());
  assert.deepEqual(first, a[0]);
  assert.notDeepEqual(first, second);
});

test('random ops: shapes, dtypes and ranges', () =>
  torch.tidy(() => {
    const g = new torch.Generator(9);
    assertShape(torch.randn([2, 3], { generator: g }), [2, 3], 'float32');
    assertShape(torch.randn([2], { generator: g, dtype: 'float64' }), [2], 'float64');
    const u = torch.rand([1000], { generator: g }).toArray();
    assert.ok(u.every((v) => v >= 0 && v < 1));
    const ri = torch.randint(-3, 4, [500], { generator: g });
    assertShape(ri, [500], 'int64');
    const rv = ri.toArray();
    assert.ok(rv.every((v) => v >= -3 && v < 4 && Number.isInteger(v)));
    assert.equal(new Set(rv).size, 7, 'every value in [-3, 4) is drawn');
    const perm = torch.randperm(10, { generator: g });
    assertShape(perm, [10], 'int64');
    assert.deepEqual(
      [...perm.toArray()].sort((x, y) => x - y),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    const n = torch.randn([4000], { generator: g, dtype: 'float64' });
    assert.ok(Math.abs(n.mean().item()) < 0.1);
    assert.ok(Math.abs(n.std().item() - 1) < 0.1);
    const scaled = torch.empty([4000]).normal_(3, 0.5, g);
    assert.ok(Math.abs(scaled.mean().item() - 3) < 0.05);
    const un = torch.empty([1000]).uniform_(2, 3, g).toArray();
    assert.ok(un.every((v) => v >= 2 && v <= 3));
    const b = torch.bernoulli(torch.tensor([0, 1, 0, 1]), { generator: g });
    assert.deepEqual(b.toArray(), [0, 1, 0, 1]);
  }));

test('Generator getState/setState reproduces the stream exactly', () => {
  const g = new torch.Generator(77);
  draws(g);
  const state = g.getState();
  assert.ok(state instanceof Uint8Array);
  assert.ok(state.length > 0);
  const expected = draws(g);
  // the stream moved on: a fresh draw differs
  assert.notDeepEqual(draws(g), expected);
  g.setState(state);
  assert.deepEqual(draws(g), expected);
  // the state transfers to another generator
  const other = new torch.Generator(0);
  other.setState(state);
  assert.deepEqual(draws(other), expected);
  // getState returns a copy: mutating it changes nothing
  const s2 = g.getState();
  s2.fill(0);
  g.setState(state);
  assert.deepEqual(draws(g), expected);
});

test('manualSeed and getRngState/setRngState on the default generator', () => {
  torch.manualSeed(2024);
  const a = torch.tidy(() => [torch.randn([5]).toArray(), torch.randint(0, 100, [5]).toArray()]);
  torch.manualSeed(2024);
  const b = torch.tidy(() => [torch.randn([5]).toArray(), torch.randint(0, 100, [5]).toArray()]);
  assert.deepEqual(a, b);
  torch.manualSeed(2025);
  const c = torch.tidy(() => torch.randn([5]).toArray());
  assert.notDeepEqual(c, a[0]);
  const state = torch.getRngState();
  const next = torch.tidy(() => torch.rand([5]).toArray());
  torch.setRngState(state);
  assert.deepEqual(
    torch.tidy(() => torch.rand([5]).toArray()),
    next,
  );
  // a private generator does not disturb the default stream
  torch.setRngState(state);
  torch.tidy(() => torch.randn([100], { generator: new torch.Generator(3) }));
  assert.deepEqual(
    torch.tidy(() => torch.rand([5]).toArray()),
    next,
  );
});

test("seeded streams equal PyTorch's CPU generator (torch.manual_seed values)", () =>
  torch.tidy(() => {
    // reference values printed by PyTorch for the same calls
    torch.manualSeed(0);
    assertClose(torch.randn([3]), [1.5409960746765137, -0.293428897857666, -2.1787893772125244]);
    torch.manualSeed(0);
    assertClose(torch.rand([3]), [0.49625658988952637, 0.7682217955589294, 0.08847743272781372]);
    torch.manualSeed(0);
    assert.deepEqual(torch.randint(0, 10, [6]).toArray(), [4, 9, 3, 0, 3, 9]);
    // 16 or more normals take the vectorised path
    torch.manualSeed(0);
    assertClose(
      torch.randn([20]).slice(0, 0, 3),
      [-1.1258398294448853, -1.152360200881958, -0.2505785822868347],
    );
    const g = new torch.Generator(42);
    assertClose(
      torch.randn([4], { generator: g }),
      [0.33669036626815796, 0.12880940735340118, 0.23446236550807953, 0.23033303022384644],
    );
    assert.deepEqual(torch.randperm(6, { generator: new torch.Generator(42) }).toArray(), [0, 3, 2, 4, 1, 5]);
    assert.deepEqual(
      torch
        .multinomial(torch.tensor(PROBS), 8, { replacement: true, generator: new torch.Generator(42) })
        .toArray(),
      [0, 0, 1, 0, 2, 2, 3, 3],
    );
  }));

test('nn initialisers are reproducible from a generator', () => {
  const w = (seed: number) => {
    const l = new torch.nn.Linear(3, 2, { generator: new torch.Generator(seed) });
    const out = l.weight.toArray().concat(l.bias!.toArray());
    l.dispose();
    return out;
  };
  assert.deepEqual(w(4), w(4));
  assert.notDeepEqual(w(4), w(5));
});
