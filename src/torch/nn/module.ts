/**
 * nn.Module: a tree of named parameters, buffers and child modules, with PyTorch's naming
 * (`layers.0.self_attn.q_proj.weight`), state dicts, train/eval mode and freezing.
 * Parameters and buffers are kept out of tidy scopes; `dispose()` frees them.
 */
import { Tensor } from '../tensor.js';
import { noGrad } from '../autograd.js';
import { type DType, isDType, isFloating } from '../dtype.js';
import { UserError } from '../../util/errors.js';
import { canonicalDevice } from '../device.js';

export abstract class Module {
  training = true;
  private readonly _params = new Map<string, Tensor>();
  private readonly _buffers = new Map<string, Tensor>();
  private readonly _children = new Map<string, Module>();

  /** Registers a trainable parameter (requires grad) under `name`. */
  protected param(name: string, t: Tensor): Tensor {
    t.keep().requiresGrad_(true);
    this._params.set(name, t);
    return t;
  }
  /** Registers a non-trainable tensor that is still part of the state dict (e.g. VQ codebook usage). */
  protected buffer(name: string, t: Tensor): Tensor {
    t.keep();
    this._buffers.set(name, t);
    return t;
  }
  /** Registers a child module under `name`. */
  protected child<M extends Module>(name: string, m: M): M {
    this._children.set(name, m);
    return m;
  }

  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, p] of this._params) out.push([prefix + n, p]);
    for (const [n, c] of this._children) out.push(...c.namedParameters(`${prefix}${n}.`));
    return out;
  }
  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }
  /** Parameters that currently require grad. */
  trainableParameters(): Tensor[] {
    return this.parameters().filter((p) => p.requiresGrad);
  }
  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, b] of this._buffers) out.push([prefix + n, b]);
    for (const [n, c] of this._children) out.push(...c.namedBuffers(`${prefix}${n}.`));
    return out;
  }
  namedChildren(): [string, Module][] {
    return [...this._children];
  }
  numParameters(): number {
    return this.parameters().reduce((a, p) => a + p.numel, 0);
  }

  /** Parameters and buffers by full name. The tensors are the module's own (not copies). */
  stateDict(): Map<string, Tensor> {
    return new Map([...this.namedParameters(), ...this.namedBuffers()]);
  }

  /**
   * Copies tensors into this module's parameters and buffers (dtype converted if needed). With strict (the
   * default) every module tensor must be given and every given tensor must exist; a shape mismatch is an
   * error naming the tensor.
   */
  loadStateDict(
    state: Map<string, Tensor>,
    opts: { strict?: boolean } = {},
  ): { missing: string[]; unexpected: string[] } {
    const own = this.stateDict();
    const missing = [...own.keys()].filter((k) => !state.has(k));
    const unexpected = [...state.keys()].filter((k) => !own.has(k));
    if ((opts.strict ?? true) && (missing.length > 0 || unexpected.length > 0)) {
      const parts = [];
      if (missing.length)
        parts.push(`missing: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}`);
      if (unexpected.length)
        parts.push(`unexpected: ${unexpected.slice(0, 5).join(', ')}${unexpected.length > 5 ? ', ...' : ''}`);
      throw new UserError(`state dict does not match the model (${parts.join('; ')})`);
    }
    noGrad(() => {
      for (const [name, target] of own) {
        const src = state.get(name);
        if (src === undefined) continue;
        if (src.shape.join(',') !== target.shape.join(',')) {
          throw new UserError(
            `tensor ${name} has shape [${src.shape.join(', ')}] but the model expects [${target.shape.join(', ')}]`,
          );
        }
        target.copy_(src);
      }
    });
    return { missing, unexpected };
  }

  /**
   * Converts every floating parameter and buffer to a dtype, or moves every parameter and buffer to a device
   * ('cpu', 'cuda', 'cuda:1', 'meta'), in place, as PyTorch's module.to: each tensor keeps its identity, so
   * references held by layers stay valid; gradients are cleared. A dtype change keeps the native tensor too
   * (optimizers follow); a device move replaces it (Tensor.moveTo_), so move a model before building its
   * optimizer, as PyTorch's documentation asks.
   */
  to(dtypeOrDevice: DType | string): this {
    const tensors = [...this.namedParameters(), ...this.namedBuffers()].map(([, t]) => t);
    if (!isDType(dtypeOrDevice)) {
      const device = canonicalDevice(dtypeOrDevice);
      for (const t of tensors) if (t.device !== device) t.moveTo_(device);
      return this;
    }
    const dtype = dtypeOrDevice;
    noGrad(() => {
      for (const t of tensors) {
        if (!isFloating(t.dtype) || t.dtype === dtype) continue;
        t.grad = null;
        const converted = t.to(dtype);
        t.setData_(converted);
        converted.dispose();
      }
    });
    return this;
  }

  train(flag = true): this {
    this.training = flag;
    for (const c of this._children.values()) c.train(flag);
    return this;
  }
  eval(): this {
    return this.train(false);
  }
  /** Stops (or restarts) gradient tracking for every parameter of this module. */
  requiresGrad_(flag: boolean): this {
    for (const p of this.parameters()) p.requiresGrad_(flag);
    return this;
  }
  /** Clears the gradients of every parameter (set to none). */
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }
  /** Frees every parameter and buffer. */
  dispose(): void {
    for (const p of this._params.values()) p.dispose();
    for (const b of this._buffers.values()) b.dispose();
    for (const c of this._children.values()) c.dispose();
  }
}

/** A list of modules registered as children "0", "1", ... */
export class ModuleList<M extends Module> extends Module {
  readonly items: M[];
  constructor(items: M[]) {
    super();
    this.items = items;
    items.forEach((m, i) => this.child(String(i), m));
  }
  get length(): number {
    return this.items.length;
  }
  at(i: number): M {
    const m = this.items[i];
    if (m === undefined) throw new RangeError(`ModuleList index ${i} out of range`);
    return m;
  }
  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }
}
