/**
 * Token batches for the ULM, as Janus's VLChatProcessor builds them: every `<image_placeholder>` token of a
 * prompt expands to `<begin_of_image>` + N image tokens + `<end_of_image>` (N = the ViT's patch count), rows
 * are LEFT-padded with the pad token, and `imagesSeqMask` marks the image-token positions that the ViT
 * features replace. Completions (for scoring) are RIGHT-padded with a mask.
 */
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { UserError } from '../util/errors.js';
import type { ULMConfig } from './config.js';
import type { SpecialIds, ULMTokenizer } from './tokenizer.js';

/** Left-padded token rows. */
export interface TextBatch {
  /** [B, S] int64 */
  ids: Tensor;
  /** [B, S] int64, 1 = real token */
  attentionMask: Tensor;
}

/** A left-padded understanding batch: text rows with image-token spans and their images. */
export interface UnderstandingBatch extends TextBatch {
  /** [B, S] bool: positions whose embeddings come from the images */
  imagesSeqMask: Tensor;
  /** [N, 3, H, W] preprocessed images, in row order (one per image span), or null when there are none */
  pixelValues: Tensor | null;
}

/**
 * What a prompt must fit into: the model's context (`language_config.max_position_embeddings`) and how many
 * tokens will be generated after the prompt (`what` names them in the message).
 */
export interface ContextLimit {
  context: number;
  generate: number;
  what: string;
}

/** The limit of `config`'s model when `generate` tokens (`what`: "image tokens", "new tokens") follow the prompt. */
export function contextLimit(config: ULMConfig, generate: number, what: string): ContextLimit {
  return { context: config.language_config.max_position_embeddings, generate, what };
}

/**
 * Refuses prompts (their real lengths in tokens, image tokens included) that do not fit the model's context
 * with what will be generated after them: prompt + generate must be <= context. Image generation generates
 * exactly its image tokens (every code takes a position); a text answer is counted at its maximum length
 * (max new tokens), since the check has to hold before sampling starts and an answer may use all of it.
 * RoPE has no position table, so a longer sequence would run, on positions the model never saw: garbage,
 * hence a UserError naming the longest prompt.
 */
export function checkContext(lengths: readonly number[], limit: ContextLimit): void {
  if (lengths.length === 0) return;
  let i = 0;
  lengths.forEach((n, k) => {
    if (n > lengths[i]!) i = k;
  });
  const n = lengths[i]!;
  if (n + limit.generate <= limit.context) return;
  const which = lengths.length === 1 ? 'the prompt' : `prompt ${i}`;
  const source = '(language_config.max_position_embeddings in config.json)';
  if (n > limit.context)
    throw new UserError(`${which} is ${n} tokens but the model's context is ${limit.context} ${source}`);
  throw new UserError(
    `${which} is ${n} tokens and ${limit.generate} ${limit.what} are to follow it (${n + limit.generate} in all), ` +
      `but the model's context is ${limit.context} ${source}`,
  );
}

/** The real length (attention-mask sum) of every row of a padded batch. */
export function rowLengths(batch: TextBatch): number[] {
  return torch.tidy(() => batch.attentionMask.sum(1).toArray());
}

/** Left-pads rows of ids to the longest row. */
export function leftPad(rows: readonly (readonly number[])[], padId: number): TextBatch {
  const S = Math.max(1, ...rows.map((r) => r.length));
  const ids = new BigInt64Array(rows.length * S).fill(BigInt(padId));
  const mask = new BigInt64Array(rows.length * S);
  rows.forEach((r, b) => {
    const off = b * S + S - r.length;
    r.forEach((id, i) => {
      ids[off + i] = BigInt(id);
      mask[off + i] = 1n;
    });
  });
  const shape = [rows.length, S];
  return { ids: torch.tensor(ids, { shape }), attentionMask: torch.tensor(mask, { shape }) };
}

/** Right-pads rows (completions) to `length` (default the longest): ids [B, L] int64 and mask [B, L] bool. */
export function rightPad(
  rows: readonly (readonly number[])[],
  padId: number,
  length?: number,
): { ids: Tensor; mask: Tensor } {
  const L = length ?? Math.max(1, ...rows.map((r) => r.length));
  const ids = new BigInt64Array(rows.length * L).fill(BigInt(padId));
  const mask = new Uint8Array(rows.length * L);
  rows.forEach((r, b) => {
    if (r.length > L) throw new Error(`rightPad: row ${b} has ${r.length} > ${L} tokens`);
    r.forEach((id, i) => {
      ids[b * L + i] = BigInt(id);
      mask[b * L + i] = 1;
    });
  });
  return {
    ids: torch.tensor(ids, { shape: [rows.length, L] }),
    mask: torch.tensor(mask, { shape: [rows.length, L], dtype: 'bool' }),
  };
}

/** Replaces every image placeholder id by BOI + n placeholders + EOI (VLChatProcessor.add_image_token). */
export function expandImageTokens(ids: readonly number[], special: SpecialIds, n: number): number[] {
  const out: number[] = [];
  for (const id of ids) {
    if (id === special.image) out.push(special.boi, ...new Array<number>(n).fill(special.image), special.eoi);
    else out.push(id);
  }
  return out;
}

/**
 * An understanding batch from formatted prompts (each holding as many `<image_placeholder>` as it has images)
 * and their preprocessed images [3, H, W] (flattened in row order). BOS is prepended. With `limit`, a prompt
 * that does not fit the context with the answer is a UserError (checkContext; sampleText checks it anyway).
 */
export function understandingBatch(
  tok: ULMTokenizer,
  prompts: readonly string[],
  images: readonly (readonly Tensor[])[],
  numImageTokens: number,
  limit?: ContextLimit,
): UnderstandingBatch {
  if (images.length !== prompts.length) throw new Error('understandingBatch: one image list per prompt');
  const rows = prompts.map((p, i) => {
    const ids = tok.encode(p, { bos: true });
    const spans = ids.filter((t) => t === tok.special.image).length;
    if (spans !== images[i]!.length)
      throw new UserError(`prompt ${i} has ${spans} image placeholders but ${images[i]!.length} images`);
    return expandImageTokens(ids, tok.special, numImageTokens);
  });
  if (limit)
    checkContext(
      rows.map((r) => r.length),
      limit,
    );
  return withImages(leftPad(rows, tok.special.pad), tok.special.image, images.flat());
}

/** Adds imagesSeqMask (ids == image id) and the stacked images to a padded batch. */
export function withImages(batch: TextBatch, imageId: number, images: readonly Tensor[]): UnderstandingBatch {
  return torch.tidy(() => ({
    ...batch,
    imagesSeqMask: batch.ids.eq(imageId).logicalAnd(batch.attentionMask.eq(1)),
    pixelValues: images.length > 0 ? torch.stack([...images], 0) : null,
  }));
}

/**
 * A generation batch from formatted prompts (each ending in `<begin_of_image>`); BOS prepended. With `limit`,
 * a prompt that does not fit the context with its image tokens is a UserError (checkContext; sampleImages
 * checks it anyway).
 */
export function generationBatch(
  tok: ULMTokenizer,
  prompts: readonly string[],
  limit?: ContextLimit,
): TextBatch {
  const rows = prompts.map((p, i) => {
    const ids = tok.encode(p, { bos: true });
    if (ids[ids.length - 1] !== tok.special.boi)
      throw new UserError(`generation prompt ${i} does not end with <begin_of_image>`);
    return ids;
  });
  if (limit)
    checkContext(
      rows.map((r) => r.length),
      limit,
    );
  return leftPad(rows, tok.special.pad);
}

/**
 * The CFG unconditional rows of a left-padded prompt batch (Janus / HF generate): every real token but the
 * first (BOS) and the last (`<begin_of_image>`) replaced by the pad id; the attention mask is unchanged, so the
 * pad-replaced positions are still attended, as in Janus.
 */
export function unconditionalRows(batch: TextBatch, padId: number): TextBatch {
  return torch.tidy(() => {
    const S = batch.ids.size(1);
    const firstReal = batch.attentionMask.cumsum(1).eq(1).logicalAnd(batch.attentionMask.eq(1));
    const last = torch
      .arange(0, S)
      .eq(S - 1)
      .unsqueeze(0);
    const keep = firstReal.logicalOr(last).logicalOr(batch.attentionMask.eq(0));
    return {
      ids: torch.where(keep, batch.ids, torch.fullLike(batch.ids, padId)),
      attentionMask: batch.attentionMask.clone(),
    };
  });
}

/** Each row repeated `n` times in place (row r -> rows r*n .. r*n+n-1). */
export function repeatRows(batch: TextBatch, n: number): TextBatch {
  return torch.tidy(() => ({
    ids: batch.ids.repeatInterleave(n, 0),
    attentionMask: batch.attentionMask.repeatInterleave(n, 0),
  }));
}
