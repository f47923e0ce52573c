/**
 * The RL training config: YAML validated by zod. Every field has a documented default; the defaults are the
 * paper's stage-1 settings (G=8, lambda 0.8, beta 0, CFG 5, one joint advantage) with the learning rate and
 * batch scaled for the tiny ShapesWorld model (documented at each field).
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { Parser as YamlParser, parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { UserError } from '../util/errors.js';
import { REWARD_NAMES } from '../rewards/names.js';

/** Reward names (of one modality) with finite weights >= 0; an unknown name is an error at parse time. */
const rewardWeights = (modality: keyof typeof REWARD_NAMES) =>
  z.record(z.string(), z.number().min(0).finite()).superRefine((weights, ctx) => {
    const known: readonly string[] = REWARD_NAMES[modality];
    for (const name of Object.keys(weights))
      if (!known.includes(name))
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: `unknown ${modality} reward "${name}" (known: ${known.join(', ')})`,
        });
  });

export const TrainConfigSchema = z
  .object({
    /** Policy checkpoint folder (HF layout: config.json, model.safetensors, tokenizer.json). */
    model: z.string(),
    /** Stage-1 JSONL (ULM-R1 fields: prompt, real_image, qa_problem, qa_solution, qa_type). */
    data: z.string(),
    /** Held-out JSONL for before/after evaluation (optional). */
    eval_data: z.string().optional(),
    /** Output folder: metrics.jsonl, samples/, checkpoint-N/, final/. */
    out: z.string(),
    /** Random seed, 32-bit (the world's generator and deriveSeed use 32 bits). */
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 32 - 1)
      .default(0),
    /** Optimizer steps. */
    steps: z.number().int().positive().default(100),
    /**
     * Which tasks each step trains: both (unified RL, stage 1), or one (stage 2 / separate RL).
     * `alternate: true` trains t2i on even steps and mm2t on odd steps (the paper's alternating RL).
     */
    tasks: z
      .array(z.enum(['t2i', 'mm2t']))
      .min(1)
      .default(['t2i', 'mm2t']),
    alternate: z.boolean().default(false),
    /** Prompts per step (paper: 16 on 8 GPUs; 4 here so a step takes ~2 s on 2 cores). */
    batch_size: z.number().int().positive().default(4),
    /** Samples per prompt, G (paper: 8 in stage 1, 16 in stage 2). */
    num_generations: z.number().int().min(2).default(8),
    /** Prompts per backward pass; batch_size must be a multiple (gradient accumulation). */
    micro_batch_size: z.number().int().positive().default(4),
    /**
     * AdamW learning rate. Paper: 4e-6 for Janus-Pro-1B; the tiny world model (1.3M parameters, trained from
     * scratch at 2e-3) needs a larger one: 1e-4 is what moved its generation reward in the calibration runs.
     */
    lr: z.number().positive().default(1e-4),
    weight_decay: z.number().min(0).default(0),
    lr_schedule: z.enum(['constant', 'linear', 'cosine']).default('constant'),
    warmup_steps: z.number().int().min(0).default(0),
    max_grad_norm: z.number().positive().default(1.0),
    /** Inner PPO iterations per batch (mu); 1 = on-policy, ratio exactly 1 (ULM-R1). */
    num_iterations: z.number().int().positive().default(1),
    epsilon: z.number().positive().default(0.2),
    /** Upper clip (DAPO's clip-higher); defaults to epsilon. */
    epsilon_high: z.number().positive().optional(),
    /** KL coefficient to the frozen reference (the starting checkpoint): 0 in stage 1, > 0 in stage 2. */
    beta: z.number().min(0).default(0),
    kl_estimator: z.enum(['k1', 'k3']).default('k3'),
    loss_aggregation: z.enum(['token-mean', 'seq-mean-token-mean', 'dr_grpo']).default('token-mean'),
    /** How rewards become advantages: one joint reward (ULM-R1 default), joint advantages, or per task. */
    advantage: z.enum(['unify_reward', 'unify_advantage', 'separate']).default('unify_reward'),
    /** r = r_t2i + lambda r_mm2t */
    lambda: z.number().min(0).default(0.8),
    scale_rewards: z.enum(['group', 'batch', 'none']).default('group'),
    /** Reward functions and weights per modality (src/rewards names). */
    rewards: z
      .object({
        image: rewardWeights('image').default({ t2i_bid_cycle_reward: 1, t2i_ti_sim: 1 }),
        text: rewardWeights('text').default({ qa_accuracy: 1, format: 1 }),
      })
      .default({ image: { t2i_bid_cycle_reward: 1, t2i_ti_sim: 1 }, text: { qa_accuracy: 1, format: 1 } }),
    /** Image side of the cycle reward without an LPIPS network: SSIM or 1-RMSE (ULM-R1 v2). */
    image_similarity: z.enum(['ssim', 'rmse']).default('ssim'),
    /** Optional LPIPS weights (safetensors) for the cycle reward's image side. */
    lpips: z.string().optional(),
    /** Re-caption generated images with the policy itself (ULM-R1 v2); temperature 0 = greedy. */
    recaption_temperature: z.number().min(0).default(0),
    recaption_max_tokens: z.number().int().positive().default(40),
    /** Image sampling: CFG weight (Janus 5) and temperature (1, as ULM-R1). */
    cfg_weight: z.number().min(0).default(5),
    temperature: z.number().positive().default(1),
    /** How image log-probs are trained: conditional logits (ULM-R1), CFG-mixed, or CFG with the uncond branch detached. */
    image_logprob_mode: z.enum(['cond', 'cfg', 'cfg_detach_uncond']).default('cond'),
    /** Text sampling. */
    text_temperature: z.number().positive().default(1),
    top_k: z.number().int().min(0).default(0),
    top_p: z.number().gt(0).max(1).default(1),
    max_completion_length: z.number().int().positive().default(48),
    /** Which modules train (ULM-R1: only the LLM). */
    trainable: z
      .array(z.enum(['language_model', 'vision_model', 'aligner', 'gen_aligner', 'gen_head', 'gen_embed']))
      .default(['language_model']),
    /** Control experiment: shuffle rewards across the batch before computing advantages. */
    shuffle_rewards: z.boolean().default(false),
    log_every: z.number().int().positive().default(1),
    /** Write sample grids (PNG) and answers every N steps (0 = never). */
    sample_every: z.number().int().min(0).default(25),
    /** Checkpoint every N steps (0 = only the final model). */
    save_every: z.number().int().min(0).default(50),
    /** Held-out evaluation rows (0 = no evaluation). */
    eval_rows: z.number().int().min(0).default(64),
    /**
     * Held-out evaluation every N steps during training as well (0 = only before and after): after step s
     * with s % N === 0 and s < steps. The scores go into metrics.jsonl as `eval/…` rows (the report's
     * held-out curve); the evaluation leaves the training's random streams alone, so the weights are the
     * same with or without it. Each costs about `eval_rows` image samplings + re-captions + answers.
     */
    eval_every: z.number().int().min(0).default(0),
  })
  .strict();

export type TrainConfig = z.infer<typeof TrainConfigSchema>;

/** Parses and validates a config object; paths are resolved against `baseDir`. */
export function parseTrainConfig(raw: unknown, source: string, baseDir = process.cwd()): TrainConfig {
  const r = TrainConfigSchema.safeParse(raw);
  if (!r.success) {
    // Keys come from the file: quote the odd ones, and keep the message on one line.
    const key = (k: PropertyKey) =>
      typeof k === 'number' || (typeof k === 'string' && /^[\w-]+$/.test(k))
        ? String(k)
        : JSON.stringify(String(k));
    const problems = r.error.issues
      .map((i) => `${i.path.map(key).join('.') || '(root)'}: ${i.message}`)
      .join('; ')
      .replace(/\p{Cc}|[\u2028\u2029]/gu, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    throw new UserError(`${source}: invalid config (${problems})`);
  }
  const c = r.data;
  if (c.batch_size % c.micro_batch_size !== 0) {
    throw new UserError(
      `${source}: batch_size ${c.batch_size} is not a multiple of micro_batch_size ${c.micro_batch_size}`,
    );
  }
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  return {
    ...c,
    model: abs(c.model),
    data: abs(c.data),
    out: abs(c.out),
    eval_data: c.eval_data === undefined ? undefined : abs(c.eval_data),
    lpips: c.lpips === undefined ? undefined : abs(c.lpips),
  };
}

/** Reads a YAML config file into a mapping (not yet validated). */
export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new UserError(`cannot read config file ${file}`);
  }
  // yaml builds documents recursively: a deeply nested one overflows the stack, and the overflow can leave
  // V8's regexp engine broken, so that the next YAML parse in the process aborts it (out of memory). Its CST
  // parser is not recursive: measure the nesting there first (a train config is 3 levels deep).
  const MAX_DEPTH = 64;
  const nodes: [unknown, number][] = [...new YamlParser().parse(text)].map((doc) => [doc, 0]);
  for (let next = nodes.pop(); next !== undefined; next = nodes.pop()) {
    const [node, depth] = next;
    if (typeof node !== 'object' || node === null) continue;
    const type = (node as { type?: unknown }).type;
    const d = type === 'block-map' || type === 'block-seq' || type === 'flow-collection' ? depth + 1 : depth;
    if (d > MAX_DEPTH) throw new UserError(`${file}: YAML nested more than ${MAX_DEPTH} levels deep`);
    for (const child of Object.values(node)) nodes.push([child, d]);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    throw new UserError(`${file}: not valid YAML (${(e as Error).message.split('\n')[0]})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new UserError(`${file}: the config must be a YAML mapping`);
  }
  return raw as Record<string, unknown>;
}

/** One `--set key.path=value` override: the key path and the value, read as YAML ("0.02", "[t2i]", "true"). */
export interface ConfigSet {
  path: string[];
  value: unknown;
  text: string;
}

/** Parses `--set` text; a malformed one is a UserError naming it. */
export function parseConfigSet(text: string): ConfigSet {
  const i = text.indexOf('=');
  const key = i < 0 ? '' : text.slice(0, i).trim();
  if (i < 0 || !/^[A-Za-z_][\w-]*(\.[\w-]+)*$/.test(key))
    throw new UserError(
      `--set ${JSON.stringify(text)}: expected key=value or key.sub=value (e.g. beta=0.02)`,
    );
  let value: unknown;
  try {
    value = parseYaml(text.slice(i + 1));
  } catch {
    throw new UserError(`--set ${JSON.stringify(text)}: the value is not valid YAML`);
  }
  return { path: key.split('.'), value: value ?? null, text };
}

/** `raw` with the overrides applied (deep: `rewards.image.geneval=1` sets one weight); `raw` is not modified. */
export function applyConfigSets(
  raw: Record<string, unknown>,
  sets: readonly ConfigSet[],
): Record<string, unknown> {
  const out = structuredClone(raw);
  for (const { path, value, text } of sets) {
    let node: Record<string, unknown> = out;
    path.slice(0, -1).forEach((k) => {
      const next = node[k];
      if (next === undefined || next === null) node[k] = {};
      else if (typeof next !== 'object' || Array.isArray(next))
        throw new UserError(`--set ${JSON.stringify(text)}: ${k} is not a mapping`);
      node = node[k] as Record<string, unknown>;
    });
    node[path[path.length - 1]!] = value;
  }
  return out;
}

/**
 * Reads a YAML config file, applies `overrides` (whole fields, from options such as --steps) and `sets`
 * (--set), and validates the result; relative paths are relative to the current directory.
 */
export function loadTrainConfig(
  file: string,
  overrides: Record<string, unknown> = {},
  sets: readonly ConfigSet[] = [],
): TrainConfig {
  const raw = applyConfigSets({ ...readConfigFile(file), ...overrides }, sets);
  return parseTrainConfig(raw, file);
}

/** Where a resolved field's value came from. */
export type ConfigSource = 'file' | 'option' | '--set' | 'default';

/**
 * The resolved config and, for each top-level field (and each reward weight), where its value came from:
 * the file, a command-line option, --set, or the schema's default.
 */
export function explainTrainConfig(
  file: string,
  overrides: Record<string, unknown> = {},
  sets: readonly ConfigSet[] = [],
): { config: TrainConfig; sources: Record<string, ConfigSource> } {
  const fromFile = readConfigFile(file);
  const config = loadTrainConfig(file, overrides, sets);
  const sources: Record<string, ConfigSource> = {};
  const setPaths = sets.map((s) => s.path.join('.'));
  const sourceOf = (key: string, inFile: boolean): ConfigSource =>
    setPaths.some((p) => p === key || key.startsWith(p + '.'))
      ? '--set'
      : key.split('.')[0]! in overrides
        ? 'option'
        : inFile
          ? 'file'
          : 'default';
  for (const key of Object.keys(config)) {
    if (key === 'rewards') {
      const r = config.rewards;
      const fr = (fromFile.rewards ?? {}) as Record<string, Record<string, unknown> | undefined>;
      for (const m of ['image', 'text'] as const)
        for (const name of Object.keys(r[m]))
          sources[`rewards.${m}.${name}`] = sourceOf(
            `rewards.${m}.${name}`,
            fr[m] !== undefined && name in fr[m]!,
          );
      continue;
    }
    sources[key] = sourceOf(key, key in fromFile);
  }
  return { config, sources };
}
