/**
 * LoRA adapters (Hu et al. 2021, as Hugging Face PEFT implements them) on the Linear layers of a model:
 *
 *   y = W x + b + (alpha / r) * B A dropout(x),   A [r, in], B [out, r]
 *
 * A starts as nn.Linear's default (U(-1/sqrt(in), 1/sqrt(in)), what PEFT's kaiming_uniform(a = sqrt 5) draws)
 * and B at zero, so a fresh adapter leaves the model's function unchanged. The adapter hangs on the base
 * Linear's `adapter` hook (nn/layers.ts): it is not a child module, so the model's state dict, and every
 * checkpoint of the model, holds the base weights only, and the base weights are frozen by the trainer.
 *
 * On disk an adapter is PEFT's: `adapter_model.safetensors` with `base_model.model.<module path>.lora_A.weight`
 * and `.lora_B.weight` (the adapter name "default" stripped, as PEFT's save does), and `adapter_config.json`
 * (peft_type LORA, r, lora_alpha, lora_dropout, target_modules, ...), so Python's PeftModel.from_pretrained
 * loads it onto the same model. Folding (`corl merge-lora`) writes W + (alpha / r) B A into the weights.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as torch from '../torch/index.js';
import { nn, type Tensor } from '../torch/index.js';
import { UserError } from '../util/errors.js';

export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';
export const ADAPTER_CONFIG_FILE = 'adapter_config.json';
/** PEFT's prefix of a saved adapter's keys (PeftModel.base_model = LoraModel, whose .model is the model). */
const PEFT_PREFIX = 'base_model.model.';

/** The adapters' hyper-parameters (the train config's `lora:` block). */
export interface LoraOptions {
  /** Rank r. */
  r: number;
  /** Scale numerator: the update is (alpha / r) B A (alpha / sqrt(r) with rslora). */
  alpha: number;
  /** Dropout on the adapter's input while gradients are recorded in training mode. */
  dropout: number;
  /** Module names: a Linear whose path is the name or ends with `.name` gets an adapter (PEFT's rule). */
  targetModules: readonly string[];
  /** rsLoRA's scale alpha / sqrt(r) instead of alpha / r. */
  useRslora?: boolean;
}

export function loraScale(o: { r: number; alpha: number; useRslora?: boolean }): number {
  return o.useRslora ? o.alpha / Math.sqrt(o.r) : o.alpha / o.r;
}

/** One adapter: lora_A and lora_B (Linear children, so their names are PEFT's `lora_A.weight`, ...). */
export class LoraLinear extends nn.Module {
  readonly lora_A: nn.Linear;
  readonly lora_B: nn.Linear;
  constructor(
    base: nn.Linear,
    readonly r: number,
    readonly scale: number,
    readonly dropout: number,
    generator?: torch.Generator,
  ) {
    super();
    this.lora_A = this.child('lora_A', new nn.Linear(base.inFeatures, r, { bias: false, generator }));
    this.lora_B = this.child('lora_B', new nn.Linear(r, base.outFeatures, { bias: false, generator }));
    torch.noGrad(() => this.lora_B.weight.zero_());
    if (base.weight.dtype !== 'float32') this.to(base.weight.dtype);
    if (base.weight.device !== 'cpu') this.to(base.weight.device); // the base's device (a model moved to cuda)
  }

  /**
   * scale * B A dropout(x). Dropout acts only in training mode in a forward that will be back-propagated (the
   * update's; torch.isRecording: also a checkpointed layer's first run), never in rollouts or scoring without
   * gradients, so sampling sees the adapter's mean function.
   */
  forward(x: Tensor): Tensor {
    return torch.tidy(() => {
      const drop = this.dropout > 0 && this.training && torch.isRecording();
      const h = drop ? torch.F.dropout(x, this.dropout, true) : x;
      return this.lora_B.forward(this.lora_A.forward(h)).mul(this.scale);
    });
  }

  /** The weight update scale * B A, [out, in]. */
  delta(): Tensor {
    return torch.tidy(() => this.lora_B.weight.matmul(this.lora_A.weight).mul(this.scale));
  }
}

/** Every module of `m` with its dotted path (PyTorch's named_modules, without the root). */
export function namedModules(m: nn.Module, prefix = ''): [string, nn.Module][] {
  const out: [string, nn.Module][] = [];
  for (const [n, c] of m.namedChildren()) {
    const p = prefix === '' ? n : `${prefix}.${n}`;
    out.push([p, c], ...namedModules(c, p));
  }
  return out;
}

/** PEFT's rule for a list of target names: the module path is the name or ends with `.name`. */
export function matchesTarget(modulePath: string, targets: readonly string[]): boolean {
  return targets.some((t) => modulePath === t || modulePath.endsWith(`.${t}`));
}

/** The adapters attached to one model, by module path. */
export class LoraAdapters {
  constructor(
    readonly options: LoraOptions,
    readonly modules: Map<string, { base: nn.Linear; lora: LoraLinear }>,
  ) {}

  /** The trainable tensors in a fixed order (module path order, A before B). */
  parameters(): Tensor[] {
    return [...this.modules.values()].flatMap(({ lora }) => lora.parameters());
  }
  numParameters(): number {
    return this.parameters().reduce((a, p) => a + p.numel, 0);
  }
  /** PEFT's saved names -> the adapters' own tensors (not copies). */
  stateDict(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [p, { lora }] of this.modules)
      for (const [n, t] of lora.namedParameters()) out.set(`${PEFT_PREFIX}${p}.${n}`, t);
    return out;
  }
  /** Copies PEFT-named tensors into the adapters; every adapter tensor must be given, with its shape. */
  loadStateDict(state: Map<string, Tensor>, source = 'adapter'): void {
    const own = this.stateDict();
    const missing = [...own.keys()].filter((k) => !state.has(k));
    const unexpected = [...state.keys()].filter((k) => !own.has(k));
    if (missing.length > 0 || unexpected.length > 0)
      throw new UserError(
        `${source} does not match the adapters (${[
          missing.length ? `missing: ${missing.slice(0, 3).join(', ')}` : '',
          unexpected.length ? `unexpected: ${unexpected.slice(0, 3).join(', ')}` : '',
        ]
          .filter(Boolean)
          .join('; ')})`,
      );
    torch.noGrad(() => {
      for (const [k, t] of own) {
        const src = state.get(k)!;
        if (src.shape.join(',') !== t.shape.join(','))
          throw new UserError(
            `${source}: ${k} has shape [${src.shape.join(', ')}], the adapter [${t.shape.join(', ')}]`,
          );
        t.copy_(src);
      }
    });
  }

  /**
   * The base weights with the adapters folded in, `<module path>.weight` -> W + scale B A (new tensors, in
   * the caller's scope), for a full checkpoint of the adapted model; the model itself is unchanged.
   */
  foldedWeights(): Map<string, Tensor> {
    return torch.noGrad(() => {
      const out = new Map<string, Tensor>();
      for (const [p, { base, lora }] of this.modules)
        out.set(
          `${p}.weight`,
          // a low-precision base (a bf16 run) folds in float32: the adapter's update is not rounded to bf16
          torch.tidy(() =>
            base.weight.dtype === 'float32' || base.weight.dtype === 'float64'
              ? base.weight.add(lora.delta().to(base.weight.dtype))
              : base.weight.float().add(lora.delta().float()),
          ),
        );
      return out;
    });
  }

  /** Takes the adapters off their Linears and frees them. */
  dispose(): void {
    for (const { base, lora } of this.modules.values()) {
      if (base.adapter === lora) base.adapter = null;
      lora.dispose();
    }
    this.modules.clear();
  }
}

/**
 * Puts a fresh adapter on every Linear of `model` that matches `o.targetModules` and lies under one of the
 * module paths `within` (all of the model when omitted). `generator` draws the A matrices (a dedicated one
 * keeps libtorch's default stream, and so the run's sampling, as it is without LoRA). No match is an error.
 */
export function applyLora(
  model: nn.Module,
  o: LoraOptions,
  opts: { within?: readonly string[]; generator?: torch.Generator } = {},
): LoraAdapters {
  const inside = (p: string) =>
    opts.within === undefined || opts.within.some((w) => p === w || p.startsWith(`${w}.`));
  const modules = new Map<string, { base: nn.Linear; lora: LoraLinear }>();
  const scale = loraScale(o);
  for (const [p, m] of namedModules(model)) {
    if (!(m instanceof nn.Linear) || !inside(p) || !matchesTarget(p, o.targetModules)) continue;
    if (m.adapter !== null) throw new UserError(`${p} already has an adapter`);
    const lora = new LoraLinear(m, o.r, scale, o.dropout, opts.generator);
    m.adapter = lora;
    modules.set(p, { base: m, lora });
  }
  if (modules.size === 0)
    throw new UserError(
      `lora: no Linear module named ${o.targetModules.join(', ')}${
        opts.within ? ` under ${opts.within.join(', ')}` : ''
      } (target_modules are module names such as q_proj, v_proj, down_proj)`,
    );
  return new LoraAdapters(o, modules);
}

// ---- PEFT files --------------------------------------------------------------------------------------------

/** The fields of PEFT's adapter_config.json corl writes and reads. */
export interface AdapterConfigJSON {
  peft_type: string;
  base_model_name_or_path: string | null;
  r: number;
  lora_alpha: number;
  lora_dropout: number;
  target_modules: string[] | string;
  use_rslora?: boolean;
  [key: string]: unknown;
}

/**
 * target_modules as written: the names when every Linear they match in `model` has an adapter (PEFT then finds
 * the same modules); otherwise a regex of the exact paths (PEFT full-matches a string against module paths).
 */
function peftTargets(model: nn.Module | undefined, a: LoraAdapters): string[] | string {
  const names = [...a.options.targetModules];
  if (model === undefined) return names;
  const matched = namedModules(model).filter(([p, m]) => m instanceof nn.Linear && matchesTarget(p, names));
  if (matched.every(([p]) => a.modules.has(p))) return names;
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return `^(${[...a.modules.keys()].map(esc).join('|')})$`;
}

/**
 * Writes `dir/adapter_model.safetensors` and `dir/adapter_config.json` (the folder is created if needed).
 * `model` (the adapted model) lets target_modules be written as plain names when they are exact.
 */
export function saveAdapter(
  dir: string,
  a: LoraAdapters,
  opts: { baseModel?: string; model?: nn.Module } = {},
): void {
  fs.mkdirSync(dir, { recursive: true });
  torch.tidy(() => {
    const tensors = new Map([...a.stateDict()].map(([k, t]) => [k, t.contiguous()] as const));
    torch.safetensors.saveSafetensors(path.join(dir, ADAPTER_WEIGHTS_FILE), tensors, { format: 'pt' });
  });
  const o = a.options;
  const config: AdapterConfigJSON = {
    peft_type: 'LORA',
    task_type: null,
    base_model_name_or_path: opts.baseModel ?? null,
    revision: null,
    inference_mode: true,
    r: o.r,
    lora_alpha: o.alpha,
    lora_dropout: o.dropout,
    target_modules: peftTargets(opts.model, a),
    bias: 'none',
    fan_in_fan_out: false,
    init_lora_weights: true,
    use_rslora: o.useRslora ?? false,
    use_dora: false,
    modules_to_save: null,
    layers_to_transform: null,
    layers_pattern: null,
    rank_pattern: {},
    alpha_pattern: {},
  };
  fs.writeFileSync(path.join(dir, ADAPTER_CONFIG_FILE), JSON.stringify(config, null, 2) + '\n');
}

/** A PEFT LoRA adapter read from disk: its config and, per module path, A and B (owned by the caller). */
export interface ReadAdapter {
  config: AdapterConfigJSON;
  scale: number;
  modules: Map<string, { A: Tensor; B: Tensor }>;
  dispose(): void;
}

/**
 * Reads a PEFT LoRA adapter folder. Refused with one line: not LoRA, DoRA, bias training, fan_in_fan_out,
 * per-module rank or alpha patterns (not supported by corl), or tensors other than lora_A / lora_B pairs.
 */
export function readAdapter(dir: string): ReadAdapter {
  const cfgFile = path.join(dir, ADAPTER_CONFIG_FILE);
  const wFile = path.join(dir, ADAPTER_WEIGHTS_FILE);
  if (!fs.existsSync(cfgFile) || !fs.existsSync(wFile))
    throw new UserError(
      `${dir} is not a LoRA adapter folder (needs ${ADAPTER_CONFIG_FILE} and ${ADAPTER_WEIGHTS_FILE})`,
    );
  let config: AdapterConfigJSON;
  try {
    config = JSON.parse(fs.readFileSync(cfgFile, 'utf8')) as AdapterConfigJSON;
  } catch (e) {
    throw new UserError(`${cfgFile}: not valid JSON (${(e as Error).message})`);
  }
  const bad = (why: string) => new UserError(`${cfgFile}: ${why}`);
  if (config.peft_type !== 'LORA') throw bad(`peft_type ${String(config.peft_type)}: only LORA is supported`);
  if (!Number.isInteger(config.r) || config.r < 1) throw bad(`r must be a positive integer`);
  if (typeof config.lora_alpha !== 'number' || !Number.isFinite(config.lora_alpha))
    throw bad('lora_alpha must be a number');
  if (config.use_dora === true) throw bad('use_dora: DoRA adapters are not supported');
  if (config.fan_in_fan_out === true) throw bad('fan_in_fan_out adapters are not supported');
  if (config.bias !== undefined && config.bias !== 'none')
    throw bad(`bias ${String(config.bias)}: only "none"`);
  for (const k of ['rank_pattern', 'alpha_pattern'])
    if (config[k] && Object.keys(config[k] as object).length > 0) throw bad(`${k} is not supported`);
  const { tensors } = torch.safetensors.loadSafetensors(wFile, { dtype: 'float32' });
  const modules = new Map<string, { A: Tensor; B: Tensor }>();
  const free = () => torch.dispose([...tensors.values()]);
  try {
    for (const [k, t] of tensors) {
      const m = /^base_model\.model\.(.+)\.lora_([AB])(?:\.default)?\.weight$/.exec(k);
      if (m === null)
        throw new UserError(
          `${wFile}: ${k} is not a LoRA A/B weight (base_model.model.<module>.lora_A.weight)`,
        );
      const entry = modules.get(m[1]!) ?? ({} as { A: Tensor; B: Tensor });
      entry[m[2] as 'A' | 'B'] = t.keep();
      modules.set(m[1]!, entry);
    }
    for (const [p, { A, B }] of modules) {
      if (A === undefined || B === undefined)
        throw new UserError(`${wFile}: ${p} lacks lora_${A ? 'B' : 'A'}`);
      if (A.ndim !== 2 || B.ndim !== 2 || A.size(0) !== config.r || B.size(1) !== config.r)
        throw new UserError(
          `${wFile}: ${p}: lora_A [${A.shape.join(', ')}] and lora_B [${B.shape.join(', ')}] are not rank ${config.r}`,
        );
    }
  } catch (e) {
    free();
    throw e;
  }
  const scale = loraScale({ r: config.r, alpha: config.lora_alpha, useRslora: config.use_rslora === true });
  return { config, scale, modules, dispose: free };
}

/** A read adapter's tensors under PEFT's saved names (LoraAdapters.loadStateDict's input; not copies). */
export function adapterStateDict(read: ReadAdapter): Map<string, Tensor> {
  return new Map(
    [...read.modules].flatMap(([p, { A, B }]) => [
      [`${PEFT_PREFIX}${p}.lora_A.weight`, A],
      [`${PEFT_PREFIX}${p}.lora_B.weight`, B],
    ]),
  );
}

/** The Linear at `modulePath` in `model`, or a UserError naming the path. */
function linearAt(model: nn.Module, modulePath: string, source: string): nn.Linear {
  let m: nn.Module | undefined = model;
  for (const part of modulePath.split('.')) m = m && new Map(m.namedChildren()).get(part);
  if (!(m instanceof nn.Linear))
    throw new UserError(`${source}: the model has no Linear module ${modulePath}`);
  return m;
}

/** Puts the adapter read from disk onto `model` (trainable, as applyLora's). */
export function attachAdapter(model: nn.Module, read: ReadAdapter, source = 'adapter'): LoraAdapters {
  const c = read.config;
  const options: LoraOptions = {
    r: c.r,
    alpha: c.lora_alpha,
    dropout: typeof c.lora_dropout === 'number' ? c.lora_dropout : 0,
    targetModules: typeof c.target_modules === 'string' ? [...read.modules.keys()] : c.target_modules,
    useRslora: c.use_rslora === true,
  };
  const modules = new Map<string, { base: nn.Linear; lora: LoraLinear }>();
  const a = new LoraAdapters(options, modules);
  try {
    for (const p of read.modules.keys()) {
      const base = linearAt(model, p, source);
      if (base.adapter !== null) throw new UserError(`${source}: ${p} already has an adapter`);
      const lora = new LoraLinear(base, c.r, read.scale, options.dropout);
      base.adapter = lora;
      modules.set(p, { base, lora });
    }
    a.loadStateDict(adapterStateDict(read), source);
  } catch (e) {
    a.dispose();
    throw e;
  }
  return a;
}

/** Folds the adapter into `model`'s weights in place: W += scale B A (in W's dtype). Returns the modules. */
export function foldAdapter(model: nn.Module, read: ReadAdapter, source = 'adapter'): number {
  const targets = [...read.modules].map(([p, ab]) => [linearAt(model, p, source), p, ab] as const);
  for (const [base, p, { A, B }] of targets)
    if (A.size(1) !== base.inFeatures || B.size(0) !== base.outFeatures)
      throw new UserError(
        `${source}: ${p} is [${base.outFeatures}, ${base.inFeatures}] but the adapter gives [${B.size(0)}, ${A.size(1)}]`,
      );
  torch.noGrad(() => {
    for (const [base, , { A, B }] of targets)
      torch.tidy(() => {
        base.weight.copy_(base.weight.add(B.matmul(A).mul(read.scale).to(base.weight.dtype)));
      });
  });
  return targets.length;
}
