/**
 * `corl config show FILE [--set key=value ...] [--json]`: the train config as `corl train` would run it, every
 * field with its value and where it came from (the file, --set, or the schema's default).
 */
import type { Command } from 'commander';
import { collectSets } from './options.js';

interface ShowFlags {
  set: string[];
  json?: boolean;
}

/** `corl config show`: each field with its value and its source, as a table or one JSON line. */
async function configShowAction(file: string, flags: ShowFlags): Promise<void> {
  const { explainTrainConfig, parseConfigSet } = await import('../rl/config.js');
  const { config: c, sources } = explainTrainConfig(file, {}, flags.set.map(parseConfigSet));
  if (flags.json) {
    console.log(JSON.stringify({ config: c, sources }));
    return;
  }
  const rows: [string, string, string][] = [];
  for (const [key, value] of Object.entries(c)) {
    if (key === 'rewards') {
      for (const m of ['image', 'text'] as const)
        for (const [name, w] of Object.entries(c.rewards[m]))
          rows.push([`rewards.${m}.${name}`, String(w), sources[`rewards.${m}.${name}`]!]);
      continue;
    }
    rows.push([key, value === undefined ? '-' : JSON.stringify(value), sources[key]!]);
  }
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  for (const [k, v, src] of rows) console.log(`${k.padEnd(w0)}  ${v.padEnd(w1)}  ${src}`);
}

export function registerConfigCommands(program: Command): void {
  const config = program
    .command('config')
    .description('train configs (see src/rl/config.ts for every field)');
  config
    .command('show')
    .description('print a train config resolved: every field, its value and where it came from')
    .argument('<file>', 'YAML train config')
    .option('--set <key=value>', 'override a field, as corl train --set (repeatable)', collectSets, [])
    .option('--json', 'print {"config", "sources"} as one JSON line')
    .action(configShowAction);
}
