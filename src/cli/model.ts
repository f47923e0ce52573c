/**
 * `corl generate` (text -> images through the ULM's CFG sampler, saved as a PNG grid) and `corl ask`
 * (image + question -> answer). Both load a checkpoint folder (config.json, safetensors, tokenizer.json).
 */
import * as fs from 'node:fs';
import type { Command } from 'commander';
import { UserError } from '../util/errors.js';
import { checkOutFile } from '../util/output-dir.js';
import { isCorlPng } from '../util/png-marker.js';
import {
  DEVICE_HELP,
  parseDeviceOption,
  parseFloatOption,
  parseIntOption,
  parseSeedOption,
  parseTextOption,
} from './options.js';

interface GenerateFlags {
  model: string;
  prompt?: string;
  promptsFile?: string;
  each?: boolean;
  n: number;
  out: string;
  cfg: number;
  temperature: number;
  seed: number;
  overwrite?: boolean;
  device?: string;
}
interface AskFlags {
  model: string;
  image: string;
  question: string;
  maxTokens: number;
  temperature: number;
  seed: number;
  device?: string;
}

/** Fails early (before any slow work) when the checkpoint folder is absent. */
function requireDir(dir: string): void {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory())
    throw new UserError(`model directory ${dir} does not exist`);
}

/** `corl generate`: checks every input and the output before loading the model. */
async function generateAction(f: GenerateFlags): Promise<void> {
  const { n, cfg, temperature, seed } = f;
  const prompts = generatePrompts(f);
  requireDir(f.model);
  const stem = f.out.replace(/\.png$/i, '');
  const outs = f.each ? Array.from({ length: prompts.length * n }, (_, k) => `${stem}-${k}.png`) : [f.out];
  for (const out of outs) checkOutFile(out, { overwrite: f.overwrite, ownFile: isCorlPng });
  const torch = await import('../torch/index.js');
  const device = torch.checkDevice(f.device ?? 'cpu');
  const { loadULM } = await import('../model/checkpoint.js');
  const { drawImages } = await import('../model/draw.js');
  const { imageGrid, writePNG } = await import('../model/image-io.js');
  torch.applyDefaultThreads();
  const { model, tokenizer } = loadULM(f.model);
  model.to(device);
  const t0 = Date.now();
  try {
    const images = drawImages(model, tokenizer, prompts, {
      imagesPerPrompt: n,
      cfgWeight: cfg,
      temperature,
      generator: new torch.Generator(seed),
    });
    if (f.each) images.forEach((img, k) => writePNG(outs[k]!, img));
    else writePNG(f.out, imageGrid(images, prompts.length > 1 ? n : undefined));
  } finally {
    model.dispose();
  }
  const where = f.each ? `${outs.length} files ${stem}-*.png` : f.out;
  console.log(`wrote ${where}: ${prompts.length * n} image(s) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

/** --prompt, or the non-empty lines of --prompts-file: exactly one of them. */
function generatePrompts(f: GenerateFlags): string[] {
  if ((f.prompt === undefined) === (f.promptsFile === undefined))
    throw new UserError('give either --prompt or --prompts-file');
  if (f.prompt !== undefined) return [f.prompt];
  let text: string;
  try {
    text = fs.readFileSync(f.promptsFile!, 'utf8');
  } catch (e) {
    throw new UserError(
      `cannot read --prompts-file ${f.promptsFile}: ${(e as NodeJS.ErrnoException).code ?? e}`,
    );
  }
  const prompts = text.split('\n').filter((l) => l.trim() !== '');
  if (prompts.length === 0 || prompts.length > 256)
    throw new UserError(`--prompts-file ${f.promptsFile}: ${prompts.length} prompts (1 to 256 lines)`);
  return prompts;
}

/** `corl ask`. */
async function askAction(f: AskFlags): Promise<void> {
  const { maxTokens: maxNewTokens, temperature, seed } = f;
  requireDir(f.model);
  const { readPNG } = await import('../model/image-io.js');
  const image = readPNG(f.image);
  const torch = await import('../torch/index.js');
  const device = torch.checkDevice(f.device ?? 'cpu');
  const { loadULM } = await import('../model/checkpoint.js');
  const { understandingBatch } = await import('../model/inputs.js');
  const { understandingPrompt } = await import('../model/templates.js');
  const { sampleText } = await import('../model/sample.js');
  const { preprocessImage } = await import('../model/preprocess.js');
  torch.applyDefaultThreads();
  const { model, tokenizer } = loadULM(f.model);
  model.to(device);
  const answer = torch.tidy(() => {
    const batch = understandingBatch(
      tokenizer,
      [understandingPrompt(f.question)],
      [[preprocessImage(image, model.config)]],
      model.numImageTokens,
    );
    const s = sampleText(model, batch, {
      maxNewTokens,
      temperature,
      eosId: tokenizer.special.eos,
      padId: tokenizer.special.pad,
      generator: new torch.Generator(seed),
    });
    return tokenizer.decode(s.ids[0]!);
  });
  model.dispose();
  console.log(answer.trim());
}

export function registerModelCommands(program: Command): void {
  program
    .command('generate')
    .description('draw images for a prompt with a ULM checkpoint (CFG sampling) and save them as a PNG grid')
    .requiredOption('--model <dir>', 'checkpoint folder')
    .option('--prompt <text>', 'what to draw', parseTextOption)
    .option('--prompts-file <file>', 'or one prompt per line of a text file (all drawn in one batch)')
    .option('--n <count>', 'images per prompt (1-64)', parseIntOption(1, 64), 4)
    .option('--out <file>', 'PNG grid to write', 'grid.png')
    .option(
      '--each',
      'write each image to its own PNG, OUT-0.png, OUT-1.png, ... (OUT without .png), in prompt order',
    )
    .option('--overwrite', 'replace --out if it is a PNG corl wrote')
    .option('--cfg <w>', 'classifier-free guidance weight (0-100)', parseFloatOption(0, 100), 5)
    .option('--temperature <t>', 'sampling temperature (0 = greedy, at most 10)', parseFloatOption(0, 10), 1)
    .option('--seed <s>', 'random seed', parseSeedOption, 0)
    .option('--device <d>', DEVICE_HELP, parseDeviceOption)
    .action(generateAction);

  program
    .command('ask')
    .description('answer a question about an image with a ULM checkpoint')
    .requiredOption('--model <dir>', 'checkpoint folder')
    .requiredOption('--image <png>', 'the image (PNG)')
    .requiredOption('--question <text>', 'the question', parseTextOption)
    .option('--max-tokens <n>', 'longest answer in tokens (1-4096)', parseIntOption(1, 4096), 128)
    .option('--temperature <t>', 'sampling temperature (0 = greedy, at most 10)', parseFloatOption(0, 10), 0)
    .option('--seed <s>', 'random seed', parseSeedOption, 0)
    .option('--device <d>', DEVICE_HELP, parseDeviceOption)
    .action(askAction);
}
