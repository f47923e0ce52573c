/**
 * A LoRA run of the trainer on the tiny random model: it writes a PEFT adapter beside the folded model, only
 * the adapter changes (every base weight is the starting checkpoint's), a resumed run ends bit-identical,
 * `corl merge-lora` folds the adapter into the same weights, and two LoRA-trained branches merge (Gaussian).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { loadTrainConfig } from '../../src/rl/config.js';
import { train } from '../../src/rl/trainer.js';
import { loadULM } from '../../src/model/index.js';
import { mergeCheckpoints } from '../../src/merge/checkpoints.js';
import { makeFixture, writeConfig } from './fixture.js';

const fx = makeFixture();
const CLI = join(import.meta.dirname, '..', '..', 'bin', 'corl.js');
const LORA = { r: 2, alpha: 4, target_modules: ['q_proj', 'v_proj', 'down_proj'] };

/** name -> values of every tensor of a checkpoint folder's model. */
function weights(dir: string): Map<string, number[]> {
  const m = loadULM(dir);
  const out = torch.tidy(() => new Map([...m.model.stateDict()].map(([k, t]) => [k, t.toArray()] as const)));
  m.model.dispose();
  return out;
}
function adapterTensors(dir: string): Map<string, number[]> {
  const { tensors } = torch.safetensors.loadSafetensors(join(dir, 'adapter_model.safetensors'));
  const out = new Map([...tensors].map(([k, t]) => [k, t.toArray()] as const));
  torch.dispose([...tensors.values()]);
  return out;
}

test('a LoRA run trains the adapter only and saves it as PEFT files beside the folded model', () => {
  const cfg = loadTrainConfig(
    writeConfig(fx, 'lora', { steps: 2, save_every: 1, sample_every: 0, lora: LORA }),
  );
  assert.deepEqual(cfg.lora, { ...LORA, dropout: 0, use_rslora: false });
  const live0 = torch.liveTensors();
  train(cfg, { quiet: true });
  assert.equal(torch.liveTensors(), live0, 'every tensor of the run is released');

  const ckpt = join(cfg.out, 'checkpoint-2');
  const adapterDir = join(ckpt, 'adapter');
  const config = JSON.parse(readFileSync(join(adapterDir, 'adapter_config.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  assert.equal(config.peft_type, 'LORA');
  assert.equal(config.r, 2);
  assert.equal(config.lora_alpha, 4);
  assert.equal(config.base_model_name_or_path, fx.model);
  assert.deepEqual(config.target_modules, LORA.target_modules);
  const adapter = adapterTensors(adapterDir);
  const layers = 2; // test-micro
  assert.equal(adapter.size, layers * 3 * 2);
  for (const k of adapter.keys())
    assert.match(
      k,
      /^base_model\.model\.language_model\.model\.layers\.\d+\.(self_attn\.(q|v)_proj|mlp\.down_proj)\.lora_(A|B)\.weight$/,
    );
  // B started at zero: the update moved it
  const bs = [...adapter].filter(([k]) => k.includes('lora_B'));
  assert.ok(
    bs.some(([, v]) => v.some((x) => x !== 0)),
    'the adapters trained',
  );

  // the folded model: base + scale B A on the targets, every other tensor the base's exactly
  const base = weights(fx.model);
  const folded = weights(join(ckpt, 'model'));
  let changed = 0;
  for (const [k, w] of base) {
    const f = folded.get(k)!;
    const path = k.replace(/\.weight$/, '');
    const a = adapter.get(`base_model.model.${path}.lora_A.weight`);
    const b = adapter.get(`base_model.model.${path}.lora_B.weight`);
    if (a === undefined) {
      assert.deepEqual(f, w, `${k} is the base's`);
      continue;
    }
    const inF = a.length / 2;
    const outF = b!.length / 2;
    for (let o = 0; o < outF; o++)
      for (let i = 0; i < inF; i++) {
        const delta = 2 * (b![o * 2]! * a[i]! + b![o * 2 + 1]! * a[inF + i]!); // alpha / r = 2
        const want = w[o * inF + i]! + delta;
        assert.ok(Math.abs(f[o * inF + i]! - want) < 1e-6, `${k}[${o}, ${i}]`);
      }
    if (f.some((v, i) => v !== w[i])) changed++;
  }
  assert.ok(changed > 0, 'the folded weights differ from the base');

  // corl merge-lora gives the same weights as the trainer's folded model
  const out = join(fx.dir, 'lora-merged');
  const r = spawnSync(
    process.execPath,
    [CLI, 'merge-lora', '--base', fx.model, '--adapter', adapterDir, '--out', out],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /folded the adapter into 6 modules/);
  const merged = weights(out);
  for (const [k, v] of folded) assert.deepEqual(merged.get(k), v, k);

  // a resumed run (from checkpoint-1: base + the adapter) ends with the same adapter bit for bit
  const cfg1 = loadTrainConfig(
    writeConfig(fx, 'lora-resume', { steps: 1, save_every: 1, sample_every: 0, lora: LORA }),
  );
  train(cfg1, { quiet: true });
  train({ ...cfg1, steps: 2 }, { quiet: true, resume: true });
  assert.deepEqual(adapterTensors(join(cfg1.out, 'checkpoint-2', 'adapter')), adapter);
  assert.equal(torch.liveTensors(), live0);
});

test('without lora the config and the run are as before; a bad lora block is one line', () => {
  const cfg = loadTrainConfig(writeConfig(fx, 'plain', { steps: 1 }));
  assert.equal('lora' in cfg && cfg.lora !== undefined, false);
  assert.equal(JSON.stringify(cfg).includes('lora'), false, 'config.json is byte-identical without lora');
  assert.throws(() => loadTrainConfig(writeConfig(fx, 'bad', { lora: { r: 0 } })), /lora\.r/);
  assert.throws(() => loadTrainConfig(writeConfig(fx, 'bad2', { lora: { rank: 4 } })), /lora/);
});

test('two LoRA-trained branches fold and merge (Gaussian) like full models', () => {
  const dirs = ['mcq', 'oe'].map((name, i) => {
    const cfg = loadTrainConfig(
      writeConfig(fx, `branch-${name}`, {
        steps: 1,
        save_every: 0,
        sample_every: 0,
        seed: 10 + i,
        tasks: ['mm2t'],
        lora: LORA,
      }),
    );
    train(cfg, { quiet: true });
    return join(cfg.out, 'checkpoint-1', 'model');
  });
  const out = join(fx.dir, 'branches-merged');
  const r = mergeCheckpoints({ method: 'gaussian', base: fx.model, a: dirs[0]!, b: dirs[1]!, out });
  assert.ok(r.tensors > 0);
  assert.ok(existsSync(join(out, 'config.json')));
  const base = weights(fx.model);
  const merged = weights(out);
  // tensors no adapter touched are the base's in both branches, so the merge keeps them
  for (const [k, v] of base)
    if (!/(q_proj|v_proj|down_proj)\.weight$/.test(k)) assert.deepEqual(merged.get(k), v, k);
  assert.ok(
    [...merged].some(([k, v]) => /q_proj\.weight$/.test(k) && v.some((x, i) => x !== base.get(k)![i])),
    'the merged model carries the branches’ updates',
  );
});

test('gradient_checkpointing: a run ends with the weights of the run without it', () => {
  const outs = [false, true].map((on) => {
    const cfg = loadTrainConfig(
      writeConfig(fx, `ckpt-${on}`, {
        steps: 2,
        save_every: 0,
        sample_every: 0,
        ...(on ? { gradient_checkpointing: true } : {}),
      }),
    );
    const live0 = torch.liveTensors();
    train(cfg, { quiet: true });
    assert.equal(torch.liveTensors(), live0);
    return weights(join(cfg.out, 'checkpoint-2', 'model'));
  });
  let diff = 0;
  for (const [k, v] of outs[0]!)
    v.forEach((x, i) => (diff = Math.max(diff, Math.abs(x - outs[1]!.get(k)![i]!))));
  assert.ok(diff <= 1e-6, `max |weight diff| ${diff}`);
});
