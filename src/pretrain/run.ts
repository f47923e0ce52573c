/**
 * The pretraining jobs behind `corl pretrain vq | sft | all`: train, evaluate, save.
 *
 *   vq   DIR = a VQ folder (vq.ts): vq.json, model.safetensors, pretrain.json
 *   sft  DIR = a ULM checkpoint (config.json, model.safetensors, tokenizer.json) + pretrain.json
 *   all  DIR = the ULM checkpoint of `sft`, with the VQ folder kept in DIR/vq; pretrain.json holds both stages
 *
 * pretrain.json: preset, seed, per stage steps / seconds / loss logs, the VQ's reconstruction eval, the base
 * model's held-out ShapesWorld eval (evaluate.ts), thread settings and the machine's load average.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as torch from '../torch/index.js';
import { loadULM, saveULM } from '../model/checkpoint.js';
import type { MultiModalityCausalLM } from '../model/ulm.js';
import type { ULMTokenizer } from '../model/tokenizer.js';
import type { VQModel } from '../model/vq.js';
import { evaluate, worldEvalRows, type EvalResult } from '../eval/evaluate.js';
import { UserError } from '../util/errors.js';
import { pretrainPreset, type PretrainPreset } from './presets.js';
import { buildULM, trainSFT, worldTokenizer, type SftLog, type SftOptions, type SftResult } from './sft.js';
import { loadVQ, saveVQ, trainVQ, type VQLog, type VQTrainResult } from './vq.js';
import { trainVision, type VisionResult } from './vision.js';

export const PRETRAIN_FILE = 'pretrain.json';

export interface Budget {
  seconds?: number;
  steps?: number;
}

export interface RunHooks {
  /** Progress of the current stage in [0, 1] with a short status line. */
  onProgress?: (stage: 'vq' | 'vision' | 'sft' | 'eval', progress: number, info: string) => void;
  /**
   * Data parallel (docs/distributed.md): this rank of `size` in the joined process group. Every stage splits
   * its batches over the ranks (one step of N ranks is one process's step), the evaluation is sharded, and
   * rank 0 alone writes. Absent: one process.
   */
  world?: { rank: number; size: number } | null;
}

/** Whether this process writes: one process, or rank 0 of a data-parallel run. */
const leads = (hooks: RunHooks) => (hooks.world?.rank ?? 0) === 0;

export interface VQStage {
  steps: number;
  seconds: number;
  images_per_second: number;
  final: Omit<VQLog, 'step' | 'seconds' | 'lr'>;
  logs: VQLog[];
  eval: VQTrainResult['eval'];
}

/** The vision-encoder stage (vision.ts): run, final losses, held-out patch accuracy; frozen during SFT? */
export type VisionStage = VisionResult & { frozen: boolean };

export interface SftStage {
  steps: number;
  seconds: number;
  rows: SftResult['rows'];
  /** Mean losses over the last ~10% of the run. */
  final: Record<string, number>;
  logs: SftLog[];
}

export interface PretrainReport {
  preset: string;
  seed: number;
  vq?: VQStage;
  vision?: VisionStage;
  sft?: SftStage;
  eval?: EvalResult;
  /** Held-out evaluation rows: `corl world build --seed eval_seed --test eval_scenes` eval/ files. */
  eval_seed?: number;
  eval_scenes?: number;
  threads: { threads: number; blasThreads: number };
  loadavg: number[];
  total_seconds: number;
}

function vqStage(r: VQTrainResult): VQStage {
  const last = r.logs[r.logs.length - 1];
  return {
    steps: r.steps,
    seconds: r.seconds,
    images_per_second: r.images_per_second,
    final: {
      recon: last?.recon ?? NaN,
      commit: last?.commit ?? NaN,
      codebook: last?.codebook ?? NaN,
      restarted: last?.restarted ?? 0,
    },
    logs: r.logs,
    eval: r.eval,
  };
}

function sftStage(r: SftResult): SftStage {
  const tail = r.logs.filter((l) => l.seconds >= 0.9 * r.seconds || l === r.logs[r.logs.length - 1]);
  const final: Record<string, number> = {};
  const keys = new Set(tail.flatMap((l) => Object.keys(l.loss)));
  for (const k of keys) {
    const vs = tail.map((l) => l.loss[k]).filter((v): v is number => v !== undefined);
    if (vs.length > 0) final[k] = vs.reduce((a, b) => a + b, 0) / vs.length;
  }
  return { steps: r.steps, seconds: r.seconds, rows: r.rows, final, logs: r.logs };
}

/**
 * A stage's budget: the steps or seconds asked for, else the preset's step budget (the default: the same seed
 * gives the same model on any machine, however busy).
 */
function budgetOf(b: Budget, preset: { steps: number }): { seconds?: number; steps?: number } {
  if (b.steps !== undefined) return { steps: b.steps };
  if (b.seconds !== undefined) return { seconds: b.seconds };
  return { steps: preset.steps };
}

/** Trains the VQ of a preset (not saved). */
export function runVQ(
  preset: PretrainPreset,
  seed: number,
  budget: Budget,
  hooks: RunHooks = {},
): VQTrainResult {
  const tok = worldTokenizer();
  const params = preset.model(tok.vocabSize).gen_vision_config.params;
  const v = preset.vq;
  return trainVQ({
    params,
    seed,
    ...budgetOf(budget, v),
    batchSize: v.batchSize,
    lr: v.lr,
    restartEvery: v.restartEvery,
    evalImages: v.evalImages,
    onStep: (p, l) => hooks.onProgress?.('vq', p, `recon ${l.recon.toFixed(4)}`),
    world: hooks.world,
  });
}

/**
 * The vision stage's budget: `visionSeconds` when given; the preset's seconds when SFT has a time budget; else
 * the preset's steps.
 */
function visionBudget(preset: PretrainPreset, budget: Budget, visionSeconds?: number): Budget {
  if (visionSeconds !== undefined) return { seconds: visionSeconds };
  if (budget.seconds !== undefined && budget.steps === undefined) return { seconds: preset.vision.seconds };
  return { steps: preset.vision.steps };
}

/**
 * Builds the ULM around a trained VQ, pretrains its vision encoder (when the preset has that stage) and runs
 * SFT; the caller owns the returned model.
 */
export function runSFT(
  preset: PretrainPreset,
  vq: VQModel,
  seed: number,
  budget: Budget,
  hooks: RunHooks = {},
  visionSeconds?: number,
): { model: MultiModalityCausalLM; tokenizer: ULMTokenizer; result: SftResult; vision?: VisionStage } {
  const tokenizer = worldTokenizer();
  const config = preset.model(tokenizer.vocabSize);
  const want = JSON.stringify(config.gen_vision_config.params);
  if (JSON.stringify(vq.params) !== want)
    throw new UserError(
      `the VQ does not match preset ${preset.name}'s gen_vision_config (train it with --preset ${preset.name})`,
    );
  const model = buildULM(config, vq, seed);
  try {
    let vision: VisionStage | undefined;
    const v = preset.vision;
    if (v.seconds > 0) {
      const r = trainVision(model.vision_model, config, {
        seed,
        ...visionBudget(preset, budget, visionSeconds),
        batchSize: v.batchSize,
        lr: v.lr,
        onStep: (p, l) =>
          hooks.onProgress?.('vision', p, `object ${l.object.toFixed(3)} size ${l.size.toFixed(3)}`),
        world: hooks.world,
      });
      vision = { ...r, frozen: v.freeze };
    }
    freezeForSFT(model, preset);
    const result = trainSFT(model, tokenizer, sftOptions(preset, seed, budget, hooks));
    return { model, tokenizer, result, vision };
  } catch (e) {
    model.dispose();
    throw e;
  }
}

/** What SFT keeps fixed: the VQ always (as Janus), the ViT when the preset pretrains and freezes it. */
function freezeForSFT(model: MultiModalityCausalLM, preset: PretrainPreset): void {
  model.gen_vision_model.requiresGrad_(false);
  if (preset.vision.seconds > 0 && preset.vision.freeze) model.vision_model.requiresGrad_(false);
}

/** trainSFT's options for a preset: its budget, curriculum and hyper-parameters, progress to `hooks`. */
function sftOptions(preset: PretrainPreset, seed: number, budget: Budget, hooks: RunHooks): SftOptions {
  const s = preset.sft;
  return {
    seed,
    ...budgetOf(budget, s),
    curriculum: s.curriculum,
    lr: s.lr,
    weightDecay: s.weightDecay,
    warmup: s.warmup,
    finalLr: s.finalLr,
    clip: s.clip,
    uncondProb: s.uncondProb,
    genWeight: s.genWeight,
    textWeight: s.textWeight,
    mcAnswer: s.mcAnswer,
    popeThink: s.popeThink,
    positionThink: s.positionThink,
    perImage: s.perImage,
    world: hooks.world,
    onStep: (p, l) => {
      const parts = Object.entries(l.loss)
        .filter(([k]) => !k.startsWith('letter') && !k.startsWith('answer'))
        .map(([k, v]) => `${k} ${v!.toFixed(2)}`);
      hooks.onProgress?.('sft', p, `${l.phase} | ${parts.join(' ')}`);
    },
  };
}

/**
 * Cold-SFT, the pilot study's ablation of unified RL: continues supervised training of an existing checkpoint
 * on the world mix (the preset's last curriculum phase) for the given budget, at a tenth of the preset's
 * learning rate (the model is already trained; the same mix from scratch would undo its schedule).
 */
export function continueSFT(
  o: { preset: string; init: string; out: string; seed: number; eval?: boolean } & Budget,
  hooks: RunHooks = {},
): PretrainReport {
  const t0 = performance.now();
  const preset = pretrainPreset(o.preset);
  const { model, tokenizer } = loadULM(o.init);
  try {
    freezeForSFT(model, preset);
    const base = sftOptions(preset, o.seed, o, hooks);
    const last = preset.sft.curriculum[preset.sft.curriculum.length - 1]!;
    const result = trainSFT(model, tokenizer, {
      ...base,
      curriculum: [{ ...last, until: 1 }],
      lr: preset.sft.lr * 0.1,
      warmup: 0,
    });
    const report: PretrainReport = { ...baseReport(preset, o.seed), sft: sftStage(result) };
    if (leads(hooks)) saveULM(model, tokenizer, o.out);
    return finishReport(report, preset, model, tokenizer, o, t0, hooks);
  } finally {
    model.dispose();
  }
}

/** Runs the held-out evaluation (unless turned off), stamps time and load, writes DIR/pretrain.json. */
function finishReport(
  report: PretrainReport,
  preset: PretrainPreset,
  model: MultiModalityCausalLM,
  tokenizer: ULMTokenizer,
  o: { out: string; seed: number; eval?: boolean },
  t0: number,
  hooks: RunHooks,
): PretrainReport {
  if (o.eval !== false) {
    const e = runEval(preset, model, tokenizer, o.seed, hooks);
    Object.assign(report, { eval: e.result, eval_seed: e.evalSeed, eval_scenes: e.scenes });
  }
  report.total_seconds = (performance.now() - t0) / 1000;
  report.loadavg = os.loadavg();
  if (leads(hooks)) writeReport(path.join(o.out, PRETRAIN_FILE), report);
  return report;
}

/** The held-out evaluation of a preset (seed + 1000, the preset's scene count and limits). */
export function runEval(
  preset: PretrainPreset,
  model: MultiModalityCausalLM,
  tokenizer: ULMTokenizer,
  seed: number,
  hooks: RunHooks = {},
): { result: EvalResult; evalSeed: number; scenes: number } {
  const evalSeed = seed + 1000;
  const { scenes, ...limits } = preset.eval;
  const rows = worldEvalRows(evalSeed, scenes, model.config.vision_config.params.image_size);
  const result = evaluate(model, tokenizer, rows, {
    ...limits,
    seed,
    onProgress: (d, t) => hooks.onProgress?.('eval', d / Math.max(1, t), `${d}/${t}`),
    world: hooks.world,
  });
  return { result, evalSeed, scenes };
}

function writeReport(file: string, report: PretrainReport): void {
  fs.writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
}

function baseReport(preset: PretrainPreset, seed: number): PretrainReport {
  return {
    preset: preset.name,
    seed,
    threads: { threads: torch.getNumThreads(), blasThreads: torch.getBlasThreads() },
    loadavg: os.loadavg(),
    total_seconds: 0,
  };
}

/** `corl pretrain vq`: trains and saves a VQ folder. */
export function pretrainVQ(
  o: { preset: string; out: string; seed: number } & Budget,
  hooks: RunHooks = {},
): PretrainReport {
  const t0 = performance.now();
  const preset = pretrainPreset(o.preset);
  const r = runVQ(preset, o.seed, o, hooks);
  try {
    const report = { ...baseReport(preset, o.seed), vq: vqStage(r) };
    report.total_seconds = (performance.now() - t0) / 1000;
    report.loadavg = os.loadavg();
    if (leads(hooks)) saveVQ(r.vq, o.out, { preset: preset.name, extra: { [PRETRAIN_FILE]: report } });
    return report;
  } finally {
    r.vq.dispose();
  }
}

/** `corl pretrain sft`: SFT on a saved VQ; saves the ULM checkpoint (+ pretrain.json) and evaluates it. */
export function pretrainSFT(
  o: { preset: string; vq: string; out: string; seed: number; eval?: boolean } & Budget,
  hooks: RunHooks = {},
): PretrainReport {
  const t0 = performance.now();
  const preset = pretrainPreset(o.preset);
  const { vq } = loadVQ(o.vq);
  let run;
  try {
    run = runSFT(preset, vq, o.seed, o, hooks);
  } finally {
    vq.dispose();
  }
  const { model, tokenizer, result, vision } = run;
  try {
    const report: PretrainReport = { ...baseReport(preset, o.seed), vision, sft: sftStage(result) };
    if (leads(hooks)) saveULM(model, tokenizer, o.out);
    return finishReport(report, preset, model, tokenizer, o, t0, hooks);
  } finally {
    model.dispose();
  }
}

/**
 * `corl pretrain all`: VQ, vision encoder, then SFT, then the evaluation; DIR = the ULM checkpoint, DIR/vq = the
 * VQ folder. The budget is the preset's steps of each stage, or with `seconds` a time budget split in the
 * preset's proportions of seconds.
 */
export function pretrainAll(
  o: { preset: string; out: string; seed: number; seconds?: number; eval?: boolean },
  hooks: RunHooks = {},
): PretrainReport {
  const t0 = performance.now();
  const preset = pretrainPreset(o.preset);
  const total = preset.vq.seconds + preset.vision.seconds + preset.sft.seconds;
  const scale = o.seconds !== undefined ? o.seconds / total : undefined;
  const timed = (seconds: number): Budget => (scale === undefined ? {} : { seconds: seconds * scale });
  const vqBudget = timed(preset.vq.seconds);
  const visionSeconds = scale === undefined ? undefined : preset.vision.seconds * scale;
  const sftBudget = timed(preset.sft.seconds);
  const report = baseReport(preset, o.seed);
  const v = runVQ(preset, o.seed, vqBudget, hooks);
  const vqDir = path.join(o.out, 'vq');
  const vqTmp = `${path.resolve(o.out)}-vq.tmp-${process.pid}-${Date.now()}`;
  let run;
  try {
    report.vq = vqStage(v);
    // kept beside the run while SFT trains, moved into DIR/vq once the checkpoint is written
    if (leads(hooks)) saveVQ(v.vq, vqTmp, { preset: preset.name });
    run = runSFT(preset, v.vq, o.seed, sftBudget, hooks, visionSeconds);
  } finally {
    v.vq.dispose();
  }
  const { model, tokenizer, result, vision } = run;
  try {
    report.vision = vision;
    report.sft = sftStage(result);
    if (leads(hooks)) {
      saveULM(model, tokenizer, o.out);
      fs.rmSync(vqDir, { recursive: true, force: true });
      fs.renameSync(vqTmp, vqDir);
      // the VQ folder's record: the VQ stage only
      writeReport(path.join(vqDir, PRETRAIN_FILE), { ...report, vision: undefined, sft: undefined });
    }
    return finishReport(report, preset, model, tokenizer, o, t0, hooks);
  } finally {
    model.dispose();
  }
}
