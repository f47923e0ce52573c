/**
 * corl command-line entry point. Each command group lives in its own module under src/cli/ and registers
 * itself on the root program; user mistakes end in one line on stderr and exit code 2.
 */
import { Command, CommanderError } from 'commander';
import { UserError } from '../util/errors.js';
import { registerCommands } from './commands.js';

const program = new Command();
program
  .name('corl')
  .description('Co-Reinforcement Learning for unified multimodal models (TypeScript on libtorch)')
  .version('0.1.0')
  .exitOverride()
  .configureOutput({ outputError: (str, write) => write(str) });

registerCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exit(err.exitCode === 0 ? 0 : 2);
  }
  if (err instanceof UserError) {
    process.stderr.write(`corl: error: ${err.message}\n`);
    process.exit(2);
  }
  throw err;
}
