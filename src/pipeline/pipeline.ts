/**
 * `corl pipeline`: the whole CoRL recipe on the embedded default world, one command.
 *
 *   world     build the ShapesWorld dataset (stage-1 mix, stage-2 task sets, held-out eval sets)
 *   base      pretrain the VQ-VAE and SFT the unified model (or reuse --base / an earlier run)
 *   stage1    unified RL: GRPO on generation and understanding at once, joint reward, no KL
 *   stage2    refined RL, three branches from stage 1 with KL to it: generation (the recipe's image
 *             rewards, or --image-rewards), multiple-choice (accuracy + format), open-ended (accuracy +
 *             format); two at a time
 *   merge     Gaussian merge of the MCQ and OE branches (base = the stage-1 model)
 *   eval      every model on the held-out split (GenEval-style, MCQ, OE, POPE, format); two at a time
 *   report    DIR/report.json + DIR/report.html
 *
 * The CoRL model is the stage-2 generation branch for generation and the merged model for understanding, as
 * the paper ships a generation model and a merged understanding model.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { UserError } from '../util/errors.js';
import { TEMP_ENTRY, checkOutDir, claimDir, clearOwnEntries } from '../util/output-dir.js';
import { runFields, pipelinePreset, type PipelinePreset, type TrainOverrides } from './presets.js';
import type { Stage2Branch } from './recipes.js';
import { StageRunner } from './stages.js';
import { GRID_MODELS, buildPipelineReport, gridPrompts, type PipelineRun } from './report.js';
import type { EvalResults, PipelineModels } from './types.js';

export type { EvalResults, PipelineModels } from './types.js';

export interface PipelineOptions {
  preset: string;
  out: string;
  /** An existing pretrained base checkpoint to start from (skips pretraining). */
  base?: string;
  seed?: number;
  /** Stages run side by side (default 2 on a 2-core machine; each then uses one BLAS thread). */
  jobs?: number;
  /** Replaces the recipe's image rewards (parseImageRewards: "paper", "geneval", "name=w,..."). */
  imageRewards?: string;
  /** The RL recipe (recipes.ts): "corl" (default, configs/world) or "paper" (configs/paper). */
  recipe?: string;
  /** Seeds (default 1): one pipeline each, seeds `seed` .. `seed + seeds - 1`, and one report over them. */
  seeds?: number;
  /** Data-parallel workers of each train, pretrain and eval stage (default 1; docs/distributed.md). */
  nproc?: number;
}

export interface TrainStageResult {
  out: string;
  model: string;
  steps: number;
  seconds: number;
}

/**
 * The whole recipe in `out` (one seed), or with `seeds` > 1 one pipeline per seed in `out/seed-S` and a
 * report over all of them in `out`. Rerunning the same command resumes.
 */
export async function runPipeline(o: PipelineOptions): Promise<{ report: string; seconds: number }> {
  const t0 = Date.now();
  const p = pipelinePreset(o.preset, { imageRewards: o.imageRewards, recipe: o.recipe });
  const out = resolve(o.out);
  const seed = o.seed ?? 0;
  const seeds = o.seeds ?? 1;
  const log = (l: string) => process.stderr.write(l + '\n');
  const bases = Array.from({ length: seeds }, (_, k) => baseOf(o.base, seed + k, seeds));
  checkOutDir(out, {
    kind: 'pipeline',
    resumable: true,
    inputs: bases.map((b): [string, string | undefined] => ['--base', b]),
  });
  claimDir(out, 'pipeline');
  const runs: PipelineRun[] = [];
  for (let k = 0; k < seeds; k++) {
    const dir = seeds === 1 ? out : join(out, `seed-${seed + k}`);
    if (seeds > 1) log(`corl pipeline: seed ${seed + k} (${k + 1} of ${seeds})`);
    runs.push(await runSeed(p, dir, seed + k, { ...o, base: bases[k] }));
  }
  const report = await buildPipelineReport({ out, preset: p, runs, seconds: (Date.now() - t0) / 1000 });
  log(`report: ${report}`);
  return { report, seconds: (Date.now() - t0) / 1000 };
}

/**
 * The pretrained base of one seed: `--base` as given, with `{seed}` replaced by the seed (one base per seed,
 * e.g. `--base runs/bases/seed-{seed}`); checked before any work. Several seeds need the placeholder: one
 * base for every seed would make the seeds' runs share their largest source of variation.
 */
export function baseOf(base: string | undefined, seed: number, seeds: number): string | undefined {
  if (base === undefined) return undefined;
  if (seeds > 1 && !base.includes('{seed}'))
    throw new UserError(
      `--base with --seeds ${seeds} needs {seed} in its path, one base per seed (e.g. --base runs/bases/seed-{seed})`,
    );
  const dir = resolve(base.replaceAll('{seed}', String(seed)));
  if (!existsSync(join(dir, 'config.json')))
    throw new UserError(`--base ${dir} is not a model folder (no config.json)`);
  return dir;
}

/** One seed of the recipe in `dir`: world, base, stage 1, stage 2, merge, evaluations. */
async function runSeed(
  p: PipelinePreset,
  dir: string,
  seed: number,
  o: PipelineOptions,
): Promise<PipelineRun> {
  const jobs = o.jobs ?? 2;
  const env: Record<string, string> = jobs > 1 ? { CORL_BLAS_THREADS: '1' } : {};
  checkOutDir(dir, { kind: 'pipeline', resumable: true, inputs: [['--base', o.base]] });
  claimDir(dir, 'pipeline');
  clearOwnEntries(dir, 'pipeline', (name) => TEMP_ENTRY.test(name)); // leftovers of an interrupted run
  const runner = new StageRunner(dir, runIdentity(p));
  runner.nproc = o.nproc ?? 1;
  process.stderr.write(`corl pipeline (${p.name}, recipe ${p.recipe.name}, seed ${seed}) -> ${dir}\n`);
  const world = join(dir, 'world');
  await buildWorld(runner, p, world, seed);
  const models = await baseAndRL(runner, p, dir, world, seed, env, jobs, o.base);
  const evals = await evaluateAll(runner, p, models, world, seed, env, jobs);
  await drawGrids(runner, p, dir, models, env, jobs);
  const validity = await runner.run('rewards-check', rewardsCheckArgs(p, models.base, world, seed), env);
  return { dir, seed, runner, models, evals, validity };
}

/** `corl rewards check` of the base: how often each image reward ranks a correct image above a wrong one. */
function rewardsCheckArgs(p: PipelinePreset, base: string, world: string, seed: number): string[] {
  const v = p.validity;
  return [
    'rewards',
    'check',
    '--model',
    base,
    '--data',
    world,
    '--prompts',
    String(v.prompts),
    '--images-per-prompt',
    String(v.imagesPerPrompt),
    '--bootstrap',
    String(v.bootstrap),
    '--seed',
    String(seed),
    '--json',
  ];
}

/**
 * The report's image grid as stages: the same held-out prompts drawn by the base, stage 1 and the generation
 * branch (`corl generate --prompts-file --each`, CFG 5, temperature 1, seed 2024), into DIR/report-images;
 * the report only reads these files.
 */
async function drawGrids(
  r: StageRunner,
  p: PipelinePreset,
  dir: string,
  models: PipelineModels,
  env: Record<string, string>,
  jobs: number,
): Promise<void> {
  const images = join(dir, 'report-images');
  mkdirSync(images, { recursive: true });
  const prompts = join(images, 'prompts.txt');
  writeFileSync(prompts, gridPrompts(dir, p).join('\n') + '\n');
  const folder: Record<(typeof GRID_MODELS)[number], string> = {
    base: models.base,
    stage1: models.stage1,
    'stage2-gen': models.gen,
  };
  await r.parallel(
    jobs,
    GRID_MODELS.map(
      (name) => () =>
        r.run(
          `grid-${name}`,
          [
            'generate',
            '--model',
            folder[name],
            '--prompts-file',
            prompts,
            '--n',
            '1',
            '--each',
            '--out',
            join(images, `${name}.png`),
            '--cfg',
            '5',
            '--temperature',
            '1',
            '--seed',
            '2024',
            '--overwrite',
          ],
          env,
        ),
    ),
  );
}

/** What a pipeline folder holds a run of: a rerun resumes only the same preset, recipe and rewards. */
export function runIdentity(p: PipelinePreset): string {
  const image = Object.entries(p.imageRewards)
    .map(([k, w]) => `${k}=${w}`)
    .join(',');
  return `${p.name}, recipe ${p.recipe.name}, image rewards ${image}`;
}

/** base -> stage 1 -> three stage-2 branches -> merge; returns every model's folder. */
async function baseAndRL(
  r: StageRunner,
  p: PipelinePreset,
  out: string,
  world: string,
  seed: number,
  env: Record<string, string>,
  jobs: number,
  baseDir?: string,
): Promise<PipelineModels> {
  let base: string;
  if (baseDir !== undefined) {
    base = baseDir; // checked by baseOf
  } else {
    await r.run('base', [
      'pretrain',
      'all',
      '--preset',
      p.pretrain,
      '--out',
      join(out, 'base'),
      '--seed',
      String(seed),
      '--no-eval', // the pipeline evaluates every model itself (eval-base)
      '--overwrite', // a rerun replaces what an interrupted run of this stage left
      '--json',
    ]);
    base = join(out, 'base');
  }

  const stage1 = await trainStage(
    r,
    'stage1',
    out,
    runFields(p, 'stage1', { model: base, data: join(world, 'train.jsonl'), seed }),
    {},
    join(world, 'test.jsonl'),
  );

  const refined = await refine(r, p, {
    out,
    world,
    from: stage1.model,
    seed,
    env,
    jobs,
    prefix: 'stage2',
    merged: join(out, 'merged'),
  });
  return { base, stage1: stage1.model, ...refined };
}

/** The `world` stage: the ShapesWorld dataset of the preset's size. */
export function buildWorld(r: StageRunner, p: PipelinePreset, world: string, seed: number): Promise<unknown> {
  return r.run('world', [
    'world',
    'build',
    '--out',
    world,
    '--seed',
    String(seed),
    '--train',
    String(p.world.train),
    '--test',
    String(p.world.test),
    '--overwrite',
    '--json',
  ]);
}

/**
 * Stage 2, refined RL: three branches from `from`, each with KL to it (the recipe's stage2-gen, stage2-mcq and
 * stage2-oe YAMLs), `jobs` at a time, then the Gaussian merge of MCQ and OE (base = `from`).
 */
export async function refine(
  r: StageRunner,
  p: PipelinePreset,
  o: {
    out: string;
    world: string;
    from: string;
    seed: number;
    env: Record<string, string>;
    jobs: number;
    prefix: string;
    merged: string;
  },
): Promise<{ gen: string; mcq: string; oe: string; merged: string }> {
  const branch = (name: Stage2Branch, file: string) => () =>
    trainStage(
      r,
      `${o.prefix}-${name}`,
      o.out,
      runFields(p, `stage2-${name}`, { model: o.from, data: join(o.world, 'stage2', file), seed: o.seed }),
      o.env,
      join(o.world, 'test.jsonl'),
    );
  const [gen, mcq, oe] = await r.parallel(o.jobs, [
    branch('gen', 'gen.jsonl'),
    branch('mcq', 'mcq.jsonl'),
    branch('oe', 'oe.jsonl'),
  ]);
  await r.run(`${o.prefix}-merge`, [
    'merge',
    '--method',
    'gaussian',
    '--base',
    o.from,
    '--models',
    mcq!.model,
    oe!.model,
    '--out',
    o.merged,
    '--lambda',
    String(p.recipe.mergeLambda),
    '--overwrite',
  ]);
  return { gen: gen!.model, mcq: mcq!.model, oe: oe!.model, merged: o.merged };
}

/**
 * Writes DIR/configs/<name>.yaml and runs `corl train` on it as a stage. `fields` are the run's (runFields:
 * the recipe's stage YAML, the preset's sizes, the run's model, data, seed and tasks). With `evalData` (a
 * world's held-out test.jsonl) the run evaluates on it as the stage fields say (`eval_rows` rows before, after
 * and every `eval_every` steps: the report's held-out curves); without, it does not evaluate at all.
 */
export async function trainStage(
  r: StageRunner,
  name: string,
  out: string,
  fields: TrainOverrides,
  env: Record<string, string> = {},
  evalData?: string,
): Promise<TrainStageResult> {
  const dir = join(out, 'configs');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.yaml`);
  const heldOut = evalData === undefined ? { eval_rows: 0, eval_every: 0 } : { eval_data: evalData };
  writeFileSync(file, stringify({ out: join(out, name), eval_rows: 0, ...fields, ...heldOut }));
  // --overwrite: a rerun of an interrupted stage starts it over in its own folder
  return r.run<TrainStageResult>(name, ['train', '--config', file, '--overwrite', '--json'], env);
}

/** `corl eval` of every model on the held-out split, two at a time. */
async function evaluateAll(
  r: StageRunner,
  p: PipelinePreset,
  models: PipelineModels,
  world: string,
  seed: number,
  env: Record<string, string>,
  jobs: number,
): Promise<EvalResults> {
  const names = Object.keys(models) as (keyof PipelineModels)[];
  const results = await r.parallel(
    jobs,
    names.map((n) => () => r.run(`eval-${n}`, evalArgs(models[n], world, p, seed), env)),
  );
  return Object.fromEntries(names.map((n, i) => [n, results[i]])) as EvalResults;
}

export function evalArgs(model: string, world: string, p: PipelinePreset, seed: number): string[] {
  return [
    'eval',
    '--model',
    model,
    '--data',
    join(world, 'eval'),
    '--gen-prompts',
    String(p.eval.genPrompts),
    '--max-questions',
    String(p.eval.maxQuestions),
    '--examples',
    String(p.eval.examples),
    '--seed',
    String(seed),
    '--json',
  ];
}
