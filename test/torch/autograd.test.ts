/** Autograd plumbing: grad mode, leaves, accumulation, retained graphs, explicit output gradients. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { assertClose } from '../helpers/gradcheck.js';

test('noGrad / enableGrad / isGradEnabled, restored after a throw', () =>
  torch.tidy(() => {
    const p = torch.ones([2]).requiresGrad_();
    assert.equal(torch.isGradEnabled(), true);
    const y = torch.noGrad(() => {
      assert.equal(torch.isGradEnabled(), false);
      const inner = torch.enableGrad(() => {
        assert.equal(torch.isGradEnabled(), true);
        return p.mul(2);
      });
      assert.equal(inner.requiresGrad, true);
      return p.mul(3);
    });
    assert.equal(y.requiresGrad, false);
    assert.equal(torch.isGradEnabled(), true);
    assert.throws(() =>
      torch.noGrad(() => {
        throw new Error('inside');
      }),
    );
    assert.equal(torch.isGradEnabled(), true, 'grad mode restored after an exception');
    assert.equal(p.mul(3).requiresGrad, true);
  }));

test('leaves, detach, requiresGrad flags', () =>
  torch.tidy(() => {
    const p = torch.ones([2]).requiresGrad_();
    assert.equal(p.isLeaf, true);
    assert.equal(p.requiresGrad, true);
    const y = p.mul(2);
    assert.equal(y.isLeaf, false);
    const d = y.detach();
    assert.equal(d.requiresGrad, false);
    assert.equal(d.isLeaf, true);
    assert.deepEqual(d.toArray(), [2, 2]);
    p.requiresGrad_(false);
    assert.equal(p.requiresGrad, false);
    assert.equal(p.mul(2).requiresGrad, false);
  }));

test('gradients accumulate across backward calls until cleared', () =>
  torch.tidy(() => {
    const p = torch.tensor([1, 2, 3], { dtype: 'float64' }).requiresGrad_();
    assert.equal(p.grad, null);
    p.mul(p).sum().backward(); // 2p
    assertClose(p.grad!, [2, 4, 6]);
    p.mul(3).sum().backward(); // + 3
    assertClose(p.grad!, [5, 7, 9]);
    p.grad = null;
    assert.equal(p.grad, null);
    p.sum().backward();
    assertClose(p.grad!, [1, 1, 1]);
    // a handle on .grad sees later in-place accumulation (it shares the gradient tensor)
    const g = p.grad!;
    p.sum().backward();
    assertClose(g, [2, 2, 2]);
  }));

test('backward with retainGraph and an explicit output gradient', () =>
  torch.tidy(() => {
    const x = torch.tensor([1, 2], { dtype: 'float64' }).requiresGrad_();
    const y = x.exp();
    y.backward(torch.tensor([1, 0.5], { dtype: 'float64' }), { retainGraph: true });
    assertClose(x.grad!, [Math.E, 0.5 * Math.exp(2)], { rtol: 1e-12 });
    y.backward(torch.tensor([1, 0], { dtype: 'float64' }));
    assertClose(x.grad!, [2 * Math.E, 0.5 * Math.exp(2)], { rtol: 1e-12 });
  }));

test('gradients flow through a module-style chain only to tensors that require them', () =>
  torch.tidy(() => {
    const w = torch
      .tensor(
        [
          [2, 0],
          [0, 3],
        ],
        { dtype: 'float64' },
      )
      .requiresGrad_();
    const x = torch.tensor([[1, 1]], { dtype: 'float64' });
    const loss = x.matmul(w).pow(2).sum(); // (2)^2 + (3)^2
    assert.equal(loss.item(), 13);
    loss.backward();
    // d/dw_ij = 2 (x w)_j x_i
    assertClose(w.grad!, [4, 6, 4, 6]);
    assert.equal(x.grad, null);
  }));
