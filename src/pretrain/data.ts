/**
 * Pretraining data straight from the ShapesWorld generator (no files): seeded streams of scenes with their
 * renders, and the SFT rows built from them.
 *
 * Row kinds (the SFT mix, see presets.ts and docs/pretrain.md):
 *   gen        generation prompt -> the VQ codes of a real render of a scene satisfying it; with probability
 *              `uncondProb` the prompt becomes the CFG unconditional row (every token but BOS and
 *              `<begin_of_image>` replaced by pad, exactly as the sampler builds it)
 *   caption    image + "describe the image ." -> the world caption (bare text + EOS): the cycle reward
 *              re-captions generated images with the policy itself
 *   oe         image + open-ended question -> `<think> qa_think </think> <answer> answer </answer>`
 *   mcq        image + multiple-choice question -> mcAnswer 'letter': the world's think ending "B is red" and
 *              the letter; 'text': the fact as think and the option's text as answer (the base's choice)
 *   pope       image + "is there a red circle in the image?" -> think (popeThink) + yes / no
 *   mcq_text   option matching without an image: the MC question with the fact stated in the prompt
 *              ("the circle is red .\nQuestion: ... Options: ...") -> the same completion as `mcq`; cheap
 *              rows (no image tokens) for the description -> option-letter lookup on its own
 *   pope_text  the yes / no comparison without an image: the POPE question with the colours of the asked
 *              shape stated in the prompt ("the circle is blue .\nis there a red circle in the image?") -> the
 *              same completion as `pope`; cheap rows that teach the comparison of the think's colours on its
 *              own
 * Completions end in EOS; the loss covers completion tokens only. The image rows of a batch come in groups
 * of `perImage` questions about one scene (different kinds), which the trainer runs with the image prefix
 * computed once (sft.ts).
 */
import { expandImageTokens } from '../model/inputs.js';
import {
  ASSISTANT,
  USER,
  answerCompletion,
  generationPrompt,
  sftFormat,
  understandingPrompt,
} from '../model/templates.js';
import type { ULMTokenizer } from '../model/tokenizer.js';
import type { RgbImage } from '../world/image.js';
import { QuestionGenerator, listObjects, type Question } from '../world/questions.js';
import type { Scene } from '../world/scene.js';
import { renderScene } from '../world/render.js';
import { Rng, deriveSeed } from '../world/rng.js';
import { SceneStream, type SceneItem, type Split } from '../world/dataset.js';
import { CAPTION_QUESTION, OPTION_LETTERS, formatCompletion } from '../world/templates.js';
import { IMAGE_KINDS, type Mix, type TextKind } from './row-kinds.js';

/** The understanding kinds asked without an image (the fact stated in the prompt). */
const TEXT_ONLY_KINDS: readonly TextKind[] = ['mcq_text', 'pope_text'];

/** A scene of the world with its render. */
export interface WorldItem extends SceneItem {
  render: RgbImage;
}

/** An endless seeded stream of scenes (GenEval categories dealt in blocks) with their 32x32 renders. */
export class WorldStream {
  private readonly scenes: SceneStream;
  constructor(
    seed: number,
    split: Split = 'train',
    private readonly imageSize = 32,
  ) {
    this.scenes = new SceneStream(seed, split);
  }
  next(): WorldItem {
    const item = this.scenes.next();
    return { ...item, render: renderScene(item.scene, { size: this.imageSize }) };
  }
  take(n: number): WorldItem[] {
    return Array.from({ length: n }, () => this.next());
  }
}

/** The captioning prompt ("<|User|>: <image_placeholder>\ndescribe the image .\n\n<|Assistant|>:"). */
export function captionPrompt(): string {
  return understandingPrompt(CAPTION_QUESTION);
}

/** A text-only prompt (no image): "<|User|>: {content}\n\n<|Assistant|>:". */
export function textPrompt(content: string): string {
  return sftFormat([
    { role: USER, content },
    { role: ASSISTANT, content: '' },
  ]);
}

/** The fact of an MC think text ("the circle is red . B is red" -> "the circle is red"). */
export function mcFact(think: string): string {
  const at = think.lastIndexOf(' . ');
  return at < 0 ? think : think.slice(0, at);
}

/**
 * A POPE think text (see SftDataOptions.popeThink): 'shape' = the objects of the asked shape ("i see a blue
 * circle", "i see no circle"); 'object' = the asked object ("red circle").
 */
export function popeThink(mode: Exclude<PopeThink, 'world'>, question: string, scene: Scene): string {
  const m = /is there a (\w+) (\w+) in the image/.exec(question);
  if (!m) throw new Error(`not a POPE question: ${question}`);
  if (mode === 'object') return `${m[1]} ${m[2]}`;
  const shape = m[2]!;
  const objs = scene.objects.filter((o) => o.shape === shape).sort((a, b) => a.x - b.x || a.y - b.y);
  if (mode === 'match') {
    const seen = objs.length === 0 ? 'no' : objs.map((o) => o.color).join(' ');
    return `${shape} : ${seen} = ${m[1]}`;
  }
  if (objs.length === 0) return `i see no ${shape}`;
  if (mode === 'shape') return `i see ${listObjects(objs)}`;
  if (objs.length === 1) return `the ${shape} is ${objs[0]!.color}`;
  const colors = objs.map((o) => o.color);
  return `the ${shape}s are ${colors.slice(0, -1).join(' , ')} and ${colors.at(-1)}`;
}

/**
 * A position think text with the two objects' grid cells ('cells' mode): "where is the red circle relative to
 * the square?" -> "the red circle is in 1 4 . the square is in 5 4" (column and row of each centre on an 8 x 8
 * grid, the ViT's patch grid at 32 px), so the relation is read off two pairs of digits in the think instead
 * of being compared inside the image.
 */
export function positionThink(question: string, scene: Scene): string {
  const m = /where is the (.+) relative to the (.+)\?/.exec(question);
  if (!m) throw new Error(`not a position question: ${question}`);
  const find = (ref: string) => {
    const w = ref.split(' ');
    const o = scene.objects.find((p) =>
      w.length === 1 ? p.shape === w[0] : p.color === w[0] && p.shape === w[1],
    );
    if (!o) throw new Error(`position question names no object of the scene: ${ref}`);
    return o;
  };
  const cell = (v: number) => Math.min(7, Math.max(0, Math.floor(v * 8)));
  const at = (ref: string) => {
    const o = find(ref);
    return `the ${ref} is in ${cell(o.x)} ${cell(o.y)}`;
  };
  return `${at(m[1]!)} . ${at(m[2]!)}`;
}

/** An understanding-side training row: prompt ids (BOS first, image spans expanded) and completion ids. */
export interface TextRow {
  kind: TextKind;
  prompt: number[];
  completion: number[];
  /** The image of the row's single image span, if it has one (rows about one scene share the object). */
  image: RgbImage | null;
  /** MC rows in 'letter' mode: completion indexes of the option letters (think text and answer). */
  letters: number[];
  /** The completion index of the answer's first token (after `<answer>`), for the logs. */
  answerAt?: number;
}

/** A generation training row: prompt ids (BOS ... `<begin_of_image>`) and the real image to encode. */
export interface GenRow {
  prompt: number[];
  image: RgbImage;
  unconditional: boolean;
}

export interface SftBatch {
  text: TextRow[];
  gen: GenRow[];
}

export type McAnswer = 'letter' | 'text';
export type PopeThink = 'world' | 'shape' | 'object' | 'colors' | 'match';
export type PositionThink = 'world' | 'cells';

export interface SftDataOptions {
  seed: number;
  /** Probability that a generation row is the unconditional (CFG) prompt (default 0.1). */
  uncondProb?: number;
  imageSize?: number;
  /**
   * How MC rows are answered: 'letter' (the world's think text ending "B is red" and the letter in the answer
   * tags) or 'text' (the think text is the fact, the answer the option's text, e.g. `<answer> red </answer>`,
   * which the MCQ scorer maps to its letter through the options; see docs/pretrain.md). Default 'letter'.
   */
  mcAnswer?: McAnswer;
  /**
   * The POPE think text: 'world' keeps the world's list of every object ("i see a red circle and a blue
   * square"); 'shape' lists only the objects of the asked shape ("i see a blue circle", "i see no circle");
   * 'object' restates the asked object ("red circle"), leaving the yes / no to a direct look at the image;
   * 'colors' states the colours of the asked shape in the open-ended colour answer's words ("the circle is
   * blue", "the circles are red and blue", "i see no circle"); 'match' puts the colours of the asked shape next
   * to the asked colour ("circle : blue = red", "circle : no = red"), so the yes / no compares neighbours.
   * Default 'world'.
   */
  popeThink?: PopeThink;
  /**
   * The think text of position questions (MC and OE): 'world' = the relation itself ("the circle is left of
   * the square"); 'cells' = both objects' grid cells (positionThink). Default 'world'.
   */
  positionThink?: PositionThink;
  /** Questions asked about each scene of a batch (default 1: a fresh scene per row). */
  perImage?: number;
}

/** Builds SFT batches of any mix from fresh scenes of the train stream. */
export class SftData {
  private readonly stream: WorldStream;
  private readonly rng: Rng;
  private readonly questions: QuestionGenerator;
  private readonly uncondProb: number;
  private readonly mcAnswer: McAnswer;
  private readonly popeThink: PopeThink;
  private readonly positionThink: PositionThink;
  private readonly perImage: number;

  constructor(
    private readonly tok: ULMTokenizer,
    private readonly numImageTokens: number,
    opts: SftDataOptions,
  ) {
    this.stream = new WorldStream(deriveSeed(opts.seed, 'sft-scenes'), 'train', opts.imageSize ?? 32);
    this.rng = new Rng(deriveSeed(opts.seed, 'sft-rows'));
    this.questions = new QuestionGenerator(new Rng(deriveSeed(opts.seed, 'sft-questions')));
    this.uncondProb = opts.uncondProb ?? 0.1;
    this.mcAnswer = opts.mcAnswer ?? 'letter';
    this.popeThink = opts.popeThink ?? 'world';
    this.positionThink = opts.positionThink ?? 'world';
    this.perImage = Math.max(1, opts.perImage ?? 1);
  }

  private encodeImagePrompt(prompt: string): number[] {
    return expandImageTokens(this.tok.encode(prompt, { bos: true }), this.tok.special, this.numImageTokens);
  }

  private completion(text: string): number[] {
    return this.tok.encode(answerCompletion(text));
  }

  /** The index of the think text's option letter (the last A-D token before `</think>`). */
  private letterIndex(completion: readonly number[]): number | undefined {
    const end = completion.indexOf(this.tok.tokenToId('</think>') ?? -1);
    const letters = OPTION_LETTERS.map((l) => this.tok.tokenToId(l));
    for (let i = end - 1; i >= 0; i--) if (letters.includes(completion[i])) return i;
    return undefined;
  }

  /** One generation row. */
  genRow(item: WorldItem = this.stream.next()): GenRow {
    const ids = this.tok.encode(generationPrompt(item.prompt), { bos: true });
    const unconditional = this.rng.bool(this.uncondProb);
    if (unconditional) for (let i = 1; i < ids.length - 1; i++) ids[i] = this.tok.special.pad;
    return { prompt: ids, image: item.render, unconditional };
  }

  /** One understanding row of the given kind. */
  textRow(kind: TextKind, item: WorldItem = this.stream.next()): TextRow {
    if (kind === 'caption')
      return {
        kind,
        prompt: this.encodeImagePrompt(captionPrompt()),
        completion: this.completion(item.caption),
        image: item.render,
        letters: [],
      };
    const q: Question =
      kind === 'oe'
        ? this.questions.oe(item.scene)
        : kind === 'pope' || kind === 'pope_text'
          ? this.questions.pope(item.scene)
          : this.questions.mcq(item.scene);
    const textAnswer = q.type === 'MC' && this.mcAnswer === 'text';
    const think =
      q.kind === 'position' && this.positionThink === 'cells'
        ? positionThink(q.question, item.scene)
        : textAnswer
          ? mcFact(q.think)
          : q.kind === 'exist' && this.popeThink !== 'world'
            ? popeThink(this.popeThink, q.question, item.scene)
            : q.think;
    const completion = this.completion(formatCompletion(think, textAnswer ? q.answerText : q.answer));
    const letterAt = q.type === 'MC' && !textAnswer ? this.letterIndex(completion) : undefined;
    const open = completion.indexOf(this.tok.tokenToId('<answer>') ?? -1);
    const fact =
      kind === 'mcq_text'
        ? mcFact(q.think)
        : kind === 'pope_text'
          ? popeThink('colors', q.question, item.scene)
          : null;
    const prompt =
      fact === null
        ? this.encodeImagePrompt(understandingPrompt(q.problem))
        : this.tok.encode(textPrompt(`${fact} .\n${q.problem}`), { bos: true });
    return {
      kind,
      prompt,
      completion,
      image: fact === null ? item.render : null,
      letters: letterAt === undefined ? [] : [letterAt, open + 1],
      answerAt: open >= 0 ? open + 1 : undefined,
    };
  }

  /**
   * A batch with `mix[k]` rows of each kind. Generation and text-only rows each take a fresh scene; the image
   * rows are dealt to fresh scenes `perImage` at a time, kinds interleaved so a scene is asked different kinds.
   */
  batch(mix: Mix): SftBatch {
    const gen: GenRow[] = [];
    for (let i = 0; i < (mix.gen ?? 0); i++) gen.push(this.genRow());
    const text: TextRow[] = [];
    for (const k of TEXT_ONLY_KINDS) for (let i = 0; i < (mix[k] ?? 0); i++) text.push(this.textRow(k));
    const kinds: TextKind[] = [];
    const left = IMAGE_KINDS.map((k) => mix[k] ?? 0);
    while (left.some((n) => n > 0))
      IMAGE_KINDS.forEach((k, i) => {
        if (left[i]! > 0) {
          kinds.push(k);
          left[i]!--;
        }
      });
    let item = this.stream.next();
    kinds.forEach((k, i) => {
      if (i > 0 && i % this.perImage === 0) item = this.stream.next();
      text.push(this.textRow(k, item));
    });
    return { text, gen };
  }
}
