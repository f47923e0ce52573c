/**
 * ULM checkpoints in Hugging Face's folder layout: `config.json` (Janus's shape, see config.ts),
 * `model.safetensors` or `model-0000i-of-0000n.safetensors` + `model.safetensors.index.json` (Janus tensor
 * names), `tokenizer.json` (+ `tokenizer_config.json` when the tokenizer has one), and, when present,
 * `preprocessor_config.json` (the image processor's settings, merged into the config), `special_tokens_map.json`
 * and `processor_config.json` (the special-token strings, tokenizer.ts; written back on save).
 * Loading also reads Janus-Pro as released (`pytorch_model.bin`, single or sharded, through the restricted
 * unpickler) and transformers' converted layout (JanusConfig config.json, `model.*` names): weights.ts and
 * janus-layout.ts. Weights stream from the file into the model's parameters (never held twice).
 *
 * Loading maps every tensor onto the module tree by name: a checkpoint tensor the model does not have, or a
 * model tensor the checkpoint lacks, is a UserError listing them; a shape mismatch is a UserError naming the
 * tensor; a tensor holding NaN or Inf (after the dtype conversion) is a UserError naming it and counting the
 * non-finite values. The ViT's attention-pool head (`vision_model.vision_tower.attn_pool.*`, never run by Janus) is
 * carried through unchanged. Floating tensors are converted to the model's dtype (float32 unless asked).
 * Saving writes the same names into a temporary folder beside the target, then renames it into place;
 * save -> load -> save gives identical bytes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as torch from '../torch/index.js';
import type { Tensor, DType } from '../torch/index.js';
import { saveSharded } from '../torch/safetensors.js';
import { UserError } from '../util/errors.js';
import { numImageTokens, parseConfig, type ULMConfig } from './config.js';
import { PROCESSOR_CONFIG_FILE, ULMTokenizer } from './tokenizer.js';
import { MultiModalityCausalLM } from './ulm.js';
import { writeDirAtomically } from '../util/atomic-dir.js';
import { isHFConfig, janusConfigFromHF } from './janus-layout.js';
import { loadInto, openWeights } from './weights.js';
import { PREPROCESSOR_CONFIG_FILE, withPreprocessorConfig } from './preprocess.js';

export const CONFIG_FILE = 'config.json';
export const TOKENIZER_FILE = 'tokenizer.json';
export const TOKENIZER_CONFIG_FILE = 'tokenizer_config.json';

export interface LoadedULM {
  model: MultiModalityCausalLM;
  tokenizer: ULMTokenizer;
  config: ULMConfig;
}

/** A tensor holding NaN or +-Inf: its name, how many of its values are non-finite, and its size. */
export interface NonFiniteTensor {
  name: string;
  count: number;
  numel: number;
}

/**
 * The floating tensors of `tensors` that hold NaN or +-Inf, sorted by name. One sum per tensor: a NaN or Inf
 * value makes the sum NaN or Inf, and only then are the values checked one by one (a sum of finite values that
 * overflowed is not a hit). About 7% of loading a checkpoint from the page cache; isfinite().all() costs 100%.
 */
export function nonFiniteTensors(tensors: Iterable<[string, Tensor]>): NonFiniteTensor[] {
  const bad: NonFiniteTensor[] = [];
  torch.noGrad(() => {
    for (const [name, t] of tensors) {
      if (!torch.isFloating(t.dtype) || t.numel === 0) continue;
      torch.tidy(() => {
        if (Number.isFinite(t.sum().item())) return;
        const count = t.isfinite().logicalNot().sum().item();
        if (count > 0) bad.push({ name, count, numel: t.numel });
      });
    }
  });
  return bad.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** "2 tensor(s) hold NaN/Inf: a.weight (3 of 64 values), b.bias (all 8 values)", the first 12 named. */
export function describeNonFinite(bad: readonly NonFiniteTensor[]): string {
  const one = (b: NonFiniteTensor) =>
    `${b.name} (${b.count === b.numel ? `all ${b.numel}` : `${b.count} of ${b.numel}`} values)`;
  const shown = bad.slice(0, 12).map(one).join(', ');
  return `${bad.length} tensor(s) hold NaN/Inf: ${shown}${bad.length > 12 ? `, ... (${bad.length - 12} more)` : ''}`;
}

/** Reads a JSON file; a missing or malformed one is a UserError saying what it was for. */
function readJSON(file: string, what: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UserError(`${file}: cannot read the ${what} (${(e as Error).message})`);
  }
}

/**
 * Reads and validates `dir/config.json`, with `dir/preprocessor_config.json`'s image settings merged into
 * vision_config.params when the folder has one (the official release keeps them there).
 */
export function loadConfig(dir: string): ULMConfig {
  const file = path.join(dir, CONFIG_FILE);
  const json = readJSON(file, 'model config');
  const config = parseConfig(isHFConfig(json) ? janusConfigFromHF(json, file) : json, file);
  const pre = path.join(dir, PREPROCESSOR_CONFIG_FILE);
  if (!fs.existsSync(pre)) return config;
  return parseConfig(withPreprocessorConfig(config, readJSON(pre, 'image processor config'), pre), pre);
}

/**
 * processor_config.json (Janus's VLChatProcessor), when the folder has one, must describe this model: its
 * num_image_tokens the ViT's patch count, its sft_format the deepseek template corl writes.
 */
function checkProcessorConfig(dir: string, tokenizer: ULMTokenizer, config: ULMConfig): void {
  const proc = tokenizer.sideFiles[PROCESSOR_CONFIG_FILE] as
    { num_image_tokens?: unknown; sft_format?: unknown } | undefined;
  if (!proc) return;
  const file = path.join(dir, PROCESSOR_CONFIG_FILE);
  const n = numImageTokens(config);
  if (proc.num_image_tokens !== undefined && proc.num_image_tokens !== n)
    throw new UserError(
      `${file}: num_image_tokens ${String(proc.num_image_tokens)} but the ViT gives ${n} tokens per image`,
    );
  if (proc.sft_format !== undefined && proc.sft_format !== 'deepseek')
    throw new UserError(
      `${file}: sft_format ${String(proc.sft_format)}: corl writes the deepseek template only`,
    );
}

/**
 * Loads a checkpoint folder. `dtype` is the model's floating dtype: float32 by default (bf16 checkpoints are
 * widened), or e.g. bfloat16 to keep Janus's weights as shipped (half the memory; for GPUs).
 */
export function loadULM(dir: string, opts: { dtype?: DType } = {}): LoadedULM {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory())
    throw new UserError(`model directory ${dir} does not exist`);
  const config = loadConfig(dir);
  const tokenizer = ULMTokenizer.load(path.join(dir, TOKENIZER_FILE));
  if (tokenizer.vocabSize > config.language_config.vocab_size)
    throw new UserError(
      `${dir}: the tokenizer has ${tokenizer.vocabSize} ids but language_config.vocab_size is ${config.language_config.vocab_size}`,
    );
  checkProcessorConfig(dir, tokenizer, config);
  const dtype = opts.dtype ?? 'float32';
  if (!torch.isFloating(dtype)) throw new UserError(`cannot load a model in ${dtype} (not a floating dtype)`);
  const weights = openWeights(dir);
  let model: MultiModalityCausalLM | null = null;
  try {
    // every weight is overwritten from the file: build without drawing random weights, in the target dtype
    model = torch.nn.init.withoutInit(dtype, () => new MultiModalityCausalLM(config));
    if (dtype !== 'float32') model.to(dtype);
    const own = model.stateDict();
    for (const [name, t] of loadInto(weights, own, dtype)) model.passthrough.set(name, t.keep());
    const bad = nonFiniteTensors([...own, ...model.passthrough]);
    if (bad.length > 0)
      throw new UserError(
        `${dir}: the checkpoint's weights are not all finite: ${describeNonFinite(bad)} (a corrupt file or a diverged training run)`,
      );
    return { model, tokenizer, config };
  } catch (e) {
    model?.dispose();
    throw e;
  } finally {
    weights.close();
  }
}

export interface SaveOptions {
  /** Write floating tensors in this dtype (default: as held, float32). */
  dtype?: DType;
  /** Shard when the data exceeds this many bytes (default 5 GB, as HF). */
  maxShardBytes?: number;
  /** Tensors written in place of the model's own under the same names (e.g. LoRA-folded weights). */
  replace?: Map<string, Tensor>;
}

/** Writes model + tokenizer as a checkpoint folder `dir`, replacing it atomically if it exists. */
export function saveULM(
  model: MultiModalityCausalLM,
  tokenizer: ULMTokenizer,
  dir: string,
  opts: SaveOptions = {},
): void {
  writeDirAtomically(dir, 'model', (tmp) => {
    fs.writeFileSync(path.join(tmp, CONFIG_FILE), JSON.stringify(model.config, null, 2) + '\n');
    fs.writeFileSync(path.join(tmp, TOKENIZER_FILE), JSON.stringify(tokenizer.json));
    if (Object.keys(tokenizer.config).length > 0)
      fs.writeFileSync(
        path.join(tmp, TOKENIZER_CONFIG_FILE),
        JSON.stringify(tokenizer.config, null, 2) + '\n',
      );
    for (const [name, json] of Object.entries(tokenizer.sideFiles))
      fs.writeFileSync(path.join(tmp, name), JSON.stringify(json, null, 2) + '\n');
    torch.tidy(() => {
      const all = new Map<string, Tensor>([...model.stateDict(), ...model.passthrough]);
      for (const [n, t] of opts.replace ?? []) {
        if (!all.has(n)) throw new Error(`saveULM: the model has no tensor ${n} to replace`);
        all.set(n, t);
      }
      const dtype = opts.dtype;
      if (dtype !== undefined)
        for (const [n, t] of all) if (torch.isFloating(t.dtype) && t.dtype !== dtype) all.set(n, t.to(dtype));
      for (const [n, t] of all) if (!t.isContiguous()) all.set(n, t.contiguous());
      saveSharded(tmp, all, { maxShardBytes: opts.maxShardBytes, metadata: { format: 'pt' } });
    });
  });
}
