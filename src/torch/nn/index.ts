export { Module, ModuleList } from './module.js';
export { Linear, Embedding, LayerNorm, RMSNorm, Conv2d, GroupNorm, type InitOptions } from './layers.js';
export * as init from './init.js';
