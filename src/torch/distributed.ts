/**
 * torch.distributed for corl: libtorch's own c10d (ProcessGroupGloo with a FileStore or TCPStore rendezvous,
 * native/src/distributed.cc), with torch.distributed's names in camelCase. One process group per process.
 *
 *   initProcessGroup({ backend: 'gloo', rank, worldSize, initMethod: 'tcp://127.0.0.1:29500' })
 *   allReduce(grads, 'sum'); broadcast(params, 0); allGather(t); barrier(); destroyProcessGroup()
 *
 * Collectives are synchronous and bounded: each waits at most the group's timeout (default 50 s, or the
 * `timeoutMs` passed), then throws a DistributedError naming the operation and this rank. `allReduce` and
 * `broadcast` work in place on a flat bucket: every tensor of one dtype is copied into one buffer, reduced in
 * one Gloo call, and copied back.
 */
import { native, type Handle } from './native.js';
import { Tensor } from './tensor.js';
import { tensor, zerosLike } from './creation.js';
import { tidy } from './scope.js';
import { UserError } from '../util/errors.js';

/** A collective that timed out or failed because a peer is gone, or a process group set up wrongly. */
export class DistributedError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'DistributedError';
  }
}

export type Backend = 'gloo' | 'nccl';
export type ReduceOp = 'sum' | 'avg' | 'max' | 'min';

/**
 * The default timeout of rendezvous and of every collective: 50 s, so that with the launcher's 2 s wait for
 * the other ranks' timeouts and 3 s from SIGTERM to SIGKILL a hung rank ends the run within 60 s.
 */
export const DEFAULT_TIMEOUT_MS = 50_000;

export interface InitOptions {
  /** Default 'gloo' ('nccl' needs a CUDA build of libtorch; this addon has none). */
  backend?: Backend;
  rank: number;
  worldSize: number;
  /**
   * `file:///path/to/store` (one machine, or a shared file system; a fresh path per run: a store file left by
   * an earlier group would mix the two) or `tcp://HOST:PORT` (rank 0 hosts the store on PORT).
   */
  initMethod: string;
  /** Rendezvous and collective timeout, ms. Default DEFAULT_TIMEOUT_MS. */
  timeoutMs?: number;
}

export interface CollectiveOptions {
  /** Overrides the group's timeout for this call. */
  timeoutMs?: number;
}

function call<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof Error && !(e instanceof DistributedError)) throw new DistributedError(e.message);
    throw e;
  }
}

/** Which backends this addon was built with. */
export function availableBackends(): { gloo: boolean; nccl: boolean } {
  return native.distBackends() as { gloo: boolean; nccl: boolean };
}

export function isAvailable(): boolean {
  return availableBackends().gloo;
}

/** Joins the process group: blocks until all `worldSize` ranks have joined, or the timeout. */
export function initProcessGroup(o: InitOptions): void {
  const backend = o.backend ?? 'gloo';
  const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isInteger(o.worldSize) || o.worldSize < 1)
    throw new DistributedError(`initProcessGroup: worldSize must be a positive integer, got ${o.worldSize}`);
  if (!Number.isInteger(o.rank) || o.rank < 0 || o.rank >= o.worldSize)
    throw new DistributedError(`initProcessGroup: rank ${o.rank} is not in [0, ${o.worldSize})`);
  if (!(Number.isInteger(timeoutMs) && timeoutMs > 0))
    throw new DistributedError(`initProcessGroup: timeoutMs must be a positive integer, got ${timeoutMs}`);
  call(() => native.distInit(backend, o.rank, o.worldSize, o.initMethod, timeoutMs));
}

export function isInitialized(): boolean {
  return native.distIsInitialized() as boolean;
}

/** This process's rank (0 without a process group). */
export function getRank(): number {
  const i = native.distInfo() as { rank: number } | null;
  return i?.rank ?? 0;
}

/** The number of ranks (1 without a process group). */
export function getWorldSize(): number {
  const i = native.distInfo() as { worldSize: number } | null;
  return i?.worldSize ?? 1;
}

function list(ts: Tensor | readonly Tensor[]): Handle[] {
  return (ts instanceof Tensor ? [ts] : ts).map((t) => t.handle);
}

/** Reduces the tensors across ranks, in place (one flat bucket per dtype). `avg` is sum / worldSize. */
export function allReduce(
  ts: Tensor | readonly Tensor[],
  op: ReduceOp = 'sum',
  o: CollectiveOptions = {},
): void {
  call(() => native.distAllReduce(list(ts), op, o.timeoutMs ?? null));
}

/** Copies rank `src`'s tensors into every rank's, in place (one flat bucket per dtype). */
export function broadcast(ts: Tensor | readonly Tensor[], src = 0, o: CollectiveOptions = {}): void {
  call(() => native.distBroadcast(list(ts), src, o.timeoutMs ?? null));
}

/** Every rank's `t` (same shape and dtype on all), in rank order. */
export function allGather(t: Tensor, o: CollectiveOptions = {}): Tensor[] {
  const hs = call(() => native.distAllGather(t.handle, o.timeoutMs ?? null) as Handle[]);
  return hs.map((h) => new Tensor(h));
}

export function barrier(o: CollectiveOptions = {}): void {
  call(() => native.distBarrier(o.timeoutMs ?? null));
}

/** Leaves the process group (idempotent). */
export function destroyProcessGroup(): void {
  native.distDestroy();
}

/**
 * Every rank's numbers, in rank order (float64, so exact for numbers and NaN-preserving). Every rank must pass
 * the same count.
 */
export function allGatherNumbers(xs: readonly number[], o: CollectiveOptions = {}): number[][] {
  return tidy(() => {
    const t = tensor(Array.from(xs), { dtype: 'float64' }).reshape([xs.length]);
    return allGather(t, o).map((r) => r.toArray());
  });
}

/**
 * Reduces the parameters' gradients across ranks, in place, as DDP does before the optimizer step, in one
 * collective per dtype. A parameter that has a gradient on some rank but not on this one reduces a zero
 * gradient here; one with no gradient anywhere keeps none (AdamW skips it, as in one process): a presence flag
 * per parameter travels in the same bucket. `also` (e.g. a step's losses) is summed (or averaged) in the same
 * call, in float32; returns its reduced values.
 */
export function allReduceGradients(
  params: readonly Tensor[],
  op: ReduceOp = 'sum',
  o: CollectiveOptions = {},
  also: readonly number[] = [],
): number[] {
  return tidy(() => {
    const flags = new Float32Array(params.length);
    const grads = params.map((p, i) => {
      const g = p.grad;
      if (g !== null) {
        flags[i] = 1;
        return g;
      }
      const z = zerosLike(p);
      p.grad = z;
      return z;
    });
    // the flags, then `also`: one float32 tensor beside the gradients
    const extra = tensor(Float32Array.from([...flags, ...also]));
    allReduce([...grads, extra], op, o);
    const reduced = extra.toArray();
    params.forEach((p, i) => {
      if (reduced[i] === 0) p.grad = null;
    });
    return reduced.slice(params.length);
  });
}

/** The launch environment torchrun (and `corl launch` / `corl train --nproc`) gives each worker. */
export interface LaunchEnv {
  rank: number;
  localRank: number;
  worldSize: number;
  localWorldSize: number;
  masterAddr: string;
  masterPort: number;
}

/**
 * Reads torchrun's variables (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT); null
 * when WORLD_SIZE is unset (a plain single process). A partial or inconsistent set is a user error.
 */
export function launchEnv(env: NodeJS.ProcessEnv = process.env): LaunchEnv | null {
  if (env.WORLD_SIZE === undefined || env.WORLD_SIZE === '') return null;
  const int = (name: string, fallback?: number): number => {
    const v = env[name];
    if (v === undefined || v === '') {
      if (fallback !== undefined) return fallback;
      throw new UserError(`WORLD_SIZE is set but ${name} is not (torchrun's variables come as a set)`);
    }
    if (!/^\d+$/.test(v)) throw new UserError(`${name} must be a non-negative integer, got "${v}"`);
    return Number(v);
  };
  const worldSize = int('WORLD_SIZE');
  const rank = int('RANK');
  const localRank = int('LOCAL_RANK', rank);
  const localWorldSize = int('LOCAL_WORLD_SIZE', worldSize);
  if (worldSize < 1) throw new UserError('WORLD_SIZE must be at least 1');
  if (rank >= worldSize) throw new UserError(`RANK ${rank} is not below WORLD_SIZE ${worldSize}`);
  if (localRank >= localWorldSize)
    throw new UserError(`LOCAL_RANK ${localRank} is not below LOCAL_WORLD_SIZE ${localWorldSize}`);
  const masterAddr = env.MASTER_ADDR && env.MASTER_ADDR !== '' ? env.MASTER_ADDR : '127.0.0.1';
  const masterPort = int('MASTER_PORT', worldSize === 1 ? 29500 : undefined);
  if (masterPort < 1 || masterPort > 65535) throw new UserError(`MASTER_PORT ${masterPort} is not a port`);
  return { rank, localRank, worldSize, localWorldSize, masterAddr, masterPort };
}

/** The timeout workers use: CORL_DIST_TIMEOUT_MS, or DEFAULT_TIMEOUT_MS. */
export function timeoutFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.CORL_DIST_TIMEOUT_MS;
  if (v === undefined || v === '') return DEFAULT_TIMEOUT_MS;
  if (!/^\d+$/.test(v) || Number(v) < 1)
    throw new UserError(`CORL_DIST_TIMEOUT_MS must be a positive integer, got "${v}"`);
  return Number(v);
}

/**
 * Asks the kernel to kill this process when its parent (the launcher) dies, so no worker is orphaned even when
 * the launcher is killed with SIGKILL. Linux only; returns false elsewhere.
 */
export function dieWithParent(signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL'): boolean {
  const sig = signal === 'SIGKILL' ? 9 : 15;
  return native.setParentDeathSignal(sig) as boolean;
}

/**
 * Every rank's JSON value, in rank order: UTF-8 bytes padded to the longest rank's (two collectives). Numbers
 * round-trip exactly; NaN and Infinity become null, as in JSON.
 */
export function allGatherJson<T>(value: T, o: CollectiveOptions = {}): T[] {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  const lengths = allGatherNumbers([bytes.length], o).map((r) => r[0]!);
  const padded = new Uint8Array(Math.max(1, ...lengths));
  padded.set(bytes);
  const decoder = new TextDecoder();
  return tidy(() =>
    allGather(tensor(padded, { dtype: 'uint8' }), o).map(
      (t, r) => JSON.parse(decoder.decode((t.data() as Uint8Array).subarray(0, lengths[r]!))) as T,
    ),
  );
}

/** Rank `src`'s number on every rank (float64, exact). */
export function broadcastNumber(x: number, src = 0, o: CollectiveOptions = {}): number {
  return tidy(() => {
    const t = tensor([x], { dtype: 'float64' });
    broadcast(t, src, o);
    return t.toArray()[0]!;
  });
}

/**
 * Joins the process group named by torchrun's variables (WORLD_SIZE > 1; what `--nproc N` and `corl launch`
 * give their workers), or uses the one this process already joined; null in a plain single process. `owned`
 * says whether the caller should leave the group when done. A launched worker also asks to die with its
 * launcher.
 */
export function joinLaunchedGroup(): { rank: number; size: number; owned: boolean } | null {
  if (isInitialized()) {
    const size = getWorldSize();
    return size > 1 ? { rank: getRank(), size, owned: false } : null;
  }
  const env = launchEnv();
  if (env === null || env.worldSize === 1) return null;
  if (process.env.CORL_LAUNCHER_PID !== undefined && Number(process.env.CORL_LAUNCHER_PID) === process.ppid)
    dieWithParent();
  initProcessGroup({
    backend: 'gloo',
    rank: env.rank,
    worldSize: env.worldSize,
    initMethod: `tcp://${env.masterAddr}:${env.masterPort}`,
    timeoutMs: timeoutFromEnv(),
  });
  return { rank: env.rank, size: env.worldSize, owned: true };
}
