/**
 * `t2i_bid_cycle_reward`: CoRL's bidirectional cycle-consistency reward, normalised to [0, 1] as the paper
 * states:
 *   reward = 0.5 * imageSide + 0.5 * textSide
 * - imageSide: similarity of the generated image to the example's real image (image-metrics.ts):
 *   1 - LPIPS with a loaded LPIPS network (the paper, ULM-R1 v1), else SSIM by default, or 1 - RMSE with
 *   `fallback: 'rmse'` (ULM-R1 v2's default).
 * - textSide: similarity of the prompt to a re-caption of the generated image. With a `TokenEmbedder`:
 *   BERTScore-style greedy-matching F1 (bertscore.ts; candidate = re-caption, reference = prompt; ULM-R1's
 *   released default). Without one: the SPICE-style scene-graph tuple F1 of the world's caption parser
 *   (the paper's SPICE; exact on the ShapesWorld grammar).
 * The re-caption is supplied by the caller in `ImageSample.recaption` (the trainer re-captions with the policy
 * itself, as ULM-R1 v2, or with an external captioner, as v1's BLIP).
 *
 * Missing sides (decision): a side that cannot be scored is NaN and the reward is the other side alone (its
 * weight renormalised to 1, consistent with the registry's 'rescale' policy); both missing -> NaN. A missing
 * re-caption is flagged in the metrics through the `text_side` part (NaN there -> rewards/.../text_side/nan_frac)
 * and the note. ULM-R1 v1 adds the two sides unnormalised (range [0, 2]); v2 averages its two text metrics.
 */
import { spiceF1 } from '../world/caption.js';
import { bertScoreBatch, type TokenEmbedder } from './bertscore.js';
import { imageMetricOf, imageSimilarity, type ImageSimilarityOptions } from './image-metrics.js';
import * as torch from '../torch/index.js';
import type { ImageBatch, ImageRewardFn, RewardOutput } from './types.js';

/** A text similarity in [0, 1] (or NaN): (prompt, re-caption) -> score. */
export type TextSimilarity = (prompt: string, recaption: string) => number;

export interface CycleOptions extends ImageSimilarityOptions {
  /** Token embedder for the BERTScore text side; without it the SPICE-style `spice` function is used. */
  encoder?: TokenEmbedder;
  /** SPICE-style text side (default `worldSpice`: the world caption parser's tuple F1). */
  spice?: TextSimilarity;
  /** Weight of the image side, the text side gets 1 - it (default 0.5, the paper's "normalised to [0, 1]"). */
  imageWeight?: number;
}

/**
 * The world's SPICE-style text side: tuple F1 (objects, attributes, counts, relations) of the re-caption
 * (candidate) against the prompt (reference), from src/world/caption.ts.
 */
export const worldSpice: TextSimilarity = (prompt, recaption) => spiceF1(recaption, prompt);

/**
 * The cycle combination of one sample: w * image + (1 - w) * text; one side NaN -> the other alone;
 * both NaN -> NaN.
 */
export function cycleCombine(imageSide: number, textSide: number, imageWeight = 0.5): number {
  const iOk = Number.isFinite(imageSide);
  const tOk = Number.isFinite(textSide);
  if (iOk && tOk) return imageWeight * imageSide + (1 - imageWeight) * textSide;
  if (iOk) return imageSide;
  if (tOk) return textSide;
  return NaN;
}

function clamp01(v: number): number {
  return Number.isNaN(v) ? NaN : v < 0 ? 0 : v > 1 ? 1 : v;
}

/** The text side per sample: NaN where the re-caption is missing. */
export function cycleTextSide(
  prompts: readonly string[],
  recaptions: readonly (string | undefined)[],
  opts: Pick<CycleOptions, 'encoder' | 'spice'>,
): number[] {
  const out = new Array<number>(prompts.length).fill(NaN);
  const idx = recaptions.flatMap((r, i) => (typeof r === 'string' ? [i] : []));
  if (idx.length === 0) return out;
  if (opts.encoder !== undefined) {
    const enc = opts.encoder;
    const scores = torch.tidy(() => {
      const cands = enc.embed(idx.map((i) => recaptions[i]!));
      const refs = enc.embed(idx.map((i) => prompts[i]!));
      return bertScoreBatch(cands, refs).map((s) => s.f1);
    });
    idx.forEach((i, j) => (out[i] = scores[j]!));
    return out;
  }
  const spice = opts.spice ?? worldSpice;
  for (const i of idx) out[i] = clamp01(spice(prompts[i]!, recaptions[i]!));
  return out;
}

/** The cycle reward (text side: BERTScore with `opts.encoder`, else `opts.spice`, default `worldSpice`). */
export function cycleReward(opts: CycleOptions): ImageRewardFn {
  const w = opts.imageWeight ?? 0.5;
  if (!(w >= 0 && w <= 1)) throw new RangeError(`cycle reward: imageWeight must be in [0, 1], got ${w}`);
  return {
    name: 't2i_bid_cycle_reward',
    modality: 'image',
    score(batch: ImageBatch): RewardOutput {
      const s = batch.samples;
      const imageSide = imageSimilarity(
        s.map((x) => x.image),
        s.map((x) => x.realImage),
        opts,
      );
      const textSide = cycleTextSide(
        s.map((x) => x.prompt),
        s.map((x) => x.recaption),
        opts,
      );
      const values = imageSide.map((im, i) => cycleCombine(im, textSide[i]!, w));
      const noCaption = s.filter((x) => x.recaption === undefined).length;
      const noReal = s.filter((x) => x.realImage === undefined).length;
      const notes: string[] = [];
      if (noCaption > 0) notes.push(`${noCaption} without re-caption: image side alone`);
      if (noReal > 0) notes.push(`${noReal} without real image: text side alone`);
      const textMetric = opts.encoder !== undefined ? 'bertscore' : 'spice';
      return {
        values,
        parts: { image_side: imageSide, text_side: textSide },
        note: `image side ${imageMetricOf(opts)}, text side ${textMetric}${notes.length ? `; ${notes.join('; ')}` : ''}`,
      };
    },
  };
}
