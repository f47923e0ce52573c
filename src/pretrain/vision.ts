/**
 * Vision-encoder pretraining: the role SigLIP's own (contrastive) pretraining plays for Janus, done here
 * with the world's exact scene labels because nothing pretrained can be downloaded.
 *
 * Each ViT output token (one per patch) is trained with small linear heads to say what lies under its patch:
 *   object   which (colour, shape) pair covers most of the patch, or background (25 classes)
 *   size     small / large / background (3 classes)
 *   centre   the (x, y) centre of that object in [0, 1] (MSE, object patches only)
 * so that, after this stage, every image token carries "a small red circle centred here" in a form the LLM
 * can match against the words of a question with one attention head. The heads are thrown away; the ViT
 * (vision_model) keeps its weights and SFT trains it further at the SFT learning rate or keeps it frozen.
 *
 * Why (docs/pretrain.md): trained only through the LLM's text loss, the 2-layer ViT never learned shapes,
 * relations or POPE's colour-and-shape conjunction within the 10-minute budget; the dense labels teach it
 * in ~1 minute.
 */
import * as torch from '../torch/index.js';
import * as dist from '../torch/distributed.js';
import { nn, F } from '../torch/index.js';
import { COLORS, SHAPES, SIZES, SIZE_RADIUS } from '../world/attributes.js';
import { insideShape } from '../world/render.js';
import type { Scene } from '../world/scene.js';
import { deriveSeed } from '../world/rng.js';
import type { CLIPVisionTower } from '../model/vit.js';
import { visionDims, type ULMConfig } from '../model/config.js';
import { vitPixels } from '../model/preprocess.js';
import { WorldStream, type WorldItem } from './data.js';
import { Budget, LogEvery, warmupCosine, type LoopLog, type LoopOptions } from './schedule.js';

/** Background class of the object head: the (colour, shape) pairs are 0 .. 23. */
export const BACKGROUND = COLORS.length * SHAPES.length;
/** Fraction of a patch an object must cover to label it (else background). */
const MIN_COVER = 0.2;
/** Sub-samples per patch side when measuring coverage. */
const SUB = 4;

export interface PatchLabels {
  /** Per patch, row-major: (colour index * 4 + shape index) or BACKGROUND. */
  object: number[];
  /** Per patch: 0 background, 1 small, 2 large. */
  size: number[];
  /** Per patch: the object's centre (x, y), or (0, 0) on background. */
  centre: Array<[number, number]>;
}

/** The labels of a `grid` x `grid` patch layout of a scene (coverage measured on a SUB x SUB grid). */
export function patchLabels(scene: Scene, grid: number): PatchLabels {
  const out: PatchLabels = { object: [], size: [], centre: [] };
  for (let gy = 0; gy < grid; gy++)
    for (let gx = 0; gx < grid; gx++) {
      let best = -1;
      let bestCover = 0;
      scene.objects.forEach((o, k) => {
        const r = SIZE_RADIUS[o.size];
        let hits = 0;
        for (let sy = 0; sy < SUB; sy++)
          for (let sx = 0; sx < SUB; sx++) {
            const px = (gx + (sx + 0.5) / SUB) / grid;
            const py = (gy + (sy + 0.5) / SUB) / grid;
            if (insideShape(o.shape, px, py, o.x, o.y, r)) hits++;
          }
        const cover = hits / (SUB * SUB);
        if (cover > bestCover) {
          bestCover = cover;
          best = k;
        }
      });
      const o = best >= 0 && bestCover >= MIN_COVER ? scene.objects[best]! : null;
      if (o === null) {
        out.object.push(BACKGROUND);
        out.size.push(0);
        out.centre.push([0, 0]);
      } else {
        out.object.push(COLORS.indexOf(o.color) * SHAPES.length + SHAPES.indexOf(o.shape));
        out.size.push(1 + SIZES.indexOf(o.size));
        out.centre.push([o.x, o.y]);
      }
    }
  return out;
}

/** The throw-away linear heads on the ViT's output tokens. */
export class PatchHeads extends nn.Module {
  readonly object: nn.Linear;
  readonly size: nn.Linear;
  readonly centre: nn.Linear;
  constructor(width: number, generator?: torch.Generator) {
    super();
    this.object = this.child('object', new nn.Linear(width, BACKGROUND + 1, { generator }));
    this.size = this.child('size', new nn.Linear(width, 3, { generator }));
    this.centre = this.child('centre', new nn.Linear(width, 2, { generator }));
  }
}

/** Vision-stage settings (time budget default 60 s; logs every 5% of the budget). */
export interface VisionTrainOptions extends LoopOptions<VisionLog> {
  batchSize?: number;
  lr?: number;
  /** Weight of the centre MSE (default 4: centres are in [0, 1], their errors small). */
  centreWeight?: number;
  /** Held-out scenes for the final accuracy (default 256). */
  evalScenes?: number;
  /**
   * Data parallel (docs/distributed.md): this rank of `size`. Every rank draws the same batch and takes its
   * contiguous share of the scenes; the means are weighted by the share and the centre loss divided by the
   * whole batch's object patches, so the summed gradients are one process's. Absent: one process.
   */
  world?: { rank: number; size: number } | null;
}

export interface VisionLog extends LoopLog {
  /** Mean losses since the last log. */
  object: number;
  size: number;
  centre: number;
}

export interface VisionEval {
  /** Accuracy of the object head on patches an object covers, and on all patches. */
  object_patch_accuracy: number;
  /** The colour and the shape part of the object head on object patches. */
  color_accuracy: number;
  shape_accuracy: number;
  all_patch_accuracy: number;
  size_accuracy: number;
  /** Root-mean-square centre error on object patches, in pixels of the ViT's input image. */
  centre_rmse_px: number;
  scenes: number;
}

export interface VisionResult {
  steps: number;
  seconds: number;
  logs: VisionLog[];
  eval: VisionEval;
}

/** The batch's patch labels as tensors (created inside the caller's tidy scope). */
function targets(scenes: readonly Scene[], grid: number) {
  const labels = scenes.map((s) => patchLabels(s, grid));
  const object = labels.flatMap((l) => l.object);
  const n = object.length;
  return {
    object: torch.tensor(BigInt64Array.from(object, BigInt)),
    size: torch.tensor(
      BigInt64Array.from(
        labels.flatMap((l) => l.size),
        BigInt,
      ),
    ),
    centre: torch.tensor(Float32Array.from(labels.flatMap((l) => l.centre.flat())), { shape: [n, 2] }),
    mask: torch.tensor(
      Float32Array.from(object, (c) => (c === BACKGROUND ? 0 : 1)),
      { shape: [n, 1] },
    ),
  };
}

/** Per-patch head outputs for a batch of world items: [B*N, .] each. */
function heads(vit: CLIPVisionTower, h: PatchHeads, items: readonly WorldItem[], cfg: ULMConfig) {
  const z = vit.forward(
    vitPixels(
      items.map((i) => i.render),
      cfg,
    ),
  );
  const flat = z.reshape([-1, z.shape[2]!]);
  return { object: h.object.forward(flat), size: h.size.forward(flat), centre: h.centre.forward(flat) };
}

function gridOf(cfg: ULMConfig): number {
  const d = visionDims(cfg);
  return d.imageSize / d.patchSize;
}

/** Trains `vit` in place with the patch heads; returns the logs and a held-out evaluation. */
export function trainVision(vit: CLIPVisionTower, cfg: ULMConfig, o: VisionTrainOptions): VisionResult {
  const grid = gridOf(cfg);
  const width = visionDims(cfg).width;
  const gen = new torch.Generator(deriveSeed(o.seed, 'vision-heads') & 0x7fffffff);
  const ph = new PatchHeads(width, gen);
  const stream = new WorldStream(deriveSeed(o.seed, 'vision'), 'train', cfg.vision_config.params.image_size);
  const params = [...vit.parameters(), ...ph.parameters()];
  const baseLr = o.lr ?? 2e-3;
  const opt = new torch.optim.AdamW(params, { lr: baseLr, weightDecay: 0.01, betas: [0.9, 0.98] });
  const schedule = warmupCosine(0.05, 0.1);
  const budget = Budget.of(o, 60);
  const B = o.batchSize ?? 32;
  const cw = o.centreWeight ?? 4;
  const logs: VisionLog[] = [];
  const sums = { object: 0, size: 0, centre: 0, n: 0 };
  const snapshot = (): VisionLog => ({
    step: budget.step,
    seconds: budget.elapsed(),
    lr: opt.lr,
    object: sums.object / Math.max(1, sums.n),
    size: sums.size / Math.max(1, sums.n),
    centre: sums.centre / Math.max(1, sums.n),
  });
  const logEvery = new LogEvery(0.05);
  const world = o.world ?? null;
  if (world !== null) dist.broadcast([...vit.stateDict().values(), ...ph.stateDict().values()], 0);
  vit.train();
  try {
    for (;;) {
      const progress = budget.agreedProgress(world);
      if (progress >= 1) break;
      opt.lr = baseLr * schedule(progress);
      const items = stream.take(B);
      const step = { grid, cw, params, opt };
      const losses =
        world !== null
          ? visionStepShared(vit, ph, items, cfg, step, world)
          : visionStep(vit, ph, items, cfg, step);
      budget.tick();
      sums.object += losses[0];
      sums.size += losses[1];
      sums.centre += losses[2];
      sums.n += 1;
      const p = budget.progress();
      o.onStep?.(p, snapshot());
      if (logEvery.due(p, budget.done())) {
        const log = snapshot();
        logs.push(log);
        o.onLog?.(log);
        Object.assign(sums, { object: 0, size: 0, centre: 0, n: 0 });
      }
    }
    vit.eval();
    const evaluation = evaluateVision(vit, ph, cfg, o.seed, o.evalScenes ?? 256);
    return { steps: budget.step, seconds: budget.elapsed(), logs, eval: evaluation };
  } finally {
    opt.dispose();
    ph.dispose();
  }
}

/** One step of one process: the batch's losses, backward, clip, AdamW; returns the three losses. */
function visionStep(
  vit: CLIPVisionTower,
  ph: PatchHeads,
  items: readonly WorldItem[],
  cfg: ULMConfig,
  s: { grid: number; cw: number; params: torch.Tensor[]; opt: torch.optim.AdamW },
): [number, number, number] {
  const losses = torch.tidy((): [number, number, number] => {
    const t = targets(
      items.map((i) => i.scene),
      s.grid,
    );
    const out = heads(vit, ph, items, cfg);
    const lo = F.crossEntropy(out.object, t.object);
    const ls = F.crossEntropy(out.size, t.size);
    const lc = out.centre.sub(t.centre).pow(2).mul(t.mask).sum().div(t.mask.sum().clamp(1));
    s.opt.zeroGrad();
    lo.add(ls).add(lc.mul(s.cw)).backward();
    return [lo.item(), ls.item(), lc.item()];
  });
  torch.optim.clipGradNorm(s.params, 1);
  s.opt.step();
  return losses;
}

/**
 * One vision step of one rank: its contiguous share of the scenes, the two means weighted by share / batch,
 * the centre loss over the whole batch's object patches (one all-reduce of their count), the gradients summed
 * over ranks before clipping and AdamW. Returns the batch's three losses (summed over ranks, in float32, in the
 * gradients' collective).
 */
function visionStepShared(
  vit: CLIPVisionTower,
  ph: PatchHeads,
  items: readonly WorldItem[],
  cfg: ULMConfig,
  s: { grid: number; cw: number; params: torch.Tensor[]; opt: torch.optim.AdamW },
  world: { rank: number; size: number },
): [number, number, number] {
  const lo = Math.floor((world.rank * items.length) / world.size);
  const hi = Math.floor(((world.rank + 1) * items.length) / world.size);
  const share = (hi - lo) / items.length;
  const mine = items.slice(lo, hi);
  const local = torch.tidy((): [number, number, number] => {
    s.opt.zeroGrad();
    const t =
      mine.length > 0
        ? targets(
            mine.map((i) => i.scene),
            s.grid,
          )
        : null;
    const m = torch.tensor([t === null ? 0 : t.mask.sum().item()], { dtype: 'float64' });
    dist.allReduce(m, 'sum');
    const objects = Math.max(1, m.item());
    if (t === null) return [0, 0, 0];
    const out = heads(vit, ph, mine, cfg);
    const lo = F.crossEntropy(out.object, t.object);
    const ls = F.crossEntropy(out.size, t.size);
    const lcSum = out.centre.sub(t.centre).pow(2).mul(t.mask).sum();
    lo.add(ls).mul(share).add(lcSum.div(objects).mul(s.cw)).backward();
    return [lo.item() * share, ls.item() * share, lcSum.item() / objects];
  });
  // the losses ride in the gradients' collective
  const [a, b, c] = dist.allReduceGradients(s.params, 'sum', {}, local);
  torch.optim.clipGradNorm(s.params, 1);
  s.opt.step();
  return [a!, b!, c!];
}

/** The heads' accuracy on fresh held-out scenes (the world's test split). */
export function evaluateVision(
  vit: CLIPVisionTower,
  ph: PatchHeads,
  cfg: ULMConfig,
  seed: number,
  scenes: number,
): VisionEval {
  const grid = gridOf(cfg);
  const stream = new WorldStream(
    deriveSeed(seed, 'vision-eval'),
    'test',
    cfg.vision_config.params.image_size,
  );
  let objHit = 0;
  let objN = 0;
  let allHit = 0;
  let allN = 0;
  let sizeHit = 0;
  let colorHit = 0;
  let shapeHit = 0;
  let sq = 0;
  for (let done = 0; done < scenes; done += 64) {
    const items = stream.take(Math.min(64, scenes - done));
    const labels = items.map((i) => patchLabels(i.scene, grid));
    const [obj, size, centre] = torch.tidy(() =>
      torch.noGrad(() => {
        const out = heads(vit, ph, items, cfg);
        return [
          out.object.argmax(-1).toArray() as number[],
          out.size.argmax(-1).toArray() as number[],
          out.centre.toArray() as number[],
        ] as const;
      }),
    );
    let k = 0;
    for (const l of labels)
      for (let p = 0; p < l.object.length; p++, k++) {
        const guess = Number(obj[k]);
        const hit = guess === l.object[p];
        allHit += hit ? 1 : 0;
        allN += 1;
        sizeHit += Number(size[k]) === l.size[p] ? 1 : 0;
        if (l.object[p] === BACKGROUND) continue;
        objHit += hit ? 1 : 0;
        objN += 1;
        if (guess !== BACKGROUND) {
          colorHit += Math.floor(guess / SHAPES.length) === Math.floor(l.object[p]! / SHAPES.length) ? 1 : 0;
          shapeHit += guess % SHAPES.length === l.object[p]! % SHAPES.length ? 1 : 0;
        }
        const [cx, cy] = l.centre[p]!;
        sq += (centre[2 * k]! - cx) ** 2 + (centre[2 * k + 1]! - cy) ** 2;
      }
  }
  return {
    object_patch_accuracy: objHit / Math.max(1, objN),
    color_accuracy: colorHit / Math.max(1, objN),
    shape_accuracy: shapeHit / Math.max(1, objN),
    all_patch_accuracy: allHit / Math.max(1, allN),
    size_accuracy: sizeHit / Math.max(1, allN),
    centre_rmse_px: Math.sqrt(sq / Math.max(1, 2 * objN)) * visionDims(cfg).imageSize,
    scenes,
  };
}
