/**
 * Teacher-forced scoring for GRPO: per-token log-probs of given completions (text answers, VQ code grids)
 * after given prompts, with gradients, under the same definitions the sampler uses (temperature, filters,
 * CFG mixing), so that before an update the policy ratio against the sampler's log-probs is exactly 1.
 *
 * Alignment: the hidden state at position k predicts token k+1, so the last prompt position (the one
 * holding `<|Assistant|>:` for text, `<begin_of_image>` for images) predicts completion token 0, and the
 * last completion token is never fed. (ULM-R1 scores image token k from position k: an off-by-one.)
 *
 * Also the TIM helper: the LLM's last hidden states for (image, caption) understanding inputs with masks of
 * the image-token span and the caption span.
 */
import * as torch from '../torch/index.js';
import { F, type Tensor } from '../torch/index.js';
import { cfgMix, samplingLogits } from './sample.js';
import {
  expandImageTokens,
  leftPad,
  type TextBatch,
  type UnderstandingBatch,
  unconditionalRows,
  withImages,
} from './inputs.js';
import { understandingPromptParts, type TemplateOptions } from './templates.js';
import type { ULMTokenizer } from './tokenizer.js';
import type { MultiModalityCausalLM } from './ulm.js';

export interface Completion {
  /** [B, L] int64, right-padded */
  ids: Tensor;
  /** [B, L] bool, true on real completion tokens */
  mask: Tensor;
}

export interface TextScoreOptions {
  /** As sampled (default 1). */
  temperature?: number;
  /** Apply the sampler's filters too, so filtered samples score identically (default off). */
  topK?: number;
  topP?: number;
}

/** Runs prompt + continuation embeddings through the LLM; returns the hidden states that predict the continuation. */
function predictingHidden(
  model: MultiModalityCausalLM,
  promptEmbeds: Tensor,
  promptMask: Tensor,
  contEmbeds: Tensor,
  contMask: Tensor,
  L: number,
): Tensor {
  return torch.tidy(() => {
    const S = promptEmbeds.size(1);
    const embeds = torch.cat([promptEmbeds, contEmbeds], 1);
    const mask = torch.cat([promptMask.long(), contMask.long()], 1);
    const { hidden } = model.forward({ inputsEmbeds: embeds, attentionMask: mask, logits: false });
    return hidden.narrow(1, S - 1, L);
  });
}

/**
 * Log-probs [B, L] of right-padded text completions after a left-padded prompt batch (text or understanding),
 * zero where the completion mask is false. Differentiable.
 */
export function scoreText(
  model: MultiModalityCausalLM,
  prompt: TextBatch | UnderstandingBatch,
  completion: Completion,
  o: TextScoreOptions = {},
): Tensor {
  return torch.tidy(() => {
    const L = completion.ids.size(1);
    // completion token L-1 is predicted by position L-2 of the continuation: it never needs feeding
    const fed = completion.ids.narrow(1, 0, L - 1);
    const h = predictingHidden(
      model,
      model.embedBatch(prompt),
      prompt.attentionMask,
      model.language_model.embed(fed),
      completion.mask.narrow(1, 0, L - 1),
      L,
    );
    const logits = samplingLogits(model.textLogits(h), o);
    return F.logProbsOf(logits, completion.ids).maskedFill(completion.mask.to(logits.device).logicalNot(), 0);
  });
}

/** How image log-probs are defined: conditional logits (ULM-R1, T2I-R1), CFG-mixed (Janus-Pro-R1), or
 * CFG-mixed with no gradient through the unconditional branch (Flow-GRPO). */
export type ImageLogprobMode = 'cond' | 'cfg' | 'cfg_detach_uncond';

export interface ImageScoreOptions {
  mode?: ImageLogprobMode;
  /** CFG weight for the cfg modes (default 5). */
  cfgWeight?: number;
  /** As sampled (default 1). */
  temperature?: number;
  /** The pad id for the unconditional rows (cfg modes). */
  padId: number;
}

/**
 * Log-probs [R, N] of code grids [R, N] after a left-padded batch of R generation prompts (row r of the prompt
 * batch goes with row r of the codes; use repeatRows for G images per prompt). Differentiable.
 */
export function scoreImage(
  model: MultiModalityCausalLM,
  prompt: TextBatch,
  codes: Tensor,
  o: ImageScoreOptions,
): Tensor {
  return torch.tidy(() => {
    const mode = o.mode ?? 'cond';
    const [R, N] = codes.shape as [number, number];
    const gen = model.genImageEmbeds(codes.narrow(1, 0, N - 1)); // [R, N-1, D]
    const ones = torch.ones([R, N - 1], { dtype: 'int64' }); // a mask: moved with the batch's by model.forward
    let batch: TextBatch = prompt;
    let contEmbeds = gen;
    if (mode !== 'cond') {
      const unc = unconditionalRows(prompt, o.padId);
      batch = {
        ids: torch.cat([prompt.ids, unc.ids], 0),
        attentionMask: torch.cat([prompt.attentionMask, unc.attentionMask], 0),
      };
      contEmbeds = torch.cat([gen, gen], 0);
    }
    const contMask = mode === 'cond' ? ones : torch.cat([ones, ones], 0);
    const h = predictingHidden(model, model.embedBatch(batch), batch.attentionMask, contEmbeds, contMask, N);
    const logits = model.genLogits(h).float(); // [R or 2R, N, V]
    let mixed = logits;
    if (mode !== 'cond') {
      const c = logits.narrow(0, 0, R);
      let u = logits.narrow(0, R, R);
      if (mode === 'cfg_detach_uncond') u = u.detach();
      mixed = cfgMix(c, u, o.cfgWeight ?? 5);
    }
    return F.logProbsOf(samplingLogits(mixed, { temperature: o.temperature }), codes);
  });
}

export interface UnderstandingHidden {
  /** [B, S, D] last hidden states (after the final norm), differentiable */
  hidden: Tensor;
  /** [B, S] bool: the image-token positions (between `<begin_of_image>` and `<end_of_image>`) */
  imageMask: Tensor;
  /** [B, S] bool: the caption's tokens */
  textMask: Tensor;
  attentionMask: Tensor;
}

/**
 * The LLM's last hidden states for understanding inputs "<|User|>: <image_placeholder>\n{caption}\n\n
 * <|Assistant|>:" (left-padded batch), with masks of the image span and the caption span. The prompt is
 * tokenised in three pieces (before, caption, after) so the caption's tokens are known exactly; departs from
 * ULM-R1, whose fixed offsets include the trailing template tokens in the "text" span and break with padding.
 */
export function understandingHidden(
  model: MultiModalityCausalLM,
  tok: ULMTokenizer,
  images: Tensor,
  captions: readonly string[],
  opts: TemplateOptions = {},
): UnderstandingHidden {
  return torch.tidy(() => {
    const rows: number[][] = [];
    const spans: [number, number][] = [];
    for (const caption of captions) {
      const p = understandingPromptParts(caption, opts);
      const before = expandImageTokens(
        tok.encode(p.before, { bos: true }),
        tok.special,
        model.numImageTokens,
      );
      const text = tok.encode(p.text);
      spans.push([before.length, text.length]);
      rows.push([...before, ...text, ...tok.encode(p.after)]);
    }
    const padded = leftPad(rows, tok.special.pad);
    const S = padded.ids.size(1);
    const textMask = new Uint8Array(rows.length * S);
    rows.forEach((r, b) => {
      const [start, len] = spans[b]!;
      textMask.fill(1, b * S + S - r.length + start, b * S + S - r.length + start + len);
    });
    const batch = withImages(
      padded,
      tok.special.image,
      images.split(1, 0).map((t) => t.squeeze(0)),
    );
    const { hidden } = model.forward({
      inputsEmbeds: model.embedBatch(batch),
      attentionMask: batch.attentionMask,
      logits: false,
    });
    return {
      hidden,
      imageMask: batch.imagesSeqMask.to(hidden.device),
      textMask: torch.tensor(textMask, { shape: [rows.length, S], dtype: 'bool', device: hidden.device }),
      attentionMask: batch.attentionMask.to(hidden.device),
    };
  });
}
