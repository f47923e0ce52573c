/**
 * Rollouts: for each prompt, G images (CFG sampling with a KV cache) and G answers to the question about the
 * prompt's real image, plus what the image rewards need from the policy itself: a re-caption of each generated
 * image (the cycle reward's text side, ULM-R1 v2) and the last hidden states of "generated image + prompt"
 * (the TIM reward). Everything here runs without gradients; the update re-scores the same tokens (src/model/logprobs.ts).
 *
 * Tensors a rollout returns are owned by the caller's tidy scope.
 */
import type { TrainConfig } from './config.js';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import {
  type MultiModalityCausalLM,
  type ULMTokenizer,
  type TextBatch,
  type UnderstandingBatch,
  type UnderstandingHidden,
  generationBatch,
  generationPrompt,
  understandingBatch,
  understandingPrompt,
  understandingHidden,
  preprocessImage,
  repeatRows,
  sampleImages,
  sampleText,
  toRGBImages,
} from '../model/index.js';
import { CAPTION_QUESTION } from '../world/templates.js';
import type { RgbImage } from '../world/image.js';
import { questionImage, type RLExample } from './data.js';

export interface Policy {
  model: MultiModalityCausalLM;
  tok: ULMTokenizer;
}

export interface SamplingConfig {
  cfgWeight: number;
  temperature: number;
  textTemperature: number;
  topK: number;
  topP: number;
  maxCompletionLength: number;
  recaptionTemperature: number;
  recaptionMaxTokens: number;
}

export interface ImageRollout {
  /** The generation prompts, one row per sample (P*G rows, prompt-major). */
  prompts: TextBatch;
  /** [P*G, N] sampled VQ codes. */
  codes: Tensor;
  /** [P*G, N] log-probs under the distribution sampled from (CFG-mixed, tempered). */
  samplerLogp: Tensor;
  images: RgbImage[];
}

export interface TextRollout {
  /** The understanding prompts with the real images, one row per sample (P*G rows). */
  prompts: UnderstandingBatch;
  /** [P*G, L] sampled ids (pad after EOS), log-probs and mask (true up to and including EOS). */
  tokens: Tensor;
  samplerLogp: Tensor;
  mask: Tensor;
  /** Decoded completions (special tokens skipped). */
  texts: string[];
}

const repeatEach = <T>(xs: readonly T[], G: number): T[] => xs.flatMap((x) => Array<T>(G).fill(x));

/** G images per example's prompt, decoded to RGB. */
export function rolloutImages(
  policy: Policy,
  examples: readonly RLExample[],
  G: number,
  s: SamplingConfig,
  generator: torch.Generator,
): ImageRollout {
  const { model, tok } = policy;
  const once = generationBatch(
    tok,
    examples.map((e) => generationPrompt(e.prompt)),
  );
  const { codes, logprobs } = sampleImages(model, once, {
    imagesPerPrompt: G,
    cfgWeight: s.cfgWeight,
    temperature: s.temperature,
    padId: tok.special.pad,
    generator,
  });
  const prompts = repeatRows(once, G);
  torch.dispose(once);
  const images = torch.noGrad(() => torch.tidy(() => toRGBImages(model.gen_vision_model.decode(codes))));
  return { prompts, codes, samplerLogp: logprobs, images };
}

/** An understanding batch of one question per row about one image per row. */
export function questionBatch(
  policy: Policy,
  questions: readonly string[],
  images: readonly RgbImage[],
): UnderstandingBatch {
  const { model, tok } = policy;
  return torch.tidy(() => {
    const px = images.map((im) => preprocessImage(im, model.config));
    return understandingBatch(
      tok,
      questions.map((q) => understandingPrompt(q)),
      px.map((p) => [p]),
      model.numImageTokens,
    );
  });
}

/** G sampled answers per example's question about its real image. */
export function rolloutAnswers(
  policy: Policy,
  examples: readonly RLExample[],
  G: number,
  s: SamplingConfig,
  generator: torch.Generator,
): TextRollout {
  const { model, tok } = policy;
  const prompts = questionBatch(
    policy,
    repeatEach(
      examples.map((e) => e.qaProblem),
      G,
    ),
    repeatEach(examples.map(questionImage), G),
  );
  const out = sampleText(model, prompts, {
    maxNewTokens: s.maxCompletionLength,
    temperature: s.textTemperature,
    topK: s.topK,
    topP: s.topP,
    eosId: tok.special.eos,
    padId: tok.special.pad,
    generator,
  });
  const texts = out.ids.map((ids) => tok.decode(ids));
  return { prompts, tokens: out.tokens, samplerLogp: out.logprobs, mask: out.mask, texts };
}

/** Re-captions images with the policy itself ("describe the image ."), greedy by default. */
export function recaption(
  policy: Policy,
  images: readonly RgbImage[],
  s: SamplingConfig,
  generator: torch.Generator,
): string[] {
  const { tok } = policy;
  return torch.tidy(() => {
    const batch = questionBatch(
      policy,
      images.map(() => CAPTION_QUESTION),
      images,
    );
    const out = sampleText(policy.model, batch, {
      maxNewTokens: s.recaptionMaxTokens,
      temperature: s.recaptionTemperature,
      eosId: tok.special.eos,
      padId: tok.special.pad,
      generator,
    });
    return out.ids.map((ids) => stripFormat(tok.decode(ids)));
  });
}

/** A caption answer may come wrapped in think/answer tags; the caption is the answer's content, else the text. */
function stripFormat(text: string): string {
  const m = /<answer>([\s\S]*?)<\/answer>/.exec(text);
  return (m ? m[1]! : text.replace(/<\/?(think|answer)>/g, ' ')).trim();
}

/** The policy's last hidden states over "generated image + prompt" with the two spans (TIM reward), no grad. */
export function timHidden(
  policy: Policy,
  images: readonly RgbImage[],
  captions: readonly string[],
): UnderstandingHidden {
  const { model, tok } = policy;
  return torch.noGrad(() =>
    torch.tidy(() => {
      const px = torch.stack(
        images.map((im) => preprocessImage(im, model.config)),
        0,
      );
      return understandingHidden(model, tok, px, captions);
    }),
  );
}

/** The sampling settings of a train config (the trainer's rollouts; the held-out evaluation makes them greedy). */
export function samplingConfig(cfg: TrainConfig): SamplingConfig {
  return {
    cfgWeight: cfg.cfg_weight,
    temperature: cfg.temperature,
    textTemperature: cfg.text_temperature,
    topK: cfg.top_k,
    topP: cfg.top_p,
    maxCompletionLength: cfg.max_completion_length,
    recaptionTemperature: cfg.recaption_temperature,
    recaptionMaxTokens: cfg.recaption_max_tokens,
  };
}
