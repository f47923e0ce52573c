/**
 * corl's tensor engine: libtorch through a Node-API addon. Import as a namespace:
 *   import * as torch from '../torch/index.js';
 *   const y = torch.tidy(() => torch.randn([2, 3]).softmax(-1));
 */
export { Tensor, type Scalar, type TensorOrScalar } from './tensor.js';
export { type DType, isFloating } from './dtype.js';
export * from './creation.js';
export * from './random.js';
export * from './autograd.js';
export { checkpoint, isRecording } from './checkpoint.js';
export * from './runtime.js';
export * from './device.js';
export { tidy, keep, dispose, scopeDepth } from './scope.js';
export { cat, stack, where } from './functional.js';
export * as F from './functional.js';
export * as nn from './nn/index.js';
export * as optim from './optim.js';
export { MasterWeights } from './mixed-precision.js';
export { KVCache } from './kv-cache.js';
export * as lr from './lr.js';
export * as safetensors from './safetensors.js';
