/** `corl train --config FILE`: GRPO training (CoRL stage 1 by default; stage 2 / separate / alternating by config). */
import type { Command } from 'commander';
import { DEVICE_HELP, collectSets, parseDeviceOption, parseIntOption, parseSeedOption } from './options.js';

interface TrainFlags {
  config: string;
  resume?: boolean;
  overwrite?: boolean;
  steps?: number;
  out?: string;
  seed?: number;
  json?: boolean;
  set: string[];
  nproc?: number;
  device?: string;
}

/** `corl train`: the config with its overrides, then the run. */
async function trainAction(flags: TrainFlags): Promise<void> {
  const overrides: Record<string, unknown> = {};
  if (flags.steps !== undefined) overrides.steps = flags.steps;
  if (flags.seed !== undefined) overrides.seed = flags.seed;
  if (flags.out !== undefined) overrides.out = flags.out;
  if (flags.device !== undefined) overrides.device = flags.device;
  const { loadTrainConfig, parseConfigSet } = await import('../rl/config.js');
  const { train } = await import('../rl/trainer.js');
  const cfg = loadTrainConfig(flags.config, overrides, flags.set.map(parseConfigSet));
  if (flags.nproc !== undefined && flags.nproc > 1) {
    // data parallel on this machine: the config is checked once here, then N workers run this same command
    const { checkShardable } = await import('../rl/trainer.js');
    checkShardable(cfg, { rank: 0, size: flags.nproc });
    await (await import('./launch.js')).relaunchLocally(flags.nproc);
    return;
  }
  const r = train(cfg, { resume: flags.resume, overwrite: flags.overwrite });
  // a data-parallel worker other than rank 0 reports nothing (rank 0 speaks for the run)
  if ((process.env.RANK ?? '0') !== '0' && process.env.WORLD_SIZE !== undefined) return;
  if (flags.json) console.log(JSON.stringify(r));
  else {
    const f = (x?: number) => (x === undefined || Number.isNaN(x) ? '-' : x.toFixed(3));
    console.log(`trained ${r.steps} steps in ${r.seconds.toFixed(0)} s -> ${r.out}`);
    if (r.before && r.after)
      console.log(
        `held-out: gen reward ${f(r.before.gen_reward)} -> ${f(r.after.gen_reward)}, geneval ${f(r.before.geneval)} -> ${f(r.after.geneval)}, accuracy ${f(r.before.accuracy)} -> ${f(r.after.accuracy)}, format ${f(r.before.format)} -> ${f(r.after.format)}`,
      );
  }
}

export function registerTrainCommands(program: Command): void {
  program
    .command('train')
    .description('GRPO on understanding + generation (see configs/world/unified.yaml for every field)')
    .requiredOption('--config <file>', 'YAML config')
    .option('--resume', 'continue the run in the output folder from its newest intact checkpoint')
    .option('--overwrite', 'replace the run in the output folder (its checkpoints and metrics are removed)')
    .option('--steps <n>', 'override the number of steps (1 to 10,000,000)', parseIntOption(1, 10_000_000))
    .option('--out <dir>', 'override the output folder')
    .option('--seed <n>', 'override the seed', parseSeedOption)
    .option(
      '--set <key=value>',
      'override a config field, validated as the file is (e.g. --set beta=0.02 --set rewards.image.geneval=1); repeatable',
      collectSets,
      [],
    )
    .option('--json', 'print the result as one JSON line')
    .option('--device <d>', `${DEVICE_HELP}; overrides the config's device`, parseDeviceOption)
    .option(
      '--nproc <n>',
      'data parallel: N worker processes on this machine (Gloo on 127.0.0.1; batch_size must split into N x micro_batch_size)',
      parseIntOption(1, 1024),
    )
    .action(trainAction);
}
