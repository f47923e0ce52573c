/**
 * BERTScore-style text similarity (Zhang et al. 2020) as greedy matching of token embeddings, no idf weighting
 * and no baseline rescaling (as ULM-R1's torchmetrics call in v1 and its own greedy matcher in v2):
 *   P = (1/|c|) sum_{i in candidate} max_{j in reference} cos(c_i, r_j)
 *   R = (1/|r|) sum_{j in reference} max_{i in candidate} cos(r_j, c_i)
 *   F1 = 2PR / (P + R)
 * Reward form (decision): cosines of real encoders are mostly positive, but can be negative; the score used as
 * a reward is F1 when P > 0 and R > 0, else 0, clamped to [0, 1]. An empty text (no token rows) gives NaN.
 *
 * Token embeddings come from a `TokenEmbedder` the caller supplies (ULM-R1 v1: bert-base-uncased last layer
 * without [CLS]/[SEP]; v2: all-mpnet-base-v2 with special tokens). Which tokens are kept is the embedder's
 * choice: every row it returns counts.
 */
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { greedyCosineMatch, padRows } from './greedy-match.js';

/** Turns texts into per-token embedding matrices [L_i, D] (one per text; may be empty: L_i = 0). */
export interface TokenEmbedder {
  embed(texts: readonly string[]): Tensor[];
}

export interface BertScore {
  precision: number;
  recall: number;
  f1: number;
}

/** F1 from P and R as a reward in [0, 1]: 2PR / (P + R) when both are positive, else 0; NaN stays NaN. */
export function f1Reward(p: number, r: number): number {
  if (Number.isNaN(p) || Number.isNaN(r)) return NaN;
  if (p <= 0 || r <= 0) return 0;
  return Math.min(1, (2 * p * r) / (p + r));
}

/** BERTScore of candidate token embeddings [Lc, D] against reference token embeddings [Lr, D]. */
export function bertScore(candidate: Tensor, reference: Tensor): BertScore {
  return bertScoreBatch([candidate], [reference])[0]!;
}

/** BERTScore per pair, batched (padded to the longest text); f1 is the reward form (see the file comment). */
export function bertScoreBatch(candidates: readonly Tensor[], references: readonly Tensor[]): BertScore[] {
  if (candidates.length !== references.length)
    throw new RangeError(
      `bertScoreBatch: ${candidates.length} candidates but ${references.length} references`,
    );
  if (candidates.length === 0) return [];
  const m = torch.tidy(() => {
    const c = padRows(candidates);
    const r = padRows(references);
    return greedyCosineMatch(c.x, c.mask, r.x, r.mask);
  });
  return m.aToB.map((p, i) => {
    const r = m.bToA[i]!;
    return { precision: p, recall: r, f1: f1Reward(p, r) };
  });
}
