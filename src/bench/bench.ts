/**
 * The fixed engine benchmarks of the CLI contract (README, "The engine"): one policy-gradient training step of a small
 * GPT, and KV-cached sampling. scripts/bench_reference.py runs the same model and steps in PyTorch.
 */
import * as torch from '../torch/index.js';
import { GPT, type GPTConfig, pgLoss, sample } from './gpt.js';

export const BENCH_MODEL: GPTConfig = { vocab: 512, dModel: 128, layers: 4, heads: 4, maxSeq: 128 };
export const TRAIN = { batch: 16, seq: 96, lr: 1e-3 };
export const SAMPLE = { batch: 16, prompt: 32, newTokens: 64 };
/**
 * Sampling runs before timing. A fresh corl process takes 4-8 sampling runs to reach its steady speed (V8 grows
 * its young generation while each run makes ~7,000 tensor handles; the first runs take up to twice as long),
 * PyTorch one; the reference warms up as many times.
 */
export const SAMPLE_WARMUP = 8;

export interface BenchResult {
  bench: 'train-step' | 'sample';
  ms_median: number;
  ms_min: number;
  steps: number;
  threads: number;
  blas_threads: number;
  params: number;
  live_tensors_delta: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function timeSteps(warmup: number, steps: number, fn: () => void): number[] {
  for (let i = 0; i < warmup; i++) fn();
  const ms: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return ms;
}

export function benchTrainStep(opts: {
  steps?: number;
  warmup?: number;
  threads: number;
  blasThreads: number;
}): BenchResult {
  torch.manualSeed(0);
  const model = new GPT(BENCH_MODEL);
  const opt = torch.optim.adam(model.parameters(), { lr: TRAIN.lr });
  const gen = new torch.Generator(1);
  const { batch: B, seq: T } = TRAIN;
  const data = torch.tidy(() => {
    const tokens = torch.randint(0, BENCH_MODEL.vocab, [B, T + 1], { generator: gen });
    return {
      ids: tokens.slice(1, 0, T).contiguous(),
      targets: tokens.slice(1, 1, T + 1).contiguous(),
      adv: torch.randn([B, T], { generator: gen }),
    };
  });
  const step = () =>
    torch.tidy(() => {
      opt.zeroGrad();
      pgLoss(model, data.ids, data.targets, data.adv).backward();
      opt.step();
    });
  const live0 = torch.liveTensors();
  const ms = timeSteps(opts.warmup ?? 3, opts.steps ?? 15, step);
  const result = finish('train-step', ms, opts, model.numParameters(), torch.liveTensors() - live0);
  torch.dispose(data);
  opt.dispose();
  model.dispose();
  return result;
}

export function benchSample(opts: {
  steps?: number;
  warmup?: number;
  threads: number;
  blasThreads: number;
}): BenchResult {
  torch.manualSeed(0);
  const model = new GPT(BENCH_MODEL).eval();
  const gen = new torch.Generator(2);
  const prompt = torch.randint(0, BENCH_MODEL.vocab, [SAMPLE.batch, SAMPLE.prompt], { generator: gen });
  const live0 = torch.liveTensors();
  const ms = timeSteps(opts.warmup ?? SAMPLE_WARMUP, opts.steps ?? 10, () =>
    sample(model, prompt, SAMPLE.newTokens, gen).dispose(),
  );
  const result = finish('sample', ms, opts, model.numParameters(), torch.liveTensors() - live0);
  prompt.dispose();
  model.dispose();
  return result;
}

function finish(
  bench: BenchResult['bench'],
  ms: number[],
  opts: { threads: number; blasThreads: number },
  params: number,
  liveDelta: number,
): BenchResult {
  return {
    bench,
    ms_median: Number(median(ms).toFixed(3)),
    ms_min: Number(Math.min(...ms).toFixed(3)),
    steps: ms.length,
    threads: opts.threads,
    blas_threads: opts.blasThreads,
    params,
    live_tensors_delta: liveDelta,
  };
}
