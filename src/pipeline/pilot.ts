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
import { SCORE_COLUMNS, combineScores, meta, scoreCells, scores } from './report.js';
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
  /** Replaces the preset's image rewards (parseImageRewards: "paper", "geneval", "name=w,..."). */
  imageRewards?: string;
  /** The RL recipe (recipes.ts). */
  recipe?: string;
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
  const out = resolve(o.out);
  const base = resolve(o.base);
  if (o.seeds < 1) throw new UserError('--seeds must be at least 1');
  checkOutDir(out, { kind: 'pilot', resumable: true, inputs: [['--base', base]] });
  if (!existsSync(join(base, 'config.json'))) throw new UserError(`--base ${o.base} is not a model folder`);
  claimDir(out, 'pilot');
  const results: PilotSeedResult[] = [];
  const runners: StageRunner[] = [];
  for (let seed = 0; seed < o.seeds; seed++) {
    process.stderr.write(`corl pilot: seed ${seed + 1}/${o.seeds}\n`);
    const r = new StageRunner(join(out, `seed-${seed}`), `pilot ${runIdentity(p)}`);
    runners.push(r);
    results.push(
      await pilotSeed(
        r,
        p,
        join(out, `seed-${seed}`),
        base,
        seed,
        o.steps ?? Number(p.stage1.steps),
        o.jobs ?? 2,
      ),
    );
  }
  return { dir: out, seeds: results, runner: runners };
}

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
  const world = join(out, 'world');
  await buildWorld(r, p, world, seed);
  const data = join(world, 'train.jsonl');
  const rl =
    (name: string, tasks: string[], fields: Record<string, unknown> = {}) =>
    () =>
      trainStage(
        r,
        name,
        out,
        { ...runFields(p, p.stage1, { model: base, data, seed, tasks }), steps: N, ...fields },
        env,
      );

  const [genOnly, undOnly, alternating, unified] = (await r.parallel(jobs, [
    rl('separate-gen', ['t2i']),
    rl('separate-und', ['mm2t']),
    rl('alternating', ['t2i', 'mm2t'], { alternate: true, steps: 2 * N }),
    rl('unified', ['t2i', 'mm2t']),
  ])) as TrainStageResult[];

  const sepMerged = join(out, 'separate-merged');
  await r.run('separate-merge', [
    'merge',
    '--base',
    base,
    '--models',
    genOnly!.model,
    undOnly!.model,
    '--out',
    sepMerged,
    '--overwrite',
  ]);

  const coldSft = join(out, 'cold-sft');
  await r.run('cold-sft', [
    'pretrain',
    'sft',
    '--init',
    base,
    '--preset',
    p.pretrain,
    '--no-eval',
    '--seconds',
    String(Math.max(5, Math.round(unified!.seconds))),
    '--out',
    coldSft,
    '--seed',
    String(seed),
    '--overwrite',
    '--json',
  ]);

  const refined = async (prefix: string, from: string) => {
    const m = await refine(r, p, {
      out,
      world,
      from,
      seed,
      env,
      jobs,
      prefix,
      merged: join(out, `${prefix}-merged`),
    });
    return { gen: m.gen, und: m.merged };
  };
  const corl = await refined('corl', unified!.model);
  const coldRefined = await refined('cold-refined', coldSft);

  const models: PilotModels = {
    separate: { gen: genOnly!.model, und: undOnly!.model },
    separate_merge: { gen: sepMerged, und: sepMerged },
    alternating: { gen: alternating!.model, und: alternating!.model },
    unified: { gen: unified!.model, und: unified!.model },
    corl,
    cold_sft: { gen: coldSft, und: coldSft },
    cold_sft_refined: coldRefined,
    base: { gen: base, und: base },
  };
  const folders = [...new Set(Object.values(models).flatMap((m) => [m.gen, m.und]))];
  const evals = await r.parallel(
    jobs,
    folders.map((f, i) => () => r.run(`eval-${i}`, evalArgs(f, world, p, seed), env)),
  );
  return { seed, models, evals: Object.fromEntries(folders.map((f, i) => [f, evals[i]])) };
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
    markBest(t);
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
