/**
 * LoRA adapters: the adapted Linear is W x + (alpha / r) B A x with gradients only in A and B (checked against
 * central differences), folding gives W + (alpha / r) B A (hand-computed), and PEFT's files round-trip.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { nn, type Tensor } from '../../src/torch/index.js';
import {
  adapterStateDict,
  applyLora,
  attachAdapter,
  foldAdapter,
  readAdapter,
  saveAdapter,
} from '../../src/model/lora.js';

/** A two-level module tree: block.q_proj (3 -> 2), block.k_proj (3 -> 2), head (2 -> 2). */
class Block extends nn.Module {
  readonly q_proj: nn.Linear;
  readonly k_proj: nn.Linear;
  constructor(g: torch.Generator) {
    super();
    this.q_proj = this.child('q_proj', new nn.Linear(3, 2, { bias: true, generator: g }));
    this.k_proj = this.child('k_proj', new nn.Linear(3, 2, { bias: false, generator: g }));
  }
}
class Net extends nn.Module {
  readonly block: Block;
  readonly head: nn.Linear;
  constructor(seed = 1) {
    super();
    const g = new torch.Generator(seed);
    this.block = this.child('block', new Block(g));
    this.head = this.child('head', new nn.Linear(2, 2, { bias: false, generator: g }));
  }
}

const set = (t: Tensor, values: number[]) =>
  torch.noGrad(() =>
    torch.tidy(() => {
      t.copy_(torch.tensor(values, { shape: t.shape }).to(t.dtype));
    }),
  );
const close = (a: number[], b: number[], tol: number, what: string) => {
  assert.equal(a.length, b.length, what);
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]!) <= tol, `${what}[${i}]: ${v} vs ${b[i]}`));
};

test('only the named Linears get adapters; a fresh adapter changes nothing; base weights stay out of the state dict', () => {
  const live0 = torch.liveTensors();
  const net = new Net();
  const keys = [...net.stateDict().keys()];
  const x = torch.randn([4, 3], { generator: new torch.Generator(2) }).keep();
  const before = torch.tidy(() => net.block.q_proj.forward(x).toArray());
  const lora = applyLora(net, { r: 2, alpha: 4, dropout: 0, targetModules: ['q_proj', 'k_proj'] });
  assert.deepEqual([...lora.modules.keys()], ['block.q_proj', 'block.k_proj']);
  assert.deepEqual([...net.stateDict().keys()], keys, 'the model state dict is unchanged');
  assert.deepEqual(
    [...lora.stateDict().keys()],
    [
      'base_model.model.block.q_proj.lora_A.weight',
      'base_model.model.block.q_proj.lora_B.weight',
      'base_model.model.block.k_proj.lora_A.weight',
      'base_model.model.block.k_proj.lora_B.weight',
    ],
  );
  assert.deepEqual(
    torch.tidy(() => net.block.q_proj.forward(x).toArray()),
    before,
    'B starts at zero: the adapted model computes what the base does',
  );
  assert.throws(
    () => applyLora(net, { r: 2, alpha: 4, dropout: 0, targetModules: ['nope'] }),
    /no Linear module named nope/,
  );
  assert.throws(
    () => applyLora(net, { r: 2, alpha: 4, dropout: 0, targetModules: ['q_proj'] }, { within: ['head'] }),
    /under head/,
  );
  lora.dispose();
  assert.equal(net.block.q_proj.adapter, null);
  net.dispose();
  x.dispose();
  assert.equal(torch.liveTensors(), live0);
});

test('folded weights equal W + (alpha / r) B A, hand-computed', () => {
  const live0 = torch.liveTensors();
  const net = new Net();
  // W [2, 3], r = 1, alpha = 4: scale 4
  set(net.block.q_proj.weight, [1, 2, 3, 4, 5, 6]);
  const lora = applyLora(net, { r: 1, alpha: 4, dropout: 0, targetModules: ['q_proj'] });
  const { lora: q } = lora.modules.get('block.q_proj')!;
  set(q.lora_A.weight, [1, 0, -1]); // A [1, 3]
  set(q.lora_B.weight, [2, 3]); // B [2, 1]
  // B A = [[2, 0, -2], [3, 0, -3]]; 4 B A = [[8, 0, -8], [12, 0, -12]]
  const expected = [9, 2, -5, 16, 5, -6];
  torch.tidy(() => {
    const folded = lora.foldedWeights();
    assert.deepEqual([...folded.keys()], ['block.q_proj.weight']);
    assert.deepEqual(folded.get('block.q_proj.weight')!.toArray(), expected);
    // the adapted forward is the folded Linear's (the bias included)
    const x = torch.tensor([0.5, -1, 2, 1, 1, 1], { shape: [2, 3] });
    const viaAdapter = net.block.q_proj.forward(x).toArray();
    const viaFolded = torch.F.linear(x, folded.get('block.q_proj.weight')!, net.block.q_proj.bias).toArray();
    close(viaAdapter, viaFolded, 1e-5, 'adapter vs folded');
  });
  // r = 2, alpha = 3 (scale 1.5): B A by hand
  const lora2 = applyLora(net, { r: 2, alpha: 3, dropout: 0, targetModules: ['k_proj'] });
  const { lora: k } = lora2.modules.get('block.k_proj')!;
  set(net.block.k_proj.weight, [0, 0, 0, 1, 1, 1]);
  set(k.lora_A.weight, [1, 2, 0, 0, 1, 1]); // A [2, 3]
  set(k.lora_B.weight, [1, -1, 2, 0.5]); // B [2, 2]
  // B A = [[1*1 + -1*0, 1*2 + -1*1, 1*0 + -1*1], [2*1 + 0.5*0, 2*2 + 0.5*1, 2*0 + 0.5*1]] = [[1, 1, -1], [2, 4.5, 0.5]]
  torch.tidy(() =>
    assert.deepEqual(
      lora2.foldedWeights().get('block.k_proj.weight')!.toArray(),
      [1.5, 1.5, -1.5, 4, 7.75, 1.75],
    ),
  );
  // foldAdapter on a fresh copy of the model, from the files: the same numbers, in place
  const dir = mkdtempSync(join(tmpdir(), 'corl-lora-'));
  saveAdapter(dir, lora, { model: net });
  const other = new Net();
  set(other.block.q_proj.weight, [1, 2, 3, 4, 5, 6]);
  const read = readAdapter(dir);
  assert.equal(foldAdapter(other, read), 1);
  read.dispose();
  assert.deepEqual(
    torch.tidy(() => other.block.q_proj.weight.toArray()),
    expected,
  );
  other.dispose();
  lora.dispose();
  lora2.dispose();
  net.dispose();
  assert.equal(torch.liveTensors(), live0);
});

test('PEFT files: names, config and a save / load round trip', () => {
  const live0 = torch.liveTensors();
  const net = new Net();
  const lora = applyLora(
    net,
    { r: 2, alpha: 8, dropout: 0.1, targetModules: ['q_proj', 'k_proj'] },
    { generator: new torch.Generator(5) },
  );
  torch.noGrad(() => {
    for (const p of lora.parameters()) torch.tidy(() => p.copy_(torch.randn(p.shape, { dtype: p.dtype })));
  });
  const dir = mkdtempSync(join(tmpdir(), 'corl-lora-'));
  saveAdapter(dir, lora, { baseModel: '/models/base', model: net });
  const cfg = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(cfg.peft_type, 'LORA');
  assert.equal(cfg.r, 2);
  assert.equal(cfg.lora_alpha, 8);
  assert.equal(cfg.lora_dropout, 0.1);
  assert.equal(cfg.base_model_name_or_path, '/models/base');
  assert.deepEqual(cfg.target_modules, ['q_proj', 'k_proj']);
  const header = torch.safetensors.readSafetensorsHeader(join(dir, 'adapter_model.safetensors'));
  assert.deepEqual([...header.entries.keys()].sort(), [...lora.stateDict().keys()].sort());
  assert.deepEqual(header.entries.get('base_model.model.block.q_proj.lora_A.weight')!.shape, [2, 3]);
  assert.deepEqual(header.entries.get('base_model.model.block.q_proj.lora_B.weight')!.shape, [2, 2]);

  // loaded back onto a fresh copy of the base: the same tensors and the same function
  const read = readAdapter(dir);
  assert.equal(read.scale, 4);
  const copy = new Net();
  const back = attachAdapter(copy, read);
  for (const [k, t] of lora.stateDict())
    assert.deepEqual(
      torch.tidy(() => back.stateDict().get(k)!.toArray()),
      torch.tidy(() => t.toArray()),
      k,
    );
  assert.deepEqual(
    torch.tidy(() => adapterStateDict(read).get('base_model.model.block.k_proj.lora_B.weight')!.shape),
    [2, 2],
  );
  read.dispose();
  // (without gradients: dropout acts only in a forward that records them)
  torch.noGrad(() =>
    torch.tidy(() => {
      const x = torch.randn([3, 3]);
      assert.deepEqual(copy.block.q_proj.forward(x).toArray(), net.block.q_proj.forward(x).toArray());
    }),
  );
  // a partial target list is written as a regex of the exact paths
  const dir2 = mkdtempSync(join(tmpdir(), 'corl-lora-'));
  const model2 = new Net();
  const partial = applyLora(
    model2,
    { r: 1, alpha: 1, dropout: 0, targetModules: ['q_proj', 'head'] },
    {
      within: ['block'],
    },
  );
  saveAdapter(dir2, partial, { model: model2 });
  const cfg2 = JSON.parse(readFileSync(join(dir2, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(cfg2.target_modules, '^(block\\.q_proj)$');
  for (const m of [back, lora, partial]) m.dispose();
  for (const m of [copy, net, model2]) m.dispose();
  assert.equal(torch.liveTensors(), live0);
});

test('the LoRA Linear backward matches central differences in x, A and B; W gets no gradient', () => {
  const live0 = torch.liveTensors();
  const net = new Net(3).to('float64');
  net.requiresGrad_(false);
  const lora = applyLora(net, { r: 2, alpha: 3, dropout: 0, targetModules: ['q_proj'] });
  const { lora: q } = lora.modules.get('block.q_proj')!;
  torch.noGrad(() =>
    torch.tidy(() => q.lora_B.weight.copy_(torch.randn(q.lora_B.weight.shape, { dtype: 'float64' }))),
  );
  const x = torch.randn([4, 3], { dtype: 'float64', generator: new torch.Generator(9) }).keep();
  const w = torch.randn([4, 2], { dtype: 'float64', generator: new torch.Generator(10) }).keep();
  const f = (input: Tensor) => torch.tidy(() => net.block.q_proj.forward(input).mul(w).sum().item());
  // analytic
  const xg = torch.tidy(() => x.clone().requiresGrad_(true).keep());
  torch.tidy(() => net.block.q_proj.forward(xg).mul(w).sum().backward());
  assert.equal(net.block.q_proj.weight.grad, null, 'the base weight is frozen');
  const targets: [string, Tensor, number[]][] = [
    ['x', x, torch.tidy(() => xg.grad!.toArray())],
    ['A', q.lora_A.weight, torch.tidy(() => q.lora_A.weight.grad!.toArray())],
    ['B', q.lora_B.weight, torch.tidy(() => q.lora_B.weight.grad!.toArray())],
  ];
  // numeric: perturb each element in place
  const eps = 1e-6;
  torch.noGrad(() => {
    for (const [name, t, analytic] of targets) {
      const flat = torch.tidy(() => t.toArray());
      flat.forEach((v, j) => {
        const at = (d: number) => {
          const data = [...flat];
          data[j] = v + d;
          torch.tidy(() => t.copy_(torch.tensor(data, { shape: t.shape, dtype: 'float64' })));
          return f(x);
        };
        const numeric = (at(eps) - at(-eps)) / (2 * eps);
        at(0);
        assert.ok(
          Math.abs(numeric - analytic[j]!) <= 1e-7 + 1e-6 * Math.abs(numeric),
          `d/d${name}[${j}]: analytic ${analytic[j]}, numeric ${numeric}`,
        );
      });
    }
  });
  xg.dispose();
  x.dispose();
  w.dispose();
  lora.dispose();
  net.dispose();
  assert.equal(torch.liveTensors(), live0);
});
