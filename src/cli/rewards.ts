/**
 * `corl rewards check`: how valid are the image rewards on this world? (src/rl/validity/validity.ts)
 *
 *   corl rewards check --model DIR --data FILE_OR_WORLD_DIR [--prompts 48] [--seed 0] [--json]
 *                      [--images-per-prompt 4] [--correct-renders 3] [--cfg 5] [--temperature 1]
 *                      [--bootstrap 1000] [--image-side ssim|rmse] [--alternatives] [--background R,G,B]
 *
 * FILE_OR_WORLD_DIR: a JSONL of world rows with `prompt`, `spec`, `scene` and `real_image` (e.g. a world's
 * eval/gen.jsonl), or a `corl world build` folder (its eval/gen.jsonl). The first N rows are used (the world's
 * files are category-balanced over every prefix). For each prompt the fixed candidates (real image, other
 * correct renders, K samples of the model, the empty frame, wrong colour / shape / count / position) are
 * scored by every image reward, with the model as the policy (re-captioner, TIM's encoder), and the table
 * gives each reward's pairwise accuracy (ties count half) with 95% bootstrap intervals and its Spearman
 * correlation with the GenEval check. `--alternatives` adds the candidate image sides of docs/rewards.md.
 * `--background R,G,B` re-renders every real image from its scene on that background (and renders the
 * candidates and parses the images with it): a what-if for the world's background, meaningful for the rows
 * that do not involve the model (the image sides, geneval), since the model has only seen black.
 * Every option is checked before the model loads; mistakes are one line and exit code 2.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../util/errors.js';
import { progress } from '../util/progress.js';
import { asGenevalSpec } from '../rewards/geneval-reward.js';
import { RowImages, readWorldRowLines } from '../world/dataset.js';
import { renderScene, type RenderOptions } from '../world/render.js';
import { deriveSeed } from '../world/rng.js';
import type { ValidityRow } from '../rl/validity/validity.js';

interface CheckFlags {
  model: string;
  data: string;
  prompts: string;
  seed: string;
  json?: boolean;
  imagesPerPrompt: string;
  correctRenders: string;
  cfg: string;
  temperature: string;
  bootstrap: string;
  imageSide: string;
  alternatives?: boolean;
  background?: string;
}

/** A safe integer flag within [min, max], else a UserError naming the flag. */
export function intFlag(name: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\s*-?\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max)
    throw new UserError(`--${name} must be an integer in [${min}, ${max}], got "${value}"`);
  return n;
}

/** A finite number flag within [min, max], else a UserError naming the flag. */
export function numFlag(name: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max)
    throw new UserError(`--${name} must be a number in [${min}, ${max}], got "${value}"`);
  return n;
}

/** An R,G,B flag of three integers in [0, 255]. */
export function rgbFlag(name: string, value: string): [number, number, number] {
  const parts = value.split(',');
  if (parts.length !== 3)
    throw new UserError(`--${name} must be R,G,B (three integers in [0, 255]), got "${value}"`);
  return parts.map((p) => intFlag(name, p, 0, 255)) as [number, number, number];
}

/** The JSONL file a --data path stands for: the file itself, or a world folder's eval/gen.jsonl. */
export function validityDataFile(data: string): string {
  if (!fs.existsSync(data)) throw new UserError(`--data ${data} does not exist`);
  if (!fs.statSync(data).isDirectory()) return data;
  for (const f of [path.join(data, 'eval', 'gen.jsonl'), path.join(data, 'gen.jsonl')])
    if (fs.existsSync(f)) return f;
  throw new UserError(`--data ${data}: no eval/gen.jsonl or gen.jsonl in the folder`);
}

/** Render options of the world the file belongs to (its manifest.json, in the file's folder or above). */
function worldRender(file: string): RenderOptions {
  for (const dir of [path.dirname(file), path.dirname(path.dirname(file))]) {
    const m = path.join(dir, 'manifest.json');
    if (!fs.existsSync(m)) continue;
    try {
      const j = JSON.parse(fs.readFileSync(m, 'utf8')) as { antialias?: unknown; noise?: unknown };
      return {
        antialias: j.antialias === true,
        noise: typeof j.noise === 'number' ? j.noise : 0,
      };
    } catch {
      throw new UserError(`${m}: not a JSON manifest`);
    }
  }
  return {};
}

/** The first `n` generation rows of a file, with their real images; errors name the line. */
export function loadValidityRows(file: string, n: number): ValidityRow[] {
  const lines = readWorldRowLines(file);
  if (lines.length < n) throw new UserError(`--prompts ${n} but ${file} has ${lines.length} rows`);
  const images = new RowImages();
  return lines.slice(0, n).map(({ line, row }) => {
    if (typeof row.prompt !== 'string' || row.prompt === '')
      throw new UserError(`${file}:${line}: the row has no generation prompt`);
    try {
      asGenevalSpec(row.spec, line);
    } catch {
      throw new UserError(`${file}:${line}: the row has no GenEval spec (spec.tag, spec.include)`);
    }
    return {
      prompt: row.prompt,
      spec: row.spec,
      scene: row.scene,
      realImage: images.get(file, row, `${file}:${line}`),
      category: row.category,
    };
  });
}

/** `corl rewards check`. */
async function rewardsCheckAction(f: CheckFlags): Promise<void> {
  const nPrompts = intFlag('prompts', f.prompts, 1, 100000);
  const seed = intFlag('seed', f.seed, 0, 2 ** 32 - 1);
  const K = intFlag('images-per-prompt', f.imagesPerPrompt, 0, 64);
  const correctRenders = intFlag('correct-renders', f.correctRenders, 0, 32);
  const cfgWeight = numFlag('cfg', f.cfg, 0, 100);
  const temperature = numFlag('temperature', f.temperature, 0, 10);
  const bootstrap = intFlag('bootstrap', f.bootstrap, 100, 1000000);
  if (f.imageSide !== 'ssim' && f.imageSide !== 'rmse')
    throw new UserError(`--image-side must be ssim or rmse, got "${f.imageSide}"`);
  const background = f.background === undefined ? undefined : rgbFlag('background', f.background);
  if (!fs.existsSync(f.model) || !fs.statSync(f.model).isDirectory())
    throw new UserError(`model directory ${f.model} does not exist`);
  if (!fs.existsSync(path.join(f.model, 'config.json')))
    throw new UserError(`model directory ${f.model} has no config.json (not a checkpoint)`);
  const file = validityDataFile(f.data);
  let rows = loadValidityRows(file, nPrompts);
  const render: RenderOptions = { ...worldRender(file), ...(background ? { background } : {}) };
  if (background)
    rows = rows.map((r, i) => ({
      ...r,
      realImage: renderScene(r.scene, {
        ...render,
        size: r.realImage.width,
        seed: deriveSeed(seed, 'real-noise', i),
      }),
    }));

  const torch = await import('../torch/index.js');
  const { loadULM } = await import('../model/checkpoint.js');
  const { rewardValidity, formatValidityTable } = await import('../rl/validity/validity.js');
  const { alternativeRows } = await import('../rl/validity/alternatives.js');
  torch.applyDefaultThreads();
  const { model, tokenizer } = loadULM(f.model);
  const bar = progress('rewards check');
  try {
    const size = model.config.vision_config.params.image_size;
    const bad = rows.find((r) => r.realImage.width !== size || r.realImage.height !== size);
    if (bad)
      throw new UserError(
        `a real image is ${bad.realImage.width}x${bad.realImage.height} but the model takes ${size}x${size} images`,
      );
    const result = rewardValidity({ model, tok: tokenizer }, rows, {
      imagesPerPrompt: K,
      correctRenders,
      seed,
      cfgWeight,
      temperature,
      bootstrap,
      render,
      rewards: { imageFallback: f.imageSide, ...(background ? { detect: { background } } : {}) },
      ...(f.alternatives ? { extraRows: alternativeRows(background) } : {}),
      onProgress: (d, t, what) => bar.update(d, t, what),
    });
    bar.stop();
    if (f.json) console.log(JSON.stringify(result));
    else console.log(formatValidityTable(result));
  } finally {
    bar.stop();
    model.dispose();
  }
}

export function registerRewardsCommands(program: Command): void {
  const rewards = program.command('rewards').description('checks of the reward functions');
  rewards
    .command('check')
    .description(
      'validity of the image rewards: pairwise accuracy (correct vs incorrect images of one prompt) and Spearman with the GenEval check',
    )
    .requiredOption('--model <dir>', 'checkpoint folder (base samples, re-captioner, TIM encoder)')
    .requiredOption('--data <path>', 'a JSONL of generation rows, or a world folder (its eval/gen.jsonl)')
    .option('--prompts <n>', 'generation prompts (the first N rows)', '48')
    .option('--seed <s>', 'seed of the variants, the sampler and the bootstrap', '0')
    .option('--json', 'print the result as one JSON line')
    .option('--images-per-prompt <k>', "the model's own samples per prompt (0 = none)", '4')
    .option('--correct-renders <n>', 'other correct renders per prompt', '3')
    .option('--cfg <w>', 'CFG weight of the samples (the trainer: 5)', '5')
    .option('--temperature <t>', 'sampling temperature (the trainer: 1)', '1')
    .option('--bootstrap <b>', 'bootstrap resamples of prompts', '1000')
    .option('--image-side <m>', 'the cycle reward image side: ssim (the trainer default) or rmse', 'ssim')
    .option('--alternatives', 'also score the alternative image sides (docs/rewards.md)')
    .option(
      '--background <rgb>',
      're-render the real images and candidates on this background, e.g. 128,128,128',
    )
    .action(rewardsCheckAction);
}
