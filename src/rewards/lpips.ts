/**
 * LPIPS (Zhang et al. 2018, "The Unreasonable Effectiveness of Deep Features as a Perceptual Metric"): a conv
 * feature extractor tapped at several depths; at each tap the features are unit-normalised over channels,
 * their squared difference is weighted per channel by a learned non-negative 1x1 "linear" layer, averaged over
 * positions; the distance is the sum over taps. LPIPS(x, x) = 0, symmetric, >= 0.
 *
 * Input: [N, 3, H, W] in [0, 1]; like `lpips.LPIPS(normalize=True)` it is mapped to [-1, 1] and then through
 * the scaling layer (x - shift) / scale with LPIPS's ImageNet constants.
 *
 * Weights come from a safetensors file (`loadLpips`) whose metadata key `lpips` holds the architecture as JSON
 * (`LpipsConfig`). Tensor names follow the official code so converted real weights load unchanged:
 * `lin{k}.model.1.weight` [1, C_k, 1, 1] for tap k, as in the official `weights/v0.1/{alex,vgg}.pth`, and
 * `net.features.{i}.weight|bias` for the conv at position i of torchvision's `features` Sequential (ReLU and
 * pooling positions count, as in torchvision's own `features.{i}` names), prefixed `net.`.
 * `ALEXNET_LPIPS` and `VGG16_LPIPS` describe the two real networks; no pretrained weights ship with corl (none
 * can be downloaded here), so tests build a tiny random network with `createLpips` and `saveLpips`.
 */
import * as torch from '../torch/index.js';
import { nn, type Tensor } from '../torch/index.js';
import { UserError } from '../util/errors.js';

export type LpipsOp =
  | { type: 'conv'; in: number; out: number; kernel: number; stride?: number; padding?: number }
  | { type: 'relu' }
  | { type: 'maxpool'; kernel: number; stride?: number }
  | { type: 'avgpool'; kernel: number; stride?: number };

export interface LpipsConfig {
  /** torchvision's `features` Sequential, position by position. */
  features: LpipsOp[];
  /** Positions in `features` whose output is compared (after the op at that position). */
  taps: number[];
  /** Scaling-layer constants (default LPIPS's ImageNet shift / scale). */
  shift?: [number, number, number];
  scale?: [number, number, number];
}

export const LPIPS_SHIFT: [number, number, number] = [-0.03, -0.088, -0.188];
export const LPIPS_SCALE: [number, number, number] = [0.458, 0.448, 0.45];
/** Feature normalisation epsilon of the official `normalize_tensor`. */
const NORM_EPS = 1e-10;

const conv = (i: number, o: number, kernel: number, stride = 1, padding = 0): LpipsOp => ({
  type: 'conv',
  in: i,
  out: o,
  kernel,
  stride,
  padding,
});
const relu: LpipsOp = { type: 'relu' };

/** LPIPS-alex: torchvision alexnet.features, taps relu1..relu5. */
export const ALEXNET_LPIPS: LpipsConfig = {
  features: [
    conv(3, 64, 11, 4, 2),
    relu,
    { type: 'maxpool', kernel: 3, stride: 2 },
    conv(64, 192, 5, 1, 2),
    relu,
    { type: 'maxpool', kernel: 3, stride: 2 },
    conv(192, 384, 3, 1, 1),
    relu,
    conv(384, 256, 3, 1, 1),
    relu,
    conv(256, 256, 3, 1, 1),
    relu,
  ],
  taps: [1, 4, 7, 9, 11],
};

function vggFeatures(): LpipsOp[] {
  const ops: LpipsOp[] = [];
  let c = 3;
  const blocks = [
    [64, 2],
    [128, 2],
    [256, 3],
    [512, 3],
    [512, 3],
  ] as const;
  for (const [width, n] of blocks) {
    if (ops.length > 0) ops.push({ type: 'maxpool', kernel: 2, stride: 2 });
    for (let i = 0; i < n; i++) {
      ops.push(conv(c, width, 3, 1, 1), relu);
      c = width;
    }
  }
  return ops;
}

/** LPIPS-vgg: torchvision vgg16.features up to relu5_3, taps relu1_2, relu2_2, relu3_3, relu4_3, relu5_3. */
export const VGG16_LPIPS: LpipsConfig = { features: vggFeatures(), taps: [3, 8, 15, 22, 29] };

/** Max pooling (no padding, floor mode) from strided slices: the engine has average pooling only. */
export function maxPool2d(x: Tensor, kernel: number, stride = kernel): Tensor {
  const [, , H, W] = x.shape as [number, number, number, number];
  const ho = Math.floor((H - kernel) / stride) + 1;
  const wo = Math.floor((W - kernel) / stride) + 1;
  if (ho < 1 || wo < 1) throw new RangeError(`maxPool2d: kernel ${kernel} does not fit a ${H}x${W} input`);
  return torch.tidy(() => {
    let out: Tensor | null = null;
    for (let dy = 0; dy < kernel; dy++)
      for (let dx = 0; dx < kernel; dx++) {
        const s = x
          .slice(2, dy, dy + stride * (ho - 1) + 1, stride)
          .slice(3, dx, dx + stride * (wo - 1) + 1, stride);
        out = out === null ? s : out.maximum(s);
      }
    return out!.contiguous();
  });
}

/** A module that only holds children under given names (the official nesting, for tensor names). */
class Holder extends nn.Module {
  add<M extends nn.Module>(name: string, m: M): M {
    return this.child(name, m);
  }
}

/** One tap's 1x1 non-negative channel weights, registered as `model.1.weight` (the official name). */
class NetLinLayer extends nn.Module {
  readonly weight: Tensor;
  constructor(channels: number, generator?: torch.Generator) {
    super();
    const inner = this.child('model', new Holder());
    const w = new WeightParam(torch.rand([1, channels, 1, 1], { generator }));
    inner.add('1', w);
    this.weight = w.weight;
  }
}

class WeightParam extends nn.Module {
  readonly weight: Tensor;
  constructor(w: Tensor) {
    super();
    this.weight = this.param('weight', w);
  }
}

function validateConfig(cfg: LpipsConfig): void {
  let c = 3;
  cfg.features.forEach((op, i) => {
    if (op.type === 'conv') {
      if (op.in !== c) throw new UserError(`LPIPS config: conv at ${i} takes ${op.in} channels, gets ${c}`);
      c = op.out;
    } else if (!['relu', 'maxpool', 'avgpool'].includes(op.type)) {
      throw new UserError(`LPIPS config: unknown op ${JSON.stringify(op)} at ${i}`);
    }
  });
  if (
    cfg.taps.length === 0 ||
    cfg.taps.some((t) => !Number.isInteger(t) || t < 0 || t >= cfg.features.length)
  )
    throw new UserError(`LPIPS config: taps ${JSON.stringify(cfg.taps)} must be positions in features`);
}

/** The LPIPS distance network. `forward(x, y)` -> [N] distances (>= 0) for [N, 3, H, W] images in [0, 1]. */
export class LpipsNet extends nn.Module {
  readonly convs = new Map<number, nn.Conv2d>();
  readonly lins: NetLinLayer[] = [];
  private readonly shift: Tensor;
  private readonly scale: Tensor;

  constructor(
    readonly config: LpipsConfig,
    opts: { generator?: torch.Generator } = {},
  ) {
    super();
    validateConfig(config);
    const features = this.child('net', new Holder()).add('features', new Holder());
    let c = 3;
    config.features.forEach((op, i) => {
      if (op.type === 'conv') {
        const m = new nn.Conv2d(op.in, op.out, op.kernel, {
          stride: op.stride ?? 1,
          padding: op.padding ?? 0,
          generator: opts.generator,
        });
        this.convs.set(i, features.add(String(i), m));
        c = op.out;
      }
      if (config.taps.includes(i)) {
        const k = this.lins.length;
        this.lins.push(this.child(`lin${k}`, new NetLinLayer(c, opts.generator)));
      }
    });
    // constants, not part of the state dict (as the official ScalingLayer's buffers are not saved either)
    this.shift = torch.tensor(config.shift ?? LPIPS_SHIFT, { shape: [1, 3, 1, 1] }).keep();
    this.scale = torch.tensor(config.scale ?? LPIPS_SCALE, { shape: [1, 3, 1, 1] }).keep();
    this.eval();
    this.requiresGrad_(false);
  }

  /** The unit-normalised features at each tap, for [N, 3, H, W] input in [0, 1]. */
  private taps(x: Tensor): Tensor[] {
    let h = x.mul(2).sub(1).sub(this.shift).div(this.scale);
    const out: Tensor[] = [];
    this.config.features.forEach((op, i) => {
      if (op.type === 'conv') h = this.convs.get(i)!.forward(h);
      else if (op.type === 'relu') h = h.relu();
      else if (op.type === 'maxpool') h = maxPool2d(h, op.kernel, op.stride ?? op.kernel);
      else h = torch.F.avgPool2d(h, op.kernel, op.stride ?? op.kernel);
      if (this.config.taps.includes(i)) {
        const norm = h.pow(2).sum(1, true).sqrt();
        out.push(h.div(norm.add(NORM_EPS)));
      }
    });
    return out;
  }

  /** LPIPS distance per pair: sum over taps of mean over positions of sum_c w_c (f_x - f_y)^2 -> [N]. */
  forward(x: Tensor, y: Tensor): Tensor {
    if (x.ndim !== 4 || x.size(1) !== 3 || x.shape.join(',') !== y.shape.join(','))
      throw new RangeError(
        `LPIPS expects two [N, 3, H, W] tensors of one shape, got [${x.shape}] and [${y.shape}]`,
      );
    return torch.tidy(() =>
      torch.noGrad(() => {
        const fx = this.taps(x.float());
        const fy = this.taps(y.float());
        let d: Tensor | null = null;
        fx.forEach((a, k) => {
          const diff = a.sub(fy[k]!).pow(2);
          const weighted = torch.F.conv2d(diff, this.lins[k]!.weight); // [N, 1, h, w]
          const layer = weighted.mean([1, 2, 3]);
          d = d === null ? layer : d.add(layer);
        });
        return d!;
      }),
    );
  }

  override dispose(): void {
    super.dispose();
    this.shift.dispose();
    this.scale.dispose();
  }
}

/** A randomly initialised LPIPS network (for tests and for shape checks), lin weights uniform in [0, 1). */
export function createLpips(config: LpipsConfig, opts: { generator?: torch.Generator } = {}): LpipsNet {
  return new LpipsNet(config, opts);
}

/** Writes the network's weights, with its config in the `lpips` metadata key. */
export function saveLpips(net: LpipsNet, file: string): void {
  torch.safetensors.saveSafetensors(file, net.stateDict(), { lpips: JSON.stringify(net.config) });
}

/**
 * Loads an LPIPS network from a safetensors file. The architecture comes from the file's `lpips` metadata
 * (JSON `LpipsConfig`) or, for files converted without it, from `opts.config` (e.g. ALEXNET_LPIPS).
 * A missing file, missing config or mismatched tensor is a UserError.
 */
export function loadLpips(file: string, opts: { config?: LpipsConfig } = {}): LpipsNet {
  const { tensors, metadata } = torch.safetensors.loadSafetensors(file, { dtype: 'float32' });
  try {
    let config = opts.config;
    if (config === undefined) {
      const raw = metadata.lpips;
      if (raw === undefined)
        throw new UserError(
          `${file}: no "lpips" config in the safetensors metadata; pass one (e.g. ALEXNET_LPIPS)`,
        );
      try {
        config = JSON.parse(raw) as LpipsConfig;
      } catch (e) {
        throw new UserError(`${file}: the "lpips" metadata is not JSON (${(e as Error).message})`);
      }
    }
    const net = new LpipsNet(config);
    try {
      net.loadStateDict(tensors);
    } catch (e) {
      net.dispose();
      throw e instanceof UserError ? new UserError(`${file}: ${e.message}`) : e;
    }
    return net;
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}
