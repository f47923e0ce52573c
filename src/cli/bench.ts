/** `corl bench train-step|sample [--json]`: the engine benchmarks of the CLI contract. */
import type { Command } from 'commander';
import { UserError } from '../util/errors.js';
import { parseIntOption } from './options.js';

interface BenchFlags {
  json?: boolean;
  steps: string;
  threads: string;
  blasThreads: string;
}

/** Checks an option's value (defaults may come from the environment, so they are checked here too). */
function intFlag(name: string, v: string, min: number, max: number): number {
  try {
    return parseIntOption(min, max)(v);
  } catch (e) {
    throw new UserError(`--${name} "${v}": ${(e as Error).message}`);
  }
}

export function registerBenchCommands(program: Command): void {
  const bench = program.command('bench').description('engine benchmarks (compare with: npm run bench)');
  for (const [name, what] of [
    ['train-step', 'one policy-gradient training step of the benchmark GPT (batch 16, seq 96)'],
    ['sample', 'KV-cached sampling: 16 sequences, 32-token prompt, 64 new tokens'],
  ] as const) {
    bench
      .command(name)
      .description(what)
      .option('--json', 'print one JSON line')
      .option('--steps <n>', 'timed steps after warm-up', name === 'sample' ? '10' : '15')
      .option('--threads <n>', 'libtorch intra-op threads', process.env.CORL_THREADS ?? '1')
      .option('--blas-threads <n>', 'BLAS threads', process.env.CORL_BLAS_THREADS ?? '2')
      .action(async (flags: BenchFlags) => {
        const steps = intFlag('steps', flags.steps, 10, 100_000);
        const threads = intFlag('threads', flags.threads, 1, 1024);
        const blasThreads = intFlag('blas-threads', flags.blasThreads, 1, 1024);
        const torch = await import('../torch/index.js');
        const { benchTrainStep, benchSample } = await import('../bench/bench.js');
        torch.setNumThreads(threads);
        torch.setBlasThreads(blasThreads);
        const run = name === 'sample' ? benchSample : benchTrainStep;
        const r = run({ steps, threads, blasThreads });
        if (flags.json) console.log(JSON.stringify(r));
        else
          console.log(
            `${r.bench}: median ${r.ms_median} ms (min ${r.ms_min} ms, ${r.steps} steps, ${r.threads} torch thread(s), ${r.blas_threads} BLAS thread(s), ${r.params} params)`,
          );
      });
  }
}
