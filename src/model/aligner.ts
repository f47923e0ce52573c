/**
 * Janus's `MlpProjector` with projector_type "mlp_gelu": Linear(input_dim, n_embed), then (depth - 1) times
 * GELU + Linear(n_embed, n_embed), held in `layers` as nn.Sequential indexes them (Linears at 0, 2, 4, ...).
 * Used for both `aligner` (ViT -> LLM) and `gen_aligner` (gen_embed -> LLM).
 */
import * as torch from '../torch/index.js';
import { nn, type Tensor } from '../torch/index.js';

export interface MlpProjectorParams {
  depth: number;
  input_dim: number;
  n_embed: number;
}

/** A Sequential-like container: children named by their position ("0", "2", ...); GELUs hold no weights. */
class Layers extends nn.Module {
  readonly linears: nn.Linear[] = [];
  constructor(p: MlpProjectorParams, generator?: torch.Generator) {
    super();
    for (let i = 0; i < p.depth; i++) {
      const lin = new nn.Linear(i === 0 ? p.input_dim : p.n_embed, p.n_embed, { generator });
      this.linears.push(this.child(String(2 * i), lin));
    }
  }
}

export class MlpProjector extends nn.Module {
  readonly layers: Layers;
  constructor(p: MlpProjectorParams, opts: { generator?: torch.Generator } = {}) {
    super();
    this.layers = this.child('layers', new Layers(p, opts.generator));
  }
  /** x [..., input_dim] -> [..., n_embed]; exact (erf) GELU between the linears, as nn.GELU(). */
  forward(x: Tensor): Tensor {
    return torch.tidy(() => {
      let h = x;
      this.layers.linears.forEach((lin, i) => {
        h = lin.forward(i === 0 ? h : h.gelu());
      });
      return h;
    });
  }
}
