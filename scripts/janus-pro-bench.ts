/**
 * Janus-Pro-1B at full size on this machine (not CI): writes a random-weight checkpoint with every tensor of
 * the release (882 tensors, 2,089,232,011 parameters + codebook_used, bf16, 4.2 GB) as the official single
 * `pytorch_model.bin` (ZIP64), then, in a fresh process, loads it through the restricted unpickler in bf16,
 * answers 16 tokens about a 384-px image and draws one 384-px image with CFG 5. Prints one JSON line: load
 * time, peak RSS after loading and at the end against the bf16 weight size, prefill and decode tokens/s,
 * seconds per image. Results: docs/janus-pro.md.
 *
 *   npx tsx scripts/janus-pro-bench.ts [--dir DIR] [--keep] [--threads N] [--dtype bfloat16|float32]
 *
 * --dir reuses (or keeps) the checkpoint there; without it a temp folder is written and removed.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};

if (args[0] === '--child') await child(args[1]!, args[2] as 'bfloat16' | 'float32');
else await main();

async function main(): Promise<void> {
  const torch = await import('../src/torch/index.js');
  const { presetConfig } = await import('../src/model/config.js');
  const { buildWordLevelTokenizer } = await import('../src/model/tokenizer.js');
  const { writeJanusCheckpoint } = await import('../test/helpers/janus-checkpoint.js');
  const { WORDS } = await import('../test/model/helpers.js');
  const given = flag('--dir');
  const dir = given ?? fs.mkdtempSync(path.join(os.tmpdir(), 'corl-janus-pro-1b-'));
  const threads = flag('--threads') ?? '2';
  const dtype = flag('--dtype') ?? 'bfloat16';
  try {
    if (!fs.existsSync(path.join(dir, 'pytorch_model.bin'))) {
      const t = Date.now();
      torch.setNumThreads(Number(threads));
      writeJanusCheckpoint(dir, {
        format: 'pytorch',
        layout: 'janus',
        config: presetConfig('janus-pro-1b'),
        tokenizer: buildWordLevelTokenizer(WORDS),
        seed: 1,
      });
      console.error(`wrote ${dir}/pytorch_model.bin in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    }
    const self = fileURLToPath(import.meta.url);
    const r = spawnSync(process.execPath, ['--import', 'tsx', self, '--child', dir, dtype], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, CORL_THREADS: threads },
    });
    process.exitCode = r.status ?? 1;
  } finally {
    if (given === undefined && !args.includes('--keep')) fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function child(dir: string, dtype: 'bfloat16' | 'float32'): Promise<void> {
  const torch = await import('../src/torch/index.js');
  const { loadULM } = await import('../src/model/checkpoint.js');
  const { generationBatch, understandingBatch } = await import('../src/model/inputs.js');
  const { preprocessImage } = await import('../src/model/preprocess.js');
  const { sampleImages, sampleText } = await import('../src/model/sample.js');
  const { generationPrompt, understandingPrompt } = await import('../src/model/templates.js');
  torch.setNumThreads(Number(process.env.CORL_THREADS ?? 2));
  const gb = (kb: number) => kb / 1024 ** 2;
  const file = path.join(dir, 'pytorch_model.bin');
  const fileGB = fs.statSync(file).size / 1024 ** 3;
  const rssStart = gb(process.resourceUsage().maxRSS);
  let t = Date.now();
  const { model, tokenizer } = loadULM(dir, { dtype });
  const loadS = (Date.now() - t) / 1000;
  const rssLoad = gb(process.resourceUsage().maxRSS);
  const weightsGB = (model.parameters().reduce((a, p) => a + p.numel, 0) * 2) / 1024 ** 3;
  const image = {
    width: 384,
    height: 384,
    data: new Uint8Array(384 * 384 * 3).map((_, i) => (i * 37) % 256),
  };
  const prompt = understandingPrompt('Describe the image.');
  let promptTokens = 0;
  t = Date.now();
  // prefill alone (1 new token), then the 16-token answer
  const one = (n: number) =>
    torch.tidy(() => {
      const batch = understandingBatch(
        tokenizer,
        [prompt],
        [[preprocessImage(image, model.config)]],
        model.numImageTokens,
      );
      promptTokens = batch.ids.size(1);
      const s = sampleText(model, batch, {
        maxNewTokens: n,
        temperature: 0,
        eosId: -1,
        padId: tokenizer.special.pad,
        generator: new torch.Generator(0),
      });
      return s.ids[0]!.length;
    });
  one(1);
  const prefillS = (Date.now() - t) / 1000;
  t = Date.now();
  const answered = one(16);
  const answerS = (Date.now() - t) / 1000;
  t = Date.now();
  torch.tidy(() => {
    const s = sampleImages(model, generationBatch(tokenizer, [generationPrompt('a red circle')]), {
      imagesPerPrompt: 1,
      cfgWeight: 5,
      temperature: 1,
      padId: tokenizer.special.pad,
      generator: new torch.Generator(1),
    });
    const img = torch.noGrad(() => model.gen_vision_model.decode(s.codes));
    if (img.shape.join() !== '1,3,384,384') throw new Error(`image of shape ${img.shape}`);
  });
  const imageS = (Date.now() - t) / 1000;
  const rssEnd = gb(process.resourceUsage().maxRSS);
  model.dispose();
  const r2 = (x: number) => Math.round(x * 100) / 100;
  console.log(
    JSON.stringify({
      dtype,
      threads: torch.getNumThreads(),
      file_gib: r2(fileGB),
      bf16_weights_gib: r2(weightsGB),
      load_s: r2(loadS),
      peak_rss_before_load_gib: r2(rssStart),
      peak_rss_after_load_gib: r2(rssLoad),
      peak_rss_load_ratio: r2(rssLoad / weightsGB),
      peak_rss_end_gib: r2(rssEnd),
      prompt_tokens: promptTokens,
      prefill_s: r2(prefillS),
      prefill_tokens_per_s: r2(promptTokens / prefillS),
      answer_tokens: answered,
      decode_tokens_per_s: r2((answered - 1) / Math.max(1e-9, answerS - prefillS)),
      seconds_per_image: r2(imageS),
    }),
  );
}
