/**
 * Parity with Python PyTorch: a few op outputs, gradients and AdamW steps computed by corl and by
 * /usr/bin/python3's torch (or $CORL_PYTHON's) on the same inputs. Without Python torch the test fails
 * (CORL_SKIP_PARITY=1 skips it with the reason shown).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as torch from '../../src/torch/index.js';
import { F, optim, type Tensor } from '../../src/torch/index.js';
import { assertClose } from '../helpers/gradcheck.js';
import { missingReference, paritySkip } from '../helpers/python-fixture.js';

const PYTHON = process.env.CORL_PYTHON ?? '/usr/bin/python3';

// Deterministic inputs shared by both sides.
const seq = (n: number, a: number, b = 0) => Array.from({ length: n }, (_, i) => Math.sin(a * i + b) * 1.5);
const INPUT = {
  x: seq(24, 0.7), // [2, 3, 4]
  img: seq(32, 0.37, 1), // [1, 2, 4, 4]
  w: seq(18, 1.1, 2), // [1, 2, 3, 3]
  logits: seq(20, 0.9, 3), // [4, 5]
  targets: [1, -100, 4, 0],
  gn: seq(4, 0.5, 1),
  grads: [seq(6, 0.3), seq(6, 0.8, 1), seq(6, 1.7, 2)],
};

const SCRIPT = String.raw`
import json, sys, torch
import torch.nn.functional as F
torch.set_default_dtype(torch.float64)
d = json.load(sys.stdin)
x = torch.tensor(d['x']).reshape(2, 3, 4)
img = torch.tensor(d['img']).reshape(1, 2, 4, 4)
w = torch.tensor(d['w']).reshape(1, 2, 3, 3)
logits = torch.tensor(d['logits']).reshape(4, 5).requires_grad_()
t = torch.tensor(d['targets'])
out = {}
out['gelu'] = F.gelu(x).flatten().tolist()
out['gelu_tanh'] = F.gelu(x, approximate='tanh').flatten().tolist()
out['silu'] = F.silu(x).flatten().tolist()
out['softmax'] = torch.softmax(x, -1).flatten().tolist()
out['logsumexp'] = torch.logsumexp(x, 1).flatten().tolist()
out['var'] = torch.var(x, [0, 2], unbiased=True).tolist()
out['std_biased'] = torch.std(x, -1, unbiased=False).flatten().tolist()
out['layer_norm'] = F.layer_norm(x, [4]).flatten().tolist()
out['group_norm'] = F.group_norm(img, 2, torch.tensor(d['gn'][:2]), torch.tensor(d['gn'][2:]), 1e-5).flatten().tolist()
out['conv2d'] = F.conv2d(img, w, None, 2, 1).flatten().tolist()
out['upsample'] = F.interpolate(img, size=(5, 7), mode='nearest').flatten().tolist()
out['avg_pool'] = F.avg_pool2d(img, 2, 2).flatten().tolist()
out['cumsum'] = torch.cumsum(x, 1).flatten().tolist()
out['topk_idx'] = torch.topk(x, 2, -1).indices.flatten().tolist()
loss = F.cross_entropy(logits, t, ignore_index=-100, label_smoothing=0.1)
loss.backward()
out['ce'] = loss.item()
out['ce_grad'] = logits.grad.flatten().tolist()
p = torch.tensor(d['x'][:6]).requires_grad_()
opt = torch.optim.AdamW([p], lr=0.01, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1)
for g in d['grads']:
    p.grad = torch.tensor(g)
    opt.step()
out['adamw'] = p.detach().tolist()
g = torch.Generator().manual_seed(1234)
out['randn'] = torch.randn(5, generator=g, dtype=torch.float32).tolist()
out['randint'] = torch.randint(0, 50, (5,), generator=g).tolist()
print(json.dumps(out))
`;

/** Runs the reference script once (importing torch takes seconds); unavailable when python or torch is missing. */
function runPython(): { ok: true; stdout: string } | { ok: false; reason: string } {
  const r = spawnSync(PYTHON, ['-c', SCRIPT], {
    input: JSON.stringify(INPUT),
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (r.error) return { ok: false, reason: `${PYTHON} could not run (${r.error.message})` };
  if (r.status !== 0 && /No module named '?torch/.test(r.stderr)) {
    return { ok: false, reason: `${PYTHON} cannot import torch` };
  }
  assert.equal(r.status, 0, `the reference script failed: ${r.stderr}`);
  return { ok: true, stdout: r.stdout };
}

const py = runPython();
const skip = paritySkip(py, 'Python PyTorch');

function corlSide(): Record<string, number[]> {
  return torch.tidy(() => {
    const f64 = (v: number[], shape: number[]) => torch.tensor(v, { dtype: 'float64', shape });
    const x = f64(INPUT.x, [2, 3, 4]);
    const img = f64(INPUT.img, [1, 2, 4, 4]);
    const w = f64(INPUT.w, [1, 2, 3, 3]);
    const logits = f64(INPUT.logits, [4, 5]).requiresGrad_();
    const t = torch.tensor(INPUT.targets, { dtype: 'int64' });
    const arr = (a: Tensor) => a.toArray();
    const loss = F.crossEntropy(logits, t, { labelSmoothing: 0.1 });
    loss.backward();
    const p = f64(INPUT.x.slice(0, 6), [6]).requiresGrad_();
    const opt = new optim.AdamW([p], { lr: 0.01, betas: [0.9, 0.99], eps: 1e-8, weightDecay: 0.1 });
    for (const g of INPUT.grads) {
      torch.tidy(() => {
        p.grad = f64(g, [6]);
      });
      opt.step();
    }
    opt.dispose();
    const gen = new torch.Generator(1234);
    return {
      gelu: arr(x.gelu()),
      gelu_tanh: arr(x.gelu('tanh')),
      silu: arr(x.silu()),
      softmax: arr(x.softmax(-1)),
      logsumexp: arr(x.logsumexp(1)),
      var: arr(x.var([0, 2])),
      std_biased: arr(x.std(-1, { unbiased: false })),
      layer_norm: arr(F.layerNorm(x, [4])),
      group_norm: arr(F.groupNorm(img, 2, f64(INPUT.gn.slice(0, 2), [2]), f64(INPUT.gn.slice(2), [2]), 1e-5)),
      conv2d: arr(F.conv2d(img, w, null, { stride: 2, padding: 1 })),
      upsample: arr(F.upsampleNearest2d(img, [5, 7])),
      avg_pool: arr(F.avgPool2d(img, 2, 2)),
      cumsum: arr(x.cumsum(1)),
      topk_idx: arr(x.topk(2, -1).indices),
      ce: [loss.item()],
      ce_grad: arr(logits.grad!),
      adamw: arr(p),
      randn: arr(torch.randn([5], { generator: gen })),
      randint: arr(torch.randint(0, 50, [5], { generator: gen })),
    };
  });
}

test('parity with Python PyTorch (ops, gradients, AdamW, seeded RNG)', { skip }, () => {
  if (!py.ok) return assert.fail(missingReference(py));
  const ref = JSON.parse(py.stdout.trim().split('\n').pop()!) as Record<string, number | number[]>;
  const ours = corlSide();
  const keys = Object.keys(ours);
  assert.deepEqual(Object.keys(ref).sort(), [...keys].sort());
  for (const k of keys) {
    const want = ref[k]!;
    const exact = k === 'topk_idx' || k === 'randint';
    assertClose(ours[k]!, Array.isArray(want) ? want : [want], {
      rtol: exact ? 0 : k === 'randn' ? 1e-6 : 1e-10,
      atol: exact ? 0 : 1e-12,
      msg: k,
    });
  }
});
