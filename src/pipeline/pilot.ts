/**
 * `corl pilot`: the paper's strategy comparison and ablations on the world, over several seeds, from one
 * pretrained base. Compute is matched in task-steps (one step of one task on batch_size x G samples):
 *
 *   separate        a generation-only run and an understanding-only run, N steps each; generation is scored
 *                   on the first, understanding on the second
 *   separate_merge  the two separate models merged (Gaussian, base = the pretrained base), scored on both
 *   alternating     one run of 2N steps, generation on even steps and understanding on odd steps
 *   unified         one run of N steps training both tasks each step (stage 1)
 *   corl            unified, then the three refined branches (M steps each, KL) and the MCQ+OE merge; this
 *                   row spends 3M more task-steps than the others (the paper's two-stage recipe)
 *   cold_sft        supervised fine-tuning continued on the world mix (the data stage 1 draws from) for as long
 *                   as the unified run took (ablation:
 *                   Cold-SFT instead of unified RL)
 *   cold_sft_refined  cold_sft, then the same refined branches and merge (ablation: Refined RL after Cold-SFT)
 *
 * Each seed has its own folder under DIR/seed-S and is resumable stage by stage.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UserError } from '../util/errors.js';
import { checkOutDir, claimDir } from '../util/output-dir.js';
import { buildWorld, evalArgs, refine, runIdentity, trainStage, type TrainStageResult } from './pipeline.js';
import { pipelinePreset, recipeNote, rewardsNote, runFields, type PipelinePreset } from './presets.js';
import { StageRunner } from './stages.js';
import { SCORE_COLUMNS, UNRANKED_COLUMNS, combineScores, meta, scoreCells, scores } from './report.js';
import { markBest, writeReport, type ReportTableInput } from '../report/index.js';

export const STRATEGIES = ['separate', 'separate_merge', 'alternating', 'unified', 'corl'] as const;
export const ABLATIONS = ['unified', 'cold_sft', 'cold_sft_refined', 'corl'] as const;
export type PilotRow = 'base' | (typeof STRATEGIES)[number] | (typeof ABLATIONS)[number];

/** Per seed and row: the models scored for generation and for understanding. */
export type PilotModels = Record<PilotRow, { gen: string; und: string }>;

export interface PilotOptions {
  preset: string;
  out: string;
  base: string;
  seeds: number;
  /** Stage-1 task budget N (steps of the unified run); default: the preset's stage-1 steps. */
  steps?: number;
  jobs?: number;
  /** Replaces the recipe's image rewards (parseImageRewards: "paper", "geneval", "name=w,..."). */
  imageRewards?: string;
  /** The RL recipe (recipes.ts): "corl" (default, configs/world) or "paper" (configs/paper). */
  recipe?: string;
  /** Data-parallel workers of each train, pretrain and eval stage (default 1; docs/distributed.md). */
  nproc?: number;
}

export interface PilotSeedResult {
  seed: number;
  models: PilotModels;
  /** eval results by model folder */
  evals: Record<string, unknown>;
}

export async function runPilot(
  o: PilotOptions,
): Promise<{ dir: string; seeds: PilotSeedResult[]; runner: StageRunner[] }> {
  const p = pipelinePreset(o.preset, { imageRewards: o.imageRewards, recipe: o.recipe });
  const N = o.steps ?? Number(p.stages.stage1.steps);
  const r = await overSeeds(o, 'corl pilot', `pilot ${runIdentity(p)}`, (runner, dir, base, seed) =>
    pilotSeed(runner, p, dir, base, seed, N, o.jobs ?? 2),
  );
  return { dir: r.dir, seeds: r.results, runner: r.runners };
}

/**
 * What every pilot study does around its seeds: checks (before any work) and claims the output folder, then
 * runs `one` for seeds 0..n-1, each in DIR/seed-S with its own resumable stage runner named `identity`.
 */
export async function overSeeds<T>(
  o: Pick<PilotOptions, 'out' | 'base' | 'seeds' | 'nproc'>,
  command: string,
  identity: string,
  one: (r: StageRunner, dir: string, base: string, seed: number) => Promise<T>,
): Promise<{ dir: string; results: T[]; runners: StageRunner[] }> {
  const out = resolve(o.out);
  const base = resolve(o.base);
  if (o.seeds < 1) throw new UserError('--seeds must be at least 1');
  checkOutDir(out, { kind: 'pilot', resumable: true, inputs: [['--base', base]] });
  if (!existsSync(join(base, 'config.json'))) throw new UserError(`--base ${o.base} is not a model folder`);
  claimDir(out, 'pilot');
  const results: T[] = [];
  const runners: StageRunner[] = [];
  for (let seed = 0; seed < o.seeds; seed++) {
    process.stderr.write(`${command}: seed ${seed + 1}/${o.seeds}\n`);
    const dir = join(out, `seed-${seed}`);
    const r = new StageRunner(dir, identity);
    r.nproc = o.nproc ?? 1;
    runners.push(r);
    results.push(await one(r, dir, base, seed));
  }
  return { dir: out, results, runners };
}

/** One seed of the pilot: where it runs and with what. */
interface PilotSeed {
  r: StageRunner;
  p: PipelinePreset;
  out: string;
  base: string;
  seed: number;
  /** The task budget: steps of the unified run. */
  N: number;
  jobs: number;
  /** Child environment (one BLAS thread each when stages run side by side). */
  env: Record<string, string>;
  world: string;
}

/**
 * One seed: its world, the four RL strategies from the base, the separate runs merged, Cold-SFT, the refined
 * stage after unified RL (CoRL) and after Cold-SFT, then every model evaluated.
 */
async function pilotSeed(
  r: StageRunner,
  p: PipelinePreset,
  out: string,
  base: string,
  seed: number,
  N: number,
  jobs: number,
): Promise<PilotSeedResult> {
  const env: Record<string, string> = jobs > 1 ? { CORL_BLAS_THREADS: '1' } : {};
  const s: PilotSeed = { r, p, out, base, seed, N, jobs, env, world: join(out, 'world') };
  await buildWorld(r, p, s.world, seed);
  const rl = await strategyRuns(s);
  const separateMerged = await mergeSeparate(s, rl.genOnly, rl.undOnly);
  const coldSft = await coldSftRun(s, rl.unified.seconds);
  const corl = await refinedRow(s, 'corl', rl.unified.model);
  const coldRefined = await refinedRow(s, 'cold-refined', coldSft);
  const models: PilotModels = {
    separate: { gen: rl.genOnly.model, und: rl.undOnly.model },
    separate_merge: { gen: separateMerged, und: separateMerged },
    alternating: { gen: rl.alternating.model, und: rl.alternating.model },
    unified: { gen: rl.unified.model, und: rl.unified.model },
    corl,
    cold_sft: { gen: coldSft, und: coldSft },
    cold_sft_refined: coldRefined,
    base: { gen: base, und: base },
  };
  return { seed, models, evals: await evaluateModels(s, models) };
}

/**
 * The RL strategies from the base with matched task-steps, `jobs` at a time: generation only and
 * understanding only (N steps each), alternating (2N steps), unified (N steps); all with the recipe's stage-1
 * fields and no held-out evaluation.
 */
async function strategyRuns(s: PilotSeed): Promise<{
  genOnly: TrainStageResult;
  undOnly: TrainStageResult;
  alternating: TrainStageResult;
  unified: TrainStageResult;
}> {
  const data = join(s.world, 'train.jsonl');
  const rl =
    (name: string, tasks: string[], fields: Record<string, unknown> = {}) =>
    () =>
      trainStage(
        s.r,
        name,
        s.out,
        { ...runFields(s.p, 'stage1', { model: s.base, data, seed: s.seed, tasks }), steps: s.N, ...fields },
        s.env,
      );
  const [genOnly, undOnly, alternating, unified] = await s.r.parallel(s.jobs, [
    rl('separate-gen', ['t2i']),
    rl('separate-und', ['mm2t']),
    rl('alternating', ['t2i', 'mm2t'], { alternate: true, steps: 2 * s.N }),
    rl('unified', ['t2i', 'mm2t']),
  ]);
  return { genOnly: genOnly!, undOnly: undOnly!, alternating: alternating!, unified: unified! };
}

/** The generation-only and understanding-only models merged (Gaussian, base = the pretrained base). */
async function mergeSeparate(
  s: PilotSeed,
  genOnly: TrainStageResult,
  undOnly: TrainStageResult,
): Promise<string> {
  const merged = join(s.out, 'separate-merged');
  await s.r.run('separate-merge', [
    'merge',
    '--base',
    s.base,
    '--models',
    genOnly.model,
    undOnly.model,
    '--out',
    merged,
    '--overwrite',
  ]);
  return merged;
}

/** The Cold-SFT ablation: SFT continued from the base for as long as the unified RL run took. */
async function coldSftRun(s: PilotSeed, unifiedSeconds: number): Promise<string> {
  const coldSft = join(s.out, 'cold-sft');
  await s.r.run('cold-sft', [
    'pretrain',
    'sft',
    '--init',
    s.base,
    '--preset',
    s.p.pretrain,
    '--no-eval',
    '--seconds',
    String(Math.max(5, Math.round(unifiedSeconds))),
    '--out',
    coldSft,
    '--seed',
    String(s.seed),
    '--overwrite',
    '--json',
  ]);
  return coldSft;
}

/** The refined stage (three branches and the MCQ + OE merge) from `from`: its generation and understanding models. */
async function refinedRow(s: PilotSeed, prefix: string, from: string): Promise<{ gen: string; und: string }> {
  const m = await refine(s.r, s.p, {
    out: s.out,
    world: s.world,
    from,
    seed: s.seed,
    env: s.env,
    jobs: s.jobs,
    prefix,
    merged: join(s.out, `${prefix}-merged`),
  });
  return { gen: m.gen, und: m.merged };
}

/** `corl eval` of every distinct model folder of the rows, `jobs` at a time: eval results by folder. */
async function evaluateModels(s: PilotSeed, models: PilotModels): Promise<Record<string, unknown>> {
  const folders = [...new Set(Object.values(models).flatMap((m) => [m.gen, m.und]))];
  const evals = await s.r.parallel(
    s.jobs,
    folders.map((f, i) => () => s.r.run(`eval-${i}`, evalArgs(f, s.world, s.p, s.seed), s.env)),
  );
  return Object.fromEntries(folders.map((f, i) => [f, evals[i]]));
}

const ROW_LABELS: Record<PilotRow, string> = {
  base: 'pretrained base (the starting point, not ranked)',
  separate: 'separate RL (gen-only + und-only)',
  separate_merge: 'separate RL + merge',
  alternating: 'alternating RL',
  unified: 'unified RL (stage 1)',
  corl: 'CoRL (unified + refined + merge)',
  cold_sft: 'Cold-SFT (instead of unified RL)',
  cold_sft_refined: 'Cold-SFT + refined RL',
};

/** The pilot and ablation tables: each row's scores, mean +- 95% CI over seeds. */
export function pilotTables(seeds: readonly PilotSeedResult[]): ReportTableInput[] {
  const rowScores = (row: PilotRow) =>
    seeds.map((s) => combineScores(scores(s.evals[s.models[row].gen]), scores(s.evals[s.models[row].und])));
  const table = (id: string, title: string, caption: string, rows: readonly PilotRow[]): ReportTableInput => {
    const t: ReportTableInput = {
      id,
      title,
      caption,
      row_header: 'strategy',
      columns: SCORE_COLUMNS.map(([c]) => c),
      rows: rows.map((r) => ({ label: ROW_LABELS[r], cells: scoreCells(rowScores(r)) })),
    };
    markBest(t, { skip: UNRANKED_COLUMNS });
    // the base goes first, after the ranking: every strategy starts from it
    t.rows.unshift({ label: ROW_LABELS.base, cells: scoreCells(rowScores('base')) });
    return t;
  };
  const n = seeds.length;
  return [
    table(
      'pilot',
      'Pilot study: RL strategies',
      `Mean +- 95% CI over ${n} seed(s), matched task-steps (CoRL spends more: it adds the refined stage).`,
      STRATEGIES,
    ),
    table(
      'ablation',
      'Ablation: what stage 1 should be',
      `Mean +- 95% CI over ${n} seed(s); Cold-SFT trains as long as the unified RL run took.`,
      ABLATIONS,
    ),
  ];
}

export function writePilotReport(o: {
  dir: string;
  preset: string;
  seeds: PilotSeedResult[];
  runners: StageRunner[];
  seconds: number;
  imageRewards?: string;
  recipe?: string;
}): string {
  return writeReport(o.dir, {
    meta: meta(
      `CoRL pilot study on ShapesWorld (${o.preset}, ${o.seeds.length} seeds)`,
      o.preset,
      o.seconds,
      [
        'Generation columns come from the model a strategy ships for generation, understanding columns from its understanding model.',
        rewardsNote(pipelinePreset(o.preset, { imageRewards: o.imageRewards, recipe: o.recipe })),
        recipeNote(pipelinePreset(o.preset, { imageRewards: o.imageRewards, recipe: o.recipe })),
      ],
    ),
    tables: pilotTables(o.seeds),
    stages: o.runners.flatMap((r, i) =>
      r.timeline.map((t) => ({ name: `seed ${i}: ${t.name}`, status: t.status, seconds: t.seconds })),
    ),
  }).htmlPath;
}
