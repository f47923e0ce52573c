/**
 * The RL training config (`corl train --config FILE`): YAML validated by zod, every field documented below,
 * grouped as TRL's GRPOConfig groups its own (model and data, rollout, loss and optimisation, rewards, logging
 * and saving, evaluation). Each field says its type, its default, and the paper's value: CoRL (arXiv
 * 2505.17534, Table 5) and its code ULM-R1 (`corl_unified.sh`, the stage-1 script; stage 2 is not released).
 *
 * The defaults are the paper's stage-1 settings (G 8, lambda 0.8, beta 0, CFG 5, one joint reward, cycle + TIM
 * and accuracy + format rewards) with the batch and the learning rate scaled for the tiny ShapesWorld model.
 * The pipeline's recipes (configs/world, configs/paper) set their values per stage on top of these defaults.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { Parser as YamlParser, parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { UserError } from '../util/errors.js';
import { PAPER_REWARDS, REWARD_NAMES } from '../rewards/names.js';
import { DEVICE_NAME, DEVICE_NAME_EXPECTED } from '../torch/device-name.js';

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

/** LoRA's default target modules: every projection of the LLM's attention and MLP (not lm_head). */
export const LORA_TARGETS = [
  'q_proj',
  'k_proj',
  'v_proj',
  'o_proj',
  'gate_proj',
  'up_proj',
  'down_proj',
] as const;

/** The default rewards: the paper's stage 1 (src/rewards/names.ts PAPER_REWARDS, written once there). */
export const DEFAULT_REWARDS = PAPER_REWARDS;

export const TrainConfigSchema = z
  .object({
    // ---- Model and data ----------------------------------------------------------------------------------
    /**
     * Policy checkpoint folder (config.json, model.safetensors or pytorch_model.bin, tokenizer.json); also the
     * frozen KL reference when beta > 0. String, required. Paper: Janus-Pro-1B (stage 1), the stage-1 model
     * (stage 2).
     */
    model: z.string(),
    /**
     * Which modules train. List of language_model | vision_model | aligner | gen_aligner | gen_head |
     * gen_embed. Default: `[language_model]`. Paper (ULM-R1): only the language model.
     */
    trainable: z
      .array(z.enum(['language_model', 'vision_model', 'aligner', 'gen_aligner', 'gen_head', 'gen_embed']))
      .default(['language_model']),
    /**
     * LoRA adapters (PEFT's) instead of full fine-tuning: every Linear named in target_modules inside the
     * `trainable` modules gets y += (alpha / r) B A dropout(x), only A and B train (every base weight is
     * frozen), and each checkpoint holds the adapter (checkpoint-N/adapter: PEFT's adapter_model.safetensors +
     * adapter_config.json) beside the model with the adapter folded in (checkpoint-N/model). Mapping, optional.
     * Default: none (full fine-tuning of `trainable`). Paper: none (ULM-R1 fine-tunes the whole LLM).
     * - r: rank. Integer >= 1. Default `8` (PEFT's).
     * - alpha: the update's scale numerator (scale alpha / r). Number > 0. Default `16`.
     * - dropout: dropout on the adapter's input in the update's forward (never in rollouts). Number in [0, 1).
     *   Default `0`.
     * - target_modules: module names (PEFT's rule: a module whose path is the name or ends with `.name`).
     *   List, at least one. Default: the LLM's q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj.
     * - use_rslora: rsLoRA's scale alpha / sqrt(r). Boolean. Default `false`.
     */
    lora: z
      .object({
        r: z.number().int().positive().default(8),
        alpha: z.number().positive().finite().default(16),
        dropout: z.number().min(0).lt(1).default(0),
        target_modules: z
          .array(z.string().regex(/^[\w.]+$/))
          .min(1)
          .default(() => [...LORA_TARGETS]),
        use_rslora: z.boolean().default(false),
      })
      .strict()
      .optional(),
    /**
     * Activation checkpointing of the LLM's decoder layers in the update's forward: each layer keeps only its
     * input and recomputes its activations in backward (the same gradients; at world-tiny size the update's
     * peak memory 0.37x and its time 1.4x, docs/janus-pro.md). CPU only for now (refused with a CUDA
     * `device`). Boolean, optional.
     * Default: false (absent). Paper (ULM-R1): true.
     */
    gradient_checkpointing: z.boolean().optional(),
    /**
     * The policy's (and the reference's) floating dtype in rollouts and the update. `bfloat16`: weights and
     * activations in bf16 (half the weight memory), with an fp32 master copy of every trained tensor that AdamW
     * updates (fp32 moments) and copies back into the bf16 model after each step; logits are cast to fp32
     * before the log-softmax, and the loss is computed in fp32. Checkpoints are written in float32 (the
     * trained tensors from the masters), so a run resumes exactly. `float32`: everything in float32. float32
     * | bfloat16, optional. Default: float32 (absent: a float32 run as before the field existed). Paper
     * (ULM-R1): bfloat16.
     */
    dtype: z.enum(['float32', 'bfloat16']).optional(),
    /**
     * Where the policy and the reference run: the rollouts, the scoring and the update (`corl train
     * --device`). Batches are built on the CPU and moved to the model; sampling draws on the CPU from the same
     * seeded generator whatever the device (docs/gpu.md); rewards read their images back. `cuda` needs an addon
     * built against a CUDA libtorch. cpu | cuda | cuda:N, optional. Default: cpu (absent). Paper: 8 GPUs.
     */
    device: z.string().regex(DEVICE_NAME, DEVICE_NAME_EXPECTED).optional(),
    /**
     * Training JSONL, ULM-R1's fields: prompt, real_image, qa_problem, qa_solution, qa_type (every row both a
     * generation prompt and a question about the same image). String, required. Paper: mm-vl/x2x_rft_22k
     * (stage 1); x2x_rft_16k, mcot_r1_mcq_66k, mcot_r1_vqa_66k (the stage-2 branches).
     */
    data: z.string(),
    /**
     * Which tasks each step trains: both (unified RL, stage 1) or one (a stage-2 branch, separate RL). List of
     * t2i | mm2t, at least one. Default: `[t2i, mm2t]`. Paper: both in stage 1, one per stage-2 branch.
     */
    tasks: z
      .array(z.enum(['t2i', 'mm2t']))
      .min(1)
      .default(['t2i', 'mm2t']),
    /**
     * With both tasks: t2i on even steps and mm2t on odd steps instead of both every step (the paper's
     * alternating-RL strategy of its pilot study). Boolean. Default: `false`. Paper: false (alternating is a
     * pilot-study baseline).
     */
    alternate: z.boolean().default(false),
    /**
     * Random seed of sampling, data order and the reward shuffle; 32-bit (the world's generator and deriveSeed
     * use 32 bits). Integer in [0, 2^32). Default: `0`. Paper: not given (HF Trainer's default is 42).
     */
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 32 - 1)
      .default(0),

    // ---- Rollout (generation) ----------------------------------------------------------------------------
    /**
     * Prompts per optimizer step; each gets num_generations images and/or answers. Integer >= 1. Default:
     * `4` (a step takes about 2 s on 2 cores). Paper: 16 (Table 5: stage 1 and the T2I branch), 32 (the MCQ and
     * OE branches); ULM-R1's script: 8 GPUs x 1 x 4 accumulation = 32.
     */
    batch_size: z.number().int().positive().default(4),
    /** Samples per prompt and task, G. Integer >= 2. Default: `8`. Paper: 8 (stage 1), 16 (stage 2). */
    num_generations: z.number().int().min(2).default(8),
    /** Image sampling: classifier-free guidance weight. Number >= 0. Default: `5`. Paper: 5 (Janus). */
    cfg_weight: z.number().min(0).default(5),
    /** Image sampling temperature. Number > 0. Default: `1`. Paper: 1 (ULM-R1 hard-codes it). */
    temperature: z.number().positive().default(1),
    /** Answer sampling temperature. Number > 0. Default: `1`. Paper: 1 (ULM-R1 hard-codes it). */
    text_temperature: z.number().positive().default(1),
    /**
     * Answer sampling: keep the k most likely tokens (0 = all). Integer >= 0. Default: `0`. Paper (ULM-R1):
     * transformers' implicit 50, which its log-probs ignore.
     */
    top_k: z.number().int().min(0).default(0),
    /** Answer sampling: nucleus mass (1 = off). Number in (0, 1]. Default: `1`. Paper: 1. */
    top_p: z.number().gt(0).max(1).default(1),
    /**
     * Longest sampled answer, in tokens. Integer >= 1. Default: `48`.
     * Paper: 512 (Table 5); ULM-R1's script: 576.
     */
    max_completion_length: z.number().int().positive().default(48),
    /**
     * Longest prompt, in tokens: a generation prompt, or a question with its image's tokens (BOS and the
     * template included). Rows whose prompt for a trained task is longer are left out when the run starts,
     * and the count is printed (as verl's filter_overlong_prompts; TRL truncates from the left, which would
     * cut a question's image). Integer >= 1, or absent: no limit but the model's context. Default: absent.
     * Paper: 1024 (stage 1, MCQ, OE) and 256 (generation branch), Table 5.
     */
    max_prompt_length: z.number().int().positive().optional(),

    // ---- Loss and optimisation ---------------------------------------------------------------------------
    /**
     * Optimizer steps. Integer >= 1. Default: `100`. Paper: one epoch of the stage's data set (ULM-R1:
     * num_train_epochs 1).
     */
    steps: z.number().int().positive().default(100),
    /**
     * Prompts per backward pass; batch_size must be a multiple of it (gradient accumulation). Integer >= 1.
     * Default: `4`. Paper (ULM-R1): 1 per GPU, 4 accumulation steps.
     */
    micro_batch_size: z.number().int().positive().default(4),
    /**
     * AdamW learning rate. Number > 0. Default: `1.0e-4`: the tiny world model (1.3M parameters, trained from
     * scratch at 2e-3) needs a larger one than Janus; 1e-4 is what moved its generation reward in the
     * calibration runs. Paper: 4e-6 (stage 1), 1e-6 (stage 2).
     */
    lr: z.number().positive().default(1e-4),
    /** AdamW weight decay. Number >= 0. Default: `0`. Paper: 0 (HF Trainer's default). */
    weight_decay: z.number().min(0).default(0),
    /**
     * Learning-rate schedule after the warm-up: constant, linear decay to 0, or cosine decay to 0. One of
     * constant | linear | cosine. Default: `constant`. Paper (ULM-R1): linear (HF Trainer's default).
     */
    lr_schedule: z.enum(['constant', 'linear', 'cosine']).default('constant'),
    /** Linear warm-up steps. Integer >= 0. Default: `0`. Paper: 0. */
    warmup_steps: z.number().int().min(0).default(0),
    /** Global gradient-norm clip. Number > 0. Default: `1.0`. Paper: 1.0 (HF Trainer's default). */
    max_grad_norm: z.number().positive().default(1.0),
    /**
     * Inner PPO iterations per batch (mu); 1 = on-policy, the ratio is exactly 1 and the update is REINFORCE
     * with a group baseline. Integer >= 1. Default: `1`. Paper (ULM-R1): 1.
     */
    num_iterations: z.number().int().positive().default(1),
    /**
     * PPO clip range of the ratio (lower side; both sides without epsilon_high); no effect at num_iterations
     * 1. Number > 0. Default: `0.2`. Paper (ULM-R1): read but unused (no clipping).
     */
    epsilon: z.number().positive().default(0.2),
    /** Upper clip range (DAPO's clip-higher). Number > 0, optional. Default: epsilon. Paper: unused. */
    epsilon_high: z.number().positive().optional(),
    /**
     * KL coefficient to the frozen reference (the starting checkpoint). Number >= 0. Default: `0`. Paper: 0
     * (stage 1), 0.02 (stage 2, Table 5).
     */
    beta: z.number().min(0).default(0),
    /**
     * KL estimator per token (d = ref - logp): k3 = exp(d) - d - 1, or k1 = -d. One of k1 | k3. Default: `k3`.
     * Paper (ULM-R1): k3.
     */
    kl_estimator: z.enum(['k1', 'k3']).default('k3'),
    /**
     * How per-token losses become one: every token of a modality alike (token-mean), every sequence alike
     * (seq-mean-token-mean), or over a constant length (dr_grpo). One of token-mean | seq-mean-token-mean |
     * dr_grpo. Default: `token-mean`. Paper (ULM-R1): seq-mean-token-mean (first release), token-mean per
     * modality (later).
     */
    loss_aggregation: z.enum(['token-mean', 'seq-mean-token-mean', 'dr_grpo']).default('token-mean'),
    /**
     * Which image log-probs are trained: the conditional logits, the CFG mixture that is sampled, or the CFG
     * mixture with the unconditional branch detached. One of cond | cfg | cfg_detach_uncond. Default: `cond`.
     * Paper (ULM-R1): cond.
     */
    image_logprob_mode: z.enum(['cond', 'cfg', 'cfg_detach_uncond']).default('cond'),

    // ---- Rewards -----------------------------------------------------------------------------------------
    /**
     * Reward functions and weights per modality (names of src/rewards: image t2i_bid_cycle_reward, t2i_ti_sim,
     * t2i_clip_sim, geneval; text qa_accuracy, format, think_match); a modality's reward is the weighted sum.
     * Mapping {image, text} of name -> weight >= 0. Default: DEFAULT_REWARDS (above). Paper: the same (stage
     * 1); the stage-2 branches: cycle + TIM, MCQ accuracy + format, OE accuracy + format.
     */
    rewards: z
      .object({
        image: rewardWeights('image').default(() => ({ ...DEFAULT_REWARDS.image })),
        text: rewardWeights('text').default(() => ({ ...DEFAULT_REWARDS.text })),
      })
      .default(() => ({ image: { ...DEFAULT_REWARDS.image }, text: { ...DEFAULT_REWARDS.text } })),
    /**
     * How rewards become advantages: one joint reward r_t2i + lambda r_mm2t per pair (unify_reward), joint
     * advantages A_t2i + lambda A_mm2t (unify_advantage), or an advantage per task (separate). Default:
     * `unify_reward`. Paper (ULM-R1): unify_reward.
     */
    advantage: z.enum(['unify_reward', 'unify_advantage', 'separate']).default('unify_reward'),
    /** The understanding weight lambda of the joint reward / advantage. Number >= 0. Default: `0.8`. Paper: 0.8. */
    lambda: z.number().min(0).default(0.8),
    /**
     * Advantage scale: divide by the group's std, the batch's std, or not at all. One of group | batch | none.
     * Default: `group`. Paper (ULM-R1): group (std + 1e-4).
     */
    scale_rewards: z.enum(['group', 'batch', 'none']).default('group'),
    /**
     * Control experiment: shuffle rewards across the batch before the advantages (a reward that carries no
     * signal). Boolean. Default: `false`. Paper: not used.
     */
    shuffle_rewards: z.boolean().default(false),
    /**
     * Image side of the cycle reward without an LPIPS network: SSIM or 1 - RMSE. One of ssim | rmse. Default:
     * `ssim`. Paper: 1 - LPIPS (VGG); ULM-R1's later code: 1 - RMSE.
     */
    image_similarity: z.enum(['ssim', 'rmse']).default('ssim'),
    /**
     * LPIPS weights (safetensors) for the cycle reward's image side, replacing image_similarity. Path,
     * optional. Default: none. Paper: LPIPS with VGG features.
     */
    lpips: z.string().optional(),
    /**
     * Temperature of the cycle reward's re-caption of each generated image by the policy itself (0 = greedy).
     * Number >= 0. Default: `0`. Paper: BLIP captions (ULM-R1's later code: the policy at temperature 1).
     */
    recaption_temperature: z.number().min(0).default(0),
    /**
     * Longest re-caption, in tokens. Integer >= 1. Default: `40`. Paper: BLIP, 50 new
     * tokens (ULM-R1's later code: the policy, 256).
     */
    recaption_max_tokens: z.number().int().positive().default(40),

    // ---- Logging and saving ------------------------------------------------------------------------------
    /** Output folder: metrics.jsonl, samples/, checkpoint-N/, final/. String, required. Paper: -. */
    out: z.string(),
    /**
     * A metrics.jsonl line every N steps (and at the last). Integer >= 1. Default: `1`. Paper: not given.
     */
    log_every: z.number().int().positive().default(1),
    /**
     * Sample image grids (PNG) and answers into samples/ every N steps (0 = never). Integer >= 0. Default:
     * `25`. Paper: none.
     */
    sample_every: z.number().int().min(0).default(25),
    /**
     * A resumable checkpoint every N steps (0 = only the final model). Integer >= 0. Default: `50`. Paper
     * (ULM-R1): every 200 steps.
     */
    save_every: z.number().int().min(0).default(50),

    // ---- Evaluation --------------------------------------------------------------------------------------
    /**
     * Held-out JSONL scored before and after training (and every eval_every steps). Path, optional. Default:
     * none (no evaluation). Paper: benchmarks after training (GenEval, DPG, MMMU, ...).
     */
    eval_data: z.string().optional(),
    /** Held-out rows per evaluation (0 = no evaluation). Integer >= 0. Default: `64`. Paper: -. */
    eval_rows: z.number().int().min(0).default(64),
    /**
     * Held-out evaluation every N steps during training as well (0 = only before and after): after step s
     * with s % N === 0 and s < steps. The scores go into metrics.jsonl as `eval/…` rows (the report's
     * held-out curve); the evaluation leaves the training's random streams alone, so the weights are the
     * same with or without it. Each costs about `eval_rows` image samplings + re-captions + answers. Integer
     * >= 0. Default: `0`. Paper: none during training.
     */
    eval_every: z.number().int().min(0).default(0),
  })
  .strict();

export type TrainConfig = z.infer<typeof TrainConfigSchema>;

/** The fields without a default: where the run starts, what it trains on, where it writes. */
const RUN_REQUIRED = ['model', 'data', 'out'] as const;

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
    // A recipe's stage YAML (configs/*/stage*.yaml) leaves the run's fields to the pipeline: say how to give them.
    const input = raw as Record<string, unknown> | null;
    const missing = RUN_REQUIRED.filter(
      (k) => typeof input === 'object' && input !== null && input[k] === undefined,
    );
    const hint =
      missing.length === 0
        ? ''
        : `; ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} missing: a recipe's stage YAML leaves them to the pipeline, give them with ${missing.map((k) => `--set ${k}=...`).join(' ')}`;
    throw new UserError(`${source}: invalid config (${problems})${hint}`);
  }
  const c = r.data;
  if (c.batch_size % c.micro_batch_size !== 0) {
    throw new UserError(
      `${source}: batch_size ${c.batch_size} is not a multiple of micro_batch_size ${c.micro_batch_size}`,
    );
  }
  if (c.gradient_checkpointing && (c.device ?? 'cpu') !== 'cpu') {
    // native/src/checkpoint.cc runs the recomputation through JS from the backward node: CPU tensors only
    throw new UserError(
      `${source}: gradient_checkpointing runs on the CPU only for now (docs/gpu.md); turn it off for device ${c.device}`,
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
