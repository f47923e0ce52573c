/** The list of command groups. Each module adds its subcommands to the root program. */
import type { Command } from 'commander';
import { registerBenchCommands } from './bench.js';
import { registerEvalCommands } from './eval.js';
import { registerModelCommands } from './model.js';
import { registerPretrainCommands } from './pretrain.js';
import { registerScoreCommands } from './score.js';
import { registerWorldCommands } from './world.js';
import { registerTrainCommands } from './train.js';
import { registerMergeCommands } from './merge.js';
import { registerPipelineCommands } from './pipeline.js';
import { registerConfigCommands } from './config.js';
import { registerRewardsCommands } from './rewards.js';
import { registerConvertCommands } from './convert.js';
import { registerLaunchCommands } from './launch.js';

export function registerCommands(program: Command): void {
  registerBenchCommands(program);
  registerModelCommands(program);
  registerWorldCommands(program);
  registerScoreCommands(program);
  registerEvalCommands(program);
  registerPretrainCommands(program);
  registerTrainCommands(program);
  registerMergeCommands(program);
  registerPipelineCommands(program);
  registerConfigCommands(program);
  registerRewardsCommands(program);
  registerConvertCommands(program);
  registerLaunchCommands(program);
}
