/**
 * Activation checkpointing: a checkpointed function gives the gradients of the plain one (inputs and
 * parameters, float64 exactly and the LLM in float32 within 1e-6), with frozen inputs too (the LoRA case),
 * dropout masks repeat in the recomputation, and the live-tensor count stays flat.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import { LlamaForCausalLM, presetConfig } from '../../src/model/index.js';
import { applyLora } from '../../src/model/lora.js';

test('a checkpointed function has the plain gradients in its inputs and parameters', () => {
  const live0 = torch.liveTensors();
  const g = new torch.Generator(1);
  const w = torch.randn([4, 4], { dtype: 'float64', generator: g }).keep().requiresGrad_(true);
  const x0 = torch.randn([3, 4], { dtype: 'float64', generator: g }).keep();
  const f = ([x]: Tensor[]) => [x!.matmul(w).tanh().matmul(w).sin()];
  const grads = (ckpt: boolean) =>
    torch.tidy(() => {
      w.grad = null;
      const x = x0.clone().requiresGrad_(true);
      const y = ckpt ? torch.checkpoint(f, [x])[0]! : f([x])[0]!;
      y.mul(y).sum().backward();
      return [x.grad!.toArray(), w.grad!.toArray()];
    });
  const plain = grads(false);
  for (let i = 0; i < 3; i++) assert.deepEqual(grads(true), plain);
  // no input requires grad: the parameter still gets its gradient (the node is recorded through a token)
  torch.tidy(() => {
    w.grad = null;
    torch.checkpoint(f, [x0])[0]!.sum().backward();
    assert.ok(w.grad !== null);
  });
  w.grad = null;
  // without grad mode it is the function itself
  torch.noGrad(() => torch.tidy(() => assert.equal(torch.checkpoint(f, [x0])[0]!.requiresGrad, false)));
  w.dispose();
  x0.dispose();
  assert.equal(torch.liveTensors(), live0, 'no tensor outlives the steps');
});

function llm(seed: number): LlamaForCausalLM {
  const c = presetConfig('test-micro', { vocabSize: 64 }).language_config;
  return new LlamaForCausalLM({ ...c, num_hidden_layers: 3 }, { generator: new torch.Generator(seed) });
}

/** Every gradient of a causal-LM loss on a fixed batch (with left padding). */
function lmGrads(m: LlamaForCausalLM, params: Tensor[], ckpt: boolean, seed = 0): number[][] {
  m.model.gradientCheckpointing = ckpt;
  for (const p of params) p.grad = null;
  torch.manualSeed(seed);
  return torch.tidy(() => {
    const ids = torch.tensor([3, 7, 9, 11, 2, 5, 0, 0, 8, 1, 4, 6, 10, 12, 13, 14], {
      shape: [2, 8],
      dtype: 'int64',
    });
    const mask = torch.tensor([1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1], {
      shape: [2, 8],
      dtype: 'int64',
    });
    const { logits } = m.forward({ inputIds: ids, attentionMask: mask });
    logits!
      .logSoftmax(-1)
      .narrow(1, 0, 7)
      .gather(2, ids.narrow(1, 1, 7).unsqueeze(2))
      .sum()
      .neg()
      .backward();
    return params.map((p) => p.grad!.toArray());
  });
}

function maxDiff(a: number[][], b: number[][]): number {
  let d = 0;
  a.forEach((xs, i) => xs.forEach((x, j) => (d = Math.max(d, Math.abs(x - b[i]![j]!)))));
  return d;
}

test('the LLM with checkpointed layers has the same gradients (float32, within 1e-6) and flat live tensors', () => {
  const m = llm(3);
  const params = m.parameters();
  const plain = lmGrads(m, params, false);
  const live0 = torch.liveTensors();
  const ckpt = lmGrads(m, params, true);
  for (const p of params) p.grad = null;
  assert.equal(torch.liveTensors(), live0, 'live tensors are flat across a checkpointed step');
  assert.ok(maxDiff(plain, ckpt) <= 1e-6, `max |grad diff| ${maxDiff(plain, ckpt)}`);
  lmGrads(m, params, true);
  for (const p of params) p.grad = null;
  assert.equal(torch.liveTensors(), live0);
  m.dispose();
});

test('with LoRA (frozen base, dropout 0.3) the checkpointed adapters get the same gradients', () => {
  const m = llm(4);
  m.requiresGrad_(false);
  const lora = applyLora(
    m,
    { r: 2, alpha: 4, dropout: 0.3, targetModules: ['q_proj', 'v_proj', 'down_proj'] },
    { generator: new torch.Generator(5) },
  );
  const params = lora.parameters();
  torch.noGrad(() => {
    for (const p of params) torch.tidy(() => p.copy_(torch.randn(p.shape).mul(0.1)));
  });
  const plain = lmGrads(m, params, false, 11);
  const ckpt = lmGrads(m, params, true, 11);
  assert.ok(maxDiff(plain, ckpt) <= 1e-6, `max |grad diff| ${maxDiff(plain, ckpt)}`);
  // another dropout seed gives other gradients: the masks are real and the recomputation repeats them
  assert.ok(maxDiff(plain, lmGrads(m, params, true, 12)) > 1e-4);
  lora.dispose();
  m.dispose();
});
