/**
 * Random-weight Janus checkpoint folders in every form a user may hold: safetensors or pytorch_model.bin
 * (single or sharded with its index), in Janus's key layout or transformers' (names and shapes from the
 * hand-written lists of test/model/janus-layout.ts, fused qkv split as transformers' converter splits it).
 * Each tensor's values depend only on (seed, Janus name), so every form of one checkpoint holds the same
 * weights, and each is written one tensor at a time (a 1B-wide checkpoint is never held in memory).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as torch from '../../src/torch/index.js';
import type { DType, Tensor } from '../../src/torch/index.js';
import { saveShardedStreaming } from '../../src/torch/safetensors.js';
import type { ULMConfig } from '../../src/model/config.js';
import { hfConfigFromJanus, hfTensorsOf } from '../../src/model/janus-layout.js';
import { ULMTokenizer } from '../../src/model/tokenizer.js';
import { hfTensorShapes, janusTensorShapes } from '../model/janus-layout.js';
import { torchSave } from './torch-save.js';

export type Format = 'safetensors' | 'pytorch';
export type LayoutName = 'janus' | 'hf';

/** 32-bit FNV-1a of a name: the per-tensor seed. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** Janus tensor `name`'s values: U(-scale, scale) from a generator seeded by (seed, name), in `dtype`. */
export function janusTensor(
  name: string,
  shape: readonly number[],
  seed: number,
  dtype: DType,
  scale = 0.05,
): Tensor {
  if (name.endsWith('quantize.codebook_used')) return torch.zeros(shape, { dtype });
  return torch.tidy(() => {
    const g = new torch.Generator((hash(name) ^ seed) >>> 0);
    return torch.empty(shape).uniform_(-scale, scale, g).to(dtype);
  });
}

export interface CheckpointOptions {
  format: Format;
  layout: LayoutName;
  config: ULMConfig;
  tokenizer: object;
  seed?: number;
  dtype?: DType;
  /** Shard when the data passes this many bytes (default: one file). */
  shardBytes?: number;
}

/**
 * hf tensor name -> the Janus tensor (and rows) it is cut from, by corl's mapping; the result's names and
 * shapes are checked against the hand-written transformers list, so a naming slip fails here.
 */
function hfSources(c: ULMConfig): Map<string, { janus: string; shape: number[]; rows?: [number, number] }> {
  const out = new Map<string, { janus: string; shape: number[]; rows?: [number, number] }>();
  for (const [name, shape] of janusTensorShapes(c))
    for (const p of hfTensorsOf(name, shape)) out.set(p.name, { janus: name, shape: p.shape, rows: p.rows });
  const hf = hfTensorShapes(c);
  const same = out.size === hf.size && [...hf].every(([n, s]) => out.get(n)?.shape.join() === s.join());
  if (!same) throw new Error("corl's hf mapping differs from transformers' hand-written state dict");
  return out;
}

/** Writes config.json, tokenizer.json and the weights of a random checkpoint in the given form. */
export function writeJanusCheckpoint(dir: string, o: CheckpointOptions): void {
  const seed = o.seed ?? 0;
  const dtype = o.dtype ?? 'bfloat16';
  fs.mkdirSync(dir, { recursive: true });
  const janus = janusTensorShapes(o.config);
  let specs: { name: string; dtype: DType; shape: number[] }[];
  let make: (name: string) => Tensor;
  if (o.layout === 'janus') {
    specs = [...janus].map(([name, shape]) => ({ name, dtype, shape }));
    make = (name) => janusTensor(name, janus.get(name)!, seed, dtype);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...o.config, torch_dtype: 'bfloat16' }));
  } else {
    const src = hfSources(o.config);
    specs = [...src].map(([name, s]) => ({ name, dtype, shape: s.shape }));
    make = (name) => {
      const s = src.get(name)!;
      const full = janusTensor(s.janus, janus.get(s.janus)!, seed, dtype);
      return torch.tidy(() => {
        const rows = s.rows ? full.narrow(0, s.rows[0], s.rows[1]) : full;
        return rows.reshape(s.shape).contiguous().clone();
      });
    };
    const tok = ULMTokenizer.fromJSON(o.tokenizer);
    const sp = tok.special;
    const hfConfig = hfConfigFromJanus(
      o.config,
      { image: sp.image, pad: sp.pad, bos: sp.bos, eos: sp.eos },
      'bfloat16',
    );
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(hfConfig));
  }
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(o.tokenizer));
  if (o.format === 'safetensors') {
    torch.tidy(() =>
      saveShardedStreaming(dir, specs, make, { maxShardBytes: o.shardBytes, metadata: { format: 'pt' } }),
    );
    return;
  }
  const bytes = (s: { dtype: DType; shape: number[] }) =>
    s.shape.reduce((a, d) => a * d, 1) * (s.dtype === 'float32' ? 4 : 2);
  const shards: (typeof specs)[] = [[]];
  let size = 0;
  for (const s of specs) {
    if (o.shardBytes !== undefined && size > 0 && size + bytes(s) > o.shardBytes) {
      shards.push([]);
      size = 0;
    }
    shards[shards.length - 1]!.push(s);
    size += bytes(s);
  }
  if (shards.length === 1) {
    torchSave(path.join(dir, 'pytorch_model.bin'), specs, make);
    return;
  }
  const pad = (i: number) => String(i).padStart(5, '0');
  const weightMap: Record<string, string> = {};
  shards.forEach((shard, i) => {
    const file = `pytorch_model-${pad(i + 1)}-of-${pad(shards.length)}.bin`;
    torchSave(path.join(dir, file), shard, make);
    for (const s of shard) weightMap[s.name] = file;
  });
  fs.writeFileSync(
    path.join(dir, 'pytorch_model.bin.index.json'),
    JSON.stringify(
      { metadata: { total_size: specs.reduce((a, s) => a + bytes(s), 0) }, weight_map: weightMap },
      null,
      2,
    ),
  );
}
