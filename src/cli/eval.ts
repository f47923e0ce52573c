/**
 * `corl eval`: the ShapesWorld benchmarks of a checkpoint (src/eval/evaluate.ts).
 *
 *   corl eval --model DIR --data PATH [--json] [--gen-prompts N] [--images-per-prompt 4] [--cfg 5]
 *             [--temperature 1] [--seed S] [--max-questions N] [--quick] [--no-gen] [--no-understanding]
 *             [--examples N] [--nproc N]
 *
 * PATH is one of
 *   - a `corl world build` folder: its eval/{gen,mcq,oe,pope}.jsonl (the held-out test split);
 *   - a folder holding gen.jsonl / mcq.jsonl / oe.jsonl / pope.jsonl (e.g. DIR/eval, or DIR/stage2);
 *   - one JSONL file of world rows: each row feeds the benchmarks its fields name (`task: gen` -> GenEval;
 *     `mcq` / `oe` / `pope` -> that family; `unified` stage-1 rows -> GenEval with their prompt and the family
 *     of their question; see evaluate.ts).
 * Images are read from each row's `real_image` (relative to its file's folder). --gen-prompts and
 * --max-questions take the first N rows of each benchmark (the world's files are balanced over every prefix).
 * --quick = --gen-prompts 24 --max-questions 60 (about 10-20 s for the world-tiny model on 2 cores).
 * Prints a table, or one JSON line with --json.
 * --nproc N: N data-parallel workers (docs/distributed.md); the same items and scores as one process.
 */
import * as fs from 'node:fs';
import type { Command } from 'commander';
import { UserError } from '../util/errors.js';
import { progress } from '../util/progress.js';
import { formatEvalTable } from '../eval/table.js';
import { evalFiles, loadEvalRows } from '../eval/rows.js';
import {
  DEVICE_HELP,
  parseDeviceOption,
  parseFloatOption,
  parseIntOption,
  parseSeedOption,
} from './options.js';

interface EvalFlags {
  model: string;
  data: string;
  json?: boolean;
  genPrompts?: number;
  imagesPerPrompt: number;
  cfg: number;
  temperature: number;
  seed: number;
  maxQuestions?: number;
  quick?: boolean;
  gen: boolean;
  understanding: boolean;
  examples: number;
  genBatch: number;
  textBatch: number;
  nproc?: number;
  device?: string;
}

/** `corl eval`: loads the rows, evaluates (images of any size go through the model's image processor). */
async function evalAction(f: EvalFlags): Promise<void> {
  if (!fs.existsSync(f.model) || !fs.statSync(f.model).isDirectory())
    throw new UserError(`model directory ${f.model} does not exist`);
  const files = evalFiles(f.data);
  const torch = await import('../torch/index.js');
  const device = f.device ?? 'cpu';
  if ((f.nproc ?? 1) > 1) torch.checkDataParallelDevice(device);
  torch.checkDevice(device);
  const { QUICK_EVAL, evaluate, routeRows } = await import('../eval/evaluate.js');
  const limits = {
    genPrompts: f.genPrompts ?? (f.quick ? QUICK_EVAL.genPrompts : undefined),
    maxQuestions: f.maxQuestions ?? (f.quick ? QUICK_EVAL.maxQuestions : undefined),
  };
  const rows = loadEvalRows(files, (all) => {
    const r = routeRows(all, limits);
    return [...(f.gen ? r.gen : []), ...(f.understanding ? [...r.mcq, ...r.oe, ...r.pope] : [])];
  });
  // data parallel on this machine: N workers run this same command, rank 0 prints
  if (await (await import('./launch.js')).relaunchLocally(f.nproc)) return;
  const { loadULM } = await import('../model/checkpoint.js');
  const dist = await import('../torch/distributed.js');
  torch.applyDefaultThreads();
  // a launched worker (--nproc, corl launch, torchrun): its share of the batches, every result gathered
  const joined = dist.joinLaunchedGroup();
  const world = joined && { rank: joined.rank, size: joined.size };
  const lead = world === null || world.rank === 0;
  const { model, tokenizer } = loadULM(f.model);
  model.to(device);
  const bar = progress('eval', { quiet: !lead });
  try {
    const result = evaluate(model, tokenizer, rows, {
      ...limits,
      imagesPerPrompt: f.imagesPerPrompt,
      cfgWeight: f.cfg,
      temperature: f.temperature,
      seed: f.seed,
      geneval: f.gen,
      understanding: f.understanding,
      examples: f.examples,
      genBatch: f.genBatch,
      textBatch: f.textBatch,
      onProgress: (d, t) => bar.update(d, t),
      ...(world ? { world } : {}),
    });
    bar.stop();
    if (!lead) return;
    if (f.json) console.log(JSON.stringify(result));
    else console.log(formatEvalTable(result));
  } finally {
    bar.stop();
    model.dispose();
    if (joined?.owned) dist.destroyProcessGroup();
  }
}

export function registerEvalCommands(program: Command): void {
  program
    .command('eval')
    .description(
      'ShapesWorld benchmarks of a checkpoint: GenEval-style generation, MCQ, open-ended, POPE, format',
    )
    .requiredOption('--model <dir>', 'checkpoint folder')
    .requiredOption(
      '--data <path>',
      'a world build folder, a folder of {gen,mcq,oe,pope}.jsonl, or one JSONL file',
    )
    .option('--json', 'print the result as one JSON line')
    .option('--gen-prompts <n>', 'evaluate at most N generation prompts', parseIntOption(0))
    .option('--images-per-prompt <n>', 'images drawn per prompt (GenEval: 4)', parseIntOption(1, 64), 4)
    .option('--cfg <w>', 'classifier-free guidance weight', parseFloatOption(0, 100), 5)
    .option('--temperature <t>', 'image sampling temperature', parseFloatOption(0, 10), 1)
    .option('--seed <s>', 'seed of the image sampler', parseSeedOption, 0)
    .option('--max-questions <n>', 'at most N questions per family (mcq, oe, pope)', parseIntOption(0))
    .option('--quick', 'a quick check: --gen-prompts 24 --max-questions 60 unless given')
    .option('--no-gen', 'skip the generation benchmark')
    .option('--no-understanding', 'skip the question benchmarks')
    .option(
      '--examples <n>',
      'include N example answers per family (JSON output)',
      parseIntOption(0, 1000),
      0,
    )
    .option(
      '--gen-batch <n>',
      'prompts per image-sampling batch (the sampler draws batch by batch: another size draws other images)',
      parseIntOption(1, 4096),
      16,
    )
    .option('--text-batch <n>', 'questions per answering batch', parseIntOption(1, 4096), 64)
    .option('--device <d>', DEVICE_HELP, parseDeviceOption)
    .option(
      '--nproc <n>',
      'data parallel: N worker processes on this machine, whole batches dealt out, the same items and scores as one process (default 1: 2 ranks are faster only on an idle machine)',
      parseIntOption(1, 1024),
    )
    .action(evalAction);
}
