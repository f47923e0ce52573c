/**
 * CoRL's RL trainer: GRPO over understanding and generation of one unified model (Stage 1 "unified RL" of
 * arXiv 2505.17534, as the official ULM-R1 code runs it), and the single-task / alternating / KL-anchored
 * variants that Stage 2 and the pilot study need.
 *
 * One step, top-down (trainStep):
 *   1. rollout   for each of P prompts: G images (CFG 5, T 1, KV cache) and G answers to the question about
 *                the prompt's real image;
 *   2. reward    image rewards (cycle: generated vs real image + re-caption by the policy itself vs prompt;
 *                TIM in the policy's own hidden states) and text rewards (accuracy, format), each in [0, 1];
 *   3. advantage the joint reward r = r_t2i + lambda r_mm2t, z-scored within each group of G (one advantage
 *                for image i and answer i, ULM-R1's unify_reward), or per task / joint advantages;
 *   4. update    re-score the sampled tokens with gradients, PPO-clip loss (+ beta KL to the reference),
 *                each modality normalised on its own and summed; gradient accumulation, clipping, AdamW.
 *
 * Where it departs from ULM-R1 on purpose: image token k is scored from the hidden state at position k-1 (the
 * official code is off by one); the image log-prob mode is explicit (`cond` as ULM-R1, or `cfg` to train the
 * distribution actually sampled) and the gap between sampler and trained log-probs is logged; TIM spans come
 * from masks; NaN rewards are excluded from group statistics instead of crashing.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import * as dist from '../torch/distributed.js';
import { loadULM, scoreImage, scoreText, imageGrid, writePNG } from '../model/index.js';
import type { TextBatch, UnderstandingBatch } from '../model/index.js';
import {
  createRewardRegistry,
  loadLpips,
  rewardExtraMetrics,
  type RewardRegistry,
  type ScoredBatch,
  specsOf,
} from '../rewards/index.js';
import { UserError } from '../util/errors.js';
import { Rng, deriveSeed } from '../world/rng.js';
import type { TrainConfig } from './config.js';
import {
  BatchStream,
  answerSample,
  imageSample,
  loadExamples,
  withinPromptLength,
  type PromptMeasure,
  type RLExample,
} from './data.js';
import {
  groupAdvantages,
  jointAdvantages,
  rewardMetrics,
  unifiedLoss,
  type LossDenominators,
  type PolicyLossInput,
} from './grpo.js';
import { checkpointDir, saveTrainerCheckpoint, type RankRngStates } from './checkpoint.js';
import { planRunDir, runFingerprint } from './run-dir.js';
import { MetricsLog, type Metrics } from './metrics.js';
import { progress as progressOf } from '../util/progress.js';
import {
  recaption,
  rolloutAnswers,
  rolloutImages,
  timHidden,
  type ImageRollout,
  type Policy,
  samplingConfig,
  type SamplingConfig,
  type TextRollout,
} from './rollout.js';
import { evaluateHeldOut, evaluateHeldOutSharded, type HeldOutScores } from './heldout.js';
import { cudaPeak, describeMemory, estimateMemory, peakRssMB } from './memory.js';
import { adapterStateDict, applyLora, readAdapter, type LoraAdapters } from '../model/lora.js';

type Task = 't2i' | 'mm2t';

/** Everything a step needs, built once per run. */
export interface Run {
  cfg: TrainConfig;
  policy: Policy;
  /** The frozen reference (the starting model) when beta > 0. */
  ref: Policy | null;
  opt: torch.optim.AdamW;
  schedule: torch.lr.Schedule;
  data: BatchStream;
  sampler: torch.Generator;
  rewards: RewardRegistry;
  sampling: SamplingConfig;
  /** Data parallel: this process's rank and share of every batch; null in a plain single-process run. */
  world: Shard | null;
  /** The LoRA adapters (config `lora`), the only trained tensors then; null for full fine-tuning. */
  lora?: LoraAdapters | null;
  /**
   * dtype bfloat16: the fp32 masters of the trained tensors (the optimizer's params; the model's are bf16);
   * null or absent in a float32 run.
   */
  master?: torch.MasterWeights | null;
}

/** A data-parallel run's place: rank `rank` of `size` (docs/distributed.md). */
export interface World {
  rank: number;
  size: number;
}

/**
 * How a batch of P prompts is split over the ranks (the same every step). The prompts are cut into the
 * micro-batches of one process (micro_batch_size prompts each, in batch order), and either
 * - each rank takes whole micro-batches: rank r the contiguous block of P / N prompts (when P / N is a
 *   multiple of micro_batch_size), or
 * - every micro-batch is split: rank r takes its r-th slice of micro_batch_size / N prompts of each (when N
 *   divides micro_batch_size; the default stage 1 has one micro-batch of the whole batch).
 * A prompt's G samples always stay on one rank. Either way one process's micro-batches are kept, so with
 * the loss normalised by each micro-batch's global counts, the gradients summed over ranks are one process's.
 */
export interface Shard extends World {
  /** Every rank's prompts (indices into the batch), in its local order. */
  prompts: number[][];
  /** Prompts per local micro-batch. */
  microPrompts: number;
  /** Local micro-batch k is (a slice of) micro-batch micro[k] of one process. */
  micro: number[];
}

export interface TrainResult {
  out: string;
  /** The final policy checkpoint (HF layout). */
  model: string;
  steps: number;
  before?: HeldOutScores;
  after?: HeldOutScores;
  seconds: number;
}

/**
 * Runs (or resumes) a whole training run as configured. Everything is checked and loaded before the run
 * folder is touched (run-dir.ts has the folder's rule: `resume` continues the same run from its newest intact
 * checkpoint, `overwrite` clears an old run first).
 */
export function train(
  cfg: TrainConfig,
  opts: { resume?: boolean; overwrite?: boolean; quiet?: boolean } = {},
): TrainResult {
  const t0 = Date.now();
  torch.applyDefaultThreads();
  // data parallel when launched with torchrun's variables (corl train --nproc N, corl launch, torchrun)
  const joined = dist.joinLaunchedGroup();
  const world: World | null = joined && { rank: joined.rank, size: joined.size };
  if (world) checkShardable(cfg, world);
  torch.checkDevice(cfg.device ?? 'cpu');
  const lead = world === null || world.rank === 0;
  // the cheap checks first: the data (every row and image), then the folder, then the model
  const examples = loadExamples(cfg.data, { requireQuestion: cfg.tasks.includes('mm2t') });
  let heldOut =
    cfg.eval_data && cfg.eval_rows > 0 ? loadExamples(cfg.eval_data).slice(0, cfg.eval_rows) : null;
  const plan = planRunDir(cfg, opts);
  const resumed = plan.resumed;
  const start = resumed?.state.step ?? 0;
  if (world) agreeOnStart(start, world);
  const finalModel = join(checkpointDir(cfg.out, cfg.steps), 'model');
  if (start === cfg.steps) {
    resumed!.dispose();
    if (joined?.owned) dist.destroyProcessGroup();
    if (!opts.quiet && lead)
      process.stderr.write(`train: ${cfg.out} is already complete (${cfg.steps} steps)\n`);
    return { out: cfg.out, model: finalModel, steps: cfg.steps, seconds: (Date.now() - t0) / 1000 };
  }
  // each rank its own random streams, derived from (seed, rank); one process keeps the seed itself
  if (resumed === null) torch.manualSeed(world ? deriveSeed(cfg.seed, 'torch', world.rank) : cfg.seed);

  let run: Run;
  try {
    // a LoRA run resumes from the base model and the checkpoint's adapter (its model/ has the adapter folded)
    const adapter = resumed && cfg.lora ? join(checkpointDir(cfg.out, start), 'adapter') : undefined;
    if (adapter) resumed!.loaded.model.dispose();
    const loaded = resumed && !adapter ? resumed.loaded : loadULM(cfg.model);
    const fit = fitPrompts(
      cfg,
      { tok: loaded.tokenizer, numImageTokens: loaded.model.numImageTokens },
      examples,
      heldOut,
    );
    if (fit.note && !opts.quiet && lead) process.stderr.write(`train: ${fit.note}\n`);
    heldOut = fit.heldOut;
    run = buildRun(cfg, loaded, fit.examples, world, { adapter });
  } catch (e) {
    resumed?.dispose();
    throw e;
  }
  if (!opts.quiet && lead)
    process.stderr.write(
      `train: ${describeMemory(estimateMemory(cfg, run.policy.model, run.opt.params, { reference: run.ref !== null }))}\n`,
    );
  // a rank the checkpoint has no generator states for (saved by fewer ranks) starts its own fresh streams
  if (resumed && !resumed.restore(run.opt, run.sampler, world?.rank))
    torch.manualSeed(deriveSeed(cfg.seed, 'torch', world!.rank));
  // rank 0's weights on every rank (DDP's start), and the sync point before rank 0 touches the folder
  if (world) dist.broadcast([...run.policy.model.stateDict().values(), ...(run.master?.master ?? [])], 0);
  if (lead) {
    plan.commit();
    writeFileSync(join(cfg.out, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
  }
  const fingerprint = runFingerprint(cfg);

  const log = lead ? new MetricsLog(join(cfg.out, 'metrics.jsonl')) : null;
  log?.open(resumed ? start : null);
  let before: HeldOutScores | undefined;
  if (heldOut && start === 0) before = evaluateAt(run, heldOut, log, 0);

  const save = (step: number) => {
    // every rank's sampler and default-generator states, so a run resumes bit-exactly with the same world size
    const rankRng = world ? gatherRngStates(run) : undefined;
    const write = () =>
      saveTrainerCheckpoint(
        checkpointDir(cfg.out, step),
        run.policy,
        run.opt,
        run.sampler,
        step,
        cfg,
        fingerprint,
        rankRng,
        run.lora ? { adapters: run.lora, baseModel: cfg.model } : undefined,
        run.master ? 'float32' : undefined,
      );
    // a bf16 run saves the trained tensors' fp32 masters (and the rest widened to float32)
    if (lead) {
      if (run.master) run.master.withMasterData(write);
      else write();
    }
  };
  const progress = opts.quiet || !lead ? null : progressOf('train');
  for (let step = start; step < cfg.steps; step++) {
    const m = trainStep(run, step);
    if (log && ((step + 1) % cfg.log_every === 0 || step + 1 === cfg.steps)) log.write(m);
    progress?.update(step + 1 - start, cfg.steps - start, `step ${step + 1}/${cfg.steps} | ${statusLine(m)}`);
    // before the checkpoint: a run resumed from checkpoint-s keeps the eval row of step s (MetricsLog.open)
    if (heldOut && cfg.eval_every > 0 && (step + 1) % cfg.eval_every === 0 && step + 1 < cfg.steps)
      evaluateAt(run, heldOut, log, step + 1);
    if (cfg.save_every > 0 && (step + 1) % cfg.save_every === 0 && step + 1 < cfg.steps) save(step + 1);
  }
  progress?.stop();
  save(cfg.steps);

  let after: HeldOutScores | undefined;
  if (heldOut) after = evaluateAt(run, heldOut, log, cfg.steps);
  disposeRun(run);
  if (world) {
    // no rank leaves while another may still need it (rank 0 writing the last checkpoint)
    dist.barrier();
    if (joined?.owned) dist.destroyProcessGroup();
  }
  return {
    out: cfg.out,
    model: finalModel,
    steps: cfg.steps,
    before,
    after,
    seconds: (Date.now() - t0) / 1000,
  };
}

/**
 * The held-out evaluation after `step` optimizer steps, logged as `{ step, eval/…, time/eval }`. It samples
 * with its own fixed-seed generator; the training's random streams (the run's sampler and libtorch's default
 * generator) are saved and restored around it all the same, so a run evaluated every N steps trains exactly
 * as one evaluated only before and after (test/rl/eval-every.test.ts).
 */
function evaluateAt(
  run: Run,
  heldOut: readonly RLExample[],
  log: MetricsLog | null,
  step: number,
): HeldOutScores {
  const t0 = performance.now();
  const sampler = run.sampler.getState();
  const defaultRng = torch.getRngState();
  let scores: HeldOutScores;
  try {
    scores = run.world
      ? evaluateHeldOutSharded(run.policy, heldOut, run.rewards, run.cfg, run.world)
      : evaluateHeldOut(run.policy, heldOut, run.rewards, run.cfg);
  } finally {
    run.sampler.setState(sampler);
    torch.setRngState(defaultRng);
  }
  log?.write({ step, ...prefixed('eval/', scores), 'time/eval': (performance.now() - t0) / 1000 });
  return scores;
}

/** The run's model, optimizer, data and samplers (exported for the data-parallel tests). */
export function buildRun(
  cfg: TrainConfig,
  loaded: ReturnType<typeof loadULM>,
  examples: RLExample[],
  world: World | null = null,
  opts: { adapter?: string } = {},
): Run {
  const policy: Policy = { model: loaded.model, tok: loaded.tokenizer };
  // on its device before the adapters, the fp32 masters and the optimizer are made from its tensors
  const device = cfg.device ?? 'cpu';
  policy.model.to(device);
  policy.model.requiresGrad_(false);
  policy.model.language_model.model.gradientCheckpointing = cfg.gradient_checkpointing ?? false;
  const lora = cfg.lora ? buildLora(cfg, policy, opts.adapter) : null;
  if (lora === null) {
    const children = new Map(policy.model.namedChildren());
    for (const name of cfg.trainable) children.get(name)?.requiresGrad_(true);
  }
  const params = lora ? lora.parameters() : policy.model.trainableParameters();
  // bf16: the trained tensors' fp32 masters are taken from the (float32) loaded weights before the model is
  // converted, so a run from a float32 checkpoint (or resumed from its own) starts from exact masters
  const dtype = cfg.dtype ?? 'float32';
  const master = dtype === 'float32' ? null : new torch.MasterWeights(params, dtype);
  if (master) policy.model.to(dtype);
  let ref: Policy | null = null;
  if (cfg.beta > 0) {
    const r = dtype === 'float32' ? loadULM(cfg.model) : loadULM(cfg.model, { dtype });
    r.model.to(device).requiresGrad_(false).eval();
    ref = { model: r.model, tok: r.tokenizer };
  }
  return {
    cfg,
    policy,
    ref,
    opt: new torch.optim.AdamW(master ? master.master : params, {
      lr: cfg.lr,
      weightDecay: cfg.weight_decay,
    }),
    schedule: torch.lr.scheduleByName(cfg.lr_schedule, cfg.steps, cfg.warmup_steps),
    data: new BatchStream(examples, cfg.batch_size, cfg.seed),
    sampler: new torch.Generator(
      world ? deriveSeed(cfg.seed, 'rl-sampler', world.rank) : deriveSeed(cfg.seed, 'rl-sampler'),
    ),
    rewards: createRewardRegistry({
      imageFallback: cfg.image_similarity,
      lpips: cfg.lpips ? loadLpips(cfg.lpips) : undefined,
    }),
    sampling: samplingConfig(cfg),
    world: world ? shardLayout(cfg, world) : null,
    ...(lora ? { lora } : {}),
    ...(master ? { master } : {}),
  };
}

/**
 * The run's LoRA adapters on the `trainable` modules' target Linears (base weights stay frozen): fresh, A
 * drawn by its own generator from the seed (every rank draws the same, and libtorch's default stream is left
 * as it is without LoRA), or read back from a checkpoint's adapter/ on resume.
 */
function buildLora(cfg: TrainConfig, policy: Policy, adapterDir: string | undefined): LoraAdapters {
  const l = cfg.lora!;
  const lora = applyLora(
    policy.model,
    { r: l.r, alpha: l.alpha, dropout: l.dropout, targetModules: l.target_modules, useRslora: l.use_rslora },
    { within: cfg.trainable, generator: new torch.Generator(deriveSeed(cfg.seed, 'lora')) },
  );
  if (adapterDir === undefined) return lora;
  const read = readAdapter(adapterDir);
  try {
    lora.loadStateDict(adapterStateDict(read), adapterDir);
  } catch (e) {
    lora.dispose();
    throw e;
  } finally {
    read.dispose();
  }
  return lora;
}

export function disposeRun(run: Run): void {
  run.lora?.dispose();
  run.master?.dispose();
  run.opt.dispose();
  run.policy.model.dispose();
  run.ref?.model.dispose();
}

/** The tasks trained at `step`: both (unified), one (stage 2 / separate), or alternating by step. */
function activeTasks(cfg: TrainConfig, step: number): Task[] {
  if (cfg.alternate && cfg.tasks.length === 2) return [step % 2 === 0 ? 't2i' : 'mm2t'];
  return [...cfg.tasks];
}

/** One GRPO step; returns its metrics. All tensors of the step are released when it returns. */
export function trainStep(run: Run, step: number): Metrics {
  const { cfg } = run;
  const G = cfg.num_generations;
  const tasks = activeTasks(cfg, step);
  // data parallel: this rank's share of the step's prompts (Shard: whole groups, the G samples of a prompt on
  // one rank); rewards are gathered, so advantages, group and batch statistics are the whole batch's
  const examples = shardOf(run.data.batch(step), run.world);
  const t0 = performance.now();
  return torch.tidy(() => {
    // 1. rollout
    const images = tasks.includes('t2i')
      ? rolloutImages(run.policy, examples, G, run.sampling, run.sampler)
      : null;
    const answers = tasks.includes('mm2t')
      ? rolloutAnswers(run.policy, examples, G, run.sampling, run.sampler)
      : null;
    const t1 = performance.now();

    // 2. rewards, one per sample and modality (NaN = cannot score)
    const rewards = scoreRollout(run, examples, images, answers);
    const t2 = performance.now();

    // 3. advantages and 4. the policy update
    const { adv, lr, update } = updateFromRewards(run, step, images, answers, rewards, examples.length);
    const t3 = performance.now();

    // samples: rank 0's share of the batch
    if (cfg.sample_every > 0 && (step + 1) % cfg.sample_every === 0 && (run.world?.rank ?? 0) === 0)
      writeSamples(run, step + 1, examples, images, answers);
    const times = maxOverRanks(run.world, [
      (t1 - t0) / 1000,
      (t2 - t1) / 1000,
      (t3 - t2) / 1000,
      (t3 - t0) / 1000,
    ]);
    return {
      step: step + 1,
      lr,
      ...rewards.metrics,
      ...adv.metrics,
      ...update,
      ...(images ? { 't2i/entropy': imageEntropy(images, run.world) } : {}),
      ...(answers ? textStats(answers, run.world) : {}),
      'time/rollout': times[0]!,
      'time/reward': times[1]!,
      'time/update': times[2]!,
      step_time: times[3]!,
      'mem/peak_rss': peakRssMB(),
      ...cudaPeak(run.policy.model.device),
    };
  });
}

// ---------------------------------------------------------------------------------------------------------
// Data parallel (docs/distributed.md). With `world` null every helper here is the identity, so a single
// process computes exactly what it did before data parallelism existed.
// ---------------------------------------------------------------------------------------------------------

/** The split of every batch over the ranks (see Shard); a config that does not split is one clear line. */
export function shardLayout(cfg: TrainConfig, world: World): Shard {
  const P = cfg.batch_size;
  const mb = cfg.micro_batch_size;
  const N = world.size;
  const per = P / N;
  const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);
  if (Number.isInteger(per) && per % mb === 0) {
    return {
      ...world,
      prompts: range(N).map((r) => range(per, r * per)),
      microPrompts: mb,
      micro: range(per / mb, (world.rank * per) / mb),
    };
  }
  if (mb % N === 0) {
    const slice = mb / N;
    return {
      ...world,
      prompts: range(N).map((r) => range(P / mb).flatMap((k) => range(slice, k * mb + r * slice))),
      microPrompts: slice,
      micro: range(P / mb),
    };
  }
  throw new UserError(
    `batch_size ${P} with micro_batch_size ${mb} does not split over ${N} ranks: ` +
      `batch_size / ranks must be a multiple of micro_batch_size, or micro_batch_size a multiple of ranks`,
  );
}

/** Checks that the config splits over `world` ranks (shardLayout's error otherwise). */
export function checkShardable(cfg: TrainConfig, world: World): void {
  torch.checkDataParallelDevice(cfg.device ?? 'cpu');
  shardLayout(cfg, world);
}

/** Every rank must resume from the same step (they read the same folder; a damaged checkpoint seen by one). */
function agreeOnStart(start: number, world: World): void {
  const starts = dist.allGatherNumbers([start]).map((r) => r[0]!);
  if (starts.some((s) => s !== start))
    throw new UserError(
      `the ${world.size} ranks would resume from different steps (${starts.join(', ')}): every rank must see the same, intact run folder`,
    );
}

/** This rank's share of the batch (Shard.prompts). */
export function shardOf<T>(batch: readonly T[], shard: Shard | null): T[] {
  if (shard === null) return batch as T[];
  return shard.prompts[shard.rank]!.map((i) => batch[i]!);
}

/** This rank's rows of per-sample values of the whole batch (G rows per prompt). */
function localRows(xs: readonly number[], shard: Shard, G: number): number[] {
  return shard.prompts[shard.rank]!.flatMap((p) => xs.slice(p * G, (p + 1) * G));
}

/** Every rank's per-sample values (rank order, as gathered) put back in batch order. */
function toBatchOrder(perRank: readonly (readonly number[])[], shard: Shard, G: number): number[] {
  const out = new Array<number>(shard.prompts.length * shard.prompts[0]!.length * G);
  perRank.forEach((vs, r) =>
    shard.prompts[r]!.forEach((p, i) => {
      for (let g = 0; g < G; g++) out[p * G + g] = vs[i * G + g]!;
    }),
  );
  return out;
}

/** This rank's rows of the batch's advantages. */
function localAdvantages(adv: StepAdvantages, shard: Shard | null, G: number): StepAdvantages {
  if (shard === null) return adv;
  const cut = (a: number[] | null) => a && localRows(a, shard, G);
  return { t2i: cut(adv.t2i), mm2t: cut(adv.mm2t), metrics: adv.metrics };
}

/** One scored batch from every rank's share: the whole batch's rewards, in batch order, on every rank. */
function gatherScored(s: ScoredBatch, world: Shard | null, G: number): ScoredBatch {
  if (world === null) return s;
  const n = s.total.length;
  const fns = Object.keys(s.byFn);
  const parts = Object.entries(s.parts).flatMap(([fn, ps]) => Object.keys(ps).map((p) => [fn, p] as const));
  const nans = Object.keys(s.nanCount);
  const flat = [
    ...s.total,
    ...fns.flatMap((fn) => s.byFn[fn]!),
    ...parts.flatMap(([fn, p]) => s.parts[fn]![p]!),
    ...nans.map((fn) => s.nanCount[fn]!),
    s.partial,
  ];
  const all = dist.allGatherNumbers(flat);
  const column = (k: number) =>
    toBatchOrder(
      all.map((r) => r.slice(k * n, (k + 1) * n)),
      world,
      G,
    );
  const out: ScoredBatch = {
    ...s,
    total: column(0),
    byFn: Object.fromEntries(fns.map((fn, i) => [fn, column(1 + i)])),
    parts: {},
    nanCount: Object.fromEntries(
      nans.map((fn, i) => [fn, all.reduce((a, r) => a + r[(1 + fns.length + parts.length) * n + i]!, 0)]),
    ),
    partial: all.reduce((a, r) => a + r[r.length - 1]!, 0),
  };
  parts.forEach(([fn, p], i) => ((out.parts[fn] ??= {})[p] = column(1 + fns.length + i)));
  return out;
}

/** Elementwise maximum over ranks (timings: a step takes as long as its slowest rank). */
function maxOverRanks(world: World | null, xs: number[]): number[] {
  if (world === null) return xs;
  const t = torch.tensor(xs, { dtype: 'float64' });
  dist.allReduce(t, 'max');
  return t.toArray();
}

/** Sums over ranks. */
function sumOverRanks(world: World | null, xs: number[]): number[] {
  if (world === null) return xs;
  const t = torch.tensor(xs, { dtype: 'float64' });
  dist.allReduce(t, 'sum');
  return t.toArray();
}

/** Every rank's sampler and default-generator state (base64), in rank order, for the checkpoint. */
function gatherRngStates(run: Run): RankRngStates {
  return torch.tidy(() => {
    const both = (a: Uint8Array, b: Uint8Array) => torch.tensor(Array.from([...a, ...b]), { dtype: 'uint8' });
    const sampler = run.sampler.getState();
    const def = torch.getRngState();
    const rows = dist.allGather(both(sampler, def)).map((t) => t.data() as Uint8Array);
    return {
      sampler: rows.map((r) => Buffer.from(r.subarray(0, sampler.length)).toString('base64')),
      default: rows.map((r) => Buffer.from(r.subarray(sampler.length)).toString('base64')),
    };
  });
}

/** -mean log-prob of the sampled image tokens over the whole batch (every rank holds as many). */
function imageEntropy(images: ImageRollout, world: World | null): number {
  if (world === null) return images.samplerLogp.mean().neg().item();
  const [sum, n] = sumOverRanks(world, [images.samplerLogp.sum().item(), images.samplerLogp.numel]);
  return -sum! / n!;
}

/**
 * Steps 3 and 4 of a GRPO step on a rollout already scored: the advantages over the whole batch (`rewards`
 * holds every rank's, in rank order), this rank's rows of them, and one policy update on this rank's
 * `prompts` prompts of the rollout. Exported for the data-parallel equivalence test.
 */
export function updateFromRewards(
  run: Run,
  step: number,
  images: ImageRollout | null,
  answers: TextRollout | null,
  rewards: StepRewards,
  prompts: number,
): { adv: StepAdvantages; lr: number; update: Metrics } {
  const { cfg } = run;
  const adv = localAdvantages(advantages(run, step, rewards), run.world, cfg.num_generations);
  const lr = cfg.lr * run.schedule(step);
  run.opt.lr = lr;
  const update = policyUpdate(run, images, answers, adv, prompts);
  return { adv, lr, update };
}

export interface StepRewards {
  t2i: number[] | null;
  mm2t: number[] | null;
  metrics: Metrics;
}

/** Scores every sample: image rewards need a re-caption and hidden states from the policy itself. */
function scoreRollout(
  run: Run,
  examples: readonly RLExample[],
  images: ImageRollout | null,
  answers: TextRollout | null,
): StepRewards {
  const G = run.cfg.num_generations;
  const metrics: Metrics = {};
  let t2i: number[] | null = null;
  let mm2t: number[] | null = null;
  if (images) {
    const prompts = examples.flatMap((e) => Array<string>(G).fill(e.prompt));
    const fns = Object.keys(run.cfg.rewards.image);
    const recaps = fns.includes('t2i_bid_cycle_reward')
      ? recaption(run.policy, images.images, run.sampling, run.sampler)
      : [];
    const needHidden = fns.includes('t2i_ti_sim') || fns.includes('t2i_clip_sim');
    const hidden = needHidden ? timHidden(run.policy, images.images, prompts) : undefined;
    const samples = images.images.map((image, i) =>
      imageSample(image, examples[Math.floor(i / G)]!, recaps[i]),
    );
    const scored = gatherScored(
      run.rewards.score('image', specsOf(run.cfg.rewards.image), { samples, hidden }),
      run.world,
      G,
    );
    t2i = scored.total;
    Object.assign(
      metrics,
      prefixed('t2i/', { ...rewardMetrics(scored.byFn, scored.total, G), ...rewardExtraMetrics(scored) }),
    );
  }
  if (answers) {
    const samples = answers.texts.map((completion, i) =>
      answerSample(completion, examples[Math.floor(i / G)]!),
    );
    const scored = gatherScored(
      run.rewards.score('text', specsOf(run.cfg.rewards.text), { samples }),
      run.world,
      G,
    );
    mm2t = scored.total;
    Object.assign(
      metrics,
      prefixed('mm2t/', { ...rewardMetrics(scored.byFn, scored.total, G), ...rewardExtraMetrics(scored) }),
    );
  }
  return { t2i, mm2t, metrics };
}

export interface StepAdvantages {
  t2i: number[] | null;
  mm2t: number[] | null;
  metrics: Metrics;
}

/**
 * The training and held-out examples within `max_prompt_length` (all of them without one), and a line saying
 * what was left out.
 */
function fitPrompts(
  cfg: TrainConfig,
  m: PromptMeasure,
  examples: RLExample[],
  heldOut: RLExample[] | null,
): { examples: RLExample[]; heldOut: RLExample[] | null; note: string | null } {
  const max = cfg.max_prompt_length;
  const train = withinPromptLength(examples, max, cfg.tasks, m, cfg.data);
  const held =
    heldOut && withinPromptLength(heldOut, max, cfg.tasks, m, cfg.eval_data ?? 'the held-out data');
  const dropped = train.dropped + (held?.dropped ?? 0);
  const note =
    dropped === 0
      ? null
      : `max_prompt_length ${max}: left out ${train.dropped} of ${examples.length} rows` +
        (held ? ` and ${held.dropped} of ${heldOut!.length} held-out rows` : '') +
        ` (the longest prompt: ${Math.max(train.longest, held?.longest ?? 0)} tokens)`;
  return { examples: train.kept, heldOut: held?.kept ?? null, note };
}

/** Group-normalised advantages (optionally from rewards shuffled across the batch: the control run). */
function advantages(run: Run, step: number, r: StepRewards): StepAdvantages {
  const { cfg } = run;
  const G = cfg.num_generations;
  let t2i = r.t2i;
  let mm2t = r.mm2t;
  if (cfg.shuffle_rewards) {
    const n = (t2i ?? mm2t)!.length;
    const perm = new Rng(deriveSeed(cfg.seed, 'shuffle', step)).shuffle(
      Array.from({ length: n }, (_, i) => i),
    );
    t2i = t2i && perm.map((i) => t2i![i]!);
    mm2t = mm2t && perm.map((i) => mm2t![i]!);
  }
  const opts = { scale: cfg.scale_rewards, eps: 1e-4 } as const;
  if (t2i && mm2t) {
    const a = jointAdvantages(t2i, mm2t, G, { ...opts, mode: cfg.advantage, lambda: cfg.lambda });
    const joint = a.unifiedReward ? groupAdvantages(a.unifiedReward, G, opts) : null;
    return {
      t2i: a.t2i,
      mm2t: a.mm2t,
      metrics: joint ? { reward: mean(a.unifiedReward!), frac_reward_zero_std: joint.fracZeroStd } : {},
    };
  }
  const single = groupAdvantages((t2i ?? mm2t)!, G, opts);
  return {
    t2i: t2i ? single.advantages : null,
    mm2t: mm2t ? single.advantages : null,
    metrics: { reward: mean((t2i ?? mm2t)!), frac_reward_zero_std: single.fracZeroStd },
  };
}

/** The old (mu > 1) and reference (beta > 0) log-probs of one micro-batch, computed once without gradients. */
interface FrozenLogps {
  oldImg?: Tensor;
  oldTxt?: Tensor;
  refImg?: Tensor;
  refTxt?: Tensor;
}

function frozenLogps(
  run: Run,
  images: ImageRollout | null,
  answers: TextRollout | null,
  start: number,
  len: number,
): FrozenLogps {
  const { cfg } = run;
  return torch.noGrad(() => ({
    oldImg: images && cfg.num_iterations > 1 ? imageLogp(run.policy, images, start, len, cfg) : undefined,
    oldTxt: answers && cfg.num_iterations > 1 ? textLogp(run.policy, answers, start, len, cfg) : undefined,
    refImg: images && run.ref ? imageLogp(run.ref, images, start, len, cfg) : undefined,
    refTxt: answers && run.ref ? textLogp(run.ref, answers, start, len, cfg) : undefined,
  }));
}

/**
 * One micro-batch's loss: the sampled tokens re-scored with gradients, PPO-clip per modality (+ beta KL),
 * summed (grpo.ts unifiedLoss). On the first pass it also logs how far the trained image log-probs are from
 * the sampler's.
 */
function microBatchLoss(
  run: Run,
  images: ImageRollout | null,
  answers: TextRollout | null,
  adv: StepAdvantages,
  slice: { start: number; len: number },
  f: FrozenLogps,
  firstPass: boolean,
  add: (m: Record<string, number>) => void,
  denominators?: MicroDenominators,
): Tensor {
  const { cfg } = run;
  const { start, len } = slice;
  const common = {
    epsLow: cfg.epsilon,
    epsHigh: cfg.epsilon_high ?? cfg.epsilon,
    beta: cfg.beta,
    kl: cfg.kl_estimator,
    aggregation: cfg.loss_aggregation,
  } as const;
  let image: PolicyLossInput | undefined;
  let text: PolicyLossInput | undefined;
  if (images && adv.t2i) {
    const logp = imageLogp(run.policy, images, start, len, cfg);
    if (firstPass)
      add({
        't2i/sampler_logp_gap': logp
          .detach()
          .sub(images.samplerLogp.narrow(0, start, len))
          .abs()
          .mean()
          .item(),
      });
    image = {
      ...common,
      logp,
      oldLogp: f.oldImg,
      refLogp: f.refImg,
      advantages: adv.t2i.slice(start, start + len),
      mask: torch.onesLike(logp).bool(),
      maxLen: logp.size(1),
      ...(denominators?.image ? { denominators: denominators.image } : {}),
    };
  }
  if (answers && adv.mm2t) {
    const logp = textLogp(run.policy, answers, start, len, cfg);
    text = {
      ...common,
      logp,
      oldLogp: f.oldTxt,
      refLogp: f.refTxt,
      advantages: adv.mm2t.slice(start, start + len),
      mask: answers.mask.narrow(0, start, len),
      maxLen: cfg.max_completion_length,
      ...(denominators?.text ? { denominators: denominators.text } : {}),
    };
  }
  const out = unifiedLoss({ image, text });
  add(numeric(out.metrics));
  return out.loss;
}

/**
 * num_iterations passes over the batch in micro-batches of prompts: each micro-batch's loss (microBatchLoss)
 * backward, accumulated; clip the global grad norm; step.
 */
function policyUpdate(
  run: Run,
  images: ImageRollout | null,
  answers: TextRollout | null,
  adv: StepAdvantages,
  prompts: number,
): Metrics {
  const { cfg } = run;
  // the loss of the whole batch is the mean of its micro-batch losses. Data parallel: each rank
  // backpropagates its (shares of) micro-batches, normalised by the micro-batch's counts over all ranks and
  // divided by the global micro-batch count; the gradients summed over ranks are then one process's
  const microPrompts = run.world?.microPrompts ?? cfg.micro_batch_size;
  const rowsPer = microPrompts * cfg.num_generations;
  const micro = cfg.batch_size / cfg.micro_batch_size;
  const local = prompts / microPrompts;
  const slices = Array.from({ length: local }, (_, k) => ({ start: k * rowsPer, len: rowsPer }));
  const denominators = run.world ? globalDenominators(run, run.world, images, answers, slices) : null;
  const metrics: Record<string, number[]> = {};
  const add = (m: Record<string, number>) => {
    for (const [k, v] of Object.entries(m)) (metrics[k] ??= []).push(v);
  };
  const frozen = slices.map(({ start, len }) => frozenLogps(run, images, answers, start, len));
  let gradNorm = 0;
  for (let it = 0; it < cfg.num_iterations; it++) {
    run.opt.zeroGrad();
    run.master?.zeroGrad();
    slices.forEach((slice, k) =>
      torch.tidy(() => {
        microBatchLoss(run, images, answers, adv, slice, frozen[k]!, it === 0, add, denominators?.[k])
          .div(micro)
          .backward();
        // bf16: each micro-batch's gradients are added onto the fp32 masters (accumulated in fp32)
        run.master?.gradsToMaster();
      }),
    );
    // bf16: the masters' gradients are reduced and clipped, the masters stepped and copied down to the model
    if (run.world) dist.allReduceGradients(run.opt.params, 'sum');
    gradNorm = torch.optim.clipGradNorm(run.opt.params, cfg.max_grad_norm);
    run.opt.step();
    run.master?.copyToModel();
  }
  run.opt.zeroGrad();
  torch.dispose(
    frozen.flatMap((f) => [f.oldImg, f.oldTxt, f.refImg, f.refTxt].filter((t) => t !== undefined)),
  );
  const avg: Metrics = { grad_norm: gradNorm };
  for (const [k, vs] of Object.entries(gatherLists(metrics, run.world))) avg[k] = mean(vs);
  // a micro-batch split over N ranks: each rank's loss and token count is its share; the micro-batch's are
  // their sums, so the mean over micro-batches is N times the mean over shares
  const w = run.world;
  if (w && w.microPrompts < cfg.micro_batch_size)
    for (const k of Object.keys(avg))
      if (/(^|\/)(loss|num_tokens)$/.test(k) && typeof avg[k] === 'number') avg[k] = avg[k] * w.size;
  return avg;
}

interface MicroDenominators {
  image?: LossDenominators;
  text?: LossDenominators;
}

/**
 * For each local micro-batch: the token, live-sequence and row counts of its whole micro-batch over every
 * rank (one all-reduce), so its loss is its share of one process's micro-batch loss.
 */
function globalDenominators(
  run: Run,
  shard: Shard,
  images: ImageRollout | null,
  answers: TextRollout | null,
  slices: readonly { start: number; len: number }[],
): MicroDenominators[] {
  const M = run.cfg.batch_size / run.cfg.micro_batch_size;
  const rows = run.cfg.micro_batch_size * run.cfg.num_generations;
  const v = new Array<number>(M * 4).fill(0);
  slices.forEach(({ start, len }, k) => {
    const at = shard.micro[k]! * 4;
    if (images) {
      v[at] = len * images.codes.size(1);
      v[at + 1] = images.codes.size(1) > 0 ? len : 0;
    }
    if (answers)
      torch.tidy(() => {
        const perRow = answers.mask.narrow(0, start, len).float().sum(1);
        v[at + 2] = perRow.sum().item();
        v[at + 3] = perRow.gt(0).float().sum().item();
      });
  });
  const all = torch.tidy(() => {
    const t = torch.tensor(v, { dtype: 'float64' });
    dist.allReduce(t, 'sum');
    return t.toArray();
  });
  return slices.map((_, k) => {
    const at = shard.micro[k]! * 4;
    return {
      image: images ? { tokens: all[at]!, sequences: all[at + 1]!, rows } : undefined,
      text: answers ? { tokens: all[at + 2]!, sequences: all[at + 3]!, rows } : undefined,
    };
  });
}

/** Every rank's per-micro-batch metric values, concatenated (each rank has the same keys and counts). */
function gatherLists(m: Record<string, number[]>, world: World | null): Record<string, number[]> {
  if (world === null) return m;
  const keys = Object.keys(m).sort();
  const all = dist.allGatherNumbers(keys.flatMap((k) => m[k]!));
  const out: Record<string, number[]> = {};
  let off = 0;
  for (const k of keys) {
    const n = m[k]!.length;
    out[k] = all.flatMap((r) => r.slice(off, off + n));
    off += n;
  }
  return out;
}

function rowsOf<B extends TextBatch | UnderstandingBatch>(b: B, start: number, len: number): B {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(b)) out[k] = v instanceof torch.Tensor ? v.narrow(0, start, len) : v;
  return out as B;
}

function imageLogp(p: Policy, r: ImageRollout, start: number, len: number, cfg: TrainConfig): Tensor {
  return scoreImage(p.model, rowsOf(r.prompts, start, len), r.codes.narrow(0, start, len), {
    mode: cfg.image_logprob_mode,
    cfgWeight: cfg.cfg_weight,
    temperature: cfg.temperature,
    padId: p.tok.special.pad,
  });
}

function textLogp(p: Policy, r: TextRollout, start: number, len: number, cfg: TrainConfig): Tensor {
  return scoreText(
    p.model,
    rowsOf(r.prompts, start, len),
    { ids: r.tokens.narrow(0, start, len), mask: r.mask.narrow(0, start, len) },
    { temperature: cfg.text_temperature, topK: cfg.top_k, topP: cfg.top_p },
  );
}

/** samples/step-N/: a grid of the first prompt's G images (+ the real image) and the sampled answers. */
function writeSamples(
  run: Run,
  step: number,
  examples: readonly RLExample[],
  images: ImageRollout | null,
  answers: TextRollout | null,
): void {
  const dir = join(run.cfg.out, 'samples', `step-${step}`);
  mkdirSync(dir, { recursive: true });
  const G = run.cfg.num_generations;
  if (images) {
    // each prompt's real image first, when every prompt has one of the generated images' size
    const { width, height } = images.images[0]!;
    const withReal = examples.every((e) => e.realImage?.width === width && e.realImage.height === height);
    const rows = examples.flatMap((e, p) => [
      ...(withReal ? [e.realImage!] : []),
      ...images.images.slice(p * G, (p + 1) * G),
    ]);
    writePNG(join(dir, 'images.png'), imageGrid(rows, withReal ? G + 1 : G));
  }
  const texts = examples.map((e, p) => ({
    prompt: e.prompt,
    question: e.qaProblem,
    solution: e.qaSolution,
    answers: answers?.texts.slice(p * G, (p + 1) * G) ?? [],
  }));
  writeFileSync(join(dir, 'samples.json'), JSON.stringify(texts, null, 2) + '\n');
}

/** Completion length and a Monte-Carlo entropy estimate (-mean log-prob of the sampled tokens). */
function textStats(a: TextRollout, world: World | null = null): Metrics {
  const m = a.mask.float();
  if (world !== null) {
    const [tokens, rows, logp] = sumOverRanks(world, [
      m.sum().item(),
      m.size(0),
      a.samplerLogp.mul(m).sum().item(),
    ]);
    return { 'mm2t/completions/mean_length': tokens! / rows!, 'mm2t/entropy': -logp! / Math.max(tokens!, 1) };
  }
  return {
    'mm2t/completions/mean_length': m.sum(1).mean().item(),
    'mm2t/entropy': a.samplerLogp.mul(m).sum().div(m.sum().clamp(1, null)).neg().item(),
  };
}

function statusLine(m: Metrics): string {
  const f = (k: string) => (typeof m[k] === 'number' ? (m[k] as number).toFixed(3) : '-');
  return `t2i ${f('t2i/reward')} mm2t ${f('mm2t/reward')} ${f('step_time')} s/step`;
}

function numeric(m: Record<string, unknown>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(m)) if (typeof v === 'number') out[k] = v;
  return out;
}

export function prefixed(prefix: string, m: object): Metrics {
  const out: Metrics = {};
  for (const [k, v] of Object.entries(m))
    out[prefix + k] = typeof v === 'number' || typeof v === 'string' ? v : null;
  return out;
}

function mean(xs: readonly number[]): number {
  const f = xs.filter(Number.isFinite);
  return f.length === 0 ? NaN : f.reduce((a, b) => a + b, 0) / f.length;
}
