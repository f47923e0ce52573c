/**
 * RL recipes of the pipeline, read from configs/: a recipe is a folder holding `recipe.yaml` (its name, a
 * description, the Gaussian merge's lambda, and where it departs from the paper) and one partial train config
 * per stage (`stage1.yaml`, `stage2-gen.yaml`, `stage2-mcq.yaml`, `stage2-oe.yaml`) at the world-tiny size.
 * Nothing about a recipe is written in code: every number and its reason is in those files.
 *
 *   corl    configs/world: the default, chosen by measurement on ShapesWorld (docs/recipe.md)
 *   paper   configs/paper: the paper's Table 5 as written
 *
 * A stage YAML leaves out what the pipeline fills in for each run (RUN_FIELDS); it is checked against the
 * train-config schema (src/rl/config.ts) when it is read.
 */
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { UserError } from '../util/errors.js';
import { parseTrainConfig, readConfigFile } from '../rl/config.js';

/** Fields of a train config (src/rl/config.ts) that a recipe or a preset sets. */
export type TrainOverrides = Record<string, unknown>;

export type Stage2Branch = 'gen' | 'mcq' | 'oe';

/** The RL stages of a recipe, each one YAML file of its folder. */
export const STAGES = ['stage1', 'stage2-gen', 'stage2-mcq', 'stage2-oe'] as const;
export type StageName = (typeof STAGES)[number];

/** Train-config fields the pipeline fills in for each run: never in a stage YAML. */
export const RUN_FIELDS = ['model', 'data', 'out', 'seed', 'eval_data'] as const;

/** A stage YAML as read: train-config fields, with the tasks and the rewards always given. */
export type StageFields = TrainOverrides & {
  tasks: string[];
  rewards: { image: Record<string, number>; text: Record<string, number> };
};

export interface Recipe {
  name: string;
  description: string;
  /** How this recipe departs from the paper's (empty for the paper's own). */
  departures: string[];
  /** The Gaussian merge band of the MCQ + OE merge. */
  mergeLambda: number;
  /** The folder it was read from. */
  dir: string;
  /** Each stage's train-config fields at the world-tiny size. */
  stages: Record<StageName, StageFields>;
}

/** The repository's configs/ folder. */
export const CONFIGS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'configs');

const RecipeFileSchema = z
  .object({
    name: z.string().regex(/^[\w-]+$/),
    description: z.string(),
    merge_lambda: z.number().positive().finite(),
    departures: z.array(z.string()),
  })
  .strict();

/** The recipes under `root` (name -> folder): every folder holding a recipe.yaml. */
export function recipeFolders(root = CONFIGS_DIR): Map<string, string> {
  const out = new Map<string, string>();
  for (const entry of readdirSync(root, { withFileTypes: true }).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    const file = join(root, entry.name, 'recipe.yaml');
    if (!entry.isDirectory() || !existsSync(file)) continue;
    const name = readConfigFile(file).name;
    if (typeof name !== 'string') throw new UserError(`${file}: name must be a string`);
    if (out.has(name))
      throw new UserError(`recipe "${name}" is defined twice: ${out.get(name)} and ${dirname(file)}`);
    out.set(name, dirname(file));
  }
  return new Map([...out].sort(([a], [b]) => a.localeCompare(b)));
}

export function recipeNames(root = CONFIGS_DIR): string[] {
  return [...recipeFolders(root).keys()];
}

/** A recipe by name, read and checked from its folder under `root`. */
export function recipeByName(name: string, root = CONFIGS_DIR): Recipe {
  const folders = recipeFolders(root);
  const dir = folders.get(name);
  if (dir === undefined)
    throw new UserError(`unknown --recipe "${name}" (known: ${[...folders.keys()].join(', ')})`);
  const file = join(dir, 'recipe.yaml');
  const r = RecipeFileSchema.safeParse(readConfigFile(file));
  if (!r.success)
    throw new UserError(
      `${file}: invalid recipe (${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')})`,
    );
  const stages = Object.fromEntries(STAGES.map((s) => [s, readStage(join(dir, `${s}.yaml`))]));
  return {
    name: r.data.name,
    description: r.data.description,
    departures: r.data.departures,
    mergeLambda: r.data.merge_lambda,
    dir,
    stages: stages as Recipe['stages'],
  };
}

/**
 * A stage YAML: a partial train config without the fields the pipeline fills in, with `tasks` and `rewards`.
 * It is validated by the train-config schema as it stands (placeholders for the run's fields), and returned as
 * written (the schema's defaults are not added: the run's config file holds only what the recipe sets).
 */
export function readStage(file: string): StageFields {
  const raw = readConfigFile(file);
  const filled = RUN_FIELDS.filter((k) => k in raw);
  if (filled.length > 0)
    throw new UserError(
      `${file}: ${filled.join(', ')} ${filled.length === 1 ? 'is' : 'are'} filled in by the pipeline for each run; a stage YAML leaves ${filled.length === 1 ? 'it' : 'them'} out`,
    );
  parseTrainConfig({ ...raw, model: '-', data: '-', out: '-' }, file);
  const rewards = raw.rewards as Partial<StageFields['rewards']> | undefined;
  if (!Array.isArray(raw.tasks) || rewards?.image === undefined || rewards.text === undefined)
    throw new UserError(`${file}: a stage YAML names its tasks and both its image and text rewards`);
  return raw as StageFields;
}
