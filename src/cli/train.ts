/** `corl train --config FILE`: GRPO training (CoRL stage 1 by default; stage 2 / separate / alternating by config). */
import type { Command } from 'commander';
import { UserError } from '../util/errors.js';

interface TrainFlags {
  config: string;
  resume?: boolean;
  steps?: string;
  out?: string;
  seed?: string;
  json?: boolean;
}

export function registerTrainCommands(program: Command): void {
  program
    .command('train')
    .description('GRPO on understanding + generation (see configs/world/unified.yaml for every field)')
    .requiredOption('--config <file>', 'YAML config')
    .option('--resume', 'continue from the newest checkpoint-N in the output folder')
    .option('--steps <n>', 'override the number of steps')
    .option('--out <dir>', 'override the output folder')
    .option('--seed <n>', 'override the seed')
    .option('--json', 'print the result as one JSON line')
    .action(async (flags: TrainFlags) => {
      const overrides: Record<string, unknown> = {};
      for (const [k, v] of [
        ['steps', flags.steps],
        ['seed', flags.seed],
      ] as const) {
        if (v === undefined) continue;
        const n = Number(v);
        if (!Number.isInteger(n)) throw new UserError(`--${k} must be an integer, got "${v}"`);
        overrides[k] = n;
      }
      if (flags.out !== undefined) overrides.out = flags.out;
      const { loadTrainConfig } = await import('../rl/config.js');
      const { train } = await import('../rl/trainer.js');
      const cfg = loadTrainConfig(flags.config, overrides);
      const r = train(cfg, { resume: flags.resume });
      if (flags.json) console.log(JSON.stringify(r));
      else {
        const f = (x?: number) => (x === undefined || Number.isNaN(x) ? '-' : x.toFixed(3));
        console.log(`trained ${r.steps} steps in ${r.seconds.toFixed(0)} s -> ${r.out}`);
        if (r.before && r.after)
          console.log(
            `held-out: gen reward ${f(r.before.gen_reward)} -> ${f(r.after.gen_reward)}, geneval ${f(r.before.geneval)} -> ${f(r.after.geneval)}, accuracy ${f(r.before.accuracy)} -> ${f(r.after.accuracy)}, format ${f(r.before.format)} -> ${f(r.after.format)}`,
          );
      }
    });
}
