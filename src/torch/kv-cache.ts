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
import type { DType } from './dtype.js';

/** A layer's keys (and values): [B, H, *, D] of `dtype` on `device`. */
export interface BufferSpec {
  B: number;
  H: number;
  D: number;
  dtype: DType;
  device: string;
}

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
    const [B, H, T, D] = k.shape as [number, number, number, number];
    const l = this.reserve(layer, { B, H, D, dtype: k.dtype, device: k.device }, T);
    const at = l.length;
    tidy(() => {
      l.k.narrow(2, at, T).copy_(k);
      l.v.narrow(2, at, T).copy_(v);
    });
    l.length += T;
    return { k: l.k.narrow(2, 0, l.length), v: l.v.narrow(2, 0, l.length) };
  }

  /**
   * For a step that writes the buffers itself (src/torch/functional.ts llamaDecodeLayer): `layer`'s buffers
   * [B, H, capacity, D] with room for `T` more positions, and `at`, where the new positions go.
   * `advance(layer, T)` then counts them in.
   */
  slot(layer: number, spec: BufferSpec, T: number): { kBuf: Tensor; vBuf: Tensor; at: number } {
    const l = this.reserve(layer, spec, T);
    return { kBuf: l.k, vBuf: l.v, at: l.length };
  }

  /** Counts `T` positions written into `layer`'s buffers after `slot`. */
  advance(layer: number, T: number): void {
    const l = this.layers[layer];
    if (!l || l.length + T > l.k.size(2))
      throw new Error(`KVCache.advance: layer ${layer} has no room reserved`);
    l.length += T;
  }

  /** The layer, grown when it has no room for `T` more positions. */
  private reserve(layer: number, spec: BufferSpec, T: number): Layer {
    const l = this.layers[layer];
    if (l && l.length + T <= l.k.size(2)) return l;
    return (this.layers[layer] = this.grow(l, spec, T));
  }

  /** A buffer with room for `T` more positions: the first one, or the old one's contents in one twice as long. */
  private grow(old: Layer | undefined, s: BufferSpec, T: number): Layer {
    const length = old?.length ?? 0;
    const capacity = Math.max(this.capacity, length + T, 2 * (old?.k.size(2) ?? 0));
    const buffer = () => empty([s.B, s.H, capacity, s.D], { dtype: s.dtype, device: s.device }).keep();
    const next: Layer = { k: buffer(), v: buffer(), length };
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
