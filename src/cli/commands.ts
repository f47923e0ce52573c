/** The list of command groups. Each module adds its subcommands to the root program. */
import type { Command } from 'commander';

export function registerCommands(program: Command): void {
  void program;
}
