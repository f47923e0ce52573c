/**
 * `dtype: bfloat16`: bf16 weights and activations with fp32 master weights and AdamW state (src/torch/
 * mixed-precision.ts). One update on the same rollout tracks the float32 update, the masters and moments stay
 * float32, nothing leaks, and a tiny `corl train` run with bf16 + LoRA + activation checkpointing runs end to
 * end, saves float32 checkpoints and resumes bit-exactly.
 *
 * Tolerances. bf16 keeps 8 significant bits: each rounding is off by at most u = 2^-8 ~ 3.9e-3 relative.
 * test-micro's forward is a chain of a few tens of rounded ops per token (2 layers: norm, 4 projections,
 * rope, attention, MLP, residual adds; then a head) whose errors partly cancel, like a random walk, so the
 * log-probs (float32 from bf16 logits) and the gradients are expected within about u * sqrt(40) ~ 2.5e-2
 * relative of the float32 ones, not within float32's 1e-6. Measured on this machine: log-probs within 2e-4
 * (text) and 6e-4 (image) of the largest |log-prob|, gradients 5e-3 relative L2 error (cosine 0.99999), so the
 * bounds are 1e-2 and 2e-2 (cosine 0.9995): about 4x the measurement for the gradients, under the ~u * sqrt(n)
 * estimate, and they catch a wrong cast (float16's 5 exponent bits, a gradient rounded to bf16 twice, a bf16
 * optimizer). AdamW's first step divides each element's gradient by its own magnitude (lr * g / |g|), so
 * elements whose gradient is near bf16's noise can flip sign: the update's relative error is larger (measured
 * 9e-2, bound 0.25) while it still points the same way.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import { loadTrainConfig, type TrainConfig } from '../../src/rl/config.js';
import { loadExamples } from '../../src/rl/data.js';
import { estimateMemory } from '../../src/rl/memory.js';
import { buildRun, disposeRun, train, updateFromRewards, type Run } from '../../src/rl/trainer.js';
import { loadULM, scoreImage, scoreText } from '../../src/model/index.js';
import { relDiff } from '../helpers/data-parallel.js';
import { fixedRollout, makeFixture, writeConfig, type FixedRollout } from './fixture.js';

const fx = makeFixture();
const CLI = join(import.meta.dirname, '..', '..', 'bin', 'corl.js');

/** The concatenated values of some tensors, as float64 numbers. */
function flat(ts: readonly Tensor[]): number[] {
  return torch.tidy(() => ts.flatMap((t) => t.toArray()));
}
function cosine(a: readonly number[], b: readonly number[]): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  a.forEach((x, i) => {
    ab += x * b[i]!;
    aa += x * x;
    bb += b[i]! ** 2;
  });
  return ab / Math.sqrt(aa * bb);
}

/** One update of `run` on a fixed rollout; returns the gradients AdamW saw (after clipping) and the metrics. */
function oneUpdate(run: Run, r: FixedRollout): { grads: number[]; metrics: Record<string, unknown> } {
  let grads: number[] = [];
  const step = run.opt.step.bind(run.opt);
  run.opt.step = () => {
    grads = flat(run.opt.params.map((p) => p.grad!));
    step();
  };
  const metrics = torch.tidy(
    () => updateFromRewards(run, 0, r.images, r.answers, r.rewards, r.prompts).update,
  );
  run.opt.step = step;
  return { grads, metrics };
}

test('a bf16 update tracks the float32 update on the same rollout; masters and moments stay float32', () => {
  const live0 = torch.liveTensors();
  // beta > 0: the reference is loaded (in bf16) and the KL term is in the loss; lr large enough that Adam's
  // first step (about lr per element) is far above bf16's rounding of the weights
  const cfg32 = loadTrainConfig(
    writeConfig(fx, 'cmp', { batch_size: 2, micro_batch_size: 1, beta: 0.04, lr: 1e-3, max_grad_norm: 1e9 }),
  );
  const cfg16: TrainConfig = { ...cfg32, dtype: 'bfloat16' };
  const examples = loadExamples(cfg32.data, { requireQuestion: true });
  torch.manualSeed(1);
  const run32 = buildRun(cfg32, loadULM(cfg32.model), examples);
  torch.manualSeed(1);
  const run16 = buildRun(cfg16, loadULM(cfg16.model), examples);
  try {
    assert.equal(run32.master ?? null, null, 'a float32 run has no masters');
    const trained = run16.policy.model.namedParameters().filter(([, p]) => p.requiresGrad);
    assert.ok(trained.length > 0);
    assert.equal(run16.master!.params.length, trained.length, 'one master per trained tensor');
    for (const [n, p] of run16.policy.model.namedParameters()) assert.equal(p.dtype, 'bfloat16', n);
    for (const p of run16.opt.params) assert.equal(p.dtype, 'float32');
    for (const t of run16.opt.stateDict().tensors.values()) assert.equal(t.dtype, 'float32');
    assert.equal(run16.ref!.model.parameters()[0]!.dtype, 'bfloat16', 'the reference is bf16 too');
    // activations are bf16: the embeddings and the head's logits (nothing promotes them to float32)
    const [embed, logits] = torch.tidy(() => {
      const e = run16.policy.model.language_model.embed(torch.tensor([[1, 2]], { dtype: 'int64' }));
      return [e.dtype, run16.policy.model.textLogits(e).dtype];
    });
    assert.equal(embed, 'bfloat16');
    assert.equal(logits, 'bfloat16');
    // the memory estimate: bf16 weights + fp32 masters, fp32 moments either way
    const e32 = estimateMemory(cfg32, run32.policy.model, run32.opt.params);
    const e16 = estimateMemory(cfg16, run16.policy.model, run16.opt.params);
    const trainedNumel = trained.reduce((a, [, t]) => a + t.numel, 0);
    assert.equal(e16.weights, e32.weights / 2 + 4 * trainedNumel);
    assert.equal(e16.grads, 1.5 * e32.grads);
    assert.equal(e16.optimizer, e32.optimizer);
    assert.ok(e16.activations < e32.activations);
    const p0 = flat(run16.opt.params);
    assert.deepEqual(p0, flat(run32.opt.params), 'the masters start as the float32 weights exactly');

    // the same rollout for both: sampled by the float32 policy before either update (freed by the tidy)
    torch.tidy(() => compareUpdates(run32, run16, p0));
  } finally {
    disposeRun(run32);
    disposeRun(run16);
  }
  assert.equal(torch.liveTensors(), live0, 'every tensor of both runs is released');
});

function compareUpdates(run32: Run, run16: Run, p0: number[]): void {
  const master = run16.master!;
  const rollout = fixedRollout(run32);
  // the answers' log-probs before the update: float32 out of the bf16 model (logits cast before log-softmax)
  const { answers } = rollout;
  const [lp32, lp16] = [run32, run16].map((run) =>
    scoreText(run.policy.model, answers.prompts, { ids: answers.tokens, mask: answers.mask }, {}),
  );
  assert.equal(lp16!.dtype, 'float32');
  const live = answers.mask.toArray();
  const x32 = lp32!.toArray().filter((_, i) => live[i]);
  const x16 = lp16!.toArray().filter((_, i) => live[i]);
  const lpErr = Math.max(...x16.map((x, i) => Math.abs(x - x32[i]!)));
  const lpScale = Math.max(...x32.map(Math.abs));
  assert.ok(lpErr < 1e-2 * lpScale, `text log-prob max error ${lpErr} (largest |log-prob| ${lpScale})`);
  // and the images' (codes) log-probs, as the update scores them
  const { images } = rollout;
  const [ip32, ip16] = [run32, run16].map((run) =>
    scoreImage(run.policy.model, images.prompts, images.codes, {
      mode: run.cfg.image_logprob_mode,
      cfgWeight: run.cfg.cfg_weight,
      temperature: run.cfg.temperature,
      padId: run.policy.tok.special.pad,
    }).toArray(),
  );
  const imgErr = Math.max(...ip16!.map((x, i) => Math.abs(x - ip32![i]!)));
  const imgScale = Math.max(...ip32!.map(Math.abs));
  assert.ok(imgErr < 1e-2 * imgScale, `image log-prob max error ${imgErr} (largest |log-prob| ${imgScale})`);
  const a = oneUpdate(run32, rollout);
  const b = oneUpdate(run16, rollout);
  // the gradients AdamW saw
  assert.equal(b.grads.length, a.grads.length);
  const gErr = relDiff(b.grads, a.grads);
  const gCos = cosine(b.grads, a.grads);
  assert.ok(gErr < 0.02, `gradient relative error ${gErr}`);
  assert.ok(gCos > 0.9995, `gradient cosine ${gCos}`);
  // the step (on the masters) against the float32 step
  const d32 = flat(run32.opt.params).map((x, i) => x - p0[i]!);
  const d16 = flat(run16.opt.params).map((x, i) => x - p0[i]!);
  const dErr = relDiff(d16, d32);
  assert.ok(dErr < 0.25, `update relative error ${dErr}`);
  // afterwards: masters still float32, the model's parameters are exactly the masters rounded to bf16
  for (const p of run16.opt.params) assert.equal(p.dtype, 'float32');
  torch.tidy(() =>
    master.params.forEach((p, i) => {
      assert.equal(p.dtype, 'bfloat16');
      assert.deepEqual(p.toArray(), master.master[i]!.to('bfloat16').toArray(), 'model = bf16(master)');
      assert.equal(p.grad, null, 'the bf16 gradients are freed');
    }),
  );
  for (const t of run16.opt.stateDict().tensors.values()) assert.equal(t.dtype, 'float32');
  console.log(
    `bf16 vs float32: text log-prob max error ${lpErr.toExponential(2)} (|log-prob| up to ${lpScale.toFixed(2)}), ` +
      `image log-prob max error ${imgErr.toExponential(2)} (|log-prob| up to ${imgScale.toFixed(2)}); ` +
      `gradient rel err ${gErr.toExponential(2)}, cosine ${gCos.toFixed(6)}; update rel err ${dErr.toExponential(2)}`,
  );

  // further updates allocate nothing that stays
  oneUpdate(run16, rollout);
  const live1 = torch.liveTensors();
  oneUpdate(run16, rollout);
  oneUpdate(run16, rollout);
  assert.equal(torch.liveTensors(), live1, 'live tensors flat over bf16 updates');
}

test('the masters keep updates that bf16 would round away', () => {
  const p = torch.tensor([1, 0.5, -2]).requiresGrad_(true);
  const m = new torch.MasterWeights([p], 'bfloat16');
  const opt = new torch.optim.AdamW(m.master, { lr: 1e-4, weightDecay: 0 });
  const before = p.toArray();
  for (let i = 0; i < 3; i++) {
    torch.tidy(() =>
      p
        .mul(torch.tensor([1, 1, 1]).to('bfloat16'))
        .sum()
        .backward(),
    );
    m.gradsToMaster();
    assert.equal(m.master[0]!.grad!.dtype, 'float32');
    opt.step();
    m.copyToModel();
    m.zeroGrad();
  }
  // 3 steps of 1e-4 move the masters by 3e-4: below bf16's spacing at these magnitudes (2^-8 at 1)
  const ms = m.master[0]!.toArray();
  ms.forEach((x, i) => assert.ok(Math.abs(x - (before[i]! - 3e-4)) < 1e-6, `master ${i}: ${x}`));
  assert.deepEqual(p.toArray(), before, 'the bf16 copy has not moved yet');
  // the checkpoint view: the parameter holds the master's fp32 data inside withMasterData only
  m.withMasterData(() => {
    assert.equal(p.dtype, 'float32');
    assert.deepEqual(p.toArray(), ms);
  });
  assert.equal(p.dtype, 'bfloat16');
  assert.deepEqual(p.toArray(), before);
  opt.dispose();
  m.dispose();
  p.dispose();
});

test('corl train with dtype bfloat16 + LoRA + gradient checkpointing runs end to end and resumes exactly', () => {
  const fields = {
    steps: 2,
    save_every: 1,
    sample_every: 0,
    dtype: 'bfloat16',
    gradient_checkpointing: true,
    lora: { r: 2, alpha: 4, target_modules: ['q_proj', 'v_proj', 'down_proj'] },
  };
  const config = writeConfig(fx, 'bf16-lora', fields);
  const r = spawnSync(process.execPath, [CLI, 'train', '--config', config], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = loadTrainConfig(config).out;
  const rows = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, number>);
  assert.equal(rows.length, 2);
  for (const row of rows) {
    assert.ok(Number.isFinite(row.loss) && Number.isFinite(row.grad_norm) && row.grad_norm! > 0, 'finite');
    assert.ok(row['mem/peak_rss']! > 0);
  }
  // the checkpoint is float32 on disk: the adapter from the masters, the folded model widened
  const ckpt = join(out, 'checkpoint-2');
  for (const f of [
    join(ckpt, 'adapter', 'adapter_model.safetensors'),
    join(ckpt, 'model', 'model.safetensors'),
  ]) {
    assert.ok(existsSync(f), f);
    const { tensors } = torch.safetensors.loadSafetensors(f);
    for (const [k, t] of tensors) assert.equal(t.dtype, 'float32', `${f}: ${k}`);
    torch.dispose([...tensors.values()]);
  }
  const { tensors: opt } = torch.safetensors.loadSafetensors(join(ckpt, 'optimizer.safetensors'));
  for (const t of opt.values()) assert.equal(t.dtype, 'float32');
  torch.dispose([...opt.values()]);

  // resumed from checkpoint-1: the same adapter and moments bit for bit
  const cfg1 = loadTrainConfig(writeConfig(fx, 'bf16-lora-resume', { ...fields, steps: 1 }));
  train(cfg1, { quiet: true });
  train({ ...cfg1, steps: 2 }, { quiet: true, resume: true });
  for (const f of ['adapter/adapter_model.safetensors', 'optimizer.safetensors']) {
    assert.deepEqual(
      readFileSync(join(cfg1.out, 'checkpoint-2', f)),
      readFileSync(join(ckpt, f)),
      `${f} of the resumed run`,
    );
  }
});

test('a full fine-tuning bf16 run saves its fp32 masters and resumes exactly', () => {
  const live0 = torch.liveTensors();
  const fields = { steps: 2, save_every: 1, sample_every: 0, dtype: 'bfloat16', tasks: ['mm2t'] };
  const cfg = loadTrainConfig(writeConfig(fx, 'bf16-full', fields));
  assert.equal(cfg.dtype, 'bfloat16');
  train(cfg, { quiet: true });
  const cfg1 = loadTrainConfig(writeConfig(fx, 'bf16-full-resume', { ...fields, steps: 1 }));
  train(cfg1, { quiet: true });
  train({ ...cfg1, steps: 2 }, { quiet: true, resume: true });
  assert.equal(torch.liveTensors(), live0);
  const weights = (dir: string) => {
    const { tensors } = torch.safetensors.loadSafetensors(join(dir, 'model', 'model.safetensors'));
    const out = new Map([...tensors].map(([k, t]) => [k, t.toArray()] as const));
    for (const t of tensors.values()) assert.equal(t.dtype, 'float32');
    torch.dispose([...tensors.values()]);
    return out;
  };
  const a = weights(join(cfg.out, 'checkpoint-2'));
  const b = weights(join(cfg1.out, 'checkpoint-2'));
  assert.deepEqual(b, a, 'resumed = uninterrupted');
  // the trained (language-model) weights are the fp32 masters: not all on the bf16 grid
  const onGrid = (x: number) =>
    new Float32Array([x])[0] === x && (new Uint32Array(new Float32Array([x]).buffer)[0]! & 0xffff) === 0;
  const llm = [...a].filter(([k]) => k.startsWith('language_model.model.layers.'));
  assert.ok(
    llm.some(([, v]) => v.some((x) => !onGrid(x))),
    'masters saved at full precision',
  );
  const frozen = [...a].filter(([k]) => k.startsWith('gen_head.'));
  assert.ok(frozen.length > 0);
  for (const [k, v] of frozen) assert.ok(v.every(onGrid), `${k}: a frozen weight is the bf16 model's`);
  // the default is float32: a config without dtype loads as before
  const plain = loadTrainConfig(writeConfig(fx, 'plain', { steps: 1 }));
  assert.equal(plain.dtype, undefined);
});
