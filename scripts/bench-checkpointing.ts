/**
 * Peak memory and time of one GRPO policy update (the step's re-scoring forward + backward + AdamW) of a
 * world-tiny-sized model, with and without activation checkpointing and LoRA (not CI; figures in
 * docs/janus-pro.md). Each setting runs in a fresh process: it builds the random world-tiny model and the
 * default stage-1 batch (4 prompts x G 8, both tasks, one micro-batch), samples the rollouts, then notes its
 * RSS and runs the update `--steps` times; the update's memory is the process's peak RSS above that RSS
 * (activations, gradients, moments; the rollout's own peak is below it at this size, which the script checks).
 *
 *   node --import tsx scripts/bench-checkpointing.ts [--batch 4] [--generations 8] [--steps 3]
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const flag = (name: string, d: string): string => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1]! : d;
};
const SETTINGS = {
  plain: {},
  checkpointing: { gradient_checkpointing: true },
  lora: { lora: {} },
  'lora+checkpointing': { lora: {}, gradient_checkpointing: true },
} as const;
type Setting = keyof typeof SETTINGS;

if (args[0] === '--child') await child(args[1] as Setting, args[2]!);
else main();

function main(): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'corl-bench-ckpt-'));
  const self = fileURLToPath(import.meta.url);
  const results: Record<string, unknown>[] = [];
  try {
    // two rounds, interleaved, so a load change on the machine hits every setting alike
    for (let round = 0; round < 2; round++)
      for (const s of Object.keys(SETTINGS)) {
        const r = spawnSync(process.execPath, ['--import', 'tsx', self, '--child', s, dir, ...args], {
          encoding: 'utf8',
          env: { ...process.env, OMP_NUM_THREADS: process.env.OMP_NUM_THREADS ?? '2' },
        });
        if (r.status !== 0) throw new Error(`${s}: ${r.stderr}`);
        const line = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
        console.log(JSON.stringify({ round, ...line }));
        results.push(line);
      }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const best = (s: string, k: string) =>
    Math.min(...results.filter((r) => r.setting === s).map((r) => r[k] as number));
  const base = { mem: best('plain', 'update_mb'), time: best('plain', 'update_s') };
  for (const s of Object.keys(SETTINGS))
    console.log(
      `${s.padEnd(20)} update peak ${best(s, 'update_mb').toFixed(1)} MB (${(best(s, 'update_mb') / base.mem).toFixed(2)}x)` +
        `  update ${best(s, 'update_s').toFixed(3)} s (${(best(s, 'update_s') / base.time).toFixed(2)}x)`,
    );
}

async function child(setting: Setting, dir: string): Promise<void> {
  const torch = await import('../src/torch/index.js');
  const { MultiModalityCausalLM, ULMTokenizer, buildWordLevelTokenizer, presetConfig } =
    await import('../src/model/index.js');
  const { worldVocabulary } = await import('../src/world/vocabulary.js');
  const { buildDataset } = await import('../src/world/dataset.js');
  const { parseTrainConfig } = await import('../src/rl/config.js');
  const { loadExamples } = await import('../src/rl/data.js');
  const { buildRun, disposeRun, updateFromRewards } = await import('../src/rl/trainer.js');
  const { rolloutAnswers, rolloutImages } = await import('../src/rl/rollout.js');
  torch.applyDefaultThreads();
  const P = Number(flag('--batch', '4'));
  const G = Number(flag('--generations', '8'));
  const steps = Number(flag('--steps', '3'));
  const data = path.join(dir, 'world');
  if (!fs.existsSync(path.join(data, 'train.jsonl')))
    buildDataset({ out: data, seed: 1, train: 16, test: 4 });
  const cfg = parseTrainConfig(
    {
      model: dir,
      data: path.join(data, 'train.jsonl'),
      out: path.join(dir, 'out'),
      batch_size: P,
      micro_batch_size: P,
      num_generations: G,
      ...SETTINGS[setting],
    },
    setting,
  );
  const tok = ULMTokenizer.fromJSON(buildWordLevelTokenizer(worldVocabulary()));
  const model = new MultiModalityCausalLM(presetConfig('world-tiny', { vocabSize: tok.vocabSize }), {
    generator: new torch.Generator(1),
  });
  const config = model.config;
  const examples = loadExamples(cfg.data).slice(0, P);
  const run = buildRun(cfg, { model, tokenizer: tok, config }, examples);
  torch.manualSeed(1);
  const rolled = torch.tidy(() => {
    const images = rolloutImages(run.policy, examples, G, run.sampling, run.sampler);
    const answers = rolloutAnswers(run.policy, examples, G, run.sampling, run.sampler);
    return { images, answers };
  });
  const kb = () => process.resourceUsage().maxRSS;
  const peakBefore = kb();
  const rssBefore = process.memoryUsage().rss / 1024;
  const rewards = () => ({
    t2i: Array.from({ length: P * G }, (_, i) => (i * 7) % 5),
    mm2t: Array.from({ length: P * G }, (_, i) => (i * 3) % 4),
    metrics: {},
  });
  const times: number[] = [];
  for (let s = 0; s < steps; s++) {
    const t0 = performance.now();
    torch.tidy(() => updateFromRewards(run, s, rolled.images, rolled.answers, rewards(), P));
    times.push((performance.now() - t0) / 1000);
  }
  const peak = kb();
  const trained = run.opt.params.reduce((a, p) => a + p.numel, 0);
  torch.dispose(rolled);
  disposeRun(run);
  console.log(
    JSON.stringify({
      setting,
      rows: P * G,
      trained_params: trained,
      rss_before_mb: rssBefore / 1024,
      peak_mb: peak / 1024,
      update_mb: (peak - rssBefore) / 1024,
      rollout_peak_below: peakBefore <= rssBefore * 1.02 || peak > peakBefore,
      update_s: Math.min(...times),
    }),
  );
}
