/**
 * `corl generate` (text -> images through the ULM's CFG sampler, saved as a PNG grid) and `corl ask`
 * (image + question -> answer). Both load a checkpoint folder (config.json, safetensors, tokenizer.json).
 */
import * as fs from 'node:fs';
import type { Command } from 'commander';
import { UserError } from '../util/errors.js';
import { checkOutFile } from '../util/output-dir.js';
import { isCorlPng } from '../util/png-marker.js';
import { parseFloatOption, parseIntOption, parseSeedOption, parseTextOption } from './options.js';

interface GenerateFlags {
  model: string;
  prompt: string;
  n: number;
  out: string;
  cfg: number;
  temperature: number;
  seed: number;
  overwrite?: boolean;
}
interface AskFlags {
  model: string;
  image: string;
  question: string;
  maxTokens: number;
  temperature: number;
  seed: number;
}

/** Fails early (before any slow work) when the checkpoint folder is absent. */
function requireDir(dir: string): void {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory())
    throw new UserError(`model directory ${dir} does not exist`);
}

/** `corl generate`: checks every input and the output before loading the model. */
async function generateAction(f: GenerateFlags): Promise<void> {
  const { n, cfg, temperature, seed } = f;
  requireDir(f.model);
  checkOutFile(f.out, { overwrite: f.overwrite, ownFile: isCorlPng });
  const torch = await import('../torch/index.js');
  const { loadULM } = await import('../model/checkpoint.js');
  const { drawImages } = await import('../model/draw.js');
  const { imageGrid, writePNG } = await import('../model/image-io.js');
  torch.applyDefaultThreads();
  const { model, tokenizer } = loadULM(f.model);
  const t0 = Date.now();
  try {
    const images = drawImages(model, tokenizer, [f.prompt], {
      imagesPerPrompt: n,
      cfgWeight: cfg,
      temperature,
      generator: new torch.Generator(seed),
    });
    writePNG(f.out, imageGrid(images));
  } finally {
    model.dispose();
  }
  console.log(`wrote ${f.out}: ${n} image(s) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

/** `corl ask`. */
async function askAction(f: AskFlags): Promise<void> {
  const { maxTokens: maxNewTokens, temperature, seed } = f;
  requireDir(f.model);
  const { readPNG } = await import('../model/image-io.js');
  const image = readPNG(f.image);
  const torch = await import('../torch/index.js');
  const { loadULM } = await import('../model/checkpoint.js');
  const { understandingBatch } = await import('../model/inputs.js');
  const { understandingPrompt } = await import('../model/templates.js');
  const { sampleText } = await import('../model/sample.js');
  const { preprocessImage } = await import('../model/preprocess.js');
  torch.applyDefaultThreads();
  const { model, tokenizer } = loadULM(f.model);
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
    .requiredOption('--prompt <text>', 'what to draw', parseTextOption)
    .option('--n <count>', 'images (1-64)', parseIntOption(1, 64), 4)
    .option('--out <file>', 'PNG grid to write', 'grid.png')
    .option('--overwrite', 'replace --out if it is a PNG corl wrote')
    .option('--cfg <w>', 'classifier-free guidance weight (0-100)', parseFloatOption(0, 100), 5)
    .option('--temperature <t>', 'sampling temperature (0 = greedy, at most 10)', parseFloatOption(0, 10), 1)
    .option('--seed <s>', 'random seed', parseSeedOption, 0)
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
    .action(askAction);
}
