/** `corl merge`: Gaussian (CoRL) or average merging of two fine-tuned checkpoints sharing a base. */
import { Option, type Command } from 'commander';
import { UserError } from '../util/errors.js';
import { checkOutDir } from '../util/output-dir.js';
import { parseFloatOption } from './options.js';

interface MergeFlags {
  method: 'gaussian' | 'average';
  base: string;
  models: string[];
  out: string;
  lambda: number;
  overwrite?: boolean;
}

/** `corl merge`: checks the folders, then merges. */
async function mergeAction(flags: MergeFlags): Promise<void> {
  if (flags.models.length !== 2)
    throw new UserError(`--models takes exactly two folders, got ${flags.models.length}`);
  const [a, b] = flags.models as [string, string];
  checkOutDir(flags.out, {
    kind: 'model',
    overwrite: flags.overwrite,
    inputs: [
      ['--base', flags.base],
      ['--models', a],
      ['--models', b],
    ],
  });
  const { mergeCheckpoints } = await import('../merge/checkpoints.js');
  const r = mergeCheckpoints({
    method: flags.method,
    base: flags.base,
    a,
    b,
    out: flags.out,
    lambda: flags.lambda,
  });
  console.log(`merged ${r.tensors} tensors (${flags.method}) -> ${flags.out}`);
}

interface MergeLoraFlags {
  base: string;
  adapter: string;
  out: string;
  overwrite?: boolean;
}

/** `corl merge-lora`: folds a PEFT LoRA adapter into the base model's weights. */
async function mergeLoraAction(flags: MergeLoraFlags): Promise<void> {
  checkOutDir(flags.out, {
    kind: 'model',
    overwrite: flags.overwrite,
    inputs: [
      ['--base', flags.base],
      ['--adapter', flags.adapter],
    ],
  });
  const { mergeLoraCheckpoint } = await import('../merge/checkpoints.js');
  const r = mergeLoraCheckpoint({ base: flags.base, adapter: flags.adapter, out: flags.out });
  console.log(`folded the adapter into ${r.modules} modules -> ${flags.out}`);
}

export function registerMergeCommands(program: Command): void {
  program
    .command('merge-lora')
    .description(
      'fold a LoRA adapter (PEFT files) into the base model: W + (alpha / r) B A, a full checkpoint',
    )
    .requiredOption('--base <dir>', 'the model the adapter was trained on')
    .requiredOption('--adapter <dir>', 'the adapter folder (adapter_model.safetensors + adapter_config.json)')
    .requiredOption('--out <dir>', 'where to write the folded checkpoint (new or empty folder)')
    .option('--overwrite', 'replace --out if it holds a model corl wrote')
    .action(mergeLoraAction);
  program
    .command('merge')
    .description('merge two fine-tuned models that share a base (Gaussian band merge, as CoRL, or average)')
    .requiredOption('--base <dir>', 'the common starting checkpoint')
    .requiredOption('--models <dirs...>', 'the two fine-tuned checkpoints (A B)')
    .requiredOption('--out <dir>', 'where to write the merged checkpoint (new or empty folder)')
    .option('--overwrite', 'replace --out if it holds a model corl wrote')
    .addOption(
      new Option('--method <m>', 'merging method').choices(['gaussian', 'average']).default('gaussian'),
    )
    .option(
      '--lambda <x>',
      'band half-width in stds for gaussian merging (> 0, at most 100)',
      parseFloatOption(0, 100, { exclusiveMin: true }),
      2,
    )
    .action(mergeAction);
}
