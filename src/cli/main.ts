/**
 * corl command-line entry point. Each command group lives in its own module under src/cli/ and registers
 * itself on the root program. A user mistake (a UserError, or commander's usage error) ends in one line on
 * stderr and exit code 2; anything else is a bug in corl: one line and exit code 1, with the stack trace
 * when CORL_DEBUG=1.
 */
import { Command, CommanderError } from 'commander';
import { UserError } from '../util/errors.js';

const program = new Command();
program
  .name('corl')
  .description('Co-Reinforcement Learning for unified multimodal models (TypeScript on libtorch)')
  .version('0.1.0')
  .exitOverride()
  .configureOutput({ outputError: (str, write) => write(str) });

try {
  // Imported inside the handler, not at the top: should loading a command's module fail (an addon that is not
  // built yet, for one), that is reported like any other error, in one line. The command modules load the
  // libtorch addon only when a command that needs it runs, so help and option errors work without it.
  const { registerCommands } = await import('./commands.js');
  registerCommands(program);
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exit(err.exitCode === 0 ? 0 : 2);
  }
  const debug = process.env.CORL_DEBUG === '1';
  if (err instanceof UserError) {
    process.stderr.write(`corl: error: ${err.message}\n`);
    if (debug) process.stderr.write(`${err.stack}\n`);
    process.exit(2);
  }
  if (debug) throw err;
  const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  process.stderr.write(
    `corl: internal error: ${message.split('\n')[0]} (a bug in corl; CORL_DEBUG=1 shows the stack trace)\n`,
  );
  process.exit(1);
}
