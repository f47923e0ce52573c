/**
 * Supervised pretraining (SFT) of the ShapesWorld ULM: the base model GRPO starts from.
 *
 * The ULM (a model preset, the word-level world tokenizer) gets the trained VQ-VAE copied into
 * `gen_vision_model` (frozen, as Janus), and is trained from scratch with cross-entropy on completion tokens
 * only, over batches drawn straight from the world generator (data.ts):
 *   - generation rows: hidden state at position k predicts VQ code k+1 (`<begin_of_image>` predicts code 0),
 *     through gen_head; the codes are the trained VQ's encoding of a real render, computed on the fly;
 *   - understanding rows (captioning, open-ended, MCQ, POPE, text-only option matching): the completion
 *     tokens through lm_head.
 * Loss = (mean over image-code tokens) * genWeight + (mean over text completion tokens) * textWeight.
 * AdamW, linear warm-up and cosine decay over the budget (time-based: progress = elapsed / budget), gradient
 * clipping. The mix of row kinds follows a curriculum: a list of phases, each the mix used until a given
 * progress (presets.ts).
 *
 * Speed (docs/pretrain.md): the questions about one scene share its image prefix, run once into a KV cache
 * that keeps its autograd graph (PrefixCache), which gives the same losses as separate rows for about half
 * the tokens; every forward + backward covers at most `maxTokens` tokens, gradients accumulating. Every
 * micro-batch runs inside torch.tidy; the live-tensor count stays flat.
 */
import * as torch from '../torch/index.js';
import * as dist from '../torch/distributed.js';
import type { Tensor } from '../torch/index.js';
import type { ULMConfig } from '../model/config.js';
import { MultiModalityCausalLM } from '../model/ulm.js';
import { ULMTokenizer, buildWordLevelTokenizer } from '../model/tokenizer.js';
import type { UnderstandingBatch } from '../model/inputs.js';
import type { VQModel } from '../model/vq.js';
import { worldVocabulary } from '../world/vocabulary.js';
import { deriveSeed } from '../world/rng.js';
import { F } from '../torch/index.js';
import {
  SftData,
  type GenRow,
  type McAnswer,
  type PopeThink,
  type PositionThink,
  type TextRow,
} from './data.js';
import { TEXT_KINDS, type Mix, type TextKind } from './row-kinds.js';
import { KVCache } from '../torch/index.js';
import { pixelTensor, vitPixels } from '../model/preprocess.js';
import { Budget, LogEvery, warmupCosine, type LoopLog, type LoopOptions } from './schedule.js';

/** One phase of the curriculum: `mix` is used while progress < `until`. */
export interface Phase {
  until: number;
  mix: Mix;
  /** A name for logs (default "phase N"). */
  name?: string;
}

/** SFT settings (time budget default 400 s; logs about every 2% of the budget). */
export interface SftOptions extends LoopOptions<SftLog> {
  curriculum: readonly Phase[];
  lr?: number;
  weightDecay?: number;
  /** Warm-up as a fraction of the budget (default 0.03). */
  warmup?: number;
  /** Final learning rate as a fraction of lr (default 0.1). */
  finalLr?: number;
  /** Gradient-norm clip (default 1). */
  clip?: number;
  /** CFG dropout: probability that a generation row is unconditional (default 0.1). */
  uncondProb?: number;
  genWeight?: number;
  textWeight?: number;
  /** Loss weight of the MC option-letter tokens (think and answer) relative to other tokens (default 1). */
  letterWeight?: number;
  /** Micro-batch size in tokens: each forward + backward covers at most this many (default 2048). */
  maxTokens?: number;
  /** The POPE think text (data.ts; default 'world'). */
  popeThink?: PopeThink;
  /** The think text of position questions (data.ts; default 'world'). */
  positionThink?: PositionThink;
  /** How MC rows are answered (data.ts; default 'letter'). */
  mcAnswer?: McAnswer;
  /** Questions asked about each scene of a batch, run with the image prefix computed once (default 3). */
  perImage?: number;
  /**
   * Data parallel (docs/distributed.md): this rank of `size` in the joined process group. Rank 0's weights are
   * broadcast at the start; every rank draws the same batch and runs its share of one process's micro-batches,
   * the gradients are summed before clipping and AdamW, so a step of N ranks is one process's step. Absent:
   * one process.
   */
  world?: { rank: number; size: number } | null;
  /** Data parallel: called each step with the micro-batches this rank ran and the step's count. */
  onShare?: (own: number, of: number) => void;
}

export interface SftLog extends LoopLog {
  phase: string;
  /** Mean losses since the previous log: `gen` per image code, the text kinds per completion token. */
  loss: Partial<Record<string, number>>;
  grad_norm: number;
}

export interface SftResult {
  steps: number;
  seconds: number;
  logs: SftLog[];
  /** Rows seen per kind. */
  rows: Partial<Record<'gen' | TextKind, number>>;
}

/** The world tokenizer: word-level over worldVocabulary(). */
export function worldTokenizer(): ULMTokenizer {
  return ULMTokenizer.fromJSON(buildWordLevelTokenizer(worldVocabulary()));
}

/**
 * A fresh ULM for `config` (vocab size must fit the tokenizer) with the VQ's weights copied into
 * gen_vision_model, which is frozen. The VQ's params must equal the config's gen_vision_config params.
 */
export function buildULM(config: ULMConfig, vq: VQModel, seed: number): MultiModalityCausalLM {
  const model = new MultiModalityCausalLM(config, {
    generator: new torch.Generator(deriveSeed(seed, 'ulm-init') & 0x7fffffff),
  });
  try {
    model.gen_vision_model.loadStateDict(vq.stateDict());
  } catch (e) {
    model.dispose();
    throw e;
  }
  model.gen_vision_model.requiresGrad_(false);
  return model;
}

function phaseAt(curriculum: readonly Phase[], progress: number): { phase: Phase; index: number } {
  const i = curriculum.findIndex((p) => progress < p.until);
  const index = i < 0 ? curriculum.length - 1 : i;
  return { phase: curriculum[index]!, index };
}

/**
 * A KV cache that runs a shared prefix once for many continuations. In record mode (the prefix forward) it
 * keeps each layer's keys and values [P, kvHeads, Lp, hd] with their autograd graph; in replay mode (the
 * continuation forward, R rows) it prepends the prefix rows `index` [R] to the new keys and values, so row r
 * attends to prefix row index[r] as if it were its own beginning. Gradients flow back into the prefix.
 */
class PrefixCache extends KVCache {
  private readonly prefix: { k: Tensor; v: Tensor }[] = [];
  private index: Tensor | null = null;

  override get length(): number {
    return this.prefix[0]?.k.size(2) ?? 0;
  }

  override append(layer: number, k: Tensor, v: Tensor): { k: Tensor; v: Tensor } {
    if (this.index === null) {
      this.prefix[layer] = { k: k.keep(), v: v.keep() };
      return { k, v };
    }
    const p = this.prefix[layer]!;
    return {
      k: torch.cat([p.k.indexSelect(0, this.index), k], 2),
      v: torch.cat([p.v.indexSelect(0, this.index), v], 2),
    };
  }

  replay(index: Tensor): void {
    this.index = index.keep();
  }

  override dispose(): void {
    torch.dispose([this.prefix, this.index]);
    this.prefix.length = 0;
    this.index = null;
  }
}

/** Token bookkeeping of a loss computation: called per completion token, in loss order. */
type OnToken = (row: TextRow, j: number) => void;

/** Builds the picks / targets of completion tokens for continuation rows laid out in a [B, S] grid. */
function completionPicks(
  rows: readonly { row: TextRow; start: number; offset: number }[],
  S: number,
  onToken: OnToken,
): { picks: Tensor; targets: Tensor } {
  const picks: number[] = [];
  const targets: number[] = [];
  rows.forEach(({ row, start, offset }, b) =>
    // the hidden state at position p predicts token p + 1
    row.completion.forEach((t, j) => {
      picks.push(b * S + offset + start - 1 + j);
      targets.push(t);
      onToken(row, j);
    }),
  );
  return {
    picks: torch.tensor(BigInt64Array.from(picks, BigInt)),
    targets: torch.tensor(BigInt64Array.from(targets, BigInt)),
  };
}

/** Per-token completion losses [T] of rows run as one left-padded batch (text-only rows). */
function plainLosses(
  model: MultiModalityCausalLM,
  tok: ULMTokenizer,
  rows: readonly TextRow[],
  onToken: OnToken,
): Tensor {
  return torch.tidy(() => {
    const S = Math.max(...rows.map((r) => r.prompt.length + r.completion.length));
    const B = rows.length;
    const ids = new BigInt64Array(B * S).fill(BigInt(tok.special.pad));
    const mask = new BigInt64Array(B * S);
    const layout = rows.map((r, b) => {
      const full = [...r.prompt, ...r.completion];
      const offset = S - full.length;
      full.forEach((t, i) => {
        ids[b * S + offset + i] = BigInt(t);
        mask[b * S + offset + i] = 1n;
      });
      return { row: r, start: r.prompt.length, offset };
    });
    const idsT = torch.tensor(ids, { shape: [B, S] });
    const maskT = torch.tensor(mask, { shape: [B, S] });
    const images = rows.filter((r) => r.image !== null).map((r) => r.image!);
    const batch: UnderstandingBatch = {
      ids: idsT,
      attentionMask: maskT,
      imagesSeqMask: idsT.eq(tok.special.image).logicalAnd(maskT.eq(1)),
      pixelValues: images.length > 0 ? vitPixels(images, model.config) : null,
    };
    const { hidden } = model.forward({
      inputsEmbeds: model.embedBatch(batch),
      attentionMask: maskT,
      logits: false,
    });
    const { picks, targets } = completionPicks(layout, S, onToken);
    const h = hidden.reshape([B * S, -1]).indexSelect(0, picks);
    return F.crossEntropy(model.textLogits(h), targets, { reduction: 'none' });
  });
}

/** Where a prompt's image prefix ends: just after `<end_of_image>`. */
function prefixLength(tok: ULMTokenizer, prompt: readonly number[]): number {
  const at = prompt.indexOf(tok.special.eoi);
  if (at < 0) throw new Error('an image row without <end_of_image>');
  return at + 1;
}

/**
 * Per-token completion losses [T] of image rows, grouped by image: each image's prefix (BOS, the user role,
 * the image span) runs once through the ViT and the LLM into a PrefixCache; the rows' continuations (the
 * question, the assistant role, the completion) run as one batch on top, padded between prefix and question.
 * Exactly the same maths as running each row alone; the image work is shared.
 */
function sharedPrefixLosses(
  model: MultiModalityCausalLM,
  tok: ULMTokenizer,
  groups: readonly (readonly TextRow[])[],
  onToken: OnToken,
  cache: PrefixCache,
): Tensor {
  return torch.tidy(() => {
    const P = groups.length;
    const first = groups[0]![0]!;
    const Lp = prefixLength(tok, first.prompt);
    const prefix = first.prompt.slice(0, Lp);
    const prefixIds = new BigInt64Array(P * Lp);
    groups.forEach((g, p) => {
      for (const r of g)
        if (prefixLength(tok, r.prompt) !== Lp || r.prompt.slice(0, Lp).some((t, i) => t !== prefix[i]))
          throw new Error('image rows of a batch must share their prefix');
      prefix.forEach((t, i) => (prefixIds[p * Lp + i] = BigInt(t)));
    });
    const ids = torch.tensor(prefixIds, { shape: [P, Lp] });
    const ones = torch.ones([P, Lp], { dtype: 'int64' });
    const batch: UnderstandingBatch = {
      ids,
      attentionMask: ones,
      imagesSeqMask: ids.eq(tok.special.image),
      pixelValues: vitPixels(
        groups.map((g) => g[0]!.image!),
        model.config,
      ),
    };
    model.forward({ inputsEmbeds: model.embedBatch(batch), attentionMask: ones, cache, logits: false });

    const rows = groups.flatMap((g, p) => g.map((row) => ({ row, p })));
    const R = rows.length;
    const T = Math.max(...rows.map(({ row }) => row.prompt.length - Lp + row.completion.length));
    const cont = new BigInt64Array(R * T).fill(BigInt(tok.special.pad));
    const mask = new BigInt64Array(R * (Lp + T));
    const layout = rows.map(({ row }, b) => {
      const full = [...row.prompt.slice(Lp), ...row.completion];
      const offset = T - full.length;
      full.forEach((t, i) => (cont[b * T + offset + i] = BigInt(t)));
      mask.fill(1n, b * (Lp + T), b * (Lp + T) + Lp);
      mask.fill(1n, b * (Lp + T) + Lp + offset, (b + 1) * (Lp + T));
      return { row, start: row.prompt.length - Lp, offset };
    });
    cache.replay(torch.tensor(BigInt64Array.from(rows, ({ p }) => BigInt(p))));
    const { hidden } = model.forward({
      inputIds: torch.tensor(cont, { shape: [R, T] }),
      attentionMask: torch.tensor(mask, { shape: [R, Lp + T] }),
      cache,
      logits: false,
    });
    const { picks, targets } = completionPicks(layout, T, onToken);
    const h = hidden.reshape([R * T, -1]).indexSelect(0, picks);
    return F.crossEntropy(model.textLogits(h), targets, { reduction: 'none' });
  });
}

/**
 * Per-token completion losses [T] (float32, graph attached) of understanding rows, in the order `onToken`
 * reports them: image rows grouped by image (sharedPrefixLosses), text-only rows as one batch. The image
 * prefixes' tensors live until `release()`, which the caller runs after backward() (or when done).
 */
export function textTokenLosses(
  model: MultiModalityCausalLM,
  tok: ULMTokenizer,
  rows: readonly TextRow[],
  onToken: OnToken = () => {},
): { losses: Tensor; release: () => void } {
  const cache = new PrefixCache();
  try {
    const losses = torch.tidy(() => {
      const parts: Tensor[] = [];
      const groups = imageGroups(rows);
      if (groups.length > 0) parts.push(sharedPrefixLosses(model, tok, groups, onToken, cache));
      const plain = rows.filter((r) => r.image === null);
      if (plain.length > 0) parts.push(plainLosses(model, tok, plain, onToken));
      return parts.length === 1 ? parts[0]! : torch.cat(parts, 0);
    });
    return { losses, release: () => cache.dispose() };
  } catch (e) {
    cache.dispose();
    throw e;
  }
}

/** Image rows grouped by their image (in first-seen order). */
function imageGroups(rows: readonly TextRow[]): TextRow[][] {
  const by = new Map<object, TextRow[]>();
  for (const r of rows) if (r.image !== null) by.set(r.image, [...(by.get(r.image) ?? []), r]);
  return [...by.values()];
}

/** Mean cross-entropy per image code of generation rows whose real images encode to `codes` [R, N]. */
export function genLoss(
  model: MultiModalityCausalLM,
  tok: ULMTokenizer,
  rows: readonly GenRow[],
  codes: Tensor,
): Tensor {
  return torch.tidy(() => {
    const [R, N] = codes.shape as [number, number];
    const Sp = Math.max(...rows.map((r) => r.prompt.length));
    const ids = new BigInt64Array(R * Sp).fill(BigInt(tok.special.pad));
    const mask = new BigInt64Array(R * (Sp + N - 1)).fill(1n);
    rows.forEach((r, b) => {
      const off = Sp - r.prompt.length;
      for (let i = 0; i < off; i++) mask[b * (Sp + N - 1) + i] = 0n;
      r.prompt.forEach((t, i) => (ids[b * Sp + off + i] = BigInt(t)));
    });
    const text = model.language_model.embed(torch.tensor(ids, { shape: [R, Sp] }));
    const gen = model.genImageEmbeds(codes.narrow(1, 0, N - 1));
    const { hidden } = model.forward({
      inputsEmbeds: torch.cat([text, gen], 1),
      attentionMask: torch.tensor(mask, { shape: [R, Sp + N - 1] }),
      logits: false,
    });
    const logits = model.genLogits(hidden.narrow(1, Sp - 1, N)); // [R, N, V]
    return F.crossEntropy(logits.reshape([R * N, -1]), codes.reshape([R * N]));
  });
}

/** Splits `items` (sorted by length) into runs whose count x longest length stays within maxTokens. */
function microBatches<T>(items: readonly T[], len: (x: T) => number, maxTokens: number): T[][] {
  const sorted = [...items].sort((a, b) => len(a) - len(b));
  const out: T[][] = [];
  let cur: T[] = [];
  for (const x of sorted) {
    if (cur.length > 0 && (cur.length + 1) * len(x) > maxTokens) {
      out.push(cur);
      cur = [];
    }
    cur.push(x);
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/** The generation rows' micro-batches (sorted by length, at most maxTokens each). */
function genParts(model: MultiModalityCausalLM, rows: readonly GenRow[], maxTokens: number): GenRow[][] {
  const N = model.numGenTokens;
  return microBatches(rows, (r) => r.prompt.length + N, maxTokens);
}

/** Forward + backward of one generation micro-batch of `of` rows in all: its share of the mean; loss x rows. */
function genPartBackward(
  model: MultiModalityCausalLM,
  tok: ULMTokenizer,
  part: readonly GenRow[],
  of: number,
  weight: number,
): number {
  return torch.tidy(() => {
    const codes = torch.noGrad(() => model.gen_vision_model.encode(pixelTensor(part.map((r) => r.image))));
    const loss = genLoss(model, tok, part, codes);
    loss.mul((weight * part.length) / of).backward();
    return loss.item() * part.length;
  });
}

/**
 * Forward + backward of the generation rows in micro-batches; the gradient is that of weight x (mean CE per
 * code over all rows). Returns the mean CE.
 */
function genBackward(
  model: MultiModalityCausalLM,
  tok: ULMTokenizer,
  rows: readonly GenRow[],
  weight: number,
  maxTokens: number,
): number {
  let total = 0;
  for (const part of genParts(model, rows, maxTokens))
    total += genPartBackward(model, tok, part, rows.length, weight);
  return total / rows.length;
}

/** Per-token losses of understanding rows, with each token's row (index in the batch) and completion index. */
interface TextLosses {
  perToken: number[];
  rowOf: number[];
  posOf: number[];
}

/** The sum of the token weights over every completion token of `rows`. */
function textWeightSum(rows: readonly TextRow[], weightOf: (row: TextRow, j: number) => number): number {
  let wsum = 0;
  for (const r of rows) for (let j = 0; j < r.completion.length; j++) wsum += weightOf(r, j);
  return wsum;
}

/** Tokens an image group runs: its prefix once, then each row's question and completion. */
function groupTokens(tok: ULMTokenizer, g: readonly TextRow[]): number {
  const lp = prefixLength(tok, g[0]!.prompt);
  return g.reduce((a, r) => a + r.prompt.length - lp + r.completion.length, lp);
}

/** Tokens a text-only row runs. */
const plainTokens = (r: TextRow) => r.prompt.length + r.completion.length;

/** The understanding rows' micro-batches of about maxTokens: image groups, then text-only rows. */
function textParts(tok: ULMTokenizer, rows: readonly TextRow[], maxTokens: number): TextRow[][] {
  const parts: TextRow[][] = [];
  for (const run of microBatches(imageGroups(rows), (g) => groupTokens(tok, g), maxTokens))
    parts.push(run.flat());
  const plain = rows.filter((r) => r.image === null);
  for (const run of microBatches(plain, plainTokens, maxTokens)) parts.push(run);
  return parts;
}

/**
 * `items` cut into at most `n` contiguous non-empty runs of about equal cost: run k ends at the item where the
 * running cost comes nearest to (k + 1) / n of the whole.
 */
export function splitRuns<T>(items: readonly T[], n: number, cost: (x: T) => number): T[][] {
  const costs = items.map(cost);
  const total = costs.reduce((a, c) => a + c, 0);
  const runs: T[][] = [];
  let cur: T[] = [];
  let acc = 0;
  items.forEach((x, i) => {
    cur.push(x);
    acc += costs[i]!;
    const target = ((runs.length + 1) * total) / n;
    const next = i + 1 < items.length ? costs[i + 1]! : 0;
    // close the run here if adding the next item would overshoot the target by more than stopping undershoots
    if (runs.length < n - 1 && acc + next - target >= target - acc) {
      runs.push(cur);
      cur = [];
    }
  });
  if (cur.length > 0) runs.push(cur);
  return runs;
}

/** Forward + backward of one understanding micro-batch: weight x its tokens' weighted CE / wsum. */
function textPartBackward(
  model: MultiModalityCausalLM,
  tok: ULMTokenizer,
  part: readonly TextRow[],
  index: ReadonlyMap<TextRow, number>,
  weightOf: (row: TextRow, j: number) => number,
  weight: number,
  wsum: number,
): TextLosses {
  const out: TextLosses = { perToken: [], rowOf: [], posOf: [] };
  const w: number[] = [];
  const losses = torch.tidy(() => {
    const { losses: l, release } = textTokenLosses(model, tok, part, (row, j) => {
      out.rowOf.push(index.get(row)!);
      out.posOf.push(j);
      w.push(weightOf(row, j));
    });
    try {
      l.mul(torch.tensor(Float32Array.from(w)))
        .sum()
        .mul(weight / wsum)
        .backward();
    } finally {
      release();
    }
    return l.detach().toArray();
  });
  out.perToken.push(...losses);
  return out;
}

/**
 * Forward + backward of understanding rows in micro-batches of about maxTokens (image groups and text-only
 * rows apart); the gradient is that of weight x the weighted mean CE over all completion tokens (token weights
 * from `weightOf`). Returns the per-token losses with their row and completion index.
 */
function textBackward(
  model: MultiModalityCausalLM,
  tok: ULMTokenizer,
  rows: readonly TextRow[],
  weightOf: (row: TextRow, j: number) => number,
  weight: number,
  maxTokens: number,
): TextLosses {
  const wsum = textWeightSum(rows, weightOf);
  const out: TextLosses = { perToken: [], rowOf: [], posOf: [] };
  const index = new Map(rows.map((r, i) => [r, i]));
  for (const part of textParts(tok, rows, maxTokens)) {
    const r = textPartBackward(model, tok, part, index, weightOf, weight, wsum);
    out.perToken.push(...r.perToken);
    out.rowOf.push(...r.rowOf);
    out.posOf.push(...r.posOf);
  }
  return out;
}

type LossKey = 'gen' | TextKind | `letter_${TextKind}` | `answer_${TextKind}`;
type SftBatch = ReturnType<SftData['batch']>;
interface SftStep {
  genValue: number;
  perToken: number[];
  rowOf: number[];
  posOf: number[];
  norm: number;
}

/** Mean losses and gradient norm since the last log point, and the rows seen by kind over the whole run. */
class SftMeter {
  private readonly sums = new Map<LossKey, { sum: number; n: number }>();
  private gradSum = 0;
  private gradN = 0;
  readonly rows: SftResult['rows'] = {};

  private add(k: LossKey, sum: number, n: number): void {
    const a = this.sums.get(k) ?? { sum: 0, n: 0 };
    a.sum += sum;
    a.n += n;
    this.sums.set(k, a);
  }

  /** A step's losses: generation per row, text per row and kind, the answer's and the MC letter's tokens. */
  record(batch: SftBatch, step: SftStep): void {
    if (batch.gen.length > 0) {
      this.add('gen', step.genValue * batch.gen.length, batch.gen.length);
      this.rows.gen = (this.rows.gen ?? 0) + batch.gen.length;
    }
    const rowSums = new Map<number, { sum: number; n: number }>();
    step.perToken.forEach((l, i) => {
      const r = step.rowOf[i]!;
      const row = batch.text[r]!;
      const j = step.posOf[i]!;
      if (row.answerAt === j) this.add(`answer_${row.kind}` as LossKey, l, 1);
      if (row.letters[0] === j) this.add(`letter_${row.kind}` as LossKey, l, 1);
      const a = rowSums.get(r) ?? { sum: 0, n: 0 };
      a.sum += l;
      a.n += 1;
      rowSums.set(r, a);
    });
    for (const [r, a] of rowSums) this.add(batch.text[r]!.kind, a.sum, a.n);
    for (const r of batch.text) this.rows[r.kind] = (this.rows[r.kind] ?? 0) + 1;
    this.gradSum += step.norm;
    this.gradN += 1;
  }

  snapshot(at: Omit<SftLog, 'loss' | 'grad_norm'>): SftLog {
    return {
      ...at,
      loss: Object.fromEntries([...this.sums].map(([k, v]) => [k, v.sum / Math.max(1, v.n)])),
      grad_norm: this.gradSum / Math.max(1, this.gradN),
    };
  }

  /** Starts the next log interval. */
  reset(): void {
    this.sums.clear();
    this.gradSum = 0;
    this.gradN = 0;
  }

  /** The rows by kind, in a stable order. */
  orderedRows(): SftResult['rows'] {
    const ordered: SftResult['rows'] = {};
    for (const k of ['gen', ...TEXT_KINDS] as const)
      if (this.rows[k] !== undefined) ordered[k] = this.rows[k];
    return ordered;
  }
}

/** One optimisation step: the generation and text losses backward, gradient clipping, AdamW. */
function sftStep(
  model: MultiModalityCausalLM,
  tok: ULMTokenizer,
  batch: SftBatch,
  o: SftOptions,
  opt: torch.optim.AdamW,
  params: Tensor[],
): SftStep {
  const maxTokens = o.maxTokens ?? 2048;
  opt.zeroGrad();
  const genValue = batch.gen.length > 0 ? genBackward(model, tok, batch.gen, o.genWeight ?? 1, maxTokens) : 0;
  const lw = o.letterWeight ?? 1;
  const text =
    batch.text.length > 0
      ? textBackward(
          model,
          tok,
          batch.text,
          (row, j) => (row.letters.includes(j) ? lw : 1),
          o.textWeight ?? 1,
          maxTokens,
        )
      : { perToken: [] as number[], rowOf: [] as number[], posOf: [] as number[] };
  const norm = torch.optim.clipGradNorm(params, o.clip ?? 1);
  opt.step();
  return { genValue, ...text, norm };
}

/**
 * Deals `costs` (one per micro-batch) out to `size` ranks, the costliest first, each to the least loaded rank
 * (the lowest on ties): the owner of each micro-batch. Every rank computes the same deal.
 */
export function dealParts(costs: readonly number[], size: number): number[] {
  const owner = new Array<number>(costs.length).fill(0);
  const load = new Array<number>(size).fill(0);
  const order = costs.map((c, i) => ({ c, i })).sort((a, b) => b.c - a.c || a.i - b.i);
  for (const { c, i } of order) {
    let best = 0;
    for (let r = 1; r < size; r++) if (load[r]! < load[best]!) best = r;
    owner[i] = best;
    load[best]! += c;
  }
  return owner;
}

/**
 * sftStep of one rank of `world`: one process's micro-batches of the batch (every rank drew the same) dealt
 * out by their tokens, each rank's backward over its own with the whole batch's denominators, the gradients
 * summed over ranks before clipping and AdamW; the losses of every micro-batch gathered back into one
 * process's order, so the meter (and every log) sees one process's values.
 */
function sftStepShared(
  model: MultiModalityCausalLM,
  tok: ULMTokenizer,
  batch: SftBatch,
  o: SftOptions,
  opt: torch.optim.AdamW,
  params: Tensor[],
  world: { rank: number; size: number },
): SftStep {
  const maxTokens = o.maxTokens ?? 2048;
  const N = model.numGenTokens;
  const lw = o.letterWeight ?? 1;
  const weightOf = (row: TextRow, j: number) => (row.letters.includes(j) ? lw : 1);
  opt.zeroGrad();
  // one process's micro-batches, each cut into a run per rank (whole image groups), so that every rank gets
  // a share of each kind of work: a step has few micro-batches (often one of generation rows, one of image
  // questions), and dealt out whole they leave one rank idle while the other runs the larger
  const genTokens = (r: GenRow) => r.prompt.length + N;
  const sum = <T>(xs: readonly T[], f: (x: T) => number) => xs.reduce((a, x) => a + f(x), 0);
  const gen = (batch.gen.length > 0 ? genParts(model, batch.gen, maxTokens) : []).flatMap((p) =>
    // a generation run is padded to its longest prompt
    splitRuns(p, world.size, genTokens).map((rows) => ({
      rows,
      tokens: rows.length * (Math.max(...rows.map((r) => r.prompt.length)) + N),
    })),
  );
  const text = (batch.text.length > 0 ? textParts(tok, batch.text, maxTokens) : []).flatMap((p) =>
    p[0]!.image === null
      ? splitRuns(p, world.size, plainTokens).map((rows) => ({ rows, tokens: sum(rows, plainTokens) }))
      : splitRuns(imageGroups(p), world.size, (g) => groupTokens(tok, g)).map((groups) => ({
          rows: groups.flat(),
          tokens: sum(groups, (g) => groupTokens(tok, g)),
        })),
  );
  const owner = dealParts(
    [...gen, ...text].map((p) => p.tokens),
    world.size,
  );
  const mine: { gen: [number, number][]; text: [number, TextLosses][] } = { gen: [], text: [] };
  gen.forEach(({ rows }, i) => {
    if (owner[i] === world.rank)
      mine.gen.push([i, genPartBackward(model, tok, rows, batch.gen.length, o.genWeight ?? 1)]);
  });
  const wsum = textWeightSum(batch.text, weightOf);
  const index = new Map(batch.text.map((r, i) => [r, i]));
  text.forEach(({ rows }, i) => {
    if (owner[gen.length + i] === world.rank)
      mine.text.push([i, textPartBackward(model, tok, rows, index, weightOf, o.textWeight ?? 1, wsum)]);
  });
  o.onShare?.(mine.gen.length + mine.text.length, owner.length);
  dist.allReduceGradients(params, 'sum');
  const all = dist.allGatherJson(mine);
  const byPart = <T>(xs: [number, T][]) => xs.sort((a, b) => a[0] - b[0]).map(([, v]) => v);
  // one process's sums, in its order (JSON turns a NaN loss into null)
  let genTotal = 0;
  for (const v of byPart(all.flatMap((r) => r.gen))) genTotal += v ?? NaN;
  const losses: TextLosses = { perToken: [], rowOf: [], posOf: [] };
  for (const r of byPart(all.flatMap((x) => x.text))) {
    losses.perToken.push(...r.perToken.map((v) => v ?? NaN));
    losses.rowOf.push(...r.rowOf);
    losses.posOf.push(...r.posOf);
  }
  const norm = torch.optim.clipGradNorm(params, o.clip ?? 1);
  opt.step();
  return { genValue: batch.gen.length > 0 ? genTotal / batch.gen.length : 0, ...losses, norm };
}

/**
 * Trains `model` in place; returns the log. Each step: the curriculum phase and learning rate at the run's
 * progress, a batch of that phase's mix, one optimisation step, the meter; a log line every 2% of the budget.
 */
export function trainSFT(model: MultiModalityCausalLM, tok: ULMTokenizer, o: SftOptions): SftResult {
  if (o.curriculum.length === 0) throw new RangeError('trainSFT: empty curriculum');
  const data = new SftData(tok, model.numImageTokens, {
    seed: o.seed,
    uncondProb: o.uncondProb ?? 0.1,
    mcAnswer: o.mcAnswer,
    popeThink: o.popeThink,
    positionThink: o.positionThink,
    perImage: o.perImage ?? 3,
  });
  const params = model.trainableParameters();
  const baseLr = o.lr ?? 2e-3;
  const opt = new torch.optim.AdamW(params, {
    lr: baseLr,
    weightDecay: o.weightDecay ?? 0.01,
    betas: [0.9, 0.98],
  });
  const schedule = warmupCosine(o.warmup ?? 0.03, o.finalLr ?? 0.1);
  const budget = Budget.of(o, 400);
  const meter = new SftMeter();
  const logs: SftLog[] = [];
  const logEvery = new LogEvery(0.02);
  let phaseName = '';
  const snapshot = () =>
    meter.snapshot({ step: budget.step, seconds: budget.elapsed(), lr: opt.lr, phase: phaseName });
  const world = o.world ?? null;
  // data parallel: rank 0's weights everywhere, and rank 0's clock for a time budget (the same phase, rate
  // and last step on every rank)
  if (world !== null) dist.broadcast([...model.stateDict().values()], 0);
  model.train();
  try {
    for (;;) {
      const progress = budget.agreedProgress(world);
      if (progress >= 1) break;
      const { phase, index } = phaseAt(o.curriculum, progress);
      phaseName = phase.name ?? `phase ${index + 1}`;
      opt.lr = baseLr * schedule(progress);
      const batch = data.batch(phase.mix);
      const step =
        world === null
          ? sftStep(model, tok, batch, o, opt, params)
          : sftStepShared(model, tok, batch, o, opt, params, world);
      meter.record(batch, step);
      budget.tick();
      const p = budget.progress();
      o.onStep?.(p, snapshot());
      if (logEvery.due(p, budget.done())) {
        const log = snapshot();
        logs.push(log);
        o.onLog?.(log);
        meter.reset();
      }
    }
  } finally {
    opt.dispose();
  }
  model.eval();
  return { steps: budget.step, seconds: budget.elapsed(), logs, rows: meter.orderedRows() };
}
