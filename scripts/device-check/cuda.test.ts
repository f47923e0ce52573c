/**
 * The CUDA path, run by scripts/device-check.sh on a machine with a CUDA device (never in CI: this repository's
 * CI machine has no GPU, and there the file refuses to run rather than pass). Each check compares CUDA with the
 * CPU on the same weights and inputs:
 *   - engine: matmul, softmax, the KV cache and attention, backward and an AdamW step;
 *   - model: text and image logits, scoreText / scoreImage, greedy text and image sampling (same tokens);
 *   - training: `device: cuda` runs of the RL fixture (float32; LoRA + bf16) finish with `mem/cuda_peak` in
 *     their metrics, and the float32 run's weights track the CPU run's.
 *   node --import tsx --test scripts/device-check/cuda.test.ts
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { F } from '../../src/torch/index.js';
import { leftPad } from '../../src/model/inputs.js';
import { scoreImage, scoreText } from '../../src/model/logprobs.js';
import { sampleImages, sampleText } from '../../src/model/sample.js';
import { loadULM } from '../../src/model/index.js';
import { loadTrainConfig } from '../../src/rl/config.js';
import { train } from '../../src/rl/trainer.js';
import { maxAbsDiff, microModel, tinyTokenizer } from '../../test/model/helpers.js';
import { makeFixture, writeConfig } from '../../test/rl/fixture.js';

if (!torch.cudaIsAvailable())
  throw new Error('scripts/device-check/cuda.test.ts needs a CUDA device (scripts/device-check.sh runs it)');
const CUDA = 'cuda';
torch.setNumThreads(1);

/** max |a - b| with a on the CPU and b anywhere. */
const diff = (a: torch.Tensor, b: torch.Tensor) => maxAbsDiff(a, b.to('cpu'));

test('engine: ops, the KV cache and attention, backward and AdamW agree with the CPU', () => {
  torch.tidy(() => {
    const gen = new torch.Generator(1);
    const a = torch.randn([64, 48], { generator: gen });
    const b = torch.randn([48, 32], { generator: gen });
    assert.ok(diff(a.matmul(b), a.to(CUDA).matmul(b.to(CUDA))) < 1e-4);
    assert.ok(diff(a.softmax(-1), a.to(CUDA).softmax(-1)) < 1e-6);
    const q = torch.randn([2, 4, 1, 16], { generator: gen });
    const k = torch.randn([2, 4, 9, 16], { generator: gen });
    const v = torch.randn([2, 4, 9, 16], { generator: gen });
    const cache = new torch.KVCache(12);
    const kv = cache.append(0, k.to(CUDA), v.to(CUDA));
    assert.equal(kv.k.device, 'cuda:0');
    assert.ok(
      diff(F.scaledDotProductAttention(q, k, v), F.scaledDotProductAttention(q.to(CUDA), kv.k, kv.v)) < 1e-5,
    );
    cache.dispose();
  });
  const step = (device: string) => {
    const gen = new torch.Generator(2);
    const lin = new torch.nn.Linear(8, 4, { generator: gen }).to(device);
    const opt = new torch.optim.AdamW(lin.parameters(), { lr: 0.1, weightDecay: 0.01 });
    torch.tidy(() => {
      const x = torch.randn([5, 8], { generator: new torch.Generator(3) });
      lin.forward(x).pow(2).mean().backward();
      opt.step();
    });
    const w = lin.weight.to('cpu').keep();
    opt.dispose();
    lin.dispose();
    return w;
  };
  const [cpu, cuda] = [step('cpu'), step(CUDA)];
  assert.ok(maxAbsDiff(cpu, cuda) < 1e-6, `AdamW step: ${maxAbsDiff(cpu, cuda)}`);
  torch.dispose([cpu, cuda]);
});

test('model: logits, log-probs and greedy sampling on CUDA equal the CPU', () => {
  const tok = tinyTokenizer();
  const cpu = microModel(tok, 5);
  const gpu = microModel(tok, 5).to(CUDA);
  assert.equal(gpu.device, 'cuda:0');
  torch.noGrad(() =>
    torch.tidy(() => {
      const p = leftPad(
        [
          [5, 6, 7, 8],
          [9, 10],
        ],
        tok.special.pad,
      );
      const logits = (m: typeof cpu) =>
        m.forward({ inputIds: p.ids, attentionMask: p.attentionMask }).logits!;
      assert.ok(diff(logits(cpu), logits(gpu)) < 1e-4, 'text logits');
      const completion = {
        ids: torch.tensor(BigInt64Array.from([5n, 6n, 7n, 8n]), { shape: [2, 2] }),
        mask: torch.ones([2, 2], { dtype: 'bool' }),
      };
      assert.ok(diff(scoreText(cpu, p, completion), scoreText(gpu, p, completion)) < 1e-4, 'scoreText');
      const codes = torch.randint(0, 16, [2, cpu.numGenTokens], { generator: new torch.Generator(4) });
      const o = { mode: 'cfg' as const, padId: tok.special.pad };
      assert.ok(diff(scoreImage(cpu, p, codes, o), scoreImage(gpu, p, codes, o)) < 1e-4, 'scoreImage');
      const text = (m: typeof cpu) =>
        sampleText(m, p, { maxNewTokens: 6, temperature: 0, eosId: tok.special.eos, padId: tok.special.pad })
          .ids;
      assert.deepEqual(text(gpu), text(cpu), 'greedy text');
      const images = (m: typeof cpu) =>
        sampleImages(m, p, { imagesPerPrompt: 2, temperature: 0, padId: tok.special.pad }).codes.toArray();
      assert.deepEqual(images(gpu), images(cpu), 'greedy image codes');
      // sampled draws come from the same CPU generator on either device
      const drawn = (m: typeof cpu) =>
        sampleImages(m, p, { padId: tok.special.pad, generator: new torch.Generator(9) }).codes.toArray();
      const [x, y] = [drawn(cpu), drawn(gpu)];
      const same = x.filter((c, i) => c === y[i]).length / x.length;
      assert.ok(same > 0.95, `sampled codes equal in ${same} of positions`);
    }),
  );
  cpu.dispose();
  gpu.dispose();
});

test('training with device cuda: float32 tracks the CPU run; LoRA + bf16 runs; mem/cuda_peak is logged', () => {
  const fx = makeFixture();
  const run = (name: string, fields: Record<string, unknown>) => {
    const cfg = loadTrainConfig(
      writeConfig(fx, name, { steps: 2, save_every: 0, sample_every: 0, ...fields }),
    );
    train(cfg, { quiet: true });
    const rows = readFileSync(join(cfg.out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    return { out: cfg.out, rows };
  };
  const cpu = run('cpu', {});
  const gpu = run('cuda', { device: CUDA });
  assert.ok(gpu.rows.every((r) => typeof r['mem/cuda_peak'] === 'number' && r['mem/cuda_peak'] > 0));
  const weights = (out: string) => loadULM(join(out, 'checkpoint-2', 'model')).model.stateDict();
  const [a, b] = [weights(cpu.out), weights(gpu.out)];
  let worst = 0;
  for (const [n, t] of a) worst = Math.max(worst, maxAbsDiff(t, b.get(n)!));
  assert.ok(worst < 1e-3, `largest weight difference after 2 steps: ${worst}`);
  const lora = run('cuda-lora-bf16', {
    device: CUDA,
    dtype: 'bfloat16',
    lora: { r: 4, alpha: 8, target_modules: ['q_proj', 'v_proj'] },
  });
  assert.equal(lora.rows.filter((r) => r.step !== undefined && r.step_time !== undefined).length, 2);
});
