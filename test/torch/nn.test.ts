/** nn.Module: naming, state dicts, freezing, lifetime; the layers against the functional ops and hand values. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { F, nn, optim, type Tensor } from '../../src/torch/index.js';
import { assertClose, assertShape } from '../helpers/gradcheck.js';

class Block extends nn.Module {
  readonly fc: nn.Linear;
  readonly norm: nn.LayerNorm;
  constructor(gen: torch.Generator) {
    super();
    this.fc = this.child('fc', new nn.Linear(4, 4, { generator: gen }));
    this.norm = this.child('norm', new nn.LayerNorm(4));
  }
  forward(x: Tensor): Tensor {
    return this.norm.forward(this.fc.forward(x).relu());
  }
}

class Net extends nn.Module {
  readonly embed: nn.Embedding;
  readonly layers: nn.ModuleList<Block>;
  readonly head: nn.Linear;
  readonly usage: Tensor;
  constructor(seed: number) {
    super();
    const gen = new torch.Generator(seed);
    this.embed = this.child('embed', new nn.Embedding(6, 4, { generator: gen }));
    this.layers = this.child('layers', new nn.ModuleList([new Block(gen), new Block(gen)]));
    this.head = this.child('head', new nn.Linear(4, 3, { bias: false, generator: gen }));
    this.usage = this.buffer('usage', torch.zeros([6]));
  }
  forward(ids: Tensor): Tensor {
    let h = this.embed.forward(ids);
    for (const b of this.layers) h = b.forward(h);
    return this.head.forward(h);
  }
}

const IDS = () => torch.tensor([0, 3, 5, 1], { dtype: 'int64' });
const setTo = (p: Tensor, values: number[]) =>
  torch.noGrad(() => torch.tidy(() => p.copy_(torch.tensor(values, { shape: p.shape }))));

describe('Module', () => {
  test('namedParameters gives dotted PyTorch names through children and ModuleList', () => {
    const net = new Net(0);
    const names = net.namedParameters().map(([n]) => n);
    assert.deepEqual(names, [
      'embed.weight',
      'layers.0.fc.weight',
      'layers.0.fc.bias',
      'layers.0.norm.weight',
      'layers.0.norm.bias',
      'layers.1.fc.weight',
      'layers.1.fc.bias',
      'layers.1.norm.weight',
      'layers.1.norm.bias',
      'head.weight',
    ]);
    assert.deepEqual(
      net.namedBuffers().map(([n]) => n),
      ['usage'],
    );
    assert.deepEqual(
      net.namedChildren().map(([n]) => n),
      ['embed', 'layers', 'head'],
    );
    assert.equal(net.layers.length, 2);
    assert.equal(net.layers.at(1), [...net.layers][1]);
    assert.throws(() => net.layers.at(2), /ModuleList index 2 out of range/);
    assert.deepEqual(
      net.layers
        .at(0)
        .namedParameters('prefix.')
        .map(([n]) => n),
      ['prefix.fc.weight', 'prefix.fc.bias', 'prefix.norm.weight', 'prefix.norm.bias'],
    );
    // 6*4 + 2*(16 + 4 + 4 + 4) + 12
    assert.equal(net.numParameters(), 92);
    assert.ok(net.parameters().every((p) => p.requiresGrad && p.isLeaf));
    const sd = net.stateDict();
    assert.deepEqual([...sd.keys()], [...names, 'usage']);
    assert.equal(
      sd.get('head.weight'),
      net.head.weight,
      'the state dict holds the module tensors themselves',
    );
    net.dispose();
  });

  test('stateDict/loadStateDict round trip copies values (dtype converted), forward then agrees', () =>
    torch.tidy(() => {
      const a = new Net(1);
      const b = new Net(2);
      const ids = IDS();
      assert.notDeepEqual(a.forward(ids).toArray(), b.forward(ids).toArray());
      torch.noGrad(() => a.usage.fill_(3));
      const res = b.loadStateDict(a.stateDict());
      assert.deepEqual(res, { missing: [], unexpected: [] });
      for (const [name, t] of a.stateDict())
        assert.deepEqual(b.stateDict().get(name)!.toArray(), t.toArray(), name);
      assert.deepEqual(b.forward(ids).toArray(), a.forward(ids).toArray());
      // copies, not aliases
      setTo(a.head.weight, new Array(12).fill(0));
      assert.notDeepEqual(b.head.weight.toArray(), a.head.weight.toArray());
      // a float64 state dict loads into float32 parameters
      const doubled = new Map([...b.stateDict()].map(([k, t]) => [k, t.double()] as const));
      a.loadStateDict(doubled);
      assert.equal(a.head.weight.dtype, 'float32');
      assert.deepEqual(a.head.weight.toArray(), b.head.weight.toArray());
      a.dispose();
      b.dispose();
    }));

  test('loading a wrong-shaped tensor is an error naming the tensor; strict checks names', () =>
    torch.tidy(() => {
      const net = new Net(0);
      const before = net.layers.at(1).fc.weight.toArray();
      const sd = new Map(net.stateDict());
      sd.set('layers.1.fc.weight', torch.zeros([3, 4]));
      assert.throws(
        () => net.loadStateDict(sd),
        /tensor layers\.1\.fc\.weight has shape \[3, 4\] but the model expects \[4, 4\]/,
      );
      assert.deepEqual(net.layers.at(1).fc.weight.toArray(), before);
      const missing = new Map(net.stateDict());
      missing.delete('head.weight');
      missing.set('extra.bias', torch.zeros([1]));
      assert.throws(() => net.loadStateDict(missing), /missing: head\.weight; unexpected: extra\.bias/);
      // non-strict: loads what matches and reports the rest
      missing.set('layers.0.norm.bias', torch.full([4], 0.5));
      const res = net.loadStateDict(missing, { strict: false });
      assert.deepEqual(res, { missing: ['head.weight'], unexpected: ['extra.bias'] });
      assert.deepEqual(net.layers.at(0).norm.bias.toArray(), [0.5, 0.5, 0.5, 0.5]);
      net.dispose();
    }));

  test('requiresGrad_(false) freezes parameters: no gradient, no optimizer update', () =>
    torch.tidy(() => {
      const net = new Net(3);
      net.embed.requiresGrad_(false);
      net.layers.at(0).requiresGrad_(false);
      assert.equal(net.trainableParameters().length, 5);
      assert.ok(net.embed.weight.requiresGrad === false);
      const frozenBefore = net.layers.at(0).fc.weight.toArray();
      const embedBefore = net.embed.weight.toArray();
      const liveBefore = net.layers.at(1).fc.weight.toArray();
      const opt = new optim.AdamW(net.parameters(), { lr: 0.1 });
      F.crossEntropy(net.forward(IDS()), torch.tensor([0, 1, 2, 0], { dtype: 'int64' })).backward();
      assert.equal(net.embed.weight.grad, null);
      assert.equal(net.layers.at(0).fc.weight.grad, null);
      assert.notEqual(net.layers.at(1).fc.weight.grad, null);
      opt.step();
      assert.deepEqual(net.layers.at(0).fc.weight.toArray(), frozenBefore);
      assert.deepEqual(net.embed.weight.toArray(), embedBefore);
      assert.notDeepEqual(net.layers.at(1).fc.weight.toArray(), liveBefore);
      // unfreezing restores training
      net.requiresGrad_(true);
      assert.equal(net.trainableParameters().length, 10);
      net.zeroGrad();
      assert.ok(net.parameters().every((p) => p.grad === null));
      opt.dispose();
      net.dispose();
    }));

  test('train/eval propagate; dispose frees every parameter and buffer', () => {
    const before = torch.liveTensors();
    const net = new Net(4);
    assert.equal(torch.liveTensors(), before + 11);
    assert.equal(net.training, true);
    net.eval();
    assert.equal(net.layers.at(1).norm.training, false);
    net.train();
    assert.equal(net.layers.at(1).fc.training, true);
    // parameters live outside tidy scopes
    torch.tidy(() => {
      net.forward(IDS());
    });
    assert.equal(net.head.weight.isDisposed, false);
    net.dispose();
    assert.equal(torch.liveTensors(), before);
  });
});

describe('layers', () => {
  test('Linear: init bounds, forward equals F.linear and hand values, gradients', () =>
    torch.tidy(() => {
      const l = new nn.Linear(3, 2, { generator: new torch.Generator(0) });
      assertShape(l.weight, [2, 3], 'float32');
      assertShape(l.bias!, [2]);
      const bound = 1 / Math.sqrt(3);
      assert.ok([...l.weight.toArray(), ...l.bias!.toArray()].every((v) => Math.abs(v) <= bound));
      const x = torch.randn([4, 3], { generator: new torch.Generator(1) });
      assert.deepEqual(l.forward(x).toArray(), F.linear(x, l.weight, l.bias).toArray());
      setTo(l.weight, [1, 2, 3, -1, 0, 1]);
      setTo(l.bias!, [0.5, -0.5]);
      const y = l.forward(
        torch.tensor([
          [1, 1, 1],
          [2, 0, -1],
        ]),
      );
      assertClose(y, [6.5, -0.5, -0.5, -3.5]);
      // d sum(y) / dW = sum over the batch of x, d/db = batch size
      y.sum().backward();
      assertClose(l.weight.grad!, [3, 1, 0, 3, 1, 0]);
      assertClose(l.bias!.grad!, [2, 2]);
      const nb = new nn.Linear(3, 2, { bias: false });
      assert.equal(nb.bias, null);
      assert.deepEqual(
        nb.namedParameters().map(([n]) => n),
        ['weight'],
      );
      const gpt = new nn.Linear(64, 64, { std: 0.02, generator: new torch.Generator(2) });
      assert.deepEqual(gpt.bias!.toArray(), new Array(64).fill(0));
      assert.ok(Math.abs(gpt.weight.std().item() - 0.02) < 0.002);
      for (const m of [l, nb, gpt]) m.dispose();
    }));

  test('Conv2d: forward equals F.conv2d with its stride/padding, hand values', () =>
    torch.tidy(() => {
      const c = new nn.Conv2d(2, 3, 3, { stride: 2, padding: 1, generator: new torch.Generator(0) });
      assertShape(c.weight, [3, 2, 3, 3]);
      const bound = 1 / Math.sqrt(18);
      assert.ok(c.weight.toArray().every((v) => Math.abs(v) <= bound));
      const x = torch.randn([1, 2, 5, 5], { generator: new torch.Generator(1) });
      const y = c.forward(x);
      assertShape(y, [1, 3, 3, 3]);
      assert.deepEqual(y.toArray(), F.conv2d(x, c.weight, c.bias, { stride: 2, padding: 1 }).toArray());
      const one = new nn.Conv2d(1, 1, 2, { bias: false });
      assert.equal(one.bias, null);
      setTo(one.weight, [1, 0, 0, -1]);
      const img = torch.arange(0, 9, 1, { dtype: 'float32' }).reshape([1, 1, 3, 3]);
      // x[i][j] - x[i+1][j+1] = -4 everywhere
      assertClose(one.forward(img), [-4, -4, -4, -4]);
      c.dispose();
      one.dispose();
    }));

  test('LayerNorm, GroupNorm, RMSNorm: defaults, forward equals the functional ops and hand values', () =>
    torch.tidy(() => {
      const x = torch.tensor([
        [1, 2, 3, 4],
        [2, 2, 2, 6],
      ]);
      const ln = new nn.LayerNorm(4);
      assert.equal(ln.eps, 1e-5);
      assert.deepEqual(ln.weight.toArray(), [1, 1, 1, 1]);
      assert.deepEqual(ln.bias.toArray(), [0, 0, 0, 0]);
      assert.deepEqual(ln.forward(x).toArray(), F.layerNorm(x, [4], ln.weight, ln.bias, 1e-5).toArray());
      // row 2: mean 3, biased var 3
      const s = Math.sqrt(3 + 1e-5);
      assertClose(ln.forward(x).select(0, 1), [-1 / s, -1 / s, -1 / s, 3 / s], { rtol: 1e-5 });
      setTo(ln.weight, [2, 2, 2, 2]);
      setTo(ln.bias, [1, 1, 1, 1]);
      assertClose(ln.forward(x).select(0, 1), [1 - 2 / s, 1 - 2 / s, 1 - 2 / s, 1 + 6 / s], { rtol: 1e-5 });

      const gn = new nn.GroupNorm(2, 4, 1e-5);
      const gx = x.reshape([2, 4, 1]);
      assert.deepEqual(gn.forward(gx).toArray(), F.groupNorm(gx, 2, gn.weight, gn.bias, 1e-5).toArray());
      // sample 0, groups {1,2} and {3,4}: ±0.5 around the group mean, biased var 0.25
      const g = Math.sqrt(0.25 + 1e-5);
      assertClose(gn.forward(gx).select(0, 0), [-0.5 / g, 0.5 / g, -0.5 / g, 0.5 / g], { rtol: 1e-5 });
      const gnDefault = new nn.GroupNorm(2, 4);
      assertClose(gnDefault.forward(gx), F.groupNorm(gx, 2, null, null, gnDefault.eps).toArray());

      const rms = new nn.RMSNorm(4);
      assert.equal(rms.eps, 1e-6);
      assert.deepEqual(rms.forward(x).toArray(), F.rmsNorm(x, rms.weight, 1e-6).toArray());
      const r = Math.sqrt((1 + 4 + 9 + 16) / 4 + 1e-6);
      assertClose(rms.forward(x).select(0, 0), [1 / r, 2 / r, 3 / r, 4 / r], { rtol: 1e-5 });
      setTo(rms.weight, [1, 0, -1, 2]);
      assertClose(rms.forward(x).select(0, 0), [1 / r, 0, -3 / r, 8 / r], { rtol: 1e-5 });
      for (const m of [ln, gn, gnDefault, rms]) m.dispose();
    }));

  test('Embedding: forward equals F.embedding, gradient accumulates per id', () =>
    torch.tidy(() => {
      const e = new nn.Embedding(5, 3, { generator: new torch.Generator(0) });
      assertShape(e.weight, [5, 3]);
      const ids = torch.tensor([[4, 0, 4]], { dtype: 'int64' });
      const y = e.forward(ids);
      assertShape(y, [1, 3, 3]);
      assert.deepEqual(y.toArray(), F.embedding(ids, e.weight).toArray());
      assert.deepEqual(y.select(1, 0).toArray(), e.weight.select(0, 4).toArray());
      y.sum().backward();
      assert.deepEqual(e.weight.grad!.toArray(), [1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2]);
      e.dispose();
    }));
});
