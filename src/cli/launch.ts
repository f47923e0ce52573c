/**
 * Data-parallel launching, as torchrun does it (docs/distributed.md):
 *
 *   corl train --config F --nproc N        N workers on this machine (a free port on 127.0.0.1)
 *   corl launch --nnodes M --node-rank R --nproc-per-node N --master-addr A --master-port P -- <corl command>
 *                                          N workers on this machine, ranks R*N .. R*N+N-1 of M*N
 *
 * Each worker is `corl <command>` with torchrun's variables; the trainer joins the process group they name.
 */
import type { Command } from 'commander';
import { UserError } from '../util/errors.js';
import { DATA_PARALLEL } from '../util/data-parallel.js';
import { parseIntOption, parseTextOption } from './options.js';

/** Runs `corl <args>` as `nprocPerNode` workers of this node; resolves to the exit code the CLI should end with. */
export async function launchWorkers(o: {
  args: string[];
  nnodes: number;
  nodeRank: number;
  nprocPerNode: number;
  masterAddr: string;
  masterPort?: number;
}): Promise<number> {
  const { launch, freePort } = await import('../torch/distributed-launch.js');
  if (process.env.WORLD_SIZE !== undefined && process.env.WORLD_SIZE !== '')
    throw new UserError(
      'this process is already a launched worker (WORLD_SIZE is set): launch from a plain shell',
    );
  if (o.nodeRank >= o.nnodes)
    throw new UserError(`--node-rank ${o.nodeRank} must be below --nnodes ${o.nnodes}`);
  let port = o.masterPort;
  if (port === undefined) {
    if (o.nnodes > 1)
      throw new UserError('--master-port is required with --nnodes > 1 (every node must give the same)');
    port = await freePort();
  }
  const r = await launch({
    args: [process.argv[1]!, ...o.args],
    nnodes: o.nnodes,
    nodeRank: o.nodeRank,
    nprocPerNode: o.nprocPerNode,
    masterAddr: o.masterAddr,
    masterPort: port,
  });
  return r.code;
}

/**
 * `--nproc N` on one machine: N workers run this same command (without --nproc) on 127.0.0.1, and this
 * process's exit code becomes theirs. Returns false, doing nothing, when N is absent or 1.
 */
export async function relaunchLocally(nproc: number | undefined): Promise<boolean> {
  if (nproc === undefined || nproc <= 1) return false;
  process.exitCode = await launchWorkers({
    args: argsWithoutNproc(),
    nnodes: 1,
    nodeRank: 0,
    nprocPerNode: nproc,
    masterAddr: '127.0.0.1',
  });
  return true;
}

/** process.argv after the script, without `--nproc N` / `--nproc=N`. */
export function argsWithoutNproc(argv: readonly string[] = process.argv.slice(2)): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (a === '--nproc') i++;
    else if (!a.startsWith('--nproc=')) out.push(a);
  }
  return out;
}

interface LaunchFlags {
  nnodes: number;
  nodeRank: number;
  nprocPerNode: number;
  masterAddr: string;
  masterPort?: number;
}

export function registerLaunchCommands(program: Command): void {
  program
    .command('launch')
    .description(
      'run a corl command as data-parallel workers on this machine, as torchrun does (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT)',
    )
    .argument('<command...>', 'the corl command and its options, after --')
    .option('--nnodes <m>', 'machines in the run', parseIntOption(1, 4096), 1)
    .option(
      '--node-rank <r>',
      'this machine: 0 .. nnodes-1 (node 0 hosts the rendezvous)',
      parseIntOption(0, 4095),
      0,
    )
    .requiredOption('--nproc-per-node <n>', 'workers on this machine', parseIntOption(1, 1024))
    .option(
      '--master-addr <host>',
      "node 0's address, reachable from every node",
      parseTextOption,
      '127.0.0.1',
    )
    .option(
      '--master-port <port>',
      'the rendezvous port on node 0 (default with one node: a free one)',
      parseIntOption(1, 65535),
    )
    .allowUnknownOption()
    .action(async (command: string[], flags: LaunchFlags) => {
      // only these join a process group; any other command would run N times over the same files
      if (!DATA_PARALLEL.includes(command[0] ?? ''))
        throw new UserError(
          `corl launch runs ${DATA_PARALLEL.map((c) => `"${c}"`).join(', ')} data-parallel; "${command[0] ?? ''}" does not run data-parallel`,
        );
      process.exitCode = await launchWorkers({ args: command, ...flags });
    });
}
