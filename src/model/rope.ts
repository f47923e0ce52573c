/**
 * Rotary position embeddings as in Hugging Face's Llama (the "rotate_half" layout Janus checkpoints use):
 * inv_freq_i = theta^(-2i/d), angles = position * inv_freq duplicated to d dims, and
 * x' = x * cos + rotate_half(x) * sin with rotate_half([x1, x2]) = [-x2, x1].
 */
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';

/** cos and sin [B, 1, T, headDim] for integer positions [B, T]. */
export function ropeCosSin(positions: Tensor, headDim: number, theta: number): { cos: Tensor; sin: Tensor } {
  return torch.tidy(() => {
    const inv = new Float32Array(headDim / 2);
    for (let i = 0; i < headDim / 2; i++) inv[i] = 1 / theta ** ((2 * i) / headDim);
    const freqs = positions
      .float()
      .unsqueeze(-1)
      .mul(torch.tensor(inv, { device: positions.device })); // [B, T, d/2]
    const emb = torch.cat([freqs, freqs], -1).unsqueeze(1); // [B, 1, T, d]
    return { cos: emb.cos(), sin: emb.sin() };
  });
}

/** Applies the rotation to x [B, H, T, headDim]. */
export function applyRope(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  return torch.tidy(() => {
    const half = x.size(-1) / 2;
    const x1 = x.narrow(-1, 0, half);
    const x2 = x.narrow(-1, half, half);
    const rotated = torch.cat([x2.neg(), x1], -1);
    const c = cos.dtype === x.dtype ? cos : cos.to(x.dtype);
    const s = sin.dtype === x.dtype ? sin : sin.to(x.dtype);
    return x.mul(c).add(rotated.mul(s));
  });
}
