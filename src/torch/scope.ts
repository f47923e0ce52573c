/**
 * Scoped release of native tensors. Native memory is invisible to the JS garbage collector, so every tensor
 * created inside `tidy(fn)` is disposed when fn returns, except the tensors fn returns (found in the result,
 * its arrays and its plain objects), which move to the enclosing scope. `keep(t)` takes a tensor out of
 * scope management (parameters, caches, optimizer state); such tensors are released by `dispose()`.
 * The addon's finalizer frees a tensor the program lost track of, as a safety net only.
 */

export interface Disposable {
  dispose(): void;
  /** @internal the scope that owns this object, if any */
  _scope: Set<Disposable> | null;
}

const scopes: Set<Disposable>[] = [];

/** Called by every new tensor: the innermost open scope (if any) becomes its owner. */
export function track(t: Disposable): void {
  const s = scopes[scopes.length - 1];
  if (s !== undefined) {
    s.add(t);
    t._scope = s;
  }
}

/** Removes a tensor from scope management; the caller now owns it and must dispose() it. */
export function keep<T extends Disposable>(t: T): T {
  if (t._scope !== null) {
    t._scope.delete(t);
    t._scope = null;
  }
  return t;
}

function isDisposable(x: unknown): x is Disposable {
  return (
    typeof x === 'object' && x !== null && '_scope' in x && typeof (x as Disposable).dispose === 'function'
  );
}

/** Collects the disposables reachable from a result through arrays, Maps and plain objects. */
function collect(x: unknown, out: Set<Disposable>, depth = 0): void {
  if (depth > 8 || x === null || typeof x !== 'object') return;
  if (isDisposable(x)) {
    out.add(x);
    return;
  }
  if (Array.isArray(x)) {
    for (const v of x) collect(v, out, depth + 1);
  } else if (x instanceof Map) {
    for (const v of x.values()) collect(v, out, depth + 1);
  } else if (Object.getPrototypeOf(x) === Object.prototype) {
    for (const v of Object.values(x)) collect(v, out, depth + 1);
  }
}

/** Runs fn in a new scope; tensors it creates and does not return are disposed when it returns or throws. */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Disposable>();
  scopes.push(scope);
  let result: T | undefined;
  let ok = false;
  try {
    result = fn();
    if (result instanceof Promise) throw new Error('tidy() takes a synchronous function');
    ok = true;
    return result;
  } finally {
    scopes.pop();
    const survivors = new Set<Disposable>();
    if (ok) collect(result, survivors);
    const parent = scopes[scopes.length - 1] ?? null;
    for (const t of scope) {
      if (survivors.has(t)) {
        t._scope = parent;
        parent?.add(t);
      } else {
        t.dispose();
      }
    }
  }
}

/** Disposes every tensor found in x (a tensor, or arrays / objects / Maps of them). */
export function dispose(x: unknown): void {
  const all = new Set<Disposable>();
  collect(x, all);
  for (const t of all) t.dispose();
}

/** How deep the scope stack is now (0 outside any tidy). */
export function scopeDepth(): number {
  return scopes.length;
}
