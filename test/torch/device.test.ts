/**
 * Devices: names and the one-line check, and moving a module (its tensors keep their JS identity and whether
 * they require gradients). CUDA itself is checked on a GPU machine by scripts/device-check.sh
 * (scripts/device-check/cuda.test.ts); this machine's libtorch is a CPU build.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { nn } from '../../src/torch/index.js';
import { UserError } from '../../src/util/errors.js';

test('device names: cuda is cuda:0; cpu passes the check; a bad name is a UserError', () => {
  assert.equal(torch.canonicalDevice('cuda'), 'cuda:0');
  assert.equal(torch.canonicalDevice('cuda:3'), 'cuda:3');
  assert.equal(torch.canonicalDevice('cpu'), 'cpu');
  assert.equal(torch.cudaIndex('cuda'), 0);
  assert.equal(torch.cudaIndex('cuda:3'), 3);
  assert.equal(torch.cudaIndex('cpu'), null);
  assert.throws(() => torch.checkDataParallelDevice('cuda:1'), /data parallel runs on the CPU only/);
  torch.checkDataParallelDevice('cpu');
  assert.equal(torch.checkDevice('cpu'), 'cpu');
  for (const bad of ['gpu', 'cuda:', 'cuda:x', 'cpu:0', 'CUDA'])
    assert.throws(
      () => torch.checkDevice(bad),
      (e: Error) => e instanceof UserError && /expected cpu, cuda or cuda:N/.test(e.message),
    );
  assert.throws(() => torch.checkDevice(`cuda:${torch.cudaDeviceCount()}`), UserError);
});

test('a build without CUDA reports no devices, no allocator statistics and nothing to synchronize', () => {
  if (torch.cudaBuild()) return assert.ok(torch.cudaMemory(0) !== null);
  assert.equal(torch.cudaDeviceCount(), 0);
  assert.equal(torch.cudaMemory(0), null);
  assert.equal(torch.cudaSynchronize(), false);
});

test('Module.to(device) keeps each tensor object, its values and requires_grad; moveTo_ drops the gradient', () => {
  const gen = new torch.Generator(1);
  const lin = new nn.Linear(3, 2, { generator: gen });
  const before = lin.parameters();
  const values = before.map((p) => p.toArray());
  lin.weight.requiresGrad_(false);
  assert.equal(lin.to('cpu'), lin);
  assert.deepEqual(lin.parameters(), before);
  assert.deepEqual(
    lin.parameters().map((p) => p.toArray()),
    values,
  );
  assert.equal(lin.weight.requiresGrad, false);
  assert.equal(lin.bias!.requiresGrad, true);
  // an explicit move of a tensor with a gradient: same object, same values, still a leaf that requires grad
  torch.tidy(() =>
    lin
      .forward(torch.ones([1, 3]))
      .sum()
      .backward(),
  );
  assert.ok(lin.bias!.grad !== null);
  const live = torch.liveTensors();
  lin.bias!.moveTo_('cpu');
  assert.equal(lin.bias!.grad, null);
  assert.equal(lin.bias!.requiresGrad, true);
  assert.deepEqual(lin.bias!.toArray(), values[1]);
  assert.ok(torch.liveTensors() <= live);
  lin.dispose();
});
