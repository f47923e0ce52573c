/** The list of command groups. Each module adds its subcommands to the root program. */
import type { Command } from 'commander';
import { registerBenchCommands } from './bench.js';
import { registerModelCommands } from './model.js';
import { registerScoreCommands } from './score.js';
import { registerWorldCommands } from './world.js';
import { registerTrainCommands } from './train.js';
import { registerMergeCommands } from './merge.js';

export function registerCommands(program: Command): void {
  registerBenchCommands(program);
  registerModelCommands(program);
  registerWorldCommands(program);
  registerScoreCommands(program);
  registerTrainCommands(program);
  registerMergeCommands(program);
}
