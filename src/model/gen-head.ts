/**
 * Janus's `VisionHead`, the ULM's `gen_head`: output_mlp_projector (n_embed -> image_token_embed), exact GELU,
 * vision_head (-> image_token_size logits over the VQ codebook).
 */
import * as torch from '../torch/index.js';
import { nn, type Tensor } from '../torch/index.js';

export class VisionHead extends nn.Module {
  readonly output_mlp_projector: nn.Linear;
  readonly vision_head: nn.Linear;
  constructor(
    p: { n_embed: number; image_token_embed: number; image_token_size: number },
    opts: { generator?: torch.Generator } = {},
  ) {
    super();
    const g = opts.generator;
    this.output_mlp_projector = this.child(
      'output_mlp_projector',
      new nn.Linear(p.n_embed, p.image_token_embed, { generator: g }),
    );
    this.vision_head = this.child(
      'vision_head',
      new nn.Linear(p.image_token_embed, p.image_token_size, { generator: g }),
    );
  }
  /** hidden [..., n_embed] -> logits [..., image_token_size] */
  forward(x: Tensor): Tensor {
    return torch.tidy(() => this.vision_head.forward(this.output_mlp_projector.forward(x).gelu()));
  }
}
