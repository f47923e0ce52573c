/**
 * A per-layer key/value cache for incremental decoding. Keys and values are stored before grouped-query
 * expansion, as [B, kvHeads, S, headDim]. The cache owns its tensors (outside every tidy scope): `append`
 * replaces a layer's tensors with their concatenation with the new positions, and `dispose` frees them all.
 */
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';

export class KVCache {
  private readonly layers: ({ k: Tensor; v: Tensor } | undefined)[] = [];

  /** Positions cached so far (the key length of layer 0). */
  get length(): number {
    return this.layers[0]?.k.size(2) ?? 0;
  }

  /** Appends new keys/values [B, kvHeads, T, headDim] to `layer`; returns the full cached k and v. */
  append(layer: number, k: Tensor, v: Tensor): { k: Tensor; v: Tensor } {
    const old = this.layers[layer];
    const next = old
      ? { k: torch.cat([old.k, k], 2).keep(), v: torch.cat([old.v, v], 2).keep() }
      : { k: k.contiguous().keep(), v: v.contiguous().keep() };
    if (old) {
      old.k.dispose();
      old.v.dispose();
    }
    this.layers[layer] = next;
    return next;
  }

  dispose(): void {
    for (const l of this.layers) {
      l?.k.dispose();
      l?.v.dispose();
    }
    this.layers.length = 0;
  }
}
