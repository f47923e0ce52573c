/** The basic layers: Linear, Embedding, LayerNorm, RMSNorm, Conv2d, GroupNorm (PyTorch semantics). */
import { Module } from './module.js';
import { Tensor } from '../tensor.js';
import { ones, zeros } from '../creation.js';
import * as F from '../functional.js';
import { normal, uniformFanIn } from './init.js';
import type { Generator } from '../random.js';

export interface InitOptions {
  generator?: Generator;
  /** Overrides the default init with N(0, std) for weights (biases start at zero), as GPT-style models do. */
  std?: number;
}

export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: InitOptions & { bias?: boolean } = {},
  ) {
    super();
    const w =
      opts.std !== undefined
        ? normal([outFeatures, inFeatures], opts.std, opts.generator)
        : uniformFanIn([outFeatures, inFeatures], inFeatures, opts.generator);
    this.weight = this.param('weight', w);
    this.bias =
      (opts.bias ?? true)
        ? this.param(
            'bias',
            opts.std !== undefined
              ? zeros([outFeatures])
              : uniformFanIn([outFeatures], inFeatures, opts.generator),
          )
        : null;
  }
  /**
   * An extra term added to the output, computed from the same input: a LoRA adapter (src/model/lora.ts). It is
   * not a child module, so the state dict (and every checkpoint of the model) holds the base weights only.
   */
  adapter: { forward(x: Tensor): Tensor } | null = null;
  forward(x: Tensor): Tensor {
    const y = F.linear(x, this.weight, this.bias);
    return this.adapter === null ? y : y.add(this.adapter.forward(x));
  }
}

export class Embedding extends Module {
  readonly weight: Tensor;
  constructor(
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
    opts: InitOptions = {},
  ) {
    super();
    this.weight = this.param('weight', normal([numEmbeddings, embeddingDim], opts.std ?? 1, opts.generator));
  }
  forward(ids: Tensor): Tensor {
    return F.embedding(ids, this.weight);
  }
}

export class LayerNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(
    readonly dim: number,
    readonly eps = 1e-5,
  ) {
    super();
    this.weight = this.param('weight', ones([dim]));
    this.bias = this.param('bias', zeros([dim]));
  }
  forward(x: Tensor): Tensor {
    return F.layerNorm(x, [this.dim], this.weight, this.bias, this.eps);
  }
}

export class RMSNorm extends Module {
  readonly weight: Tensor;
  constructor(
    readonly dim: number,
    readonly eps = 1e-6,
  ) {
    super();
    this.weight = this.param('weight', ones([dim]));
  }
  forward(x: Tensor): Tensor {
    return F.rmsNorm(x, this.weight, this.eps);
  }
}

export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    readonly opts: InitOptions & { stride?: number; padding?: number; bias?: boolean } = {},
  ) {
    super();
    const fanIn = inChannels * kernelSize * kernelSize;
    this.weight = this.param(
      'weight',
      uniformFanIn([outChannels, inChannels, kernelSize, kernelSize], fanIn, opts.generator),
    );
    this.bias =
      (opts.bias ?? true) ? this.param('bias', uniformFanIn([outChannels], fanIn, opts.generator)) : null;
  }
  forward(x: Tensor): Tensor {
    return F.conv2d(x, this.weight, this.bias, {
      stride: this.opts.stride ?? 1,
      padding: this.opts.padding ?? 0,
    });
  }
}

export class GroupNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(
    readonly groups: number,
    readonly channels: number,
    readonly eps = 1e-6,
  ) {
    super();
    this.weight = this.param('weight', ones([channels]));
    this.bias = this.param('bias', zeros([channels]));
  }
  forward(x: Tensor): Tensor {
    return F.groupNorm(x, this.groups, this.weight, this.bias, this.eps);
  }
}
