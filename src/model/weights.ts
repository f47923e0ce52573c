/**
 * A checkpoint folder's weights in any form a Janus user has: safetensors (`model.safetensors`, or shards with
 * `model.safetensors.index.json`) or PyTorch (`pytorch_model.bin`, or shards with
 * `pytorch_model.bin.index.json`), in Janus's key layout or transformers' (janus-layout.ts).
 *
 * `openWeights` reads only headers (and the restricted pickle of .bin files): every tensor's name, dtype and
 * shape. `planJanus` matches them against a model's Janus-named tensors, before any data is read: each model
 * tensor gets the file tensors (and rows) it is made of, and anything missing, unmapped or mis-shaped is one
 * UserError listing it. `loadInto` then streams each tensor from the file straight into the model's
 * parameter (tensor-file.ts), converting the dtype on the way: loading never holds the weights twice.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { openPytorchFile } from '../torch/pytorch-bin.js';
import { INDEX_FILE, SINGLE_FILE, readIndex } from '../torch/safetensors.js';
import { openSafetensorsFile, type StoredTensor, type TensorFile } from '../torch/tensor-file.js';
import { UserError } from '../util/errors.js';
import { HF_DROPPED, type Layout, detectLayout, hfTensorsOf } from './janus-layout.js';

export const BIN_FILE = 'pytorch_model.bin';
export const BIN_INDEX_FILE = 'pytorch_model.bin.index.json';

export type WeightFormat = 'safetensors' | 'pytorch';

export interface WeightSet {
  dir: string;
  format: WeightFormat;
  layout: Layout;
  /** The weight files, relative to dir. */
  files: string[];
  /** Every tensor by its name in the files, with the file that holds it. */
  entries: Map<string, StoredTensor & { file: TensorFile }>;
  close(): void;
}

/** Checkpoint tensors carried but not modelled (the ViT's attention-pool head Janus never runs). */
export const PASSTHROUGH = /^vision_model\.vision_tower\.attn_pool\./;

/** The weight files of `dir`: safetensors first (as transformers prefers them), then PyTorch. */
export function findWeights(
  dir: string,
): { format: WeightFormat; index: string | null; single: string } | null {
  const has = (f: string) => fs.existsSync(path.join(dir, f));
  if (has(INDEX_FILE)) return { format: 'safetensors', index: INDEX_FILE, single: SINGLE_FILE };
  if (has(SINGLE_FILE)) return { format: 'safetensors', index: null, single: SINGLE_FILE };
  if (has(BIN_INDEX_FILE)) return { format: 'pytorch', index: BIN_INDEX_FILE, single: BIN_FILE };
  if (has(BIN_FILE)) return { format: 'pytorch', index: null, single: BIN_FILE };
  return null;
}

/** Opens every weight file of `dir` (headers only) and checks a sharded index against its shards. */
export function openWeights(dir: string): WeightSet {
  const found = findWeights(dir);
  if (found === null)
    throw new UserError(
      `${dir}: no weights: neither ${INDEX_FILE} nor ${SINGLE_FILE} nor ${BIN_INDEX_FILE} nor ${BIN_FILE} found`,
    );
  const open = found.format === 'safetensors' ? openSafetensorsFile : openPytorchFile;
  const opened: TensorFile[] = [];
  const entries = new Map<string, StoredTensor & { file: TensorFile }>();
  const close = () => {
    for (const f of opened) f.close();
  };
  try {
    if (found.index === null) {
      const f = open(path.join(dir, found.single));
      opened.push(f);
      for (const [n, e] of f.entries) entries.set(n, { ...e, file: f });
    } else {
      const indexPath = path.join(dir, found.index);
      for (const [shard, names] of readIndex(indexPath)) {
        const file = path.join(dir, shard);
        if (!fs.existsSync(file)) throw new UserError(`${indexPath}: shard file ${shard} does not exist`);
        const f = open(file);
        opened.push(f);
        for (const n of names) {
          const e = f.entries.get(n);
          if (e === undefined)
            throw new UserError(`${indexPath}: tensor ${JSON.stringify(n)} is not in its shard ${shard}`);
          entries.set(n, { ...e, file: f });
        }
      }
    }
    const layout = detectLayout(entries.keys(), dir);
    return {
      dir,
      format: found.format,
      layout,
      files: [...(found.index === null ? [] : [found.index]), ...opened.map((f) => path.basename(f.file))],
      entries,
      close,
    };
  } catch (e) {
    close();
    throw e;
  }
}

/** How one Janus tensor is made: file tensors concatenated along rows, or zeros (a buffer hf drops). */
export interface TensorPlan {
  shape: number[];
  /** Stored dtype (of the first part; zeros: null). */
  dtype: torch.DType | null;
  parts: { source: string; rows?: [number, number] }[];
}

function listNames(kind: string, names: string[]): string {
  const shown = names.slice(0, 12).join(', ');
  return `${names.length} ${kind} tensor(s): ${shown}${names.length > 12 ? `, ... (${names.length - 12} more)` : ''}`;
}

/**
 * Matches the weights against `expected` (Janus name -> shape: the model's state dict), before any data is
 * read. Returns a plan per expected tensor and per passthrough tensor present in the file (Janus layout: the
 * attention-pool head). Unmapped, missing and mis-shaped tensors are one UserError naming them.
 */
export function planJanus(
  w: WeightSet,
  expected: ReadonlyMap<string, readonly number[]>,
): { plans: Map<string, TensorPlan>; passthrough: Map<string, TensorPlan> } {
  const plans = new Map<string, TensorPlan>();
  const passthrough = new Map<string, TensorPlan>();
  const missing: string[] = [];
  const used = new Set<string>();
  const shapeErrors: string[] = [];
  const same = (a: readonly number[], b: readonly number[]) =>
    a.length === b.length && a.every((d, i) => d === b[i]);
  for (const [name, shape] of expected) {
    if (w.layout === 'janus') {
      const e = w.entries.get(name);
      if (e === undefined) {
        missing.push(name);
        continue;
      }
      used.add(name);
      if (!same(e.shape, shape))
        shapeErrors.push(
          `tensor ${name} has shape [${e.shape.join(', ')}] but the config expects [${shape.join(', ')}]`,
        );
      plans.set(name, { shape: [...shape], dtype: e.dtype, parts: [{ source: name }] });
      continue;
    }
    const parts = hfTensorsOf(name, shape);
    if (parts.length === 0) {
      if (HF_DROPPED.test(name) && !PASSTHROUGH.test(name))
        plans.set(name, { shape: [...shape], dtype: null, parts: [] });
      continue;
    }
    let dtype: torch.DType | null = null;
    let ok = true;
    for (const p of parts) {
      const e = w.entries.get(p.name);
      if (e === undefined) {
        missing.push(p.name);
        ok = false;
        continue;
      }
      used.add(p.name);
      dtype ??= e.dtype;
      if (!same(e.shape, p.shape))
        shapeErrors.push(
          `tensor ${p.name} has shape [${e.shape.join(', ')}] but the config expects [${p.shape.join(', ')}]`,
        );
    }
    if (ok) plans.set(name, { shape: [...shape], dtype, parts: parts.map((p) => ({ source: p.name })) });
  }
  if (w.layout === 'janus')
    for (const [n, e] of w.entries)
      if (!used.has(n) && PASSTHROUGH.test(n)) {
        used.add(n);
        passthrough.set(n, { shape: [...e.shape], dtype: e.dtype, parts: [{ source: n }] });
      }
  const unmapped = [...w.entries.keys()].filter((n) => !used.has(n)).sort();
  if (unmapped.length > 0 || missing.length > 0) {
    const parts = [];
    if (unmapped.length > 0) parts.push(listNames('unmapped', unmapped));
    if (missing.length > 0) parts.push(listNames('missing', missing.sort()));
    throw new UserError(`${w.dir}: checkpoint does not match its config: ${parts.join('; ')}`);
  }
  if (shapeErrors.length > 0) throw new UserError(`${w.dir}: ${shapeErrors[0]}`);
  return { plans, passthrough };
}

/**
 * Streams one planned tensor into `target` (contiguous, the plan's shape), or only rows [start, start + count)
 * of it (`target` then holds those rows: a split of a fused tensor).
 */
export function readPlanned(w: WeightSet, plan: TensorPlan, target: Tensor, rows?: [number, number]): void {
  if (plan.parts.length === 0) {
    torch.noGrad(() => target.zero_());
    return;
  }
  if (plan.parts.length === 1) {
    const p = plan.parts[0]!;
    const r: [number, number] | undefined =
      rows && p.rows ? [p.rows[0] + rows[0], rows[1]] : (rows ?? p.rows);
    w.entries.get(p.source)!.file.readInto(p.source, target, r);
    return;
  }
  // parts concatenated along rows: copy the overlap of each part with the wanted rows
  const [want0, wantN] = rows ?? [0, plan.shape[0]!];
  let row = 0;
  for (const p of plan.parts) {
    const e = w.entries.get(p.source)!;
    const [p0, pn] = p.rows ?? [0, e.shape[0]!];
    const lo = Math.max(row, want0);
    const hi = Math.min(row + pn, want0 + wantN);
    if (hi > lo) {
      const slice = target.narrow(0, lo - want0, hi - lo);
      try {
        e.file.readInto(p.source, slice, [p0 + lo - row, hi - lo]);
      } finally {
        slice.dispose();
      }
    }
    row += pn;
  }
  if (row !== plan.shape[0]) throw new Error(`readPlanned: ${row} rows for a tensor of ${plan.shape[0]}`);
}

/**
 * Loads the weights into a model built for them (its parameters may be uninitialised: every one is
 * written). Returns the passthrough tensors (new tensors in the model's floating dtype, owned by the caller).
 */
export function loadInto(
  w: WeightSet,
  own: ReadonlyMap<string, Tensor>,
  dtype: torch.DType,
): Map<string, Tensor> {
  const { plans, passthrough } = planJanus(w, new Map([...own].map(([n, t]) => [n, t.shape])));
  for (const [name, target] of own) readPlanned(w, plans.get(name)!, target);
  const out = new Map<string, Tensor>();
  try {
    for (const [name, plan] of passthrough) {
      const t = torch.empty(plan.shape, {
        dtype: plan.dtype !== null && !torch.isFloating(plan.dtype) ? plan.dtype : dtype,
      });
      out.set(name, t);
      readPlanned(w, plan, t);
    }
  } catch (e) {
    for (const t of out.values()) t.dispose();
    throw e;
  }
  return out;
}
