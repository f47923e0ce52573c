/**
 * Masks and positions for batches of LEFT-padded sequences (attention mask [B, S], 1 = real token).
 * Positions count real tokens only: position = cumsum(mask) - 1, clamped to 0 on the pads, so a row's first
 * real token is at position 0 whatever its padding (the fix of transformers PR #36053 for batched Janus).
 */
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';

/** Position ids [B, T] of the query positions past..past+T-1 under attentionMask [B, past+T]. */
export function positionIds(attentionMask: Tensor, past: number, T: number): Tensor {
  return torch.tidy(() => attentionMask.long().cumsum(1).sub(1).clamp(0).narrow(1, past, T));
}

/**
 * The blocked-attention mask [B, 1, T, S] (true = may not attend) for queries at past..past+T-1 over keys
 * 0..S-1 (S = past + T): a key is blocked when it lies in the future or is padding. A query always sees
 * itself, so padded query rows stay finite (their outputs are never used).
 */
export function blockedMask(attentionMask: Tensor, past: number, T: number): Tensor {
  return torch.tidy(() => {
    const S = attentionMask.size(1);
    const device = attentionMask.device;
    const keys = torch.arange(0, S, 1, { device }).unsqueeze(0); // [1, S]
    const queries = torch.arange(past, past + T, 1, { device }).unsqueeze(1); // [T, 1]
    const future = keys.gt(queries); // [T, S]
    const self = keys.eq(queries);
    const pad = attentionMask.eq(0).unsqueeze(1).unsqueeze(1); // [B, 1, 1, S]
    return future.logicalOr(pad.logicalAnd(self.logicalNot()));
  });
}
