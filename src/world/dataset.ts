/**
 * ShapesWorld dataset files, in ULM-R1's field names. `buildDataset` writes
 *
 *   DIR/train.jsonl          stage 1 (unified RL / SFT): one row per train scene, each with a generation
 *                            `prompt` and a question (`qa_*`) about the same `real_image` (ULM-R1's 22K mix);
 *                            questions are 40% MCQ, 40% open-ended, 20% POPE-style yes/no
 *   DIR/test.jsonl           the same for the test scenes
 *   DIR/images/{train,test}-NNNNNN.png
 *   DIR/stage2/gen.jsonl     stage 2, per task, on the train scenes: generation rows (prompt + image),
 *   DIR/stage2/mcq.jsonl     one MCQ row per scene,
 *   DIR/stage2/oe.jsonl      one open-ended row per scene
 *   DIR/eval/gen.jsonl       evaluation on the test scenes: GenEval-style prompts,
 *   DIR/eval/mcq.jsonl       MCQ, open-ended,
 *   DIR/eval/oe.jsonl
 *   DIR/eval/pope.jsonl      and POPE: three rows per scene (random, popular, adversarial splits)
 *   DIR/manifest.json        seed, counts, options, files
 *
 * `real_image` is relative to the folder of the JSONL file. The same seed gives byte-identical files; the
 * train and test scenes come from separate streams, so changing --test does not change the train rows.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { z } from 'zod';
import { UserError } from '../util/errors.js';
import { readJsonl } from '../util/jsonl.js';
import { COLORS, SHAPES, SIZES } from './attributes.js';
import { describeScene } from './caption.js';
import {
  GENEVAL_CATEGORIES,
  RELATION_OF,
  type GenevalCategory,
  type GenevalRelation,
  type GenevalSpec,
} from './geneval.js';
import { encodePng } from './png.js';
import { readImage } from './image-file.js';
import type { RgbImage } from './image.js';
import { samplePrompt, sceneForSpec } from './prompts.js';
import {
  POPE_SPLITS,
  QUESTION_KINDS,
  QuestionGenerator,
  type PopeSplit,
  type Question,
  type QuestionFamily,
  type QuestionKind,
} from './questions.js';
import { renderScene } from './render.js';
import { BlockBalancer, Rng, deriveSeed } from './rng.js';
import type { Scene } from './scene.js';
import { worldVocabulary } from './vocabulary.js';

export const WORLD_TASKS = ['unified', 'gen', 'mcq', 'oe', 'pope'] as const;
export type WorldTask = (typeof WORLD_TASKS)[number];

export interface WorldRow {
  id: string;
  /** unified = generation prompt + question (stage 1); gen / mcq / oe / pope = one task (stage 2, eval). */
  task: WorldTask;
  /** GenEval category of `prompt`. */
  category: GenevalCategory;
  /** A generation prompt the image satisfies. */
  prompt: string;
  /** PNG path relative to the JSONL file's folder. */
  real_image: string;
  qa_problem?: string;
  qa_solution?: string;
  qa_type?: 'MC' | 'OE';
  /** Reference reasoning for SFT: `<think> qa_think </think> <answer> qa_answer </answer>`. */
  qa_think?: string;
  qa_kind?: QuestionKind;
  /** The bare answer (a letter for MC). */
  qa_answer?: string;
  qa_options?: string[];
  pope_split?: PopeSplit;
  /** The canonical caption of the scene (all objects, sizes and relations). */
  caption: string;
  /** The prompt's GenEval metadata. */
  spec: GenevalSpec;
  scene: Scene;
}

export type Split = 'train' | 'test';

/** One scene of a split: the prompt it was drawn from and its image path (relative to DIR). */
export interface SceneItem {
  id: string;
  category: GenevalCategory;
  prompt: string;
  spec: GenevalSpec;
  scene: Scene;
  caption: string;
  image: string;
}

/** The stream of scenes of a split: categories dealt in shuffled blocks, a prompt each, a scene for it. */
export class SceneStream {
  private readonly rng: Rng;
  private readonly categories: BlockBalancer<GenevalCategory>;
  private index = 0;
  constructor(
    seed: number,
    private readonly split: Split,
  ) {
    this.rng = new Rng(deriveSeed(seed, 'scenes', split));
    this.categories = new BlockBalancer(GENEVAL_CATEGORIES, this.rng);
  }

  next(): SceneItem {
    const category = this.categories.next();
    const p = samplePrompt(this.rng, category);
    const scene = sceneForSpec(this.rng, p.spec);
    const id = `${this.split}-${String(this.index++).padStart(6, '0')}`;
    return {
      id,
      category,
      prompt: p.prompt,
      spec: p.spec,
      scene,
      caption: describeScene(scene),
      image: `images/${id}.png`,
    };
  }
}

/** A row for a scene, with an optional question; `prefix` is the image path prefix ('' or '../'). */
export function makeRow(
  item: SceneItem,
  task: WorldTask,
  prefix: string,
  q?: Question,
  idSuffix = '',
): WorldRow {
  const row: WorldRow = {
    id: item.id + idSuffix,
    task,
    category: item.category,
    prompt: item.prompt,
    real_image: prefix + item.image,
    caption: item.caption,
    spec: item.spec,
    scene: item.scene,
  };
  if (!q) return row;
  // Key order is part of the byte-identical output.
  return {
    id: row.id,
    task,
    category: row.category,
    prompt: row.prompt,
    real_image: row.real_image,
    qa_problem: q.problem,
    qa_solution: q.solution,
    qa_type: q.type,
    qa_think: q.think,
    qa_kind: q.kind,
    qa_answer: q.answer,
    ...(q.options ? { qa_options: q.options } : {}),
    ...(q.popeSplit ? { pope_split: q.popeSplit } : {}),
    caption: row.caption,
    spec: row.spec,
    scene: row.scene,
  };
}

/** Stage-1 question families: 40% MCQ, 40% open-ended, 20% POPE, dealt in shuffled blocks of five. */
export const STAGE1_FAMILIES: readonly QuestionFamily[] = ['mcq', 'mcq', 'oe', 'oe', 'pope'];

export interface BuildOptions {
  out: string;
  seed: number;
  train: number;
  test: number;
  /** Image side in pixels (default 32). */
  imageSize?: number;
  antialias?: boolean;
  /** Background noise of the renders (fraction of 255, default 0). */
  noise?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface BuildSummary {
  train: number;
  test: number;
  images: number;
  files: string[];
}

class JsonlFile {
  readonly lines: string[] = [];
  constructor(readonly path: string) {}
  add(row: WorldRow): void {
    this.lines.push(JSON.stringify(row));
  }
}

export function buildDataset(opts: BuildOptions): BuildSummary {
  const { out, seed } = opts;
  const imageSize = opts.imageSize ?? 32;
  mkdirSync(join(out, 'images'), { recursive: true });
  mkdirSync(join(out, 'stage2'), { recursive: true });
  mkdirSync(join(out, 'eval'), { recursive: true });
  const files: JsonlFile[] = [];
  const file = (path: string) => {
    const f = new JsonlFile(path);
    files.push(f);
    return f;
  };
  const total = opts.train + opts.test;
  let done = 0;
  const splits: [Split, number][] = [
    ['train', opts.train],
    ['test', opts.test],
  ];
  for (const [split, n] of splits) {
    const stage1 = file(`${split}.jsonl`);
    const prefix = '../';
    const folder = split === 'train' ? 'stage2' : 'eval';
    const gen = file(`${folder}/gen.jsonl`);
    const mcq = file(`${folder}/mcq.jsonl`);
    const oe = file(`${folder}/oe.jsonl`);
    const pope = split === 'test' ? file('eval/pope.jsonl') : null;
    const scenes = new SceneStream(seed, split);
    const qRng = new Rng(deriveSeed(seed, 'stage1', split));
    const q1 = new QuestionGenerator(qRng);
    const families = new BlockBalancer(STAGE1_FAMILIES, qRng);
    const qMcq = new QuestionGenerator(new Rng(deriveSeed(seed, 'mcq', split)));
    const qOe = new QuestionGenerator(new Rng(deriveSeed(seed, 'oe', split)));
    const qPope = new QuestionGenerator(new Rng(deriveSeed(seed, 'pope', split)));
    for (let i = 0; i < n; i++) {
      const item = scenes.next();
      const noiseSeed = deriveSeed(seed, 'noise', split, i);
      const img = renderScene(item.scene, {
        size: imageSize,
        antialias: opts.antialias ?? false,
        noise: opts.noise ?? 0,
        seed: noiseSeed,
      });
      writeFileSync(join(out, item.image), encodePng(img));
      stage1.add(makeRow(item, 'unified', '', q1.ask(families.next(), item.scene)));
      gen.add(makeRow(item, 'gen', prefix));
      mcq.add(makeRow(item, 'mcq', prefix, qMcq.mcq(item.scene)));
      oe.add(makeRow(item, 'oe', prefix, qOe.oe(item.scene)));
      if (pope)
        for (const s of POPE_SPLITS)
          pope.add(makeRow(item, 'pope', prefix, qPope.pope(item.scene, s), `-${s}`));
      done++;
      opts.onProgress?.(done, total);
    }
  }
  for (const f of files) writeFileSync(join(out, f.path), f.lines.length ? `${f.lines.join('\n')}\n` : '');
  const manifest = {
    format: 'shapesworld-v1',
    seed,
    train: opts.train,
    test: opts.test,
    image_size: imageSize,
    antialias: opts.antialias ?? false,
    noise: opts.noise ?? 0,
    files: files.map((f) => ({ path: f.path, rows: f.lines.length })),
    vocabulary_size: worldVocabulary().length,
  };
  writeFileSync(join(out, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return { train: opts.train, test: opts.test, images: total, files: files.map((f) => f.path) };
}

const sceneSchema = z.object({
  objects: z
    .array(
      z.object({
        shape: z.enum(SHAPES),
        color: z.enum(COLORS),
        size: z.enum(SIZES),
        x: z.number(),
        y: z.number(),
      }),
    )
    .min(1),
});

const GENEVAL_RELATIONS = Object.keys(RELATION_OF) as [GenevalRelation, ...GenevalRelation[]];
const count = z.number().int().min(0);

/** GenEval metadata, as `scoreGeneval` and the geneval reward read it. */
const specSchema = z.object({
  tag: z.enum(GENEVAL_CATEGORIES),
  include: z.array(
    z.object({
      class: z.enum(SHAPES),
      count,
      color: z.enum(COLORS).optional(),
      position: z.tuple([z.enum(GENEVAL_RELATIONS), count]).optional(),
    }),
  ),
  exclude: z.array(z.object({ class: z.enum(SHAPES), count })).optional(),
  prompt: z.string(),
});

/**
 * A row needs `real_image` and `scene`; every other WorldRow field is optional (the loaders that need one
 * check it) but must have its declared type when present, so a bad field fails here, naming its line.
 */
const rowSchema = z.object({
  real_image: z
    .string()
    .min(1)
    .refine((p) => !/\p{Cc}/u.test(p), 'contains a control character'),
  scene: sceneSchema,
  id: z.string().optional(),
  prompt: z.string().optional(),
  task: z.enum(WORLD_TASKS).optional(),
  category: z.enum(GENEVAL_CATEGORIES).optional(),
  qa_problem: z.string().optional(),
  qa_solution: z.string().optional(),
  qa_type: z.enum(['MC', 'OE']).optional(),
  qa_think: z.string().optional(),
  qa_kind: z.enum(QUESTION_KINDS).optional(),
  qa_answer: z.string().optional(),
  qa_options: z.array(z.string()).optional(),
  pope_split: z.enum(POPE_SPLITS).optional(),
  caption: z.string().optional(),
  spec: specSchema.optional(),
});

/** Reads world rows with their line numbers, checking each against the row schema (errors name the line). */
export function readWorldRowLines(path: string): { line: number; row: WorldRow }[] {
  return readRows(path, rowSchema, 'a ShapesWorld row') as { line: number; row: WorldRow }[];
}

/**
 * A row of RL training data (src/rl/data.ts): the ShapesWorld row's fields where they overlap, so that real
 * data needs only what a run reads: `prompt`, and for a question `qa_problem`, `qa_solution`, `qa_type` and
 * `real_image` (PNG or JPEG, any size; the cycle reward's image side compares with it too). `scene` is
 * ShapesWorld's own and not needed; `spec` only for the geneval reward.
 */
const dataRowSchema = rowSchema.extend({
  real_image: rowSchema.shape.real_image.optional(),
  scene: sceneSchema.optional(),
});
export type DataRow = Omit<WorldRow, 'real_image' | 'scene' | 'task' | 'category' | 'caption' | 'spec'> &
  Partial<Pick<WorldRow, 'real_image' | 'scene' | 'task' | 'category' | 'caption' | 'spec'>>;

/** Reads RL data rows (ShapesWorld's or real data's) with their line numbers; errors name the line. */
export function readDataRowLines(path: string): { line: number; row: DataRow }[] {
  return readRows(path, dataRowSchema, 'a data row') as { line: number; row: DataRow }[];
}

function readRows(path: string, schema: z.ZodType, what: string): { line: number; row: unknown }[] {
  return readJsonl(path).map(({ line, value }) => {
    const r = schema.safeParse(value);
    if (!r.success) {
      const issue = r.error.issues[0];
      const where = issue && issue.path.length > 0 ? issue.path.join('.') : 'row';
      throw new UserError(`${path}:${line}: not ${what} (${where}: ${issue?.message ?? 'invalid'})`);
    }
    return { line, row: value };
  });
}

/**
 * The real images of rows read from JSONL files: `real_image` is relative to its file, each PNG is read once,
 * and a missing or broken image is one error line naming where the row came from (`where`).
 */
export class RowImages {
  private readonly cache = new Map<string, RgbImage>();
  private readonly roots = new Map<string, string>();
  get(file: string, row: { real_image: string }, where: string): RgbImage {
    const p = resolve(dirname(resolve(file)), row.real_image);
    let image = this.cache.get(p);
    if (image === undefined) {
      const root = this.root(file);
      const rel = relative(root, p);
      if (isAbsolute(row.real_image) || rel.startsWith('..') || isAbsolute(rel))
        throw new UserError(
          `${where}: image "${row.real_image}" lies outside the dataset folder ${root} ` +
            '(rows may name images only inside their dataset; link or copy them in)',
        );
      try {
        image = readImage(p);
      } catch (e) {
        if (e instanceof UserError) throw new UserError(`${where}: ${e.message}`);
        throw e;
      }
      this.cache.set(p, image);
    }
    return image;
  }

  /**
   * A JSONL file's dataset folder: the file's own folder, or its parent when the parent holds a world
   * manifest (`corl world build` writes manifest.json at the top; its stage2/ and eval/ files name
   * `../images/...`).
   */
  private root(file: string): string {
    const own = dirname(resolve(file));
    let root = this.roots.get(own);
    if (root === undefined) {
      root = existsSync(join(dirname(own), 'manifest.json')) ? dirname(own) : own;
      this.roots.set(own, root);
    }
    return root;
  }
}

/** Reads world rows (errors name the file and line). */
export function readWorldRows(path: string): WorldRow[] {
  return readWorldRowLines(path).map((r) => r.row);
}
