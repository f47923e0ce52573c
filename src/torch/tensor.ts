/**
 * The Tensor class: a typed, PyTorch-shaped face over a native libtorch tensor. Method names mirror PyTorch
 * in camelCase (`logSoftmax`, `maskedFill`, `indexSelect`), so model code ports line by line.
 *
 * Every method that returns a tensor returns a new handle (views share storage, as in PyTorch); the new
 * tensor belongs to the innermost `tidy` scope, if any (see scope.ts).
 */
import { native, type Handle } from './native.js';
import { type DType, dtypeCode, dtypeFromCode, isDType, viewAs, type TypedArrayFor } from './dtype.js';
import { track, keep as keepTensor, type Disposable } from './scope.js';

export type Scalar = number | boolean;
export type TensorOrScalar = Tensor | Scalar;

function arg(x: TensorOrScalar): Handle | Scalar {
  return x instanceof Tensor ? x.handle : x;
}

export class Tensor implements Disposable {
  /** @internal */ _scope: Set<Disposable> | null = null;
  private _shape: readonly number[] | null = null;
  private _disposed = false;

  constructor(readonly handle: Handle) {
    track(this);
  }

  // ---- metadata ---------------------------------------------------------------------------------------
  get shape(): readonly number[] {
    if (this._shape === null) this._shape = native.shape(this.handle) as number[];
    return this._shape;
  }
  get ndim(): number {
    return this.shape.length;
  }
  get numel(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }
  get dtype(): DType {
    return dtypeFromCode(native.dtype(this.handle));
  }
  get device(): string {
    return native.device(this.handle);
  }
  size(dim: number): number {
    const d = dim < 0 ? this.ndim + dim : dim;
    const s = this.shape[d];
    if (s === undefined) throw new RangeError(`dim ${dim} out of range for shape [${this.shape.join(', ')}]`);
    return s;
  }
  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Frees the native tensor now. Idempotent. */
  dispose(): void {
    if (this._disposed) return;
    this._disposed = true;
    native.dispose(this.handle);
    if (this._scope !== null) {
      this._scope.delete(this);
      this._scope = null;
    }
  }
  /** Takes this tensor out of scope management (the caller disposes it). */
  keep(): this {
    return keepTensor(this);
  }

  // ---- data out ---------------------------------------------------------------------------------------
  /** The raw elements as a typed array (a copy; f16/bf16 as 16-bit patterns, bool as 0/1 bytes). */
  data(): TypedArrayFor {
    return viewAs(this.dtype, native.toBuffer(this.handle) as ArrayBuffer);
  }
  /** The elements as plain numbers, flattened in row-major order (float16/bfloat16 converted to float32). */
  toArray(): number[] {
    const d = this.dtype;
    if (d === 'float16' || d === 'bfloat16') return this.to('float32').toArrayAndDispose();
    const a = this.data();
    if (a instanceof BigInt64Array) return Array.from(a, (v) => Number(v));
    return Array.from(a as ArrayLike<number>);
  }
  private toArrayAndDispose(): number[] {
    const out = this.toArray();
    this.dispose();
    return out;
  }
  /** Float32 copy of the elements. */
  toFloat32Array(): Float32Array {
    if (this.dtype === 'float32') return this.data() as Float32Array;
    const f = this.to('float32');
    const out = f.data() as Float32Array;
    f.dispose();
    return out;
  }
  /** The value of a one-element tensor. */
  item(): number {
    return Number(native.item(this.handle));
  }
  toString(): string {
    return `Tensor(shape=[${this.shape.join(', ')}], dtype=${this.dtype}, device=${this.device})`;
  }

  // ---- conversion -------------------------------------------------------------------------------------
  to(dtypeOrDevice: DType | string, opts: { copy?: boolean } = {}): Tensor {
    const isDtype = isDType(dtypeOrDevice);
    const code = isDtype ? dtypeCode(dtypeOrDevice) : null;
    return new Tensor(native.to(this.handle, code, isDtype ? null : dtypeOrDevice, opts.copy ?? false));
  }
  float(): Tensor {
    return this.to('float32');
  }
  double(): Tensor {
    return this.to('float64');
  }
  long(): Tensor {
    return this.to('int64');
  }
  bool(): Tensor {
    return this.to('bool');
  }
  clone(): Tensor {
    return new Tensor(native.clone(this.handle));
  }
  contiguous(): Tensor {
    return new Tensor(native.contiguous(this.handle));
  }
  isContiguous(): boolean {
    return native.isContiguous(this.handle);
  }

  // ---- autograd ---------------------------------------------------------------------------------------
  get requiresGrad(): boolean {
    return native.requiresGrad(this.handle);
  }
  requiresGrad_(flag = true): this {
    native.requiresGrad_(this.handle, flag);
    return this;
  }
  get isLeaf(): boolean {
    return native.isLeaf(this.handle);
  }
  detach(): Tensor {
    return new Tensor(native.detach(this.handle));
  }
  backward(gradient?: Tensor, opts: { retainGraph?: boolean } = {}): void {
    native.backward(this.handle, gradient?.handle ?? null, opts.retainGraph ?? null);
  }
  /** The accumulated gradient (a new handle on it), or null. */
  get grad(): Tensor | null {
    const g = native.grad(this.handle) as Handle | null;
    return g === null ? null : new Tensor(g);
  }
  set grad(g: Tensor | null) {
    native.setGrad(this.handle, g?.handle ?? null);
  }

  // ---- in place (use under noGrad for parameters) -------------------------------------------------------
  copy_(src: Tensor): this {
    native.copy_(this.handle, src.handle);
    return this;
  }
  fill_(v: Scalar): this {
    native.fill_(this.handle, v);
    return this;
  }
  zero_(): this {
    native.zero_(this.handle);
    return this;
  }
  normal_(mean = 0, std = 1, generator?: { handle: unknown }): this {
    native.normal_(this.handle, mean, std, generator?.handle ?? null);
    return this;
  }
  uniform_(from = 0, to = 1, generator?: { handle: unknown }): this {
    native.uniform_(this.handle, from, to, generator?.handle ?? null);
    return this;
  }
  /**
   * Moves this tensor's data to `device` in place, keeping the JS object (and whether it requires gradients;
   * its gradient is dropped). For Module.to(device); what holds the old tensor natively (an optimizer) does
   * not follow, so move models before building their optimizers.
   */
  moveTo_(device: string): this {
    native.moveTo_(this.handle, device);
    return this;
  }
  /** Replaces this tensor's data (storage, dtype, device) by src's, keeping its identity (`t.data = src`). */
  setData_(src: Tensor): this {
    native.setData_(this.handle, src.handle);
    this._shape = null;
    return this;
  }
  indexCopy_(dim: number, index: Tensor, src: Tensor): this {
    native.indexCopy_(this.handle, dim, index.handle, src.handle);
    return this;
  }

  // ---- elementwise ------------------------------------------------------------------------------------
  add(o: TensorOrScalar): Tensor {
    return new Tensor(native.add(this.handle, arg(o)));
  }
  sub(o: TensorOrScalar): Tensor {
    return new Tensor(native.sub(this.handle, arg(o)));
  }
  /** s - this */
  rsub(s: number): Tensor {
    return new Tensor(native.rsub(this.handle, s));
  }
  mul(o: TensorOrScalar): Tensor {
    return new Tensor(native.mul(this.handle, arg(o)));
  }
  div(o: TensorOrScalar): Tensor {
    return new Tensor(native.div(this.handle, arg(o)));
  }
  pow(o: TensorOrScalar): Tensor {
    return new Tensor(native.pow(this.handle, arg(o)));
  }
  maximum(o: TensorOrScalar): Tensor {
    return new Tensor(native.maximum(this.handle, arg(o)));
  }
  minimum(o: TensorOrScalar): Tensor {
    return new Tensor(native.minimum(this.handle, arg(o)));
  }
  eq(o: TensorOrScalar): Tensor {
    return new Tensor(native.eq(this.handle, arg(o)));
  }
  ne(o: TensorOrScalar): Tensor {
    return new Tensor(native.ne(this.handle, arg(o)));
  }
  lt(o: TensorOrScalar): Tensor {
    return new Tensor(native.lt(this.handle, arg(o)));
  }
  le(o: TensorOrScalar): Tensor {
    return new Tensor(native.le(this.handle, arg(o)));
  }
  gt(o: TensorOrScalar): Tensor {
    return new Tensor(native.gt(this.handle, arg(o)));
  }
  ge(o: TensorOrScalar): Tensor {
    return new Tensor(native.ge(this.handle, arg(o)));
  }
  logicalAnd(o: TensorOrScalar): Tensor {
    return new Tensor(native.logicalAnd(this.handle, arg(o)));
  }
  logicalOr(o: TensorOrScalar): Tensor {
    return new Tensor(native.logicalOr(this.handle, arg(o)));
  }
  logicalNot(): Tensor {
    return new Tensor(native.logicalNot(this.handle));
  }
  neg(): Tensor {
    return new Tensor(native.neg(this.handle));
  }
  abs(): Tensor {
    return new Tensor(native.abs(this.handle));
  }
  exp(): Tensor {
    return new Tensor(native.exp(this.handle));
  }
  log(): Tensor {
    return new Tensor(native.log(this.handle));
  }
  log1p(): Tensor {
    return new Tensor(native.log1p(this.handle));
  }
  sqrt(): Tensor {
    return new Tensor(native.sqrt(this.handle));
  }
  rsqrt(): Tensor {
    return new Tensor(native.rsqrt(this.handle));
  }
  sin(): Tensor {
    return new Tensor(native.sin(this.handle));
  }
  cos(): Tensor {
    return new Tensor(native.cos(this.handle));
  }
  tanh(): Tensor {
    return new Tensor(native.tanh(this.handle));
  }
  sigmoid(): Tensor {
    return new Tensor(native.sigmoid(this.handle));
  }
  relu(): Tensor {
    return new Tensor(native.relu(this.handle));
  }
  silu(): Tensor {
    return new Tensor(native.silu(this.handle));
  }
  /** GELU, exact (erf) by default or the tanh approximation. */
  gelu(approximate: 'none' | 'tanh' = 'none'): Tensor {
    return new Tensor(native.gelu(this.handle, approximate));
  }
  sign(): Tensor {
    return new Tensor(native.sign(this.handle));
  }
  floor(): Tensor {
    return new Tensor(native.floor(this.handle));
  }
  round(): Tensor {
    return new Tensor(native.round(this.handle));
  }
  reciprocal(): Tensor {
    return new Tensor(native.reciprocal(this.handle));
  }
  isnan(): Tensor {
    return new Tensor(native.isnan(this.handle));
  }
  isfinite(): Tensor {
    return new Tensor(native.isfinite(this.handle));
  }
  clamp(min: number | null, max: number | null = null): Tensor {
    return new Tensor(native.clamp(this.handle, min, max));
  }

  // ---- reductions -------------------------------------------------------------------------------------
  sum(dim?: number | number[], keepdim = false): Tensor {
    return new Tensor(native.sum(this.handle, dims(dim), keepdim));
  }
  mean(dim?: number | number[], keepdim = false): Tensor {
    return new Tensor(native.mean(this.handle, dims(dim), keepdim));
  }
  /** Variance; unbiased (Bessel-corrected) by default, as PyTorch. */
  var(dim?: number | number[], opts: { unbiased?: boolean; keepdim?: boolean } = {}): Tensor {
    return new Tensor(native.var(this.handle, dims(dim), opts.unbiased ?? true, opts.keepdim ?? false));
  }
  std(dim?: number | number[], opts: { unbiased?: boolean; keepdim?: boolean } = {}): Tensor {
    return new Tensor(native.std(this.handle, dims(dim), opts.unbiased ?? true, opts.keepdim ?? false));
  }
  amax(dim?: number | number[], keepdim = false): Tensor {
    return new Tensor(native.amax(this.handle, dims(dim), keepdim));
  }
  amin(dim?: number | number[], keepdim = false): Tensor {
    return new Tensor(native.amin(this.handle, dims(dim), keepdim));
  }
  /** max over a dim: values and their indices (PyTorch's t.max(dim)). */
  max(dim: number, keepdim = false): { values: Tensor; indices: Tensor } {
    const [v, i] = native.maxDim(this.handle, dim, keepdim) as [Handle, Handle];
    return { values: new Tensor(v), indices: new Tensor(i) };
  }
  min(dim: number, keepdim = false): { values: Tensor; indices: Tensor } {
    const [v, i] = native.minDim(this.handle, dim, keepdim) as [Handle, Handle];
    return { values: new Tensor(v), indices: new Tensor(i) };
  }
  argmax(dim?: number, keepdim = false): Tensor {
    return new Tensor(native.argmax(this.handle, dim ?? null, keepdim));
  }
  logsumexp(dim: number | number[], keepdim = false): Tensor {
    return new Tensor(native.logsumexp(this.handle, dims(dim), keepdim));
  }
  all(): Tensor {
    return new Tensor(native.all(this.handle));
  }
  any(): Tensor {
    return new Tensor(native.any(this.handle));
  }
  cumsum(dim: number): Tensor {
    return new Tensor(native.cumsum(this.handle, dim));
  }
  norm(p = 2): Tensor {
    return new Tensor(native.norm(this.handle, p));
  }

  // ---- shape and indexing -----------------------------------------------------------------------------
  reshape(shape: readonly number[]): Tensor {
    return new Tensor(native.reshape(this.handle, shape));
  }
  view(shape: readonly number[]): Tensor {
    return new Tensor(native.view(this.handle, shape));
  }
  permute(order: readonly number[]): Tensor {
    return new Tensor(native.permute(this.handle, order));
  }
  transpose(d0: number, d1: number): Tensor {
    return new Tensor(native.transpose(this.handle, d0, d1));
  }
  /** Transpose of a 2-D tensor. */
  t(): Tensor {
    return this.transpose(0, 1);
  }
  expand(shape: readonly number[]): Tensor {
    return new Tensor(native.expand(this.handle, shape));
  }
  repeat(times: readonly number[]): Tensor {
    return new Tensor(native.repeat(this.handle, times));
  }
  repeatInterleave(repeats: number, dim: number): Tensor {
    return new Tensor(native.repeatInterleave(this.handle, repeats, dim));
  }
  flip(dims: readonly number[]): Tensor {
    return new Tensor(native.flip(this.handle, dims));
  }
  /** t[..., start:end:step, ...] along `dim`; end defaults to the dim's size, negatives count from the end. */
  slice(dim: number, start = 0, end?: number, step = 1): Tensor {
    const n = this.size(dim);
    return new Tensor(native.slice(this.handle, dim, start, end ?? n, step));
  }
  narrow(dim: number, start: number, length: number): Tensor {
    return new Tensor(native.narrow(this.handle, dim, start, length));
  }
  select(dim: number, index: number): Tensor {
    return new Tensor(native.select(this.handle, dim, index));
  }
  squeeze(dim?: number): Tensor {
    return new Tensor(native.squeeze(this.handle, dim ?? null));
  }
  unsqueeze(dim: number): Tensor {
    return new Tensor(native.unsqueeze(this.handle, dim));
  }
  flatten(startDim = 0, endDim = -1): Tensor {
    return new Tensor(native.flatten(this.handle, startDim, endDim));
  }
  split(sizes: number | number[], dim = 0): Tensor[] {
    return (native.split(this.handle, sizes, dim) as Handle[]).map((h) => new Tensor(h));
  }
  chunk(chunks: number, dim = 0): Tensor[] {
    return (native.chunk(this.handle, chunks, dim) as Handle[]).map((h) => new Tensor(h));
  }
  indexSelect(dim: number, index: Tensor): Tensor {
    return new Tensor(native.indexSelect(this.handle, dim, index.handle));
  }
  gather(dim: number, index: Tensor): Tensor {
    return new Tensor(native.gather(this.handle, dim, index.handle));
  }
  scatter(dim: number, index: Tensor, src: Tensor): Tensor {
    return new Tensor(native.scatter(this.handle, dim, index.handle, src.handle));
  }
  maskedFill(mask: Tensor, value: Scalar): Tensor {
    return new Tensor(native.maskedFill(this.handle, mask.handle, value));
  }
  triu(diagonal = 0): Tensor {
    return new Tensor(native.triu(this.handle, diagonal));
  }
  tril(diagonal = 0): Tensor {
    return new Tensor(native.tril(this.handle, diagonal));
  }

  // ---- neural-network ops -----------------------------------------------------------------------------
  matmul(o: Tensor): Tensor {
    return new Tensor(native.matmul(this.handle, o.handle));
  }
  bmm(o: Tensor): Tensor {
    return new Tensor(native.bmm(this.handle, o.handle));
  }
  softmax(dim: number): Tensor {
    return new Tensor(native.softmax(this.handle, dim));
  }
  logSoftmax(dim: number): Tensor {
    return new Tensor(native.logSoftmax(this.handle, dim));
  }
  topk(k: number, dim = -1, largest = true): { values: Tensor; indices: Tensor } {
    const [v, i] = native.topk(this.handle, k, dim, largest) as [Handle, Handle];
    return { values: new Tensor(v), indices: new Tensor(i) };
  }
  sort(dim = -1, descending = false): { values: Tensor; indices: Tensor } {
    const [v, i] = native.sort(this.handle, dim, descending) as [Handle, Handle];
    return { values: new Tensor(v), indices: new Tensor(i) };
  }
}

function dims(dim: number | number[] | undefined): number[] | null {
  if (dim === undefined) return null;
  return Array.isArray(dim) ? dim : [dim];
}
