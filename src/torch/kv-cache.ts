/**
 * A per-layer key/value cache for incremental decoding. Keys and values are stored before grouped-query
 * expansion, as [B, kvHeads, S, headDim].
 *
 * Each layer keeps one preallocated buffer per k and v, [B, kvHeads, capacity, headDim], and writes new
 * positions into it in place: `append` copies the new keys/values after the cached ones and returns views of
 * the filled part. A growing cache (a `cat` of the old tensors with the new ones at every token) copies the
 * whole cache and allocates fresh memory at every step, which made it a quarter of the sampling time
 * (docs/distributed.md, "Sampling"). When a buffer is full it is reallocated at twice the size (amortised
 * O(1) per position), so `capacity` is a hint: the prompt length plus the new tokens avoids any regrowth.
 *
 * The cache owns its buffers (outside every tidy scope); the views it returns belong to the caller's scope.
 * `dispose` frees the buffers.
 */
import { empty } from './creation.js';
import { tidy } from './scope.js';
import type { Tensor } from './tensor.js';

interface Layer {
  k: Tensor; // [B, kvHeads, capacity, headDim]
  v: Tensor;
  length: number;
}

export class KVCache {
  private readonly layers: (Layer | undefined)[] = [];

  /** @param capacity positions to preallocate at the first append (default: what that append needs). */
  constructor(private readonly capacity = 0) {}

  /** Positions cached so far (in layer 0). */
  get length(): number {
    return this.layers[0]?.length ?? 0;
  }

  /** Appends new keys/values [B, kvHeads, T, headDim] to `layer`; returns views of the full cached k and v. */
  append(layer: number, k: Tensor, v: Tensor): { k: Tensor; v: Tensor } {
    const T = k.size(2);
    let l = this.layers[layer];
    if (!l || l.length + T > l.k.size(2)) l = this.layers[layer] = this.grow(l, k, v, T);
    const at = l.length;
    tidy(() => {
      l.k.narrow(2, at, T).copy_(k);
      l.v.narrow(2, at, T).copy_(v);
    });
    l.length += T;
    return { k: l.k.narrow(2, 0, l.length), v: l.v.narrow(2, 0, l.length) };
  }

  /** A buffer with room for `T` more positions: the first one, or the old one's contents in one twice as long. */
  private grow(old: Layer | undefined, k: Tensor, v: Tensor, T: number): Layer {
    const length = old?.length ?? 0;
    const capacity = Math.max(this.capacity, length + T, 2 * (old?.k.size(2) ?? 0));
    const buffer = (like: Tensor) => {
      const [B, H, , D] = like.shape as [number, number, number, number];
      return empty([B, H, capacity, D], { dtype: like.dtype, device: like.device }).keep();
    };
    const next: Layer = { k: buffer(k), v: buffer(v), length };
    if (old) {
      tidy(() => {
        next.k.narrow(2, 0, length).copy_(old.k.narrow(2, 0, length));
        next.v.narrow(2, 0, length).copy_(old.v.narrow(2, 0, length));
      });
      old.k.dispose();
      old.v.dispose();
    }
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
