/**
 * VQ-VAE pretraining on ShapesWorld renders (the generation tokenizer of the ULM, `gen_vision_model`).
 *
 * Loss: MSE(reconstruction, image) + codebook loss + commitment loss (beta = the config's commit_loss_beta,
 * 0.25), straight-through estimator, L2-normalised codebook (VQModel, Janus's VQ-16 layout). Adam (no weight
 * decay) with linear warm-up and cosine decay to 10% over the budget, batch 64 fresh renders per step.
 * Dead-code restart (as the calibration run): every `restartEvery` steps, every code unused since the last
 * restart is moved onto a random encoder output of the current batch, so the codebook stays in use.
 *
 * The budget is time (`seconds`: schedule progress = elapsed / budget) or steps. A trained VQ is saved as a
 * folder: `vq.json` (the gen_vision_config params and the model preset), `model.safetensors` (VQModel names,
 * e.g. `encoder.conv_in.weight`), `pretrain.json` (the training log), written to a temporary folder and
 * renamed into place.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as torch from '../torch/index.js';
import * as dist from '../torch/distributed.js';
import { loadSafetensors, saveSafetensors } from '../torch/safetensors.js';
import type { ULMConfig } from '../model/config.js';
import { VQModel } from '../model/vq.js';
import { describeNonFinite, nonFiniteTensors } from '../model/checkpoint.js';
import { pixelTensor, toRGBImages } from '../model/preprocess.js';
import { detectObjects, matchScene } from '../world/detect.js';
import type { RgbImage } from '../world/image.js';
import { deriveSeed } from '../world/rng.js';
import { UserError } from '../util/errors.js';
import { writeDirAtomically } from '../util/atomic-dir.js';
import { WorldStream } from './data.js';
import { Budget, LogEvery, warmupCosine, type LoopLog, type LoopOptions } from './schedule.js';

export type VQParams = ULMConfig['gen_vision_config']['params'];

/** VQ settings (time budget default 180 s; logs every 5% of the budget). */
export interface VQTrainOptions extends LoopOptions<VQLog> {
  params: VQParams;
  batchSize?: number;
  lr?: number;
  /** Steps between dead-code restarts (default 50; 0 = never). */
  restartEvery?: number;
  /** Held-out images for the final evaluation (default 256). */
  evalImages?: number;
  /**
   * Data parallel (docs/distributed.md): this rank of `size`. Every rank draws the same batch and takes its
   * contiguous share of the images; each loss is weighted by the share's size so the summed gradients are
   * one process's; code usage is summed, so dead-code restarts agree. Absent: one process.
   */
  world?: { rank: number; size: number } | null;
}

export interface VQLog extends LoopLog {
  /** Mean over the steps since the last log. */
  recon: number;
  commit: number;
  codebook: number;
  /** Codes restarted so far. */
  restarted: number;
}

export interface VQEval {
  images: number;
  /** Reconstruction MSE on [0, 1] pixels. */
  mse: number;
  /** Codes used on the held-out images, and the perplexity of their distribution. */
  codes_used: number;
  perplexity: number;
  /** The scene parser reads the reconstruction exactly (every object, colour, shape, size, relation). */
  recon_exact: number;
  /** The parser finds the right colours (as a multiset) on the reconstruction. */
  recon_colors: number;
}

export interface VQTrainResult {
  vq: VQModel;
  steps: number;
  seconds: number;
  images_per_second: number;
  logs: VQLog[];
  eval: VQEval;
}

/** Trains a VQ-VAE from scratch on fresh world renders. The caller owns (and disposes) the returned model. */
export function trainVQ(o: VQTrainOptions): VQTrainResult {
  const p = o.params;
  const vq = new VQModel(p, { generator: new torch.Generator(deriveSeed(o.seed, 'vq-init') & 0x7fffffff) });
  const opt = torch.optim.adam(vq.parameters(), { lr: o.lr ?? 2e-3 });
  const stream = new WorldStream(deriveSeed(o.seed, 'vq-train'), 'train', p.image_size);
  const batchSize = o.batchSize ?? 64;
  const restartEvery = o.restartEvery ?? 50;
  const budget = Budget.of(o, 180);
  const schedule = warmupCosine(0.03, 0.1);
  const nCodes = p.image_token_size;
  let usage = new Uint32Array(nCodes);
  const logs: VQLog[] = [];
  const acc = { recon: 0, commit: 0, codebook: 0, n: 0 };
  let restarted = 0;
  const logEvery = new LogEvery(0.05);
  const restartGen = new torch.Generator(deriveSeed(o.seed, 'vq-restart') & 0x7fffffff);
  const log = (): VQLog => ({
    step: budget.step,
    seconds: budget.elapsed(),
    lr: opt.lr,
    recon: acc.recon / Math.max(1, acc.n),
    commit: acc.commit / Math.max(1, acc.n),
    codebook: acc.codebook / Math.max(1, acc.n),
    restarted,
  });
  const world = o.world ?? null;
  if (world !== null) dist.broadcast([...vq.stateDict().values()], 0);
  vq.train();
  try {
    for (;;) {
      const progress = budget.agreedProgress(world);
      if (progress >= 1) break;
      opt.lr = (o.lr ?? 2e-3) * schedule(progress);
      const images = stream.take(batchSize).map((it) => it.render);
      const stats =
        world !== null
          ? vqStepShared(vq, opt, images, usage, world)
          : torch.tidy(() => {
              const x = pixelTensor(images);
              const out = vq.forward(x);
              const recon = out.recon.sub(x).pow(2).mean();
              const loss = recon.add(out.codebookLoss).add(out.commitLoss);
              opt.zeroGrad();
              loss.backward();
              opt.step();
              for (const c of out.codes.toArray()) usage[c]!++;
              // recon MSE on [-1, 1] pixels -> on [0, 1] pixels: divide by 4
              return {
                recon: recon.item() / 4,
                commit: out.commitLoss.item(),
                codebook: out.codebookLoss.item(),
              };
            });
      budget.tick();
      acc.recon += stats.recon;
      acc.commit += stats.commit;
      acc.codebook += stats.codebook;
      acc.n += 1;
      if (restartEvery > 0 && budget.step % restartEvery === 0) {
        restarted += restartDeadCodes(vq, images, usage, restartGen);
        usage = new Uint32Array(nCodes);
      }
      const prog = budget.progress();
      const cur = log();
      o.onStep?.(prog, cur);
      if (logEvery.due(prog, budget.done())) {
        logs.push(cur);
        o.onLog?.(cur);
        acc.recon = acc.commit = acc.codebook = acc.n = 0;
      }
    }
  } finally {
    opt.dispose();
  }
  vq.eval();
  const seconds = budget.elapsed();
  return {
    vq,
    steps: budget.step,
    seconds,
    images_per_second: (budget.step * batchSize) / Math.max(1e-9, seconds),
    logs,
    eval: evaluateVQ(vq, o.seed, o.evalImages ?? 256),
  };
}

/**
 * Moves every unused code onto the (L2-normalised) encoder output at a random position of `images`; returns
 * how many codes moved.
 */
function restartDeadCodes(
  vq: VQModel,
  images: readonly RgbImage[],
  usage: Uint32Array,
  gen: torch.Generator,
): number {
  const dead: number[] = [];
  usage.forEach((c, i) => {
    if (c === 0) dead.push(i);
  });
  if (dead.length === 0) return 0;
  torch.noGrad(() =>
    torch.tidy(() => {
      const z = vq.quant_conv.forward(vq.encoder.forward(pixelTensor(images))); // [B, C, h, w]
      const C = z.size(1);
      let flat = z.permute([0, 2, 3, 1]).reshape([-1, C]);
      if (vq.params.codebook_l2_norm) flat = flat.div(flat.pow(2).sum(-1, true).sqrt().clamp(1e-12));
      const pick = torch.randint(0, flat.size(0), [dead.length], { generator: gen });
      const rows = flat.indexSelect(0, pick);
      const w = vq.quantize.embedding.weight;
      w.indexCopy_(0, torch.tensor(BigInt64Array.from(dead, (d) => BigInt(d))), rows);
    }),
  );
  return dead.length;
}

/**
 * One VQ step of one rank: its contiguous share of the batch, each loss weighted by share / batch, the
 * gradients summed over ranks before Adam; the code usage and the logged losses summed over ranks (in float32,
 * in the gradients' collective).
 */
function vqStepShared(
  vq: VQModel,
  opt: torch.optim.AdamW,
  images: readonly RgbImage[],
  usage: Uint32Array,
  world: { rank: number; size: number },
): { recon: number; commit: number; codebook: number } {
  const lo = Math.floor((world.rank * images.length) / world.size);
  const hi = Math.floor(((world.rank + 1) * images.length) / world.size);
  const share = (hi - lo) / images.length;
  const mine = images.slice(lo, hi);
  const local = torch.tidy(() => {
    const counts = new Float64Array(usage.length);
    opt.zeroGrad();
    if (mine.length === 0) return { recon: 0, commit: 0, codebook: 0, counts };
    const x = pixelTensor(mine);
    const out = vq.forward(x);
    const recon = out.recon.sub(x).pow(2).mean();
    recon.add(out.codebookLoss).add(out.commitLoss).mul(share).backward();
    for (const c of out.codes.toArray()) counts[c]!++;
    return {
      recon: (recon.item() / 4) * share,
      commit: out.commitLoss.item() * share,
      codebook: out.codebookLoss.item() * share,
      counts,
    };
  });
  // the losses and the code counts (whole numbers, exact in float32) ride in the gradients' collective
  const sums = dist.allReduceGradients(vq.parameters(), 'sum', {}, [
    local.recon,
    local.commit,
    local.codebook,
    ...local.counts,
  ]);
  opt.step();
  for (let c = 0; c < usage.length; c++) usage[c]! += sums[3 + c]!;
  return { recon: sums[0]!, commit: sums[1]!, codebook: sums[2]! };
}

/** Reconstruction quality of a VQ on fresh held-out renders. */
export function evaluateVQ(vq: VQModel, seed: number, n: number): VQEval {
  const stream = new WorldStream(deriveSeed(seed, 'vq-eval'), 'test', vq.params.image_size);
  const items = stream.take(n);
  const counts = new Float64Array(vq.params.image_token_size);
  let se = 0;
  let exact = 0;
  let colors = 0;
  const size = vq.params.image_size;
  for (let i = 0; i < items.length; i += 64) {
    const part = items.slice(i, i + 64);
    const { recon, mse } = torch.noGrad(() =>
      torch.tidy(() => {
        const x = pixelTensor(part.map((it) => it.render));
        const codes = vq.encode(x);
        for (const c of codes.toArray()) counts[c]!++;
        const r = vq.decode(codes);
        return {
          recon: toRGBImages(r),
          mse: r.sub(x).pow(2).mean().item() / 4,
        };
      }),
    );
    se += mse * part.length;
    recon.forEach((img, k) => {
      const scene = part[k]!.scene;
      const dets = detectObjects(img);
      if (matchScene(scene, dets, size).exact) exact++;
      const want = scene.objects
        .map((o) => o.color)
        .sort()
        .join(',');
      const got = dets
        .map((d) => d.color)
        .sort()
        .join(',');
      if (want === got) colors++;
    });
  }
  const total = counts.reduce((a, b) => a + b, 0);
  let entropy = 0;
  let used = 0;
  for (const c of counts)
    if (c > 0) {
      used++;
      const q = c / total;
      entropy -= q * Math.log(q);
    }
  return {
    images: items.length,
    mse: se / Math.max(1, items.length),
    codes_used: used,
    perplexity: Math.exp(entropy),
    recon_exact: exact / Math.max(1, items.length),
    recon_colors: colors / Math.max(1, items.length),
  };
}

export const VQ_CONFIG_FILE = 'vq.json';
const VQ_WEIGHTS_FILE = 'model.safetensors';

/** Writes `dir` (vq.json, model.safetensors, and `extra` JSON files) atomically. */
export function saveVQ(
  vq: VQModel,
  dir: string,
  info: { preset?: string; extra?: Record<string, unknown> } = {},
): void {
  writeDirAtomically(dir, 'vq', (tmp) => {
    const meta = {
      format: 'corl-vq-v1',
      preset: info.preset ?? null,
      gen_vision_config: { params: vq.params },
    };
    fs.writeFileSync(path.join(tmp, VQ_CONFIG_FILE), JSON.stringify(meta, null, 2) + '\n');
    torch.tidy(() => {
      const sd = new Map([...vq.stateDict()].map(([n, t]) => [n, t.isContiguous() ? t : t.contiguous()]));
      saveSafetensors(path.join(tmp, VQ_WEIGHTS_FILE), sd, { format: 'pt' });
    });
    for (const [name, value] of Object.entries(info.extra ?? {}))
      fs.writeFileSync(path.join(tmp, name), JSON.stringify(value, null, 2) + '\n');
  });
}

/** Reads a VQ folder written by saveVQ; weights holding NaN or Inf are a UserError naming the tensors. */
export function loadVQ(dir: string): { vq: VQModel; preset: string | null } {
  const file = path.join(dir, VQ_CONFIG_FILE);
  if (!fs.existsSync(file))
    throw new UserError(`${dir} is not a VQ folder (no ${VQ_CONFIG_FILE}); train one with corl pretrain vq`);
  let meta: { preset?: string | null; gen_vision_config?: { params?: VQParams } };
  try {
    meta = JSON.parse(fs.readFileSync(file, 'utf8')) as typeof meta;
  } catch (e) {
    throw new UserError(`${file}: cannot read (${(e as Error).message})`);
  }
  const params = meta.gen_vision_config?.params;
  if (!params) throw new UserError(`${file}: no gen_vision_config.params`);
  const vq = new VQModel(params);
  const { tensors } = loadSafetensors(path.join(dir, VQ_WEIGHTS_FILE), { dtype: 'float32' });
  try {
    vq.loadStateDict(tensors);
    const bad = nonFiniteTensors(tensors);
    if (bad.length > 0)
      throw new UserError(
        `the VQ's weights are not all finite: ${describeNonFinite(bad)} (a corrupt file or a diverged training run)`,
      );
  } catch (e) {
    vq.dispose();
    throw e instanceof UserError ? new UserError(`${dir}: ${e.message}`) : e;
  } finally {
    torch.dispose([...tensors.values()]);
  }
  return { vq: vq.eval() as VQModel, preset: meta.preset ?? null };
}
