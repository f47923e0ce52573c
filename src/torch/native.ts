/**
 * Loads the libtorch Node-API addon (native/build/Release/corl_torch.node). Every tensor operation in corl
 * goes through this one binding; nothing else may do tensor maths.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../util/errors.js';
import { pinCpuKernels } from './cpu-kernels.js';

/** An opaque handle to a native at::Tensor (a Napi::External). */
export type Handle = { readonly __brand: 'TensorHandle' };
/** An opaque handle to a native at::Generator. */
export type GenHandle = { readonly __brand: 'GeneratorHandle' };

// The binding's functions are described loosely: the typed surface is the Tensor class.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type NativeBinding = Record<string, (...args: any[]) => any>;

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const addonPath = process.env.CORL_ADDON ?? join(root, 'native', 'build', 'Release', 'corl_torch.node');

function load(): NativeBinding {
  pinCpuKernels(); // before libtorch loads with the addon: the same kernels, so the same numbers, anywhere
  if (!existsSync(addonPath)) {
    throw new UserError(
      `the libtorch addon is not built (${addonPath} is missing): run "npm run build:native"`,
    );
  }
  const require = createRequire(import.meta.url);
  return require(addonPath) as NativeBinding;
}

export const native: NativeBinding = load();
