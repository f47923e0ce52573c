/**
 * The memory a run needs, estimated before training (printed by `corl train`), next to the measured peak
 * (`mem/peak_rss` in metrics.jsonl): weights (the policy, and the frozen reference when beta > 0), gradients and
 * AdamW's two moments of the trained tensors, and the activations the update's backward keeps for one
 * micro-batch. The activation figure is an order of magnitude, not a bound: per decoder layer and token it
 * counts the tensors a Llama layer saves for backward in float32 (about 14 hidden-size vectors, 4
 * intermediate-size ones, and two attention rows of the sequence length per head); with
 * gradient_checkpointing, one hidden vector per layer plus one layer's worth; plus the logits of the head
 * (log-softmax keeps two copies). Rollouts without gradients need far less and are not counted.
 *
 * dtype bfloat16: the model's weights and the saved activations take 2 bytes (the logits stay float32), and
 * every trained tensor adds an fp32 master (counted with the weights) and a bf16 gradient beside the master's
 * fp32 one; AdamW's moments are fp32 either way.
 */
import type { MultiModalityCausalLM } from '../model/index.js';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { TrainConfig } from './config.js';

export interface MemoryEstimate {
  weights: number;
  grads: number;
  optimizer: number;
  activations: number;
  total: number;
}

const BYTES: Record<string, number> = { float32: 4, float64: 8, float16: 2, bfloat16: 2 };
const bytesOf = (ts: readonly Tensor[]) => ts.reduce((a, t) => a + t.numel * (BYTES[t.dtype] ?? 4), 0);

/** Prompt tokens assumed per sequence (a ShapesWorld prompt is ~20, a Janus chat prompt with an image ~600). */
function promptTokens(model: MultiModalityCausalLM): number {
  return 32 + model.numImageTokens;
}

export function estimateMemory(
  cfg: TrainConfig,
  model: MultiModalityCausalLM,
  trained: readonly Tensor[],
  opts: { reference?: boolean } = {},
): MemoryEstimate {
  const low = (cfg.dtype ?? 'float32') !== 'float32';
  const trainedNumel = trained.reduce((a, t) => a + t.numel, 0);
  // bf16: `trained` are the fp32 masters; the model's own copies are in model.parameters()
  const weights = bytesOf(model.parameters()) * (opts.reference ? 2 : 1) + (low ? 4 * trainedNumel : 0);
  const grads = bytesOf(trained) + (low ? 2 * trainedNumel : 0);
  const optimizer = 2 * trained.reduce((a, t) => a + t.numel * 4, 0);
  const c = model.config.language_config;
  const D = c.hidden_size;
  const I = c.intermediate_size;
  const H = c.num_attention_heads;
  const L = c.num_hidden_layers;
  const rows = cfg.micro_batch_size * cfg.num_generations;
  const prompt = promptTokens(model);
  // the longest re-scored sequence of a step (CFG modes score the unconditional branch as well)
  const t2i = cfg.tasks.includes('t2i')
    ? { T: 32 + model.numGenTokens, mult: cfg.image_logprob_mode === 'cond' ? 1 : 2 }
    : null;
  const mm2t = cfg.tasks.includes('mm2t') ? { T: prompt + cfg.max_completion_length, mult: 1 } : null;
  const vocabOf = (task: 'img' | 'txt') =>
    task === 'img' ? model.config.gen_head_config.params.image_token_size : c.vocab_size;
  const perSeq = (T: number, V: number) => {
    const layer = T * (14 * D + 4 * I) + 2 * H * T * T;
    const layers = cfg.gradient_checkpointing ? L * T * D + layer : L * layer;
    return (low ? 2 : 4) * layers + 4 * 3 * T * V;
  };
  let activations = 0;
  if (t2i) activations += rows * t2i.mult * perSeq(t2i.T, vocabOf('img'));
  if (mm2t) activations += rows * perSeq(mm2t.T, vocabOf('txt'));
  return { weights, grads, optimizer, activations, total: weights + grads + optimizer + activations };
}

export function formatBytes(b: number): string {
  return b >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(2)} GB` : `${(b / 2 ** 20).toFixed(1)} MB`;
}

/** One line for the console. */
export function describeMemory(m: MemoryEstimate): string {
  return (
    `memory estimate: weights ${formatBytes(m.weights)}, gradients ${formatBytes(m.grads)}, ` +
    `optimizer ${formatBytes(m.optimizer)}, activations ~${formatBytes(m.activations)} (one micro-batch), ` +
    `total ~${formatBytes(m.total)}`
  );
}

/**
 * The CUDA allocator's peak since the last call, in MB, as `mem/cuda_peak` (torch.cuda.max_memory_allocated,
 * reset after each read, so each step's row has its own peak); nothing for a CPU model or a build without CUDA.
 */
export function cudaPeak(device: string): { 'mem/cuda_peak'?: number } {
  const index = torch.cudaIndex(device);
  if (index === null) return {};
  const m = torch.cudaMemory(index, true);
  return m === null ? {} : { 'mem/cuda_peak': m.peak / 2 ** 20 };
}

/** The process's peak resident set so far, in MB (the measured counterpart, `mem/peak_rss`). */
export function peakRssMB(): number {
  return process.resourceUsage().maxRSS / 1024;
}
