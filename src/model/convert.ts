/**
 * `corl convert`: a checkpoint folder in any form corl reads (safetensors or pytorch_model.bin, single or
 * sharded; Janus's key layout or transformers') rewritten as sharded safetensors with their index, in either
 * layout and optionally another dtype, with the config rewritten for the layout and the processor and
 * tokenizer files copied.
 *
 * Every tensor is checked against the model its config describes before anything is written (weights.ts:
 * nothing missing, nothing unmapped, every shape), then streamed one at a time from the source file into the
 * output file: converting Janus-Pro-7B never holds its weights in memory. Going to transformers' layout drops
 * what its converter drops (the ViT's attention-pool head, the VQ's codebook_used counter); coming back,
 * codebook_used is restored as zeros (Janus never updates it).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as torch from '../torch/index.js';
import type { DType, Tensor } from '../torch/index.js';
import { BYTES_PER_ELEMENT } from '../torch/dtype.js';
import { saveShardedStreaming, type TensorSpec } from '../torch/safetensors.js';
import { writeDirAtomically } from '../util/atomic-dir.js';
import { UserError } from '../util/errors.js';
import { CONFIG_FILE, TOKENIZER_FILE, loadConfig } from './checkpoint.js';
import {
  type Layout,
  hfConfigFromJanus,
  hfTensorsOf,
  isHFConfig,
  janusConfigFromHF,
} from './janus-layout.js';
import { ULMTokenizer } from './tokenizer.js';
import { MultiModalityCausalLM } from './ulm.js';
import { type TensorPlan, openWeights, planJanus, readPlanned } from './weights.js';

/** Files copied unchanged (those that exist): the tokenizer, the processor, chat and generation settings. */
export const COPIED_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'preprocessor_config.json',
  'processor_config.json',
  'chat_template.json',
  'chat_template.jinja',
  'generation_config.json',
] as const;

export interface ConvertOptions {
  from: string;
  to: string;
  layout: Layout;
  /** Floating tensors are written in this dtype; default: each as stored. */
  dtype?: 'bfloat16' | 'float32';
  /** Shard size (default 5 GB, as transformers). */
  maxShardBytes?: number;
}

export interface ConvertResult {
  from: { format: string; layout: Layout; files: string[] };
  tensors: number;
  bytes: number;
  files: string[];
  copied: string[];
}

/** One output tensor: rows of a Janus tensor (all rows when absent), reshaped. */
interface OutTensor extends TensorSpec {
  janus: string;
  rows?: [number, number];
}

export function convertCheckpoint(o: ConvertOptions): ConvertResult {
  if (!fs.existsSync(o.from) || !fs.statSync(o.from).isDirectory())
    throw new UserError(`--from ${o.from} is not a folder`);
  const rawConfig = readJson(path.join(o.from, CONFIG_FILE));
  const config = loadConfig(o.from);
  const tokenizer = ULMTokenizer.load(path.join(o.from, TOKENIZER_FILE));
  const w = openWeights(o.from);
  try {
    // the tensors the config's model has (names and shapes only: built without weights, nothing touched)
    const expected = new Map<string, number[]>();
    const model = torch.nn.init.withoutInit('bfloat16', () => new MultiModalityCausalLM(config));
    for (const [n, t] of model.stateDict()) expected.set(n, [...t.shape]);
    model.dispose();
    const { plans, passthrough } = planJanus(w, expected);
    const all = new Map<string, TensorPlan>([...plans, ...passthrough]);
    // a tensor made of zeros (codebook_used, which transformers' layout drops) takes the weights' dtype
    const weightsDtype =
      [...all.values()].find((p) => p.dtype !== null && torch.isFloating(p.dtype))?.dtype ?? 'float32';
    const outDtype = (stored: DType | null): DType =>
      stored !== null && !torch.isFloating(stored) ? stored : (o.dtype ?? stored ?? weightsDtype);
    const out: OutTensor[] = [];
    for (const [name, plan] of all) {
      const dtype = outDtype(plan.dtype);
      if (o.layout === 'janus') out.push({ name, janus: name, dtype, shape: plan.shape });
      else
        for (const part of hfTensorsOf(name, plan.shape))
          out.push({ name: part.name, janus: name, rows: part.rows, dtype, shape: part.shape });
    }
    const byName = new Map(out.map((t) => [t.name, t]));
    const produce = (name: string): Tensor => {
      const t = byName.get(name)!;
      const plan = all.get(t.janus)!;
      const rowsShape = t.rows ? [t.rows[1], ...plan.shape.slice(1)] : plan.shape;
      const buf = torch.empty(rowsShape, { dtype: t.dtype });
      try {
        readPlanned(w, plan, buf, t.rows);
        if (rowsShape.join() === t.shape.join()) return buf;
        const shaped = buf.reshape(t.shape);
        buf.dispose();
        return shaped;
      } catch (e) {
        buf.dispose();
        throw e;
      }
    };
    const torchDtype =
      o.dtype ??
      (typeof rawConfig.torch_dtype === 'string' ? rawConfig.torch_dtype : (out[0]?.dtype ?? 'float32'));
    const configOut = outputConfig(o.layout, rawConfig, config, tokenizer, torchDtype);
    let files: string[] = [];
    const copied: string[] = [];
    writeDirAtomically(o.to, 'model', (tmp) => {
      files = torch.tidy(() =>
        saveShardedStreaming(tmp, out, produce, {
          maxShardBytes: o.maxShardBytes,
          metadata: { format: 'pt' },
        }),
      );
      fs.writeFileSync(path.join(tmp, CONFIG_FILE), JSON.stringify(configOut, null, 2) + '\n');
      for (const f of COPIED_FILES) {
        const src = path.join(o.from, f);
        if (fs.existsSync(src) && fs.statSync(src).isFile()) {
          fs.copyFileSync(src, path.join(tmp, f));
          copied.push(f);
        }
      }
    });
    const bytes = out.reduce(
      (a, t) => a + t.shape.reduce((x, d) => x * d, 1) * BYTES_PER_ELEMENT[t.dtype],
      0,
    );
    return {
      from: { format: w.format, layout: w.layout, files: w.files },
      tensors: out.length,
      bytes,
      files,
      copied,
    };
  } finally {
    w.close();
  }
}

function readJson(file: string): Record<string, unknown> {
  try {
    const j = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
    if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new Error('not a JSON object');
    return j as Record<string, unknown>;
  } catch (e) {
    throw new UserError(`${file}: cannot read the model config (${(e as Error).message})`);
  }
}

/** The config.json of the output: the source's own when the layout stays, else rewritten for the layout. */
function outputConfig(
  layout: Layout,
  raw: Record<string, unknown>,
  config: ReturnType<typeof loadConfig>,
  tokenizer: ULMTokenizer,
  torchDtype: string,
): Record<string, unknown> {
  const fromHF = isHFConfig(raw);
  if (layout === 'hf') {
    if (fromHF) return withDtype(raw, torchDtype, 'text_config');
    const s = tokenizer.special;
    return hfConfigFromJanus(config, { image: s.image, pad: s.pad, bos: s.bos, eos: s.eos }, torchDtype);
  }
  const janus = fromHF ? (janusConfigFromHF(raw, CONFIG_FILE) as Record<string, unknown>) : raw;
  return withDtype(janus, torchDtype, 'language_config');
}

function withDtype(c: Record<string, unknown>, dtype: string, sub: string): Record<string, unknown> {
  const out: Record<string, unknown> = { ...c, torch_dtype: dtype };
  const inner = c[sub];
  if (typeof inner === 'object' && inner !== null && !Array.isArray(inner))
    out[sub] = { ...(inner as Record<string, unknown>), torch_dtype: dtype };
  return out;
}
