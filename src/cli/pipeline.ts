/** `corl pipeline` (the whole CoRL recipe + report card) and `corl pilot` (strategies and ablations over seeds). */
import type { Command } from 'commander';
import { UserError } from '../util/errors.js';
import { parseIntOption, parseSeedOption } from './options.js';

interface PipelineFlags {
  preset: string;
  out: string;
  base?: string;
  seed: number;
  jobs: number;
  imageRewards?: string;
  recipe: string;
  seeds?: number;
  nproc: number;
}

const IMAGE_REWARDS_HELP =
  'image rewards of stage 1 and the generation branch, replacing the recipe\'s: "paper" (cycle + TIM), "geneval", or ' +
  'names with weights "geneval=1,t2i_ti_sim=0.5"';

const NPROC_HELP =
  'data-parallel workers of each train, pretrain and eval stage (docs/distributed.md); default 1: 2 ranks are faster only on an idle machine, and a base they pretrain is another model than the one-process base';

const RECIPE_HELP =
  'RL recipe: "corl" (the default, chosen by measurement: docs/recipe.md) or "paper" (Table 5 of the paper as written)';

/** `corl pipeline`. */
async function pipelineAction(f: PipelineFlags): Promise<void> {
  const { runPipeline } = await import('../pipeline/pipeline.js');
  const r = await runPipeline(f);
  console.log(`pipeline finished in ${(r.seconds / 60).toFixed(1)} min; report: ${r.report}`);
}

/** `corl pilot --study transfer`: the transfer study's runs, then its report (docs/science.md). */
async function studyAction(f: PipelineFlags & { seeds: number; steps?: number }): Promise<void> {
  if (f.imageRewards !== undefined)
    throw new UserError(
      "--image-rewards: the transfer study runs both the recipe's and the paper's image rewards",
    );
  const { runStudy, writeStudyReport } = await import('../pipeline/transfer.js');
  const t0 = Date.now();
  const r = await runStudy({ ...f, base: f.base! });
  const report = writeStudyReport({
    dir: r.dir,
    preset: f.preset,
    recipe: f.recipe,
    seeds: r.seeds,
    runners: r.runners,
    N: r.N,
    seconds: (Date.now() - t0) / 1000,
  });
  console.log(`transfer study finished; report: ${report}`);
}

/** `corl pilot`: the runs, then the report. */
async function pilotAction(
  f: PipelineFlags & { seeds: number; steps?: number; study: string },
): Promise<void> {
  if (f.study === 'transfer') return studyAction(f);
  if (f.study !== 'strategies') throw new UserError(`--study ${f.study}: expected strategies or transfer`);
  const { runPilot, writePilotReport } = await import('../pipeline/pilot.js');
  const t0 = Date.now();
  const r = await runPilot({ ...f, base: f.base! });
  const report = writePilotReport({
    dir: r.dir,
    preset: f.preset,
    seeds: r.seeds,
    runners: r.runner,
    seconds: (Date.now() - t0) / 1000,
    imageRewards: f.imageRewards,
    recipe: f.recipe,
  });
  console.log(`pilot finished; report: ${report}`);
}

export function registerPipelineCommands(program: Command): void {
  program
    .command('pipeline')
    .description(
      'the whole CoRL recipe: world -> base -> stage 1 -> stage 2 -> merge -> eval -> report (resumable)',
    )
    .option(
      '--preset <name>',
      'world-tiny (default, ~10 min on 2 idle cores) or world-micro (seconds)',
      'world-tiny',
    )
    .requiredOption('--out <dir>', 'output folder: new or empty; rerun with the same folder to resume')
    .option(
      '--base <dir>',
      'start from this pretrained base instead of pretraining one; with --seeds, a path with {seed} (one base per seed)',
    )
    .option('--seed <n>', 'seed', parseSeedOption, 0)
    .option('--jobs <n>', 'stages run side by side', parseIntOption(1, 64), 2)
    .option(
      '--seeds <n>',
      'run the recipe for seeds S..S+n-1 (DIR/seed-S, ...) and report mean ± 95% interval over them',
      parseIntOption(1, 100),
      1,
    )
    .option('--image-rewards <list>', IMAGE_REWARDS_HELP)
    .option('--recipe <name>', RECIPE_HELP, 'corl')
    .option('--nproc <n>', NPROC_HELP, parseIntOption(1, 1024), 1)
    .action(pipelineAction);

  program
    .command('pilot')
    .description(
      'RL strategies (separate, separate+merge, alternating, unified, CoRL) and ablations over seeds',
    )
    .option('--preset <name>', 'sizes of each run (see corl pipeline)', 'world-tiny')
    .requiredOption('--out <dir>', 'output folder (resumable)')
    .requiredOption('--base <dir>', 'the pretrained base every strategy starts from')
    .option('--seeds <n>', 'seeds (1-100)', parseIntOption(1, 100), 3)
    .option(
      '--steps <n>',
      'task budget N: steps of the unified run (default: the preset stage-1 steps)',
      parseIntOption(1, 1_000_000),
    )
    .option('--jobs <n>', 'runs side by side', parseIntOption(1, 64), 2)
    .option('--image-rewards <list>', IMAGE_REWARDS_HELP)
    .option('--recipe <name>', RECIPE_HELP, 'corl')
    .option('--nproc <n>', NPROC_HELP, parseIntOption(1, 1024), 1)
    .option(
      '--study <name>',
      '"strategies" (the paper\'s strategies and ablations) or "transfer" (does each task\'s RL move the other, with controls: docs/science.md)',
      'strategies',
    )
    .action(pilotAction);
}
