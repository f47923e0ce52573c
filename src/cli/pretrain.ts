/**
 * `corl pretrain ...`: the ShapesWorld base model (docs/pretrain.md).
 *
 *   corl pretrain vq  --out DIR [--preset world-tiny] [--seconds N | --steps N] [--seed S] [--json]
 *   corl pretrain sft --vq DIR --out DIR [--preset world-tiny] [--seconds N | --steps N] [--seed S] [--no-eval] [--json]
 *   corl pretrain all --out DIR [--preset world-tiny] [--seconds N] [--seed S] [--no-eval] [--json]
 *
 * Each takes --nproc N: data parallel over N worker processes (docs/distributed.md).
 *
 * The default budget of each stage is the preset's step count (reproducible on any machine); --seconds asks
 * for a time budget instead.
 *
 * Progress goes to stderr (a bar on a terminal, a line every ~10% otherwise); the result is a short summary on
 * stdout, or one JSON line (pretrain.json's content without the loss logs) with --json.
 */
import type { Command } from 'commander';
import { UserError } from '../util/errors.js';
import { progress, type Progress } from '../util/progress.js';
import { formatEvalTable } from '../eval/table.js';
import type { PretrainReport, RunHooks } from '../pretrain/run.js';
import { checkOutDir } from '../util/output-dir.js';
import { pretrainPreset } from '../pretrain/presets.js';
import { parseFloatOption, parseIntOption, parseSeedOption } from './options.js';

interface CommonFlags {
  preset: string;
  out: string;
  seed: number;
  seconds?: number;
  steps?: number;
  json?: boolean;
  eval?: boolean;
  vq?: string;
  init?: string;
  overwrite?: boolean;
  nproc?: number;
}

/** A time budget: (0, 1 week] seconds. */
const SECONDS = parseFloatOption(0, 7 * 24 * 3600, { exclusiveMin: true });
/** A step budget: 1 to 10 million steps. */
const STEPS = parseIntOption(1, 10_000_000);

/** One progress display per stage. */
function stageProgress(quiet = false): {
  hooks: { onProgress: (stage: string, p: number, info: string) => void };
  stop: () => void;
} {
  let current = '';
  let bar: Progress | null = null;
  return {
    hooks: {
      onProgress(stage, p, info) {
        if (stage !== current) {
          bar?.stop();
          bar = progress(stage, { quiet });
          current = stage;
        }
        bar!.update(Math.round(p * 1000), 1000, info);
      },
    },
    stop: () => bar?.stop(),
  };
}

/** An unknown preset is a one-line error before any work. */
function checkPreset(name: string): void {
  pretrainPreset(name);
}

function checkBudget(f: CommonFlags): void {
  if (f.seconds !== undefined && f.steps !== undefined)
    throw new UserError('give --seconds or --steps, not both');
}

const fmt = (v: number | undefined, d = 3) => (v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(d));

/** The report without the loss logs (for --json). */
function compact(report: object): object {
  return JSON.parse(
    JSON.stringify(report, (k, v: unknown) => (k === 'logs' || k === 'examples' ? undefined : v)),
  ) as object;
}

export function summary(r: PretrainReport): string {
  const lines: string[] = [`preset ${r.preset}, seed ${r.seed}, ${r.total_seconds.toFixed(0)} s in all`];
  if (r.vq) {
    const e = r.vq.eval;
    lines.push(
      `VQ: ${r.vq.steps} steps in ${r.vq.seconds.toFixed(0)} s (${r.vq.images_per_second.toFixed(0)} images/s), ` +
        `recon MSE ${fmt(r.vq.final.recon, 4)}; held-out MSE ${fmt(e.mse, 4)}, parser exact on ` +
        `reconstructions ${fmt(e.recon_exact)}, codes used ${e.codes_used} (perplexity ${e.perplexity.toFixed(0)})`,
    );
  }
  if (r.vision) {
    const e = r.vision.eval;
    lines.push(
      `vision encoder: ${r.vision.steps} steps in ${r.vision.seconds.toFixed(0)} s; held-out patches: ` +
        `object ${fmt(e.object_patch_accuracy)} (colour ${fmt(e.color_accuracy)}, shape ${fmt(e.shape_accuracy)}), ` +
        `size ${fmt(e.size_accuracy)}, centre error ${fmt(e.centre_rmse_px, 2)} px` +
        (r.vision.frozen ? '; frozen during SFT' : ''),
    );
  }
  if (r.sft) {
    const losses = Object.entries(r.sft.final)
      .map(([k, v]) => `${k} ${v.toFixed(3)}`)
      .join(', ');
    lines.push(`SFT: ${r.sft.steps} steps in ${r.sft.seconds.toFixed(0)} s; final losses: ${losses}`);
  }
  if (r.eval)
    lines.push(`held-out eval (seed ${r.eval_seed}, ${r.eval_scenes} scenes):`, formatEvalTable(r.eval));
  return lines.join('\n');
}

/** Loads the engine and the pretraining runs. */
const start = async () => {
  const torch = await import('../torch/index.js');
  torch.applyDefaultThreads();
  return await import('../pretrain/run.js');
};
type Run = Awaited<ReturnType<typeof start>>;
type Hooks = ReturnType<typeof stageProgress>['hooks'] & RunHooks;
/**
 * Loads the engine, runs one job with a stage progress display, prints its report. With --nproc N > 1 it
 * starts N workers running this same command instead (the checks above ran once here, and run again in each
 * worker before it joins the group, so no rank writes before every rank has checked); a worker joins the
 * process group its launcher names, and rank 0 alone shows progress, writes and prints.
 */
const runJob = async (f: CommonFlags, job: (run: Run, hooks: Hooks) => PretrainReport) => {
  if (await (await import('./launch.js')).relaunchLocally(f.nproc)) return;
  const run = await start();
  const dist = await import('../torch/distributed.js');
  const joined = dist.joinLaunchedGroup();
  const world = joined && { rank: joined.rank, size: joined.size };
  const lead = world === null || world.rank === 0;
  const p = stageProgress(!lead);
  try {
    const report = job(run, world ? { ...p.hooks, world } : p.hooks);
    if (!lead) return;
    if (f.json) console.log(JSON.stringify(compact(report)));
    else console.log(summary(report));
  } finally {
    p.stop();
    if (joined?.owned) dist.destroyProcessGroup();
  }
};

/** `corl pretrain vq`. */
async function pretrainVQAction(f: CommonFlags): Promise<void> {
  checkBudget(f);
  checkPreset(f.preset);
  checkOutDir(f.out, { kind: 'vq', overwrite: f.overwrite });
  const { preset, out, seed, seconds, steps } = f;
  await runJob(f, (run, hooks) => run.pretrainVQ({ preset, out, seed, seconds, steps }, hooks));
}

/** `corl pretrain sft`: SFT around a VQ (--vq) or Cold-SFT of a checkpoint (--init). */
async function pretrainSFTAction(f: CommonFlags): Promise<void> {
  checkBudget(f);
  if ((f.vq === undefined) === (f.init === undefined)) throw new UserError('give either --vq or --init');
  checkPreset(f.preset);
  checkOutDir(f.out, {
    kind: 'model',
    overwrite: f.overwrite,
    inputs: [
      ['--vq', f.vq],
      ['--init', f.init],
    ],
  });
  const o = {
    preset: f.preset,
    out: f.out,
    seed: f.seed,
    seconds: f.seconds,
    steps: f.steps,
    eval: f.eval,
  };
  await runJob(f, (run, hooks) =>
    f.init !== undefined
      ? run.continueSFT({ ...o, init: f.init }, hooks)
      : run.pretrainSFT({ ...o, vq: f.vq! }, hooks),
  );
}

/** `corl pretrain all`. */
async function pretrainAllAction(f: CommonFlags): Promise<void> {
  checkPreset(f.preset);
  checkOutDir(f.out, { kind: 'model', overwrite: f.overwrite });
  const { preset, out, seed, seconds, eval: evaluate } = f;
  await runJob(f, (run, hooks) => run.pretrainAll({ preset, out, seed, seconds, eval: evaluate }, hooks));
}

export function registerPretrainCommands(program: Command): void {
  const pre = program
    .command('pretrain')
    .description('pretrain the ShapesWorld base model: VQ-VAE, then SFT of the ULM (see docs/pretrain.md)');

  const common = (c: Command) =>
    c
      .option('--preset <name>', 'pretrain preset (world-tiny, world-micro)', 'world-tiny')
      .option('--seed <n>', 'random seed', parseSeedOption, 0)
      .option('--overwrite', 'replace --out if it holds a folder of the same kind that corl wrote')
      .option('--json', 'print the result as one JSON line')
      .option(
        '--nproc <n>',
        "data parallel: N worker processes on this machine, each step's batch split over them (one step of N = one process's step); default 1: 2 ranks are faster only on an idle machine, and train another base than one process",
        parseIntOption(1, 1024),
      );

  common(
    pre
      .command('vq')
      .description('train the VQ-VAE on world renders and save it as a VQ folder')
      .requiredOption('--out <dir>', 'VQ folder to write')
      .option('--seconds <s>', "a time budget instead of the preset's step budget", SECONDS)
      .option('--steps <n>', "step budget (default: the preset's)", STEPS),
  ).action(pretrainVQAction);

  common(
    pre
      .command('sft')
      .description(
        'build the ULM around a trained VQ, pretrain its vision encoder, train it on world data, save and evaluate it',
      )
      .option('--vq <dir>', 'VQ folder (corl pretrain vq): build a new model around it')
      .option('--init <dir>', 'or continue training this checkpoint (Cold-SFT, the pilot ablation)')
      .requiredOption('--out <dir>', 'checkpoint folder to write')
      .option('--seconds <s>', "a time budget instead of the preset's step budget", SECONDS)
      .option('--steps <n>', "step budget (default: the preset's)", STEPS)
      .option('--no-eval', 'skip the held-out evaluation'),
  ).action(pretrainSFTAction);

  common(
    pre
      .command('all')
      .description("VQ, vision encoder, then SFT (the preset's step budgets), then the held-out evaluation")
      .requiredOption('--out <dir>', 'checkpoint folder to write (the VQ goes to DIR/vq)')
      .option(
        '--seconds <s>',
        "a total time budget instead of the preset's steps, split in the preset's proportions",
        SECONDS,
      )
      .option('--no-eval', 'skip the held-out evaluation'),
  ).action(pretrainAllAction);
}
