/**
 * Which corl commands run data-parallel (docs/distributed.md): they join the process group their launcher
 * names (`--nproc N`, `corl launch`, torchrun). Kept apart from the binding so that the CLI and the pipeline
 * can ask without loading libtorch.
 */
export const DATA_PARALLEL: readonly string[] = ['train', 'eval', 'pretrain'];

/** `args` (a corl command line) with `--nproc N` added when N > 1 and the command runs data-parallel. */
export function withNproc(args: readonly string[], nproc: number): string[] {
  return nproc > 1 && DATA_PARALLEL.includes(args[0] ?? '') ? [...args, '--nproc', String(nproc)] : [...args];
}
