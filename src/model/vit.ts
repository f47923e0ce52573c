/**
 * The understanding encoder: Janus's `CLIPVisionTower` wrapping a timm/SigLIP `VisionTransformer`
 * (janus/models/siglip_vit.py): conv patch embedding (with bias), learned absolute `pos_embed` [1, N, W] and
 * no class token, pre-LayerNorm blocks (eps 1e-6, qkv with bias, exact GELU MLP), a final `norm`, output
 * [B, N, W]. Names: vision_model.vision_tower.{patch_embed.proj, pos_embed, blocks.N.{norm1, attn.qkv,
 * attn.proj, norm2, mlp.fc1, mlp.fc2}, norm}. The attention-pool head (`attn_pool.*`, global_pool "map") is
 * never run by Janus (ignore_head=True); its weights are carried through checkpoints untouched (checkpoint.ts).
 */
import * as torch from '../torch/index.js';
import { nn, type Tensor } from '../torch/index.js';
import type { VisionDims } from './config.js';

const EPS = 1e-6;
type Init = { generator?: torch.Generator };

class PatchEmbed extends nn.Module {
  readonly proj: nn.Conv2d;
  constructor(d: VisionDims, o: Init) {
    super();
    this.proj = this.child(
      'proj',
      new nn.Conv2d(3, d.width, d.patchSize, { stride: d.patchSize, generator: o.generator }),
    );
  }
  /** [B, 3, H, W] -> [B, N, width] */
  forward(x: Tensor): Tensor {
    return torch.tidy(() => this.proj.forward(x).flatten(2).transpose(1, 2));
  }
}

class Attention extends nn.Module {
  readonly qkv: nn.Linear;
  readonly proj: nn.Linear;
  constructor(
    readonly width: number,
    readonly heads: number,
    o: Init,
  ) {
    super();
    this.qkv = this.child('qkv', new nn.Linear(width, 3 * width, { generator: o.generator }));
    this.proj = this.child('proj', new nn.Linear(width, width, { generator: o.generator }));
  }
  /** Full (non-causal) multi-head attention over the patches. */
  forward(x: Tensor): Tensor {
    return torch.tidy(() => {
      const [B, N, C] = x.shape as [number, number, number];
      const Dh = C / this.heads;
      const qkv = this.qkv.forward(x).reshape([B, N, 3, this.heads, Dh]).permute([2, 0, 3, 1, 4]);
      const [q, k, v] = [qkv.select(0, 0), qkv.select(0, 1), qkv.select(0, 2)] as [Tensor, Tensor, Tensor];
      const att = q
        .matmul(k.transpose(-2, -1))
        .mul(1 / Math.sqrt(Dh))
        .softmax(-1);
      return this.proj.forward(att.matmul(v).transpose(1, 2).reshape([B, N, C]));
    });
  }
}

class Mlp extends nn.Module {
  readonly fc1: nn.Linear;
  readonly fc2: nn.Linear;
  constructor(width: number, hidden: number, o: Init) {
    super();
    this.fc1 = this.child('fc1', new nn.Linear(width, hidden, { generator: o.generator }));
    this.fc2 = this.child('fc2', new nn.Linear(hidden, width, { generator: o.generator }));
  }
  forward(x: Tensor): Tensor {
    return torch.tidy(() => this.fc2.forward(this.fc1.forward(x).gelu()));
  }
}

class Block extends nn.Module {
  readonly norm1: nn.LayerNorm;
  readonly attn: Attention;
  readonly norm2: nn.LayerNorm;
  readonly mlp: Mlp;
  constructor(d: VisionDims, o: Init) {
    super();
    this.norm1 = this.child('norm1', new nn.LayerNorm(d.width, EPS));
    this.attn = this.child('attn', new Attention(d.width, d.heads, o));
    this.norm2 = this.child('norm2', new nn.LayerNorm(d.width, EPS));
    // timm: hidden_features = int(dim * mlp_ratio)
    this.mlp = this.child('mlp', new Mlp(d.width, Math.trunc(d.width * d.mlpRatio), o));
  }
  forward(x: Tensor): Tensor {
    return torch.tidy(() => {
      const h = x.add(this.attn.forward(this.norm1.forward(x)));
      return h.add(this.mlp.forward(this.norm2.forward(h)));
    });
  }
}

export class VisionTransformer extends nn.Module {
  readonly patch_embed: PatchEmbed;
  readonly pos_embed: Tensor;
  readonly blocks: nn.ModuleList<Block>;
  readonly norm: nn.LayerNorm;
  constructor(
    readonly dims: VisionDims,
    o: Init = {},
  ) {
    super();
    this.patch_embed = this.child('patch_embed', new PatchEmbed(dims, o));
    this.pos_embed = this.param(
      'pos_embed',
      torch.tidy(() => torch.randn([1, dims.numPatches, dims.width], o).mul(0.02)),
    );
    this.blocks = this.child(
      'blocks',
      new nn.ModuleList(Array.from({ length: dims.layers }, () => new Block(dims, o))),
    );
    this.norm = this.child('norm', new nn.LayerNorm(dims.width, EPS));
  }
  /** Normalised pixels [B, 3, H, W] -> patch features [B, N, width]. */
  forward(x: Tensor): Tensor {
    return torch.tidy(() => {
      const w = this.patch_embed.proj.weight;
      let h = this.patch_embed.forward(x.dtype === w.dtype ? x : x.to(w.dtype)).add(this.pos_embed);
      for (const b of this.blocks) h = b.forward(h);
      return this.norm.forward(h);
    });
  }
}

/** Janus's CLIPVisionTower: only holds `vision_tower` (pixel normalisation happens in preprocess.ts). */
export class CLIPVisionTower extends nn.Module {
  readonly vision_tower: VisionTransformer;
  constructor(dims: VisionDims, o: Init = {}) {
    super();
    this.vision_tower = this.child('vision_tower', new VisionTransformer(dims, o));
  }
  forward(x: Tensor): Tensor {
    return this.vision_tower.forward(x);
  }
}
