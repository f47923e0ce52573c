/**
 * Greedy cosine matching between two sets of vectors, per batch row: the core of both BERTScore
 * (bertscore.ts) and the text-image matching reward (tim.ts).
 *
 * For row b with valid vectors a_1..a_n (aMask) and b_1..b_m (bMask):
 *   aToB = (1/n) sum_i max_j cos(a_i, b_j)      bToA = (1/m) sum_j max_i cos(b_j, a_i)
 * computed batched: unit-normalise, one bmm for all cosines, invalid pairs filled with -inf before the max,
 * masked means. A row with no valid a or no valid b gives NaN for both. Zero vectors have cosine 0 with
 * everything (normalised as x / max(|x|, 1e-12), like F.normalize). No gradients: a score, not a loss.
 */
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';

export interface GreedyMatch {
  /** Per row: mean over a of the best cosine in b (BERTScore's precision when a is the candidate). */
  aToB: number[];
  /** Per row: mean over b of the best cosine in a. */
  bToA: number[];
}

/** x / max(||x||, 1e-12) over the last dim, in float32. */
export function unitNormalize(x: Tensor): Tensor {
  return torch.tidy(() => {
    const xf = x.float();
    return xf.div(xf.pow(2).sum(-1, true).sqrt().clamp(1e-12));
  });
}

function checkShapes(a: Tensor, aMask: Tensor, b: Tensor, bMask: Tensor): void {
  const ok =
    a.ndim === 3 &&
    b.ndim === 3 &&
    a.size(0) === b.size(0) &&
    a.size(2) === b.size(2) &&
    aMask.shape.join(',') === a.shape.slice(0, 2).join(',') &&
    bMask.shape.join(',') === b.shape.slice(0, 2).join(',');
  if (!ok)
    throw new RangeError(
      `greedyCosineMatch: expects a [B, La, D], aMask [B, La], b [B, Lb, D], bMask [B, Lb]; got ` +
        `[${a.shape}], [${aMask.shape}], [${b.shape}], [${bMask.shape}]`,
    );
}

/** Greedy matching of a [B, La, D] (valid where aMask [B, La]) against b [B, Lb, D] (valid where bMask). */
export function greedyCosineMatch(a: Tensor, aMask: Tensor, b: Tensor, bMask: Tensor): GreedyMatch {
  checkShapes(a, aMask, b, bMask);
  const [na, nb, sumAB, sumBA] = torch.tidy(() =>
    torch.noGrad(() => {
      const am = aMask.bool();
      const bm = bMask.bool();
      const an = unitNormalize(a.detach());
      const bn = a === b ? an : unitNormalize(b.detach());
      const sim = an.bmm(bn.transpose(1, 2)); // [B, La, Lb]
      const pair = am.unsqueeze(2).logicalAnd(bm.unsqueeze(1));
      const masked = sim.maskedFill(pair.logicalNot(), -Infinity);
      const maxAB = masked.amax(2).maskedFill(am.logicalNot(), 0); // [B, La]
      const maxBA = masked.amax(1).maskedFill(bm.logicalNot(), 0); // [B, Lb]
      return [am.float().sum(1), bm.float().sum(1), maxAB.sum(1), maxBA.sum(1)].map((t) => t.toArray());
    }),
  ) as [number[], number[], number[], number[]];
  const ok = (i: number) => na[i]! > 0 && nb[i]! > 0;
  return {
    aToB: sumAB.map((s, i) => (ok(i) ? s / na[i]! : NaN)),
    bToA: sumBA.map((s, i) => (ok(i) ? s / nb[i]! : NaN)),
  };
}

/** Pads a list of [L_i, D] matrices to [B, max L, D] with zero rows, and the [B, max L] validity mask. */
export function padRows(mats: readonly Tensor[]): { x: Tensor; mask: Tensor } {
  if (mats.length === 0) throw new RangeError('padRows: no matrices');
  const D = mats[0]!.size(-1);
  const L = Math.max(1, ...mats.map((m) => m.size(0)));
  return torch.tidy(() => {
    const rows = mats.map((m, i) => {
      if (m.ndim !== 2 || m.size(1) !== D)
        throw new RangeError(`padRows: matrix ${i} has shape [${m.shape}], expected [L, ${D}]`);
      const f = m.detach().float();
      return m.size(0) === L ? f : torch.cat([f, torch.zeros([L - m.size(0), D], { device: f.device })], 0);
    });
    const mask = new Uint8Array(mats.length * L);
    mats.forEach((m, i) => mask.fill(1, i * L, i * L + m.size(0)));
    const device = mats[0]!.device;
    return {
      x: torch.stack(rows, 0),
      mask: torch.tensor(mask, { shape: [mats.length, L], dtype: 'bool', device }),
    };
  });
}
