/**
 * Sampling with a KV cache, kept apart from the model (as nanochat's engine): text answers for understanding
 * batches and images (VQ codes) with classifier-free guidance exactly as Janus's generation loop.
 *
 * Both return the sampled token ids and the log-prob of each token under the distribution it was actually
 * drawn from (temperature applied, then top-k / top-p for text; CFG-mixed logits for images), so GRPO's
 * old log-probs need no second pass. Greedy decoding (temperature 0) reports log-softmax of the raw logits.
 * Everything runs under noGrad; every step's intermediates are released (tidy).
 *
 * Before anything runs, a prompt that does not fit the model's context with what will be generated after it
 * (max new tokens; the image tokens) is a UserError (inputs.ts checkContext). Non-finite logits are a
 * NonFiniteLogitsError naming the step, at no cost to the normal path: multinomial checks its probabilities
 * itself (the throw is then re-checked and renamed), greedy text steps check the log-probs they already read,
 * and greedy images check all their log-probs once at the end.
 */
import * as torch from '../torch/index.js';
import { F, KVCache, type Tensor } from '../torch/index.js';
import { UserError } from '../util/errors.js';
import {
  checkContext,
  contextLimit,
  repeatRows,
  rowLengths,
  type TextBatch,
  type UnderstandingBatch,
  unconditionalRows,
} from './inputs.js';
import type { MultiModalityCausalLM } from './ulm.js';

/** Sampling met NaN or Inf logits (at `at`, e.g. "image token 17 of 576"). */
export class NonFiniteLogitsError extends UserError {
  constructor(readonly at: string) {
    super(`sampling: non-finite logits at ${at} (the model's weights or inputs hold NaN/Inf)`);
    this.name = 'NonFiniteLogitsError';
  }
}

export interface TextSampleOptions {
  maxNewTokens: number;
  /** Default 1; 0 = greedy. */
  temperature?: number;
  /** Keep the k most likely tokens (0 = off, the default; note HF generate's implicit 50). */
  topK?: number;
  /** Nucleus mass (1 = off, the default). */
  topP?: number;
  eosId: number;
  /** Fills the positions after EOS. */
  padId: number;
  generator?: torch.Generator;
}

export interface TextSamples {
  /** [B, N] int64: sampled ids, padId after EOS. */
  tokens: Tensor;
  /** [B, N] float32: log-prob of each sampled token (0 after EOS). */
  logprobs: Tensor;
  /** [B, N] bool: true up to and including the first EOS. */
  mask: Tensor;
  /** Per row, the sampled ids up to and including EOS. */
  ids: number[][];
}

/** Temperature-scaled, top-k / top-p filtered logits [B, V] of the distribution to sample from. */
export function samplingLogits(
  logits: Tensor,
  o: { temperature?: number; topK?: number; topP?: number },
): Tensor {
  return torch.tidy(() => {
    let l = logits.float();
    const t = o.temperature ?? 1;
    if (t > 0 && t !== 1) l = l.div(t);
    if ((o.topK ?? 0) > 0) l = F.topKFilter(l, o.topK!);
    if ((o.topP ?? 1) < 1) l = F.topPFilter(l, o.topP!);
    return l;
  });
}

/**
 * One draw per row from logits [R, V] (argmax when greedy): the ids [R] and their log-probs [R] under
 * `report` (default: the logits drawn from). A non-greedy draw from NaN/Inf logits is a NonFiniteLogitsError
 * at `at()`; a greedy one returns non-finite log-probs (the caller checks them).
 */
function draw(
  logits: Tensor,
  greedy: boolean,
  at: () => string,
  generator?: torch.Generator,
  report?: Tensor,
): { tok: Tensor; logp: Tensor } {
  return torch.tidy(() => {
    let tok: Tensor;
    if (greedy) tok = logits.argmax(-1);
    else {
      // drawn on the CPU, where the generator is, from any device: the same seed gives the same draws
      const probs = logits.softmax(-1).to('cpu');
      try {
        tok = torch.multinomial(probs, 1, { generator }).squeeze(-1).to(logits.device);
      } catch (e) {
        // multinomial refuses NaN/Inf probabilities itself (a check it pays for anyway): name the step
        if (!probs.isfinite().all().item()) throw new NonFiniteLogitsError(at());
        throw e;
      }
    }
    const lp = (report ?? logits).float().logSoftmax(-1);
    return { tok, logp: lp.gather(-1, tok.unsqueeze(-1)).squeeze(-1) };
  });
}

interface Carry<T> {
  get: () => T;
  set: (next: T) => void;
  done: () => void;
}

/** Holds the latest per-step state (kept tensors), disposing the previous one on replacement. */
function carry<T extends object>(first: T): Carry<T> {
  let cur = first;
  return {
    get: () => cur,
    set: (next) => {
      torch.dispose(cur);
      cur = next;
    },
    done: () => torch.dispose(cur),
  };
}

const keepAll = <T extends object>(x: T): T => {
  for (const v of Object.values(x)) if (v instanceof torch.Tensor) v.keep();
  return x;
};

/**
 * Samples text continuations of a left-padded prompt batch (text ids, or an understanding batch whose images
 * are spliced in). Rows stop at EOS; the loop ends when every row has stopped or after maxNewTokens.
 */
export function sampleText(
  model: MultiModalityCausalLM,
  prompt: TextBatch | UnderstandingBatch,
  o: TextSampleOptions,
): TextSamples {
  checkContext(rowLengths(prompt), contextLimit(model.config, o.maxNewTokens, 'new tokens'));
  const greedy = (o.temperature ?? 1) === 0;
  const B = prompt.ids.size(0);
  const toks: number[][] = Array.from({ length: B }, () => []);
  const lps: number[][] = Array.from({ length: B }, () => []);
  const done = new Array<boolean>(B).fill(false);
  const cache = new KVCache(prompt.ids.size(1) + o.maxNewTokens);
  let state: Carry<{ logits: Tensor; mask: Tensor }> | undefined;
  try {
    state = carry(
      torch.noGrad(() =>
        torch.tidy(() => {
          const out = model.forward({
            inputsEmbeds: model.embedBatch(prompt),
            attentionMask: prompt.attentionMask,
            cache,
            logits: 'last',
          });
          return keepAll({ logits: out.logits!, mask: prompt.attentionMask.clone() });
        }),
      ),
    );
    for (let step = 0; step < o.maxNewTokens && !done.every(Boolean); step++) {
      const at = () => `text token ${step + 1} (of at most ${o.maxNewTokens})`;
      const { tok, logp } = torch.noGrad(() =>
        torch.tidy(() => {
          const raw = state!.get().logits.select(1, -1);
          const d = draw(samplingLogits(raw, o), greedy, at, o.generator, greedy ? raw : undefined);
          return { tok: d.tok.toArray(), logp: d.logp.toArray() };
        }),
      );
      for (let b = 0; b < B; b++) {
        if (done[b]) continue;
        if (!Number.isFinite(logp[b])) throw new NonFiniteLogitsError(at());
        toks[b]!.push(tok[b]!);
        lps[b]!.push(logp[b]!);
        if (tok[b] === o.eosId) done[b] = true;
      }
      if (step + 1 === o.maxNewTokens || done.every(Boolean)) break;
      state!.set(
        torch.noGrad(() =>
          torch.tidy(() => {
            const ids = torch.tensor(
              BigInt64Array.from(tok, (t, b) => BigInt(done[b] ? o.padId : t)),
              { shape: [B, 1] },
            );
            const mask = torch.cat([state!.get().mask, torch.ones([B, 1], { dtype: 'int64' })], 1);
            const out = model.forward({ inputIds: ids, attentionMask: mask, cache, logits: 'last' });
            return keepAll({ logits: out.logits!, mask });
          }),
        ),
      );
    }
  } finally {
    state?.done();
    cache.dispose();
  }
  return packText(toks, lps, o.padId);
}

function packText(toks: number[][], lps: number[][], padId: number): TextSamples {
  const B = toks.length;
  const N = Math.max(1, ...toks.map((t) => t.length));
  const ids = new BigInt64Array(B * N).fill(BigInt(padId));
  const lp = new Float32Array(B * N);
  const mask = new Uint8Array(B * N);
  toks.forEach((row, b) =>
    row.forEach((t, i) => {
      ids[b * N + i] = BigInt(t);
      lp[b * N + i] = lps[b]![i]!;
      mask[b * N + i] = 1;
    }),
  );
  return {
    tokens: torch.tensor(ids, { shape: [B, N] }),
    logprobs: torch.tensor(lp, { shape: [B, N] }),
    mask: torch.tensor(mask, { shape: [B, N], dtype: 'bool' }),
    ids: toks,
  };
}

export interface ImageSampleOptions {
  /** Images per prompt (Janus parallel_size); default 1. */
  imagesPerPrompt?: number;
  /** CFG weight w in u + w (c - u) (Janus: 5); null = conditional rows only. */
  cfgWeight?: number | null;
  /** Default 1; 0 = greedy. */
  temperature?: number;
  /** The pad id for the unconditional rows. */
  padId: number;
  /** Codes per image (default: the model's grid). */
  numTokens?: number;
  generator?: torch.Generator;
}

export interface ImageSamples {
  /** [P * G, N] int64: codes, prompt-major (row p*G + g is image g of prompt p). */
  codes: Tensor;
  /** [P * G, N] float32: log-prob of each code under the (CFG-mixed, tempered) distribution sampled from. */
  logprobs: Tensor;
}

/** The CFG mix u + w (c - u) of cond/uncond logits (w = null: c). */
export function cfgMix(c: Tensor, u: Tensor | null, w: number | null): Tensor {
  if (u === null || w === null) return c.clone();
  return torch.tidy(() => u.add(c.sub(u).mul(w)));
}

/**
 * Samples images for a left-padded batch of generation prompts (each ending in `<begin_of_image>`).
 * With CFG the rows are interleaved cond/uncond as in Janus (row 2i conditional, 2i+1 unconditional = the
 * prompt with all but BOS and `<begin_of_image>` padded); each step mixes u + w (c - u), divides by the
 * temperature and draws one code per image, fed back to both rows as gen_aligner(gen_embed(code)).
 */
export function sampleImages(
  model: MultiModalityCausalLM,
  prompt: TextBatch,
  o: ImageSampleOptions,
): ImageSamples {
  const G = o.imagesPerPrompt ?? 1;
  const w = o.cfgWeight === undefined ? 5 : o.cfgWeight;
  const N = o.numTokens ?? model.numGenTokens;
  checkContext(rowLengths(prompt), contextLimit(model.config, N, 'image tokens'));
  const greedy = (o.temperature ?? 1) === 0;
  const rows = cfgRows(prompt, G, w, o.padId);
  const cache = new KVCache(rows.ids.size(1) + N);
  const codes: Tensor[] = [];
  const lps: Tensor[] = [];
  const at = (k: number) => () => `image token ${k + 1} of ${N}`;
  const step = (hidden: Tensor, k: number) =>
    torch.tidy(() => {
      const logits = model.genLogits(hidden.select(1, -1)).float(); // [rows, V]
      const mixed =
        w === null ? logits : cfgMix(logits.slice(0, 0, undefined, 2), logits.slice(0, 1, undefined, 2), w);
      return draw(
        samplingLogits(mixed, { temperature: o.temperature }),
        greedy,
        at(k),
        o.generator,
        greedy ? mixed : undefined,
      );
    });
  let state: Carry<{ hidden: Tensor; mask: Tensor }> | undefined;
  try {
    state = carry(prefill(model, rows, cache));
    torch.dispose(rows);
    for (let k = 0; k < N; k++) {
      const d = torch.noGrad(() => step(state!.get().hidden, k));
      codes.push(d.tok.keep());
      lps.push(d.logp.keep());
      if (k + 1 === N) break;
      state!.set(feedCodes(model, d.tok, w !== null, state!.get().mask, cache));
    }
    return stackSamples(codes, lps, at);
  } finally {
    state?.done();
    torch.dispose(rows);
    cache.dispose();
    torch.dispose([codes, lps]);
  }
}

/** G copies of each prompt; with CFG interleaved with their unconditional rows (2i conditional, 2i+1 not). */
function cfgRows(prompt: TextBatch, G: number, w: number | null, padId: number): TextBatch {
  const R = prompt.ids.size(0) * G;
  return torch.tidy(() => {
    const cond = repeatRows(prompt, G);
    if (w === null) return cond;
    const unc = unconditionalRows(cond, padId);
    const inter = (a: Tensor, b: Tensor) => torch.stack([a, b], 1).reshape([2 * R, -1]);
    return { ids: inter(cond.ids, unc.ids), attentionMask: inter(cond.attentionMask, unc.attentionMask) };
  });
}

/** The prompts through the model into `cache`: the last position's hidden state and the attention mask. */
function prefill(
  model: MultiModalityCausalLM,
  rows: TextBatch,
  cache: KVCache,
): { hidden: Tensor; mask: Tensor } {
  return torch.noGrad(() =>
    torch.tidy(() => {
      const out = model.forward({
        inputsEmbeds: model.embedBatch(rows),
        attentionMask: rows.attentionMask,
        cache,
        logits: false,
      });
      return keepAll({
        hidden: out.hidden.narrow(1, out.hidden.size(1) - 1, 1),
        mask: rows.attentionMask.clone(),
      });
    }),
  );
}

/** The drawn codes fed back (to both rows of a CFG pair) as gen_aligner(gen_embed(code)): the next hidden state. */
function feedCodes(
  model: MultiModalityCausalLM,
  tok: Tensor,
  cfgPairs: boolean,
  prevMask: Tensor,
  cache: KVCache,
): { hidden: Tensor; mask: Tensor } {
  return torch.noGrad(() =>
    torch.tidy(() => {
      let e = model.genImageEmbeds(tok.unsqueeze(1)); // [R, 1, D]
      if (cfgPairs) e = e.repeatInterleave(2, 0);
      const mask = torch.cat([prevMask, torch.ones([e.size(0), 1], { dtype: 'int64' })], 1);
      const out = model.forward({ inputsEmbeds: e, attentionMask: mask, cache, logits: false });
      return keepAll({ hidden: out.hidden, mask });
    }),
  );
}

/** Codes [R, N] and their log-probs; greedy steps do not check (no multinomial): one reduction over all here. */
function stackSamples(codes: Tensor[], lps: Tensor[], at: (k: number) => () => string): ImageSamples {
  return torch.tidy(() => {
    const logprobs = torch.stack(lps, 1);
    if (!logprobs.isfinite().all().item()) {
      const perStep = logprobs.isfinite().logicalNot().sum(0).toArray();
      throw new NonFiniteLogitsError(at(perStep.findIndex((c) => c > 0))());
    }
    return { codes: torch.stack(codes, 1), logprobs };
  });
}
