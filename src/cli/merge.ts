/** `corl merge`: Gaussian (CoRL) or average merging of two fine-tuned checkpoints sharing a base. */
import type { Command } from 'commander';
import { UserError } from '../util/errors.js';

interface MergeFlags {
  method: string;
  base: string;
  models: string[];
  out: string;
  lambda: string;
}

export function registerMergeCommands(program: Command): void {
  program
    .command('merge')
    .description('merge two fine-tuned models that share a base (Gaussian band merge, as CoRL, or average)')
    .requiredOption('--base <dir>', 'the common starting checkpoint')
    .requiredOption('--models <dirs...>', 'the two fine-tuned checkpoints (A B)')
    .requiredOption('--out <dir>', 'where to write the merged checkpoint')
    .option('--method <m>', 'gaussian | average', 'gaussian')
    .option('--lambda <x>', 'band half-width in stds for gaussian merging', '2')
    .action(async (flags: MergeFlags) => {
      if (flags.method !== 'gaussian' && flags.method !== 'average')
        throw new UserError(`--method must be gaussian or average, got "${flags.method}"`);
      if (flags.models.length !== 2)
        throw new UserError(`--models takes exactly two folders, got ${flags.models.length}`);
      const lambda = Number(flags.lambda);
      if (!(lambda > 0)) throw new UserError(`--lambda must be a positive number, got "${flags.lambda}"`);
      const { mergeCheckpoints } = await import('../rl/merge-models.js');
      const r = mergeCheckpoints({
        method: flags.method,
        base: flags.base,
        a: flags.models[0]!,
        b: flags.models[1]!,
        out: flags.out,
        lambda,
      });
      console.log(`merged ${r.tensors} tensors (${flags.method}) -> ${flags.out}`);
    });
}
