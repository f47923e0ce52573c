/**
 * The ShapesWorld benchmarks of a ULM, batched (no per-sample forward loops):
 *
 *   geneval  GenEval-style generation: every prompt is drawn `imagesPerPrompt` times (4, as GenEval) with CFG
 *            (Janus's sampler, weight 5, temperature 1), the VQ codes decoded, the images read by the world's
 *            scene parser (`detectObjects`) and checked against the prompt's spec (`scoreGeneval`); accuracy
 *            per category and overall (the mean of the category accuracies, GenEval's score)
 *   mcq      multiple-choice accuracy (`mcqAccuracy`: the answer's letter), overall and per question kind
 *   oe       open-ended accuracy (`oeAccuracy`: normalised exact match, numbers as numbers), overall and per kind
 *   pope     POPE yes/no: accuracy, precision, recall, F1, yes-ratio, overall and per split
 *            (random / popular / adversarial)
 *   format   the share of answers that are exactly `<think> ... </think> <answer> ... </answer>`, overall and per
 *            family
 * Answers are greedy (temperature 0); the image sampler is seeded, so a run is reproducible.
 *
 * Rows are world rows (src/world/dataset.ts) with their image attached (`image`) or rendered from their scene.
 * Which benchmark a row feeds follows its fields: `task: gen` -> geneval; `task: mcq | oe | pope` -> that
 * family; `task: unified` (stage-1 files) -> geneval (its `prompt` and `spec`) and the family of its question
 * (`pope_split` or `qa_kind: exist` -> pope, `qa_type: MC` -> mcq, else oe).
 */
import * as torch from '../torch/index.js';
import * as dist from '../torch/distributed.js';
import type { MultiModalityCausalLM } from '../model/ulm.js';
import type { ULMTokenizer } from '../model/tokenizer.js';
import { understandingBatch } from '../model/inputs.js';
import { drawImages } from '../model/draw.js';
import { understandingPrompt } from '../model/templates.js';
import { sampleText } from '../model/sample.js';
import { preprocessImage } from '../model/preprocess.js';
import { POPE_SPLITS, QuestionGenerator, type PopeSplit, type QuestionFamily } from '../world/questions.js';
import { detectObjects } from '../world/detect.js';
import {
  GENEVAL_CATEGORIES,
  scoreGeneval,
  summariseGeneval,
  type GenevalCategory,
} from '../world/geneval.js';
import type { RgbImage } from '../world/image.js';
import { renderScene } from '../world/render.js';
import { Rng, deriveSeed } from '../world/rng.js';
import { SceneStream, makeRow, type WorldRow } from '../world/dataset.js';
import {
  formatReward,
  mcqAccuracy,
  oeAccuracy,
  parseYesNo,
  popeMetrics,
  type PopeMetrics,
} from '../world/answers.js';

/** A world row with its image (when absent, the row's scene is rendered at the model's image size). */
export type EvalRow = WorldRow & { image?: RgbImage };

export interface EvalOptions {
  /** Evaluate at most this many generation prompts (default: all). */
  genPrompts?: number;
  /** Images per prompt (default 4, as GenEval). */
  imagesPerPrompt?: number;
  /** CFG weight (default 5). */
  cfgWeight?: number;
  /** Image sampling temperature (default 1). */
  temperature?: number;
  /** Seeds the image sampler (default 0). */
  seed?: number;
  /** At most this many questions per family (mcq, oe, pope; default: all). */
  maxQuestions?: number;
  /** Longest answer in tokens (default 64). */
  maxNewTokens?: number;
  /** Prompts per image-sampling batch (default 16: 16 x 4 images x 2 CFG rows). */
  genBatch?: number;
  /** Questions per answering batch (default 64). */
  textBatch?: number;
  /** Skip a benchmark (e.g. `{geneval: false}` for understanding only). */
  geneval?: boolean;
  understanding?: boolean;
  /** Keep this many example answers / detections per family in the result (default 0). */
  examples?: number;
  /** Called after each batch with the work done so far (units: images + answers). */
  onProgress?: (done: number, total: number) => void;
  /**
   * Data parallel (docs/distributed.md): this rank of `size` in the joined process group. Whole batches are
   * dealt out round-robin (generation batches, then answering batches), each rank skips the image sampler's
   * draws of the others' generation batches, and the per-batch results are all-gathered, so every rank
   * returns exactly one process's items and scores. Absent: one process.
   */
  world?: { rank: number; size: number } | null;
}

/** A quick evaluation for in-training checks: ~10-20 s for the world-tiny model on 2 cores. */
export const QUICK_EVAL: Readonly<EvalOptions> = { genPrompts: 24, maxQuestions: 60 };

export interface Accuracy {
  accuracy: number;
  n: number;
}

/** Each evaluated item's score, in eval-set order (the same items give the same order for every model). */
export interface EvalItems {
  /** Per generation prompt: its category and the share of its images judged correct. */
  geneval: { tag: GenevalCategory; correct: number }[];
  /** Per question: 1 or 0 (MCQ, open-ended). */
  mcq: number[];
  oe: number[];
  /** Per POPE question: the parsed answer and the truth. */
  pope: { pred: 'yes' | 'no' | null; gold: 'yes' | 'no' }[];
}

export interface EvalResult {
  geneval: {
    overall: number;
    categories: Partial<Record<GenevalCategory, Accuracy>>;
    prompts: number;
    images: number;
    /** Mean objects detected per image (a sanity check: blank or cluttered images). */
    objects_per_image: number;
  } | null;
  mcq: (Accuracy & { by_kind: Record<string, Accuracy> }) | null;
  oe: (Accuracy & { by_kind: Record<string, Accuracy> }) | null;
  pope: (PopeMetrics & { splits: Partial<Record<PopeSplit, PopeMetrics>> }) | null;
  format: { rate: number; n: number; by_family: Partial<Record<QuestionFamily, Accuracy>> } | null;
  seconds: number;
  /** Per item, for intervals (intervals.ts): absent in results written before it existed. */
  items?: EvalItems;
  examples?: {
    family: string;
    kind: string;
    question: string;
    answer: string;
    gold: string;
    score: number;
  }[];
}

/** The question family of a row, or null when it holds no question. */
export function questionFamily(row: WorldRow): QuestionFamily | null {
  if (row.task === 'mcq' || row.task === 'oe' || row.task === 'pope') return row.task;
  if (row.task === 'gen' || row.qa_problem === undefined) return null;
  if (row.pope_split !== undefined || row.qa_kind === 'exist') return 'pope';
  return row.qa_type === 'MC' ? 'mcq' : 'oe';
}

/** Whether a row carries a generation prompt to benchmark. */
export function isGenRow(row: WorldRow): boolean {
  if (row.task === 'gen' || row.task === 'unified') return true;
  return row.task === undefined && row.qa_problem === undefined;
}

/** Splits rows into the generation prompts and the questions of each family, each capped. */
export function routeRows<R extends WorldRow>(
  rows: readonly R[],
  o: Pick<EvalOptions, 'genPrompts' | 'maxQuestions'> = {},
): { gen: R[]; mcq: R[]; oe: R[]; pope: R[] } {
  const out = { gen: [] as R[], mcq: [] as R[], oe: [] as R[], pope: [] as R[] };
  const genCap = o.genPrompts ?? Infinity;
  const qCap = o.maxQuestions ?? Infinity;
  for (const r of rows) {
    if (isGenRow(r) && out.gen.length < genCap) out.gen.push(r);
    const f = questionFamily(r);
    if (f !== null && out[f].length < qCap) out[f].push(r);
  }
  return out;
}

function accuracyBy(items: readonly { key: string; score: number }[]): Record<string, Accuracy> {
  const out: Record<string, Accuracy> = {};
  for (const { key, score } of items) {
    const a = (out[key] ??= { accuracy: 0, n: 0 });
    a.accuracy += score;
    a.n += 1;
  }
  for (const a of Object.values(out)) a.accuracy /= a.n;
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}

const mean = (xs: readonly number[]) => (xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length);

function chunks<T>(xs: readonly T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

/**
 * GenEval-style scoring of images against their rows' specs (row i goes with image i): the scene parser reads
 * each image and `scoreGeneval` checks it. Returns the per-image results and the objects detected in all.
 */
export function scoreImages(
  rows: readonly Pick<WorldRow, 'spec'>[],
  images: readonly RgbImage[],
): { results: { tag: GenevalCategory; correct: boolean }[]; objects: number } {
  if (rows.length !== images.length) throw new RangeError('scoreImages: one row per image');
  let objects = 0;
  const results = images.map((img, k) => {
    const dets = detectObjects(img);
    objects += dets.length;
    const spec = rows[k]!.spec;
    return { tag: spec.tag, correct: scoreGeneval(spec, dets).correct };
  });
  return { results, objects };
}

/** Greedy answers to understanding prompts (one image each), in batches. */
function answerBatch(
  model: MultiModalityCausalLM,
  tok: ULMTokenizer,
  prompts: readonly string[],
  images: readonly RgbImage[],
  maxNewTokens: number,
): string[] {
  return torch.tidy(() => {
    // each image through the model's image processor (a copy when it already has the ViT's size)
    const px = images.map((im) => preprocessImage(im, model.config));
    const batch = understandingBatch(
      tok,
      prompts,
      px.map((p) => [p]),
      model.numImageTokens,
    );
    const s = sampleText(model, batch, {
      maxNewTokens,
      temperature: 0,
      eosId: tok.special.eos,
      padId: tok.special.pad,
    });
    return s.ids.map((ids) => tok.decode(ids).trim());
  });
}

type Routed = ReturnType<typeof routeRows<EvalRow>>;
type Tick = (n: number) => void;

/**
 * Runs the benchmarks on `rows` (see the file comment) and returns every number. Everything runs under noGrad;
 * the model's train/eval mode is left as it was.
 *
 *   1. generation     G images per prompt (CFG), judged by the scene parser (GenEval-style)
 *   2. answers        one greedy answer per question (MCQ, open-ended, POPE)
 *   3. scores         accuracy per family and kind, POPE's metrics, the format rate, items for intervals
 */
export function evaluate(
  model: MultiModalityCausalLM,
  tok: ULMTokenizer,
  rows: readonly EvalRow[],
  opts: EvalOptions = {},
): EvalResult {
  const t0 = performance.now();
  const routed = routeRows(rows, opts);
  if (opts.geneval === false) routed.gen = [];
  if (opts.understanding === false) routed.mcq = routed.oe = routed.pope = [];
  const G = opts.imagesPerPrompt ?? 4;
  const questions = [...routed.mcq, ...routed.oe, ...routed.pope];
  const total = routed.gen.length * G + questions.length;
  let done = 0;
  const tick: Tick = (n) => {
    done = Math.min(total, done + n); // data parallel: every rank counts its peers' batches as its own
    opts.onProgress?.(done, total);
  };
  return torch.noGrad(() => {
    const gen = evaluateGeneration(model, tok, routed.gen, opts, tick);
    const genBatches = Math.ceil(routed.gen.length / (opts.genBatch ?? 16));
    const answers = answerQuestions(model, tok, questions, opts, tick, genBatches);
    const scores = scoreAnswers(routed, answers, opts.examples ?? 0);
    const result: EvalResult = {
      geneval: gen.geneval,
      mcq: scores.mcq,
      oe: scores.oe,
      pope: scores.pope,
      format: formatRates(routed, questions, answers),
      seconds: (performance.now() - t0) / 1000,
      items: { ...scores.items, geneval: gen.items },
    };
    if ((opts.examples ?? 0) > 0) result.examples = scores.examples;
    return result;
  });
}

/** 1. G images per prompt, judged by the scene parser; per-prompt items for intervals. */
function evaluateGeneration(
  model: MultiModalityCausalLM,
  tok: ULMTokenizer,
  prompts: readonly EvalRow[],
  opts: EvalOptions,
  tick: Tick,
): { geneval: EvalResult['geneval']; items: EvalItems['geneval'] } {
  if (prompts.length === 0) return { geneval: null, items: [] };
  const G = opts.imagesPerPrompt ?? 4;
  const gen = new torch.Generator(opts.seed ?? 0);
  const results: { tag: GenevalCategory; correct: boolean }[] = [];
  let objects = 0;
  const world = opts.world ?? null;
  if (world !== null) {
    const shared = shardedGeneration(model, tok, prompts, opts, tick, gen, world);
    results.push(...shared.results);
    objects = shared.objects;
  } else
    for (const part of chunks(prompts, opts.genBatch ?? 16)) {
      const scored = drawAndScore(model, tok, part, opts, gen);
      results.push(...scored.results);
      objects += scored.objects;
      tick(part.length * G);
    }
  const items: EvalItems['geneval'] = [];
  for (let k = 0; k * G < results.length; k++) {
    const mine = results.slice(k * G, (k + 1) * G);
    items.push({ tag: mine[0]!.tag, correct: mine.filter((r) => r.correct).length / mine.length });
  }
  const s = summariseGeneval(results);
  return {
    geneval: {
      overall: s.overall,
      categories: s.categories,
      prompts: prompts.length,
      images: results.length,
      objects_per_image: results.length === 0 ? 0 : objects / results.length,
    },
    items,
  };
}

type GenBatchResult = { results: { tag: GenevalCategory; correct: boolean }[]; objects: number };

/**
 * Draws from `generator` exactly as sampleImages does for `rows` images of `tokens` codes over a codebook of
 * `codes` without computing them: one multinomial draw from a [rows, codes] float32 distribution per code
 * (libtorch draws one exponential per entry whatever the probabilities), none when greedy. A rank skips the
 * other ranks' generation batches with it, so its own batches see one process's random stream.
 */
export function skipImageDraws(
  generator: torch.Generator,
  rows: number,
  tokens: number,
  codes: number,
  temperature = 1,
): void {
  if (temperature === 0 || rows === 0) return;
  torch.noGrad(() =>
    torch.tidy(() => {
      const probs = torch.ones([rows, codes], { dtype: 'float32' });
      for (let k = 0; k < tokens; k++) torch.multinomial(probs, 1, { generator }).dispose();
    }),
  );
}

/** One generation batch: G images per prompt (CFG, the shared generator), judged by the scene parser. */
function drawAndScore(
  model: MultiModalityCausalLM,
  tok: ULMTokenizer,
  part: readonly EvalRow[],
  opts: EvalOptions,
  gen: torch.Generator,
): GenBatchResult {
  const G = opts.imagesPerPrompt ?? 4;
  const images = drawImages(
    model,
    tok,
    part.map((r) => r.prompt),
    {
      imagesPerPrompt: G,
      cfgWeight: opts.cfgWeight, // drawImages' defaults: Janus's CFG 5, temperature 1
      temperature: opts.temperature,
      generator: gen,
    },
  );
  return scoreImages(
    part.flatMap((r) => Array.from({ length: G }, () => r)),
    images,
  );
}

/** Generation batch k runs on rank k mod size; the answering batches continue the deal after them. */
const dealt = (k: number, world: { rank: number; size: number }) => k % world.size === world.rank;

/** 1, data parallel: this rank's generation batches, the others' draws skipped, every batch gathered. */
function shardedGeneration(
  model: MultiModalityCausalLM,
  tok: ULMTokenizer,
  prompts: readonly EvalRow[],
  opts: EvalOptions,
  tick: Tick,
  gen: torch.Generator,
  world: { rank: number; size: number },
): GenBatchResult {
  const G = opts.imagesPerPrompt ?? 4;
  const mine: [number, GenBatchResult][] = [];
  chunks(prompts, opts.genBatch ?? 16).forEach((part, k) => {
    if (!dealt(k, world)) {
      const codes = model.config.gen_head_config.params.image_token_size;
      skipImageDraws(gen, part.length * G, model.numGenTokens, codes, opts.temperature ?? 1);
      return;
    }
    mine.push([k, drawAndScore(model, tok, part, opts, gen)]);
    tick(part.length * G * world.size);
  });
  const all = dist
    .allGatherJson(mine)
    .flat()
    .sort((a, b) => a[0] - b[0]);
  return {
    results: all.flatMap(([, r]) => r.results),
    objects: all.reduce((a, [, r]) => a + r.objects, 0),
  };
}

/** 2. One greedy answer per question, in batches. */
function answerQuestions(
  model: MultiModalityCausalLM,
  tok: ULMTokenizer,
  questions: readonly EvalRow[],
  opts: EvalOptions,
  tick: Tick,
  first = 0,
): Map<EvalRow, string> {
  const size = model.config.vision_config.params.image_size;
  const imageOf = (r: EvalRow): RgbImage => r.image ?? renderScene(r.scene, { size });
  const answers = new Map<EvalRow, string>();
  const world = opts.world ?? null;
  if (world !== null) {
    // the deal continues after the generation batches, so the ranks' loads even out
    const parts = chunks(questions, opts.textBatch ?? 64);
    const mine: [number, string[]][] = [];
    parts.forEach((part, k) => {
      if (!dealt(first + k, world)) return;
      mine.push([
        k,
        answerBatch(
          model,
          tok,
          part.map((r) => understandingPrompt(r.qa_problem!)),
          part.map(imageOf),
          opts.maxNewTokens ?? 64,
        ),
      ]);
      tick(part.length * world.size);
    });
    for (const [k, outs] of dist.allGatherJson(mine).flat())
      parts[k]!.forEach((r, i) => answers.set(r, outs[i]!));
    return answers;
  }
  for (const part of chunks(questions, opts.textBatch ?? 64)) {
    const outs = answerBatch(
      model,
      tok,
      part.map((r) => understandingPrompt(r.qa_problem!)),
      part.map(imageOf),
      opts.maxNewTokens ?? 64,
    );
    part.forEach((r, i) => answers.set(r, outs[i]!));
    tick(part.length);
  }
  return answers;
}

/** 3. Accuracy per family and kind, POPE's metrics, the items for intervals and up to `keep` examples a family. */
function scoreAnswers(
  routed: Routed,
  answers: Map<EvalRow, string>,
  keep: number,
): Pick<EvalResult, 'mcq' | 'oe' | 'pope'> & {
  items: Omit<EvalItems, 'geneval'>;
  examples: NonNullable<EvalResult['examples']>;
} {
  const examples: NonNullable<EvalResult['examples']> = [];
  const scored = (family: QuestionFamily, score: (r: EvalRow, a: string) => number) =>
    routed[family].map((r) => {
      const answer = answers.get(r)!;
      const s = score(r, answer);
      if (examples.filter((e) => e.family === family).length < keep)
        examples.push({
          family,
          kind: r.qa_kind ?? '',
          question: r.qa_problem!,
          answer,
          gold: r.qa_solution ?? '',
          score: s,
        });
      return { key: r.qa_kind ?? 'unknown', score: s };
    });
  const fam = (scores: { key: string; score: number }[]) =>
    scores.length === 0
      ? null
      : { accuracy: mean(scores.map((i) => i.score)), n: scores.length, by_kind: accuracyBy(scores) };
  const mcqScores = scored('mcq', (r, a) => mcqAccuracy(a, r.qa_solution!, r.qa_problem));
  const oeScores = scored('oe', (r, a) => oeAccuracy(a, r.qa_solution!));
  scored('pope', (r, a) => (parseYesNo(a) === r.qa_answer ? 1 : 0)); // examples only
  const popeItems = routed.pope.map((r) => ({
    pred: parseYesNo(answers.get(r)!),
    gold: (r.qa_answer === 'yes' ? 'yes' : 'no') as 'yes' | 'no',
    split: r.pope_split,
  }));
  return {
    mcq: fam(mcqScores),
    oe: fam(oeScores),
    pope: popeResult(popeItems),
    items: {
      mcq: mcqScores.map((i) => i.score),
      oe: oeScores.map((i) => i.score),
      pope: popeItems.map(({ pred, gold }) => ({ pred, gold })),
    },
    examples,
  };
}

/** POPE's metrics, overall and per split. */
function popeResult(
  items: { pred: 'yes' | 'no' | null; gold: 'yes' | 'no'; split?: PopeSplit }[],
): EvalResult['pope'] {
  if (items.length === 0) return null;
  const splits: Partial<Record<PopeSplit, PopeMetrics>> = {};
  for (const s of POPE_SPLITS) {
    const sub = items.filter((i) => i.split === s);
    if (sub.length > 0) splits[s] = popeMetrics(sub);
  }
  return { ...popeMetrics(items), splits };
}

/** The think/answer format rate, overall and per family. */
function formatRates(
  routed: Routed,
  questions: readonly EvalRow[],
  answers: Map<EvalRow, string>,
): EvalResult['format'] {
  if (questions.length === 0) return null;
  const by: Partial<Record<QuestionFamily, Accuracy>> = {};
  for (const f of ['mcq', 'oe', 'pope'] as const)
    if (routed[f].length > 0)
      by[f] = { accuracy: mean(routed[f].map((r) => formatReward(answers.get(r)!))), n: routed[f].length };
  return {
    rate: mean(questions.map((r) => formatReward(answers.get(r)!))),
    n: questions.length,
    by_family: by,
  };
}

/**
 * Held-out evaluation rows generated in memory, identical to the `eval/{gen,mcq,oe,pope}.jsonl` rows that
 * `corl world build --seed S --test N` writes (same streams), with their images rendered: N generation rows,
 * N MCQ, N open-ended and 3N POPE rows (one per split).
 */
export function worldEvalRows(seed: number, n: number, imageSize = 32): EvalRow[] {
  const scenes = new SceneStream(seed, 'test');
  const qMcq = new QuestionGenerator(new Rng(deriveSeed(seed, 'mcq', 'test')));
  const qOe = new QuestionGenerator(new Rng(deriveSeed(seed, 'oe', 'test')));
  const qPope = new QuestionGenerator(new Rng(deriveSeed(seed, 'pope', 'test')));
  const gen: EvalRow[] = [];
  const mcq: EvalRow[] = [];
  const oe: EvalRow[] = [];
  const pope: EvalRow[] = [];
  const prefix = '../';
  for (let i = 0; i < n; i++) {
    const item = scenes.next();
    const image = renderScene(item.scene, { size: imageSize });
    gen.push({ ...makeRow(item, 'gen', prefix), image });
    mcq.push({ ...makeRow(item, 'mcq', prefix, qMcq.mcq(item.scene)), image });
    oe.push({ ...makeRow(item, 'oe', prefix, qOe.oe(item.scene)), image });
    for (const s of POPE_SPLITS)
      pope.push({ ...makeRow(item, 'pope', prefix, qPope.pope(item.scene, s), `-${s}`), image });
  }
  return [...gen, ...mcq, ...oe, ...pope];
}

/** The result as flat `name: number` pairs (for metrics logs): geneval/overall, mcq/color, pope/f1, ... */
export function flattenEval(r: EvalResult): Record<string, number> {
  const out: Record<string, number> = {};
  if (r.geneval) {
    out['geneval/overall'] = r.geneval.overall;
    for (const c of GENEVAL_CATEGORIES) {
      const a = r.geneval.categories[c];
      if (a) out[`geneval/${c}`] = a.accuracy;
    }
  }
  for (const f of ['mcq', 'oe'] as const) {
    const a = r[f];
    if (!a) continue;
    out[`${f}/accuracy`] = a.accuracy;
    for (const [k, v] of Object.entries(a.by_kind)) out[`${f}/${k}`] = v.accuracy;
  }
  if (r.pope) {
    for (const k of ['accuracy', 'precision', 'recall', 'f1', 'yes_ratio'] as const)
      out[`pope/${k}`] = r.pope[k];
    for (const [s, m] of Object.entries(r.pope.splits)) out[`pope/${s}/accuracy`] = m.accuracy;
  }
  if (r.format) out['format/rate'] = r.format.rate;
  if (r.mcq && r.oe && r.pope) out['understanding/mean'] = (r.mcq.accuracy + r.oe.accuracy + r.pope.f1) / 3;
  return out;
}
