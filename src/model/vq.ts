/**
 * The generation tokenizer: Janus's VQ-16 (janus/models/vq_model.py) for any size. Conv encoder -> quant_conv
 * -> L2-normalised nearest-codebook lookup -> post_quant_conv -> conv decoder. ResnetBlocks use GroupNorm
 * (eps 1e-6) + Swish; downsampling pads right/bottom by one then convolves 3x3 with stride 2; upsampling is
 * nearest x2 then a 3x3 conv; attention blocks sit in the mid section and at the lowest resolution when
 * `use_attn` (always in Janus). Names follow Janus: gen_vision_model.{encoder, decoder}.{conv_in,
 * conv_blocks.L.{res.J, attn.J, downsample|upsample}, mid.{0,1,2}, norm_out, conv_out}, quantize.embedding,
 * quantize.codebook_used (a buffer when codebook_show_usage; Janus never updates it and neither does corl),
 * quant_conv, post_quant_conv. Without attention the mid blocks keep Janus's indexes (mid.0, mid.2).
 * Departure: the entropy loss (ratio 0 in Janus) is not implemented.
 */
import * as torch from '../torch/index.js';
import { nn, F, type Tensor } from '../torch/index.js';
import type { ULMConfig } from './config.js';

type Params = ULMConfig['gen_vision_config']['params'];
type Init = { generator?: torch.Generator };

/** A container whose children are named by the caller (Janus's nn.Module() / ModuleList with gaps). */
class Named extends nn.Module {
  add<M extends nn.Module>(name: string, m: M): M {
    return this.child(name, m);
  }
}

const conv = (i: number, o: number, k: number, init: Init, stride = 1, padding = k === 3 ? 1 : 0) =>
  new nn.Conv2d(i, o, k, { stride, padding, generator: init.generator });

class ResnetBlock extends nn.Module {
  readonly norm1: nn.GroupNorm;
  readonly conv1: nn.Conv2d;
  readonly norm2: nn.GroupNorm;
  readonly conv2: nn.Conv2d;
  readonly nin_shortcut: nn.Conv2d | null;
  constructor(inCh: number, outCh: number, groups: number, init: Init) {
    super();
    this.norm1 = this.child('norm1', new nn.GroupNorm(groups, inCh, 1e-6));
    this.conv1 = this.child('conv1', conv(inCh, outCh, 3, init));
    this.norm2 = this.child('norm2', new nn.GroupNorm(groups, outCh, 1e-6));
    this.conv2 = this.child('conv2', conv(outCh, outCh, 3, init));
    this.nin_shortcut = inCh !== outCh ? this.child('nin_shortcut', conv(inCh, outCh, 1, init)) : null;
  }
  forward(x: Tensor): Tensor {
    return torch.tidy(() => {
      const h = this.conv2.forward(
        this.norm2.forward(this.conv1.forward(this.norm1.forward(x).silu())).silu(),
      );
      return (this.nin_shortcut ? this.nin_shortcut.forward(x) : x).add(h);
    });
  }
}

class AttnBlock extends nn.Module {
  readonly norm: nn.GroupNorm;
  readonly q: nn.Conv2d;
  readonly k: nn.Conv2d;
  readonly v: nn.Conv2d;
  readonly proj_out: nn.Conv2d;
  constructor(ch: number, groups: number, init: Init) {
    super();
    this.norm = this.child('norm', new nn.GroupNorm(groups, ch, 1e-6));
    this.q = this.child('q', conv(ch, ch, 1, init));
    this.k = this.child('k', conv(ch, ch, 1, init));
    this.v = this.child('v', conv(ch, ch, 1, init));
    this.proj_out = this.child('proj_out', conv(ch, ch, 1, init));
  }
  /** Single-head self-attention over the h*w positions, scale c^-0.5, residual. */
  forward(x: Tensor): Tensor {
    return torch.tidy(() => {
      const [b, c, h, w] = x.shape as [number, number, number, number];
      const n = this.norm.forward(x);
      const q = this.q
        .forward(n)
        .reshape([b, c, h * w])
        .permute([0, 2, 1]); // [b, hw, c]
      const k = this.k.forward(n).reshape([b, c, h * w]); // [b, c, hw]
      const v = this.v.forward(n).reshape([b, c, h * w]);
      const att = q
        .bmm(k)
        .mul(c ** -0.5)
        .softmax(2); // [b, hw_q, hw_k]
      const out = v.bmm(att.permute([0, 2, 1])).reshape([b, c, h, w]);
      return x.add(this.proj_out.forward(out));
    });
  }
}

class Downsample extends nn.Module {
  readonly conv: nn.Conv2d;
  constructor(ch: number, init: Init) {
    super();
    this.conv = this.child('conv', conv(ch, ch, 3, init, 2, 0));
  }
  /** Zero-pad one column right and one row bottom, then a stride-2 3x3 conv (Janus's asymmetric padding). */
  forward(x: Tensor): Tensor {
    return torch.tidy(() => {
      const [b, c, h, w] = x.shape as [number, number, number, number];
      const like = { dtype: x.dtype, device: x.device };
      const right = torch.cat([x, torch.zeros([b, c, h, 1], like)], 3);
      const padded = torch.cat([right, torch.zeros([b, c, 1, w + 1], like)], 2);
      return this.conv.forward(padded);
    });
  }
}

class Upsample extends nn.Module {
  readonly conv: nn.Conv2d;
  constructor(ch: number, init: Init) {
    super();
    this.conv = this.child('conv', conv(ch, ch, 3, init));
  }
  forward(x: Tensor): Tensor {
    return torch.tidy(() => this.conv.forward(F.upsampleNearest2d(x, [x.size(2) * 2, x.size(3) * 2])));
  }
}

/** One resolution level: res blocks, optional attention after each, optional resampling. */
class Level extends nn.Module {
  readonly res: nn.ModuleList<ResnetBlock>;
  readonly attn: nn.ModuleList<AttnBlock>;
  resample: Downsample | Upsample | null = null;
  constructor(res: ResnetBlock[], attn: AttnBlock[]) {
    super();
    this.res = this.child('res', new nn.ModuleList(res));
    this.attn = this.child('attn', new nn.ModuleList(attn));
  }
  setResample(name: 'downsample' | 'upsample', m: Downsample | Upsample): void {
    this.resample = this.child(name, m);
  }
  forward(x: Tensor): Tensor {
    return torch.tidy(() => {
      let h = x;
      this.res.items.forEach((r, i) => {
        h = r.forward(h);
        if (this.attn.length > 0) h = this.attn.at(i).forward(h);
      });
      return this.resample ? this.resample.forward(h) : h;
    });
  }
}

/** The mid section: Resnet, Attn (if used), Resnet under Janus's indexes 0, 1, 2. */
function midBlocks(ch: number, p: Params, init: Init): { module: Named; run: nn.Module[] } {
  const mid = new Named();
  const run: nn.Module[] = [mid.add('0', new ResnetBlock(ch, ch, p.norm_groups, init))];
  if (p.use_attn) run.push(mid.add('1', new AttnBlock(ch, p.norm_groups, init)));
  run.push(mid.add('2', new ResnetBlock(ch, ch, p.norm_groups, init)));
  return { module: mid, run };
}

const runAll = (mods: nn.Module[], x: Tensor): Tensor => {
  let h = x;
  for (const m of mods) h = (m as ResnetBlock).forward(h);
  return h;
};

class Encoder extends nn.Module {
  readonly conv_in: nn.Conv2d;
  readonly conv_blocks: nn.ModuleList<Level>;
  private readonly midRun: nn.Module[];
  readonly norm_out: nn.GroupNorm;
  readonly conv_out: nn.Conv2d;
  constructor(p: Params, init: Init) {
    super();
    const { ch, ch_mult: mult, norm_groups: g } = p;
    this.conv_in = this.child('conv_in', conv(3, ch, 3, init));
    const levels: Level[] = [];
    let blockIn = ch;
    mult.forEach((m, i) => {
      const res: ResnetBlock[] = [];
      const attn: AttnBlock[] = [];
      const last = i === mult.length - 1;
      for (let j = 0; j < p.num_res_blocks; j++) {
        res.push(new ResnetBlock(blockIn, ch * m, g, init));
        blockIn = ch * m;
        if (last && p.use_attn) attn.push(new AttnBlock(blockIn, g, init));
      }
      const level = new Level(res, attn);
      if (!last) level.setResample('downsample', new Downsample(blockIn, init));
      levels.push(level);
    });
    this.conv_blocks = this.child('conv_blocks', new nn.ModuleList(levels));
    const mid = midBlocks(blockIn, p, init);
    this.child('mid', mid.module);
    this.midRun = mid.run;
    this.norm_out = this.child('norm_out', new nn.GroupNorm(g, blockIn, 1e-6));
    this.conv_out = this.child('conv_out', conv(blockIn, p.z_channels, 3, init));
  }
  forward(x: Tensor): Tensor {
    return torch.tidy(() => {
      let h = this.conv_in.forward(x);
      for (const level of this.conv_blocks) h = level.forward(h);
      h = runAll(this.midRun, h);
      return this.conv_out.forward(this.norm_out.forward(h).silu());
    });
  }
}

class Decoder extends nn.Module {
  readonly conv_in: nn.Conv2d;
  private readonly midRun: nn.Module[];
  readonly conv_blocks: nn.ModuleList<Level>;
  readonly norm_out: nn.GroupNorm;
  readonly conv_out: nn.Conv2d;
  constructor(p: Params, init: Init) {
    super();
    const { ch, ch_mult: mult, norm_groups: g } = p;
    let blockIn = ch * mult[mult.length - 1]!;
    this.conv_in = this.child('conv_in', conv(p.z_channels, blockIn, 3, init));
    const mid = midBlocks(blockIn, p, init);
    this.child('mid', mid.module);
    this.midRun = mid.run;
    const levels: Level[] = [];
    for (let i = mult.length - 1; i >= 0; i--) {
      const res: ResnetBlock[] = [];
      const attn: AttnBlock[] = [];
      for (let j = 0; j < p.num_res_blocks + 1; j++) {
        res.push(new ResnetBlock(blockIn, ch * mult[i]!, g, init));
        blockIn = ch * mult[i]!;
        if (i === mult.length - 1 && p.use_attn) attn.push(new AttnBlock(blockIn, g, init));
      }
      const level = new Level(res, attn);
      if (i !== 0) level.setResample('upsample', new Upsample(blockIn, init));
      levels.push(level);
    }
    this.conv_blocks = this.child('conv_blocks', new nn.ModuleList(levels));
    this.norm_out = this.child('norm_out', new nn.GroupNorm(g, blockIn, 1e-6));
    this.conv_out = this.child('conv_out', conv(blockIn, 3, 3, init));
  }
  forward(z: Tensor): Tensor {
    return torch.tidy(() => {
      let h = runAll(this.midRun, this.conv_in.forward(z));
      for (const level of this.conv_blocks) h = level.forward(h);
      return this.conv_out.forward(this.norm_out.forward(h).silu());
    });
  }
}

/** x / max(||x||_2, 1e-12) over the last dim (F.normalize). */
function l2normalize(x: Tensor): Tensor {
  return torch.tidy(() => x.div(x.pow(2).sum(-1, true).sqrt().clamp(1e-12)));
}

class VectorQuantizer extends nn.Module {
  readonly embedding: nn.Embedding;
  constructor(
    readonly p: Params,
    readonly dim: number,
    init: Init,
  ) {
    super();
    const n = p.image_token_size;
    this.embedding = this.child('embedding', new nn.Embedding(n, dim, init));
    torch.noGrad(() =>
      torch.tidy(() => {
        const w = this.embedding.weight;
        w.uniform_(-1 / n, 1 / n, init.generator);
        if (p.codebook_l2_norm) w.copy_(l2normalize(w));
      }),
    );
    if (p.codebook_show_usage) this.buffer('codebook_used', torch.zeros([65536]));
  }
  /** The codebook as used for lookup (L2-normalised when configured), [n, dim]. */
  codebook(): Tensor {
    return this.p.codebook_l2_norm ? l2normalize(this.embedding.weight) : this.embedding.weight.clone();
  }
  /**
   * z [B, C, h, w] -> nearest codes [B, h*w], the straight-through quantised z [B, C, h, w] and the losses
   * (codebook: mean (zq - sg(z))^2; commitment: beta * mean (sg(zq) - z)^2), z L2-normalised first if configured.
   */
  forward(z: Tensor): { zq: Tensor; codes: Tensor; codebookLoss: Tensor; commitLoss: Tensor } {
    return torch.tidy(() => {
      const [B, C, h, w] = z.shape as [number, number, number, number];
      let zz = z.permute([0, 2, 3, 1]).contiguous(); // [B, h, w, C]
      if (this.p.codebook_l2_norm) zz = l2normalize(zz);
      const flat = zz.reshape([B * h * w, C]);
      const emb = this.codebook();
      const d = flat.pow(2).sum(1, true).add(emb.pow(2).sum(1)).sub(flat.matmul(emb.t()).mul(2));
      const idx = d.min(1).indices;
      const q = emb.indexSelect(0, idx).view([B, h, w, C]);
      const codebookLoss = q.sub(zz.detach()).pow(2).mean();
      const commitLoss = q.detach().sub(zz).pow(2).mean().mul(this.p.commit_loss_beta);
      const st = zz.add(q.sub(zz).detach()); // straight-through: forward q, gradient to z
      return { zq: st.permute([0, 3, 1, 2]), codes: idx.view([B, h * w]), codebookLoss, commitLoss };
    });
  }
  /** codes [B, h*w] -> codebook vectors [B, C, h, w] (Janus get_codebook_entry, channel first). */
  lookup(codes: Tensor, h: number, w: number): Tensor {
    return torch.tidy(() => {
      const B = codes.size(0);
      const emb = this.codebook();
      return emb
        .indexSelect(0, codes.to(emb.device).reshape([-1]))
        .view([B, h, w, this.dim])
        .permute([0, 3, 1, 2])
        .contiguous();
    });
  }
}

export interface VQForward {
  /** Raw decoder output [B, 3, H, W] (not clamped). */
  recon: Tensor;
  codes: Tensor;
  codebookLoss: Tensor;
  commitLoss: Tensor;
}

export class VQModel extends nn.Module {
  readonly encoder: Encoder;
  readonly decoder: Decoder;
  readonly quantize: VectorQuantizer;
  readonly quant_conv: nn.Conv2d;
  readonly post_quant_conv: nn.Conv2d;
  readonly codeDim: number;
  /** The code grid side: image_size / 2^(levels - 1). */
  readonly grid: number;
  constructor(
    readonly params: Params,
    init: Init = {},
  ) {
    super();
    this.codeDim = params.codebook_embed_dim ?? params.n_embed;
    this.grid = params.image_size / 2 ** (params.ch_mult.length - 1);
    this.encoder = this.child('encoder', new Encoder(params, init));
    this.decoder = this.child('decoder', new Decoder(params, init));
    this.quantize = this.child('quantize', new VectorQuantizer(params, this.codeDim, init));
    this.quant_conv = this.child('quant_conv', conv(params.z_channels, this.codeDim, 1, init));
    this.post_quant_conv = this.child('post_quant_conv', conv(this.codeDim, params.z_channels, 1, init));
  }

  /** The encoder's input in the model's dtype. */
  private input(images: Tensor): Tensor {
    const w = this.encoder.conv_in.weight;
    const onDevice = images.to(w.device);
    return onDevice.dtype === w.dtype ? onDevice : onDevice.to(w.dtype);
  }

  /** Training forward: images [B, 3, H, W] in [-1, 1] -> reconstruction, codes and the two VQ losses. */
  forward(images: Tensor): VQForward {
    return torch.tidy(() => {
      const q = this.quantize.forward(this.quant_conv.forward(this.encoder.forward(this.input(images))));
      const recon = this.decoder.forward(this.post_quant_conv.forward(q.zq));
      return { recon, codes: q.codes, codebookLoss: q.codebookLoss, commitLoss: q.commitLoss };
    });
  }

  /** images [B, 3, H, W] in [-1, 1] -> codes [B, h*w] (int64, row-major over the grid). */
  encode(images: Tensor): Tensor {
    return torch.tidy(
      () => this.quantize.forward(this.quant_conv.forward(this.encoder.forward(this.input(images)))).codes,
    );
  }

  /** codes [B, h*w] -> images [B, 3, H, W] clamped to [-1, 1] (Janus decode_code, then its clip). */
  decode(codes: Tensor): Tensor {
    return torch.tidy(() => {
      const z = this.quantize.lookup(codes, this.grid, this.grid);
      return this.decoder.forward(this.post_quant_conv.forward(z)).clamp(-1, 1);
    });
  }
}
