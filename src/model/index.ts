/**
 * corl's Janus-style unified model: config, modules, tokenizer and templates, batching, sampling, scoring,
 * checkpoints. Import as `import * as ulm from '../model/index.js'` or from the individual files.
 */
export * from './config.js';
export { MultiModalityCausalLM, type ULMInitOptions } from './ulm.js';
export { LlamaForCausalLM, type LMForwardArgs } from './llm.js';
export { VQModel, type VQForward } from './vq.js';
export * from './tokenizer.js';
export * from './templates.js';
export * from './inputs.js';
export * from './sample.js';
export * from './draw.js';
export * from './logprobs.js';
export * from './checkpoint.js';
export * from './preprocess.js';
export * from './image-io.js';
