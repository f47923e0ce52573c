/** Grad-mode scopes: `noGrad(fn)` runs fn without recording autograd history (torch.no_grad). */
import { native } from './native.js';

export function noGrad<T>(fn: () => T): T {
  return withGradMode(false, fn);
}
export function enableGrad<T>(fn: () => T): T {
  return withGradMode(true, fn);
}
export function isGradEnabled(): boolean {
  return native.isGradEnabled();
}

function withGradMode<T>(enabled: boolean, fn: () => T): T {
  const prev = native.setGradEnabled(enabled) as boolean;
  try {
    const r = fn();
    if (r instanceof Promise) throw new Error('noGrad()/enableGrad() take a synchronous function');
    return r;
  } finally {
    native.setGradEnabled(prev);
  }
}
