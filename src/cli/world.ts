/**
 * `corl world ...`: build the ShapesWorld dataset, check the scene parser on a dataset's images, and draw
 * a contact sheet.
 *
 *   corl world build --out DIR --seed S --train N --test M [--size 32] [--antialias] [--bg-noise 0] [--json]
 *     -> "built N train + M test scenes (I images, F files) in DIR in T s" (or one JSON line with --json)
 *   corl world detect --data FILE.jsonl [--json] [--noise S] [--blur S] [--seed N] [--limit N]
 *     -> {"objects": n, "exact_scene_acc": x, "object_f1": y}, plus "noise", "blur", "noisy_exact_scene_acc",
 *        "noisy_object_f1" when --noise or --blur is given
 *   corl world show --data FILE.jsonl --out sheet.png [--n 16] [--columns 4] [--scale S]
 *     -> "wrote sheet.png (16 images)"
 */
import type { Command } from 'commander';
import { UserError } from '../util/errors.js';
import { progress } from '../util/progress.js';
import { contactSheet } from '../world/contact-sheet.js';
import { RowImages, buildDataset, readWorldRowLines } from '../world/dataset.js';
import { detectObjects, matchScene, summariseMatches, type SceneMatch } from '../world/detect.js';
import { corrupt, type RgbImage } from '../world/image.js';
import { writePng } from '../world/png.js';
import { Rng, deriveSeed } from '../world/rng.js';
import type { Scene } from '../world/scene.js';
import { writeDirAtomically } from '../util/atomic-dir.js';
import { checkOutDir, checkOutFile } from '../util/output-dir.js';
import { isCorlPng } from '../util/png-marker.js';
import { parseFloatOption, parseIntOption, parseSeedOption } from './options.js';

/** Loads the distinct images of a world JSONL file with their scenes (errors name the line). */
function loadImages(file: string, limit?: number): { image: RgbImage; scene: Scene }[] {
  const images = new RowImages();
  const seen = new Set<RgbImage>();
  const out: { image: RgbImage; scene: Scene }[] = [];
  for (const { line, row } of readWorldRowLines(file)) {
    if (limit !== undefined && out.length >= limit) break;
    const image = images.get(file, row, `${file}:${line}`);
    if (seen.has(image)) continue;
    seen.add(image);
    out.push({ image, scene: row.scene });
  }
  if (out.length === 0) throw new UserError(`${file}: no rows`);
  return out;
}

interface BuildFlags {
  out: string;
  seed: number;
  train: number;
  test: number;
  size: number;
  antialias?: boolean;
  bgNoise: number;
  json?: boolean;
  overwrite?: boolean;
}

interface DetectFlags {
  data: string;
  json?: boolean;
  noise?: number;
  blur?: number;
  seed: number;
  limit?: number;
}

interface ShowFlags {
  data: string;
  out: string;
  n: number;
  columns: number;
  scale?: number;
  overwrite?: boolean;
}

/** `corl world build`: checks --out, builds the world into a temporary folder and renames it into place. */
function buildWorldAction(flags: BuildFlags): void {
  const t0 = performance.now();
  const bar = progress('building');
  checkOutDir(flags.out, { kind: 'world', overwrite: flags.overwrite });
  let summary!: ReturnType<typeof buildDataset>;
  try {
    writeDirAtomically(flags.out, 'world', (tmp) => {
      summary = buildDataset({
        out: tmp,
        seed: flags.seed,
        train: flags.train,
        test: flags.test,
        imageSize: flags.size,
        antialias: flags.antialias ?? false,
        noise: flags.bgNoise,
        onProgress: (d, t) => bar.update(d, t),
      });
    });
  } finally {
    bar.stop();
  }
  const seconds = (performance.now() - t0) / 1000;
  if (flags.json) {
    const { train, test, images, files } = summary;
    console.log(JSON.stringify({ out: flags.out, train, test, images, files: files.length, seconds }));
  } else {
    console.log(
      `built ${summary.train} train + ${summary.test} test scenes (${summary.images} images, ` +
        `${summary.files.length + 1} files) in ${flags.out} in ${seconds.toFixed(1)} s`,
    );
  }
}

/** `corl world detect`: the scene parser's accuracy on a file's images (optionally corrupted). */
function detectAction(flags: DetectFlags): void {
  const items = loadImages(flags.data, flags.limit);
  const objects = items.reduce((a, it) => a + it.scene.objects.length, 0);
  const bar = progress('detecting');
  const clean: SceneMatch[] = [];
  const noisy: SceneMatch[] = [];
  const corrupted = flags.noise !== undefined || flags.blur !== undefined;
  const noise = flags.noise ?? 0;
  const blur = flags.blur ?? 0;
  items.forEach((it, k) => {
    clean.push(matchScene(it.scene, detectObjects(it.image), it.image.width));
    if (corrupted) {
      const rng = new Rng(deriveSeed(flags.seed, 'detect-noise', k));
      const img = corrupt(it.image, { noise, blur }, rng);
      noisy.push(matchScene(it.scene, detectObjects(img), img.width));
    }
    bar.update(k + 1, items.length);
  });
  bar.stop();
  const c = summariseMatches(clean, objects);
  const report: Record<string, number> = {
    objects,
    exact_scene_acc: c.exact_scene_acc,
    object_f1: c.object_f1,
  };
  if (corrupted) {
    const n = summariseMatches(noisy, objects);
    Object.assign(report, {
      noise,
      blur,
      noisy_exact_scene_acc: n.exact_scene_acc,
      noisy_object_f1: n.object_f1,
    });
  }
  if (flags.json) {
    console.log(JSON.stringify(report));
    return;
  }
  console.log(
    `scene parser on ${flags.data}: ${items.length} images, ${objects} objects: ` +
      `exact scenes ${c.exact_scene_acc.toFixed(4)}, object F1 ${c.object_f1.toFixed(4)}`,
  );
  if (corrupted) {
    console.log(
      `with noise ${noise} and blur ${blur}: exact scenes ${report.noisy_exact_scene_acc?.toFixed(4)}, ` +
        `object F1 ${report.noisy_object_f1?.toFixed(4)}`,
    );
  }
}

/** `corl world show`: a contact sheet of the first rows with their prompts. */
function showAction(flags: ShowFlags): void {
  checkOutFile(flags.out, { overwrite: flags.overwrite, ownFile: isCorlPng });
  const images = new RowImages();
  const items = readWorldRowLines(flags.data)
    .slice(0, flags.n)
    .map(({ line, row }) => ({
      image: images.get(flags.data, row, `${flags.data}:${line}`),
      label: row.prompt ?? row.caption ?? '',
    }));
  if (items.length === 0) throw new UserError(`${flags.data}: no rows`);
  const sheet = contactSheet(items, { columns: flags.columns, scale: flags.scale });
  try {
    writePng(flags.out, sheet);
  } catch (err) {
    throw new UserError(`cannot write ${flags.out}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  console.log(`wrote ${flags.out} (${items.length} images)`);
}

export function registerWorldCommands(program: Command): void {
  const world = program
    .command('world')
    .description('ShapesWorld: the embedded synthetic world (data, parser)');

  world
    .command('build')
    .description('write the ShapesWorld dataset: train/test JSONL (stage 1), stage2/, eval/, images/')
    .requiredOption('--out <dir>', 'output folder (new or empty)')
    .option('--overwrite', 'replace --out if it holds a world corl built')
    .option('--seed <n>', 'random seed', parseSeedOption, 0)
    .option(
      '--train <n>',
      'train scenes (rows per file, at most 1,000,000)',
      parseIntOption(0, 1_000_000),
      20000,
    )
    .option('--test <n>', 'test scenes (at most 1,000,000)', parseIntOption(0, 1_000_000), 1000)
    .option('--size <px>', 'image side in pixels (8-512)', parseIntOption(8, 512), 32)
    .option('--antialias', 'anti-aliased renders (4x4 supersampling)')
    .option('--bg-noise <sigma>', 'background noise, fraction of 255', parseFloatOption(0, 1), 0)
    .option('--json', 'print the summary as one JSON line')
    .action(buildWorldAction);

  world
    .command('detect')
    .description("scene-parser accuracy on a JSONL file's real images against their scenes")
    .requiredOption('--data <file>', 'a ShapesWorld JSONL file')
    .option('--json', 'print one JSON line')
    .option(
      '--noise <sigma>',
      'also score with gaussian noise added (fraction of 255)',
      parseFloatOption(0, 1),
    )
    .option('--blur <sigma>', 'also score with gaussian blur (pixels)', parseFloatOption(0, 10))
    .option('--seed <n>', 'seed of the noise', parseSeedOption, 0)
    .option('--limit <n>', 'score at most n images', parseIntOption(1))
    .action(detectAction);

  world
    .command('show')
    .description('write a PNG contact sheet of the first rows of a JSONL file with their prompts')
    .requiredOption('--data <file>', 'a ShapesWorld JSONL file')
    .requiredOption('--out <png>', 'output PNG')
    .option('--overwrite', 'replace --out if it is a PNG corl wrote')
    .option('--n <n>', 'number of images (at most 10,000)', parseIntOption(1, 10_000), 16)
    .option('--columns <n>', 'images per row (at most 100)', parseIntOption(1, 100), 4)
    .option(
      '--scale <n>',
      'integer upscaling (default: about 128 px per image; at most 64)',
      parseIntOption(1, 64),
    )
    .action(showAction);
}
