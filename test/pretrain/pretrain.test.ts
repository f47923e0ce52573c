/**
 * Pretraining end to end on the world-micro preset (seconds): the VQ trains and round-trips through its
 * folder (a VQ folder holding NaN weights is refused), SFT lowers the loss of every row kind without leaking
 * native tensors, the checkpoint loads, and the held-out evaluation returns every key. Budgets are in steps,
 * so the tests do not depend on the machine's speed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as torch from '../../src/torch/index.js';
import { loadULM } from '../../src/model/checkpoint.js';
import { pretrainPreset } from '../../src/pretrain/presets.js';
import { loadVQ, saveVQ } from '../../src/pretrain/vq.js';
import { VQModel } from '../../src/model/vq.js';
import { UserError } from '../../src/util/errors.js';
import { PRETRAIN_FILE, continueSFT, pretrainAll, runEval, runSFT, runVQ } from '../../src/pretrain/run.js';
import { WorldStream } from '../../src/pretrain/data.js';
import { pixelTensor } from '../../src/model/preprocess.js';
import { flattenEval } from '../../src/eval/evaluate.js';

torch.setNumThreads(1);
const preset = pretrainPreset('world-micro');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'corl-pretrain-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

const vqRun = runVQ(preset, 0, { steps: 30 });

test('VQ: trains (reconstruction improves), restarts dead codes, round-trips through its folder', () => {
  const logs = vqRun.logs;
  assert.equal(vqRun.steps, 30);
  assert.ok(logs.length >= 2);
  assert.ok(
    logs[logs.length - 1]!.recon < logs[0]!.recon,
    `recon ${logs[0]!.recon} -> ${logs.at(-1)!.recon}`,
  );
  assert.ok(logs.at(-1)!.restarted > 0, 'dead codes were restarted');
  const e = vqRun.eval;
  assert.equal(e.images, preset.vq.evalImages);
  for (const k of ['mse', 'recon_exact', 'recon_colors'] as const) assert.ok(e[k] >= 0 && e[k] <= 1, k);
  assert.ok(e.codes_used >= 1 && e.perplexity >= 1);

  const dir = path.join(tmp, 'vq');
  saveVQ(vqRun.vq, dir, { preset: preset.name });
  const { vq, preset: name } = loadVQ(dir);
  assert.equal(name, 'world-micro');
  const x = pixelTensor(new WorldStream(3).take(4).map((i) => i.render));
  const same = torch.noGrad(() => vq.encode(x).eq(vqRun.vq.encode(x)).all().item());
  assert.equal(same, 1);
  x.dispose();
  vq.dispose();
  assert.throws(() => loadVQ(tmp), /not a VQ folder/);
});

test('SFT: every row kind trains, the live-tensor count stays flat, the checkpoint loads and evaluates', () => {
  const live = torch.liveTensors();
  const { model, tokenizer, result, vision } = runSFT(preset, vqRun.vq, 0, { steps: 40 });
  // the vision stage ran first (the preset's steps, as SFT has a step budget) and left the ViT frozen for SFT
  assert.ok(vision !== undefined && vision.steps === preset.vision.steps && vision.frozen);
  assert.ok(model.vision_model.parameters().every((p) => !p.requiresGrad));
  assert.ok(model.language_model.parameters().every((p) => p.requiresGrad));
  // parameters and buffers stay; nothing else from the steps
  assert.equal(torch.liveTensors() - live, model.stateDict().size);
  assert.equal(result.steps, 40);
  const first = result.logs[0]!.loss;
  const last = result.logs.at(-1)!.loss;
  for (const k of ['gen', 'caption', 'oe', 'pope', 'mcq']) {
    assert.ok(first[k] !== undefined || k === 'mcq', `${k} logged`);
    assert.ok(last[k]! < (first[k] ?? Infinity) || k === 'mcq', `${k}: ${first[k]} -> ${last[k]}`);
  }
  for (const k of ['gen', 'caption', 'oe', 'pope', 'mcq'] as const) assert.ok((result.rows[k] ?? 0) > 0, k);
  // the VQ is frozen: its weights are the trained ones
  const same = torch.noGrad(() =>
    model.gen_vision_model.quantize.embedding.weight.eq(vqRun.vq.quantize.embedding.weight).all().item(),
  );
  assert.equal(same, 1);

  const e = runEval(preset, model, tokenizer, 0);
  const flat = flattenEval(e.result);
  for (const k of [
    'geneval/overall',
    'mcq/accuracy',
    'oe/accuracy',
    'pope/accuracy',
    'pope/f1',
    'format/rate',
  ])
    assert.ok(k in flat, k);
  model.dispose();
});

test('pretrain all: VQ + SFT + eval -> a loadable checkpoint with DIR/vq and pretrain.json', () => {
  vqRun.vq.dispose();
  const out = path.join(tmp, 'base');
  const report = pretrainAll({ preset: 'world-micro', out, seed: 1, seconds: 6 });
  assert.ok(report.vq && report.vision && report.sft && report.eval);
  assert.ok(report.vq.seconds > 0 && report.vision.seconds > 0 && report.sft.seconds > 0);
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', PRETRAIN_FILE, 'vq/vq.json'])
    assert.ok(fs.existsSync(path.join(out, f)), f);
  const saved = JSON.parse(fs.readFileSync(path.join(out, PRETRAIN_FILE), 'utf8'));
  assert.equal(saved.preset, 'world-micro');
  assert.ok(saved.eval.geneval && saved.eval.mcq && saved.eval.oe && saved.eval.pope && saved.eval.format);
  const vqSaved = JSON.parse(fs.readFileSync(path.join(out, 'vq', PRETRAIN_FILE), 'utf8'));
  assert.ok(
    vqSaved.vq && !('vision' in vqSaved) && !('sft' in vqSaved),
    'the VQ folder records the VQ stage',
  );
  const { model } = loadULM(out);
  assert.equal(model.numGenTokens, 16);
  model.dispose();
  const { vq } = loadVQ(path.join(out, 'vq'));
  vq.dispose();
  assert.deepEqual(
    fs.readdirSync(tmp).filter((n) => n.includes('.vq-') || n.includes('.tmp-')),
    [],
    'no temporary folders left',
  );
});

test('Cold-SFT (continueSFT): the LLM trains on, the frozen ViT and VQ keep their weights', () => {
  const base = path.join(tmp, 'base');
  const out = path.join(tmp, 'cold');
  const report = continueSFT({ preset: 'world-micro', init: base, out, seed: 2, steps: 5, eval: false });
  assert.equal(report.sft?.steps, 5);
  const a = loadULM(base).model;
  const b = loadULM(out).model;
  const same = (x: torch.Tensor, y: torch.Tensor) => torch.noGrad(() => x.eq(y).all().item()) === 1;
  const sdA = a.stateDict();
  const sdB = b.stateDict();
  let llmChanged = 0;
  for (const [name, t] of sdA) {
    const u = sdB.get(name)!;
    if (name.startsWith('vision_model.') || name.startsWith('gen_vision_model.'))
      assert.ok(same(t, u), `${name} is frozen`);
    else if (name.startsWith('language_model.') && !same(t, u)) llmChanged++;
  }
  assert.ok(llmChanged > 0, 'the LLM trained');
  a.dispose();
  b.dispose();
});

test('VQ: a folder whose weights hold NaN is a UserError naming the tensor and the count', () => {
  const live = torch.liveTensors();
  const vq = new VQModel(vqRun.vq.params);
  const name = 'decoder.conv_out.weight';
  const w = vq.stateDict().get(name)!;
  const numel = w.numel;
  torch.noGrad(() => torch.tidy(() => void w.reshape([-1]).narrow(0, 0, 2).fill_(NaN)));
  const dir = path.join(tmp, 'vq-nan');
  saveVQ(vq, dir);
  vq.dispose();
  assert.throws(
    () => loadVQ(dir),
    (e: Error) =>
      e instanceof UserError &&
      e.message ===
        `${dir}: the VQ's weights are not all finite: 1 tensor(s) hold NaN/Inf: ${name} (2 of ${numel} values) ` +
          '(a corrupt file or a diverged training run)',
  );
  assert.equal(torch.liveTensors(), live);
});

test("pretrain all by default trains each stage for the preset's steps: the same seed gives the same base", () => {
  const a = path.join(tmp, 'steps-a');
  const b = path.join(tmp, 'steps-b');
  const ra = pretrainAll({ preset: 'world-micro', out: a, seed: 2, eval: false });
  pretrainAll({ preset: 'world-micro', out: b, seed: 2, eval: false });
  assert.equal(ra.vq!.steps, preset.vq.steps);
  assert.equal(ra.vision!.steps, preset.vision.steps);
  assert.equal(ra.sft!.steps, preset.sft.steps);
  for (const f of ['model.safetensors', 'vq/model.safetensors'])
    assert.ok(
      fs.readFileSync(path.join(a, f)).equals(fs.readFileSync(path.join(b, f))),
      `${f} is byte-identical across two runs of the same seed`,
    );
});
