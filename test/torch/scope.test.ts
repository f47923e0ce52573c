/** Scoped release of native tensors: tidy / keep / dispose, and a leak check over a training loop. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { F, nn, optim, type Tensor } from '../../src/torch/index.js';

test('tidy disposes intermediates and keeps the returned tensor', () => {
  const before = torch.liveTensors();
  let inner: Tensor | null = null;
  const out = torch.tidy(() => {
    inner = torch.ones([3]).mul(2);
    return inner.add(1).sum();
  });
  assert.equal(out.isDisposed, false);
  assert.equal(out.item(), 9);
  assert.equal(inner!.isDisposed, true);
  assert.equal(torch.liveTensors(), before + 1);
  out.dispose();
  assert.equal(torch.liveTensors(), before);
});

test('tidy keeps tensors returned in arrays, nested objects and Maps; non-tensor results pass through', () => {
  const before = torch.liveTensors();
  const r = torch.tidy(() => {
    const a = torch.zeros([2]);
    const b = torch.ones([2]);
    const c = torch.full([1], 3);
    torch.ones([5]); // dropped
    return { list: [a, { deep: b }], map: new Map([['c', c]]), n: 42 };
  });
  assert.equal(r.n, 42);
  assert.equal((r.list[0] as Tensor).isDisposed, false);
  assert.deepEqual((r.list[1] as { deep: Tensor }).deep.toArray(), [1, 1]);
  assert.deepEqual(r.map.get('c')!.toArray(), [3]);
  assert.equal(torch.liveTensors(), before + 3);
  torch.dispose(r);
  assert.equal(torch.liveTensors(), before);
  assert.equal(
    torch.tidy(() => 'plain'),
    'plain',
  );
  assert.equal(torch.liveTensors(), before);
});

test('a returned tensor from a nested tidy moves to the parent scope', () => {
  const before = torch.liveTensors();
  let fromInner: Tensor | null = null;
  const kept = torch.tidy(() => {
    assert.equal(torch.scopeDepth(), 1);
    fromInner = torch.tidy(() => {
      assert.equal(torch.scopeDepth(), 2);
      torch.ones([4]); // dropped by the inner scope
      return torch.zeros([2]);
    });
    assert.equal(fromInner.isDisposed, false, 'the inner result survives the inner scope');
    assert.equal(torch.liveTensors(), before + 1);
    return torch.ones([1]);
  });
  assert.equal(torch.scopeDepth(), 0);
  assert.equal(fromInner!.isDisposed, true, 'the outer scope owned the inner result and disposed it');
  assert.equal(kept.isDisposed, false);
  kept.dispose();
  assert.equal(torch.liveTensors(), before);
});

test('an exception inside tidy still disposes everything the scope made', () => {
  const before = torch.liveTensors();
  let made: Tensor | null = null;
  assert.throws(
    () =>
      torch.tidy(() => {
        made = torch.ones([3]);
        torch.tidy(() => torch.zeros([2]).mul(3));
        throw new Error('boom');
      }),
    /boom/,
  );
  assert.equal(made!.isDisposed, true);
  assert.equal(torch.scopeDepth(), 0);
  assert.equal(torch.liveTensors(), before);
  // a libtorch error thrown half-way through behaves the same
  assert.throws(() => torch.tidy(() => torch.ones([2]).matmul(torch.ones([3]))), /cannot be multiplied|size/);
  assert.equal(torch.liveTensors(), before);
});

test('keep() takes a tensor out of scope management; dispose() is idempotent', () => {
  const before = torch.liveTensors();
  let k: Tensor | null = null;
  const returned = torch.tidy(() => {
    k = torch.ones([2]).keep();
    torch.keep(torch.zeros([1])).dispose();
    return k.add(1);
  });
  // both the kept tensor (not returned) and the returned one survive
  assert.equal(k!.isDisposed, false);
  assert.equal(k!._scope, null);
  assert.equal(torch.liveTensors(), before + 2);
  assert.deepEqual(returned.toArray(), [2, 2]);
  returned.dispose();
  returned.dispose();
  assert.equal(torch.liveTensors(), before + 1);
  // a kept tensor returned from a nested tidy is not re-adopted by the parent
  let k2: Tensor | null = null;
  torch.tidy(() => {
    k2 = torch.tidy(() => torch.ones([3]).keep());
  });
  assert.equal(k2!.isDisposed, false);
  torch.dispose([k, k2]);
  assert.equal(torch.liveTensors(), before);
});

test('keep() inside tidy with explicit references: everything accounted for', () => {
  const before = torch.liveTensors();
  const holder: Tensor[] = [];
  torch.tidy(() => {
    holder.push(torch.randn([2]).keep());
    holder.push(torch.tidy(() => torch.ones([1]).keep()));
    torch.zeros([7]);
  });
  assert.equal(torch.liveTensors(), before + 2);
  torch.dispose(holder);
  torch.dispose(holder);
  assert.equal(torch.liveTensors(), before);
  assert.ok(holder.every((t) => t.isDisposed));
});

test('tensors made outside any tidy are untracked until disposed', () => {
  const before = torch.liveTensors();
  const t = torch.ones([2]);
  assert.equal(t._scope, null);
  // returning an outer tensor from a tidy does not hand it to the scope
  const same = torch.tidy(() => t);
  assert.equal(same, t);
  assert.equal(t.isDisposed, false);
  t.dispose();
  assert.equal(torch.liveTensors(), before);
});

test('liveTensors() is flat over 1,000 forward/backward/AdamW steps', () => {
  const start = torch.liveTensors();
  const gen = new torch.Generator(0);
  const l1 = new nn.Linear(4, 8, { generator: gen });
  const l2 = new nn.Linear(8, 3, { generator: gen });
  const norm = new nn.LayerNorm(8);
  const params = [...l1.parameters(), ...norm.parameters(), ...l2.parameters()];
  const opt = new optim.AdamW(params, { lr: 1e-2 });
  const x = torch.randn([5, 4], { generator: gen }).keep();
  const y = torch.tensor([0, 2, 1, 1, 0], { dtype: 'int64' }).keep();
  const step = (): number =>
    torch.tidy(() => {
      const h = norm.forward(l1.forward(x).gelu());
      const loss = F.crossEntropy(l2.forward(h), y);
      opt.zeroGrad();
      loss.backward();
      optim.clipGradNorm(params, 1.0);
      opt.step();
      return loss.item();
    });
  const firstLoss = step(); // warm-up: optimizer state and gradients exist from here on
  const before = torch.liveTensors();
  let lastLoss = firstLoss;
  for (let i = 0; i < 1000; i++) lastLoss = step();
  assert.equal(torch.liveTensors(), before);
  assert.ok(lastLoss < firstLoss, `the loop trains (loss ${firstLoss} -> ${lastLoss})`);
  // tearing down frees everything this test allocated
  opt.zeroGrad();
  opt.dispose();
  for (const m of [l1, l2, norm]) m.dispose();
  x.dispose();
  y.dispose();
  assert.ok(params.every((p) => p.isDisposed));
  assert.equal(torch.liveTensors(), start);
});
