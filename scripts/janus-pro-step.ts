/**
 * One GRPO step of Janus-Pro-1B at full size on this CPU (issue 15, item 7; not CI): writes the random-weight
 * release checkpoint (as scripts/janus-pro-bench.ts: every tensor of the official pytorch_model.bin, bf16,
 * 4.2 GB) unless DIR already holds it, a one-row ShapesWorld data set, and a train config, then runs
 * `corl train` for one step of 1 prompt x G 2 with both tasks: 2 images of 576 tokens drawn with CFG 5, 2
 * answers of at most 32 tokens about a 384-px image, LoRA r 8 on the LLM, activation checkpointing, bf16 with
 * fp32 masters. Prints one JSON line: wall seconds, the step's rollout / reward / update seconds, the run's
 * peak RSS (mem/peak_rss) and the memory estimate corl printed. corl runs with MALLOC_ARENA_MAX=1 (below)
 * unless the environment sets it. Results: docs/janus-pro.md.
 *
 *   npx tsx scripts/janus-pro-step.ts [--dir DIR] [--keep] [--threads N] [--layers L] [--rows N]
 *
 * On a GPU (scripts/device-check.sh --full): `--rows 16 --set device=cuda --set gradient_checkpointing=false
 * --set batch_size=16 --set num_generations=8` is the paper's stage-1 batch; the line adds mem/cuda_peak.
 *
 * --layers L writes the checkpoint with L LLM layers instead of 24 (every width real), to see how memory and
 * time scale with depth; --set key=value (repeatable) is passed to corl train (e.g. --set dtype=float32).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const threads = flag('--threads') ?? '2';
const layers = flag('--layers');
const trainRows = flag('--rows') ?? '4';
const sets = args.flatMap((a, i) =>
  a === '--set' && args[i + 1] !== undefined ? ['--set', args[i + 1]!] : [],
);
const given = flag('--dir');
const dir = given ?? fs.mkdtempSync(path.join(os.tmpdir(), 'corl-janus-pro-step-'));
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'corl-janus-pro-run-'));

try {
  const model = path.join(dir, 'model');
  if (!fs.existsSync(path.join(model, 'pytorch_model.bin'))) {
    const torch = await import('../src/torch/index.js');
    const { presetConfig } = await import('../src/model/config.js');
    const { buildWordLevelTokenizer } = await import('../src/model/tokenizer.js');
    const { writeJanusCheckpoint } = await import('../test/helpers/janus-checkpoint.js');
    const { worldVocabulary } = await import('../src/world/vocabulary.js');
    const t = Date.now();
    torch.setNumThreads(Number(threads));
    const config = presetConfig('janus-pro-1b');
    if (layers !== undefined) config.language_config.num_hidden_layers = Number(layers);
    writeJanusCheckpoint(model, {
      format: 'pytorch',
      layout: 'janus',
      config,
      tokenizer: buildWordLevelTokenizer(worldVocabulary()),
      seed: 1,
    });
    console.error(`wrote ${model}/pytorch_model.bin in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  }
  const corl = (...a: string[]) =>
    spawnSync(process.execPath, [path.join(root, 'bin', 'corl.js'), ...a], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      // glibc gives each allocating thread its own heap arena; libtorch's threads then keep freed blocks in
      // many arenas and the resident set grows several-fold (6 layers: 19.7 GB with the default, 4.9 GB with
      // one arena, docs/janus-pro.md). One arena unless the caller chose otherwise.
      env: { MALLOC_ARENA_MAX: '1', ...process.env, CORL_THREADS: threads },
    });
  const world = path.join(work, 'world');
  const w = corl(
    'world',
    'build',
    '--out',
    world,
    '--seed',
    '0',
    '--train',
    trainRows,
    '--test',
    '1',
    '--json',
  );
  if (w.status !== 0) throw new Error('corl world build failed');
  const out = path.join(work, 'run');
  const config = path.join(work, 'step.yaml');
  fs.writeFileSync(
    config,
    stringify({
      model,
      data: path.join(world, 'train.jsonl'),
      out,
      tasks: ['t2i', 'mm2t'],
      steps: 1,
      batch_size: 1,
      num_generations: 2,
      micro_batch_size: 1,
      max_completion_length: 32,
      advantage: 'separate',
      image_logprob_mode: 'cfg',
      rewards: { image: { geneval: 1 }, text: { qa_accuracy: 1, format: 1 } },
      lora: { r: 8, alpha: 16 },
      gradient_checkpointing: true,
      dtype: 'bfloat16',
      lr: 1e-4,
      sample_every: 0,
      save_every: 0,
      eval_rows: 0,
      seed: 0,
    }),
  );
  const t = Date.now();
  const r = corl('train', '--config', config, ...sets, '--json');
  const seconds = (Date.now() - t) / 1000;
  if (r.status !== 0) throw new Error(`corl train failed (exit ${r.status})`);
  const rows = fs
    .readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, number>);
  const step = rows.find((m) => m['step_time'] !== undefined)!;
  console.log(
    JSON.stringify({
      wall_s: seconds,
      step_s: step['step_time'],
      rollout_s: step['time/rollout'],
      reward_s: step['time/reward'],
      update_s: step['time/update'],
      peak_rss_mb: step['mem/peak_rss'],
      ...(step['mem/cuda_peak'] !== undefined ? { cuda_peak_mb: step['mem/cuda_peak'] } : {}),
      threads: Number(threads),
      malloc_arena_max: process.env.MALLOC_ARENA_MAX ?? '1',
      llm_layers: layers === undefined ? 24 : Number(layers),
      sets: sets.filter((_, i) => i % 2 === 1),
      loadavg: os.loadavg(),
    }),
  );
} finally {
  fs.rmSync(work, { recursive: true, force: true });
  if (given === undefined && !args.includes('--keep')) fs.rmSync(dir, { recursive: true, force: true });
}
