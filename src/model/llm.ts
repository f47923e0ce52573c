/**
 * The language model: a Llama decoder (RMSNorm, RoPE, SwiGLU MLP, no biases, untied lm_head, optional
 * grouped-query attention) with Hugging Face's module names, so that under the ULM's `language_model` prefix
 * the parameters are `language_model.model.layers.N.self_attn.q_proj.weight`, ..., `language_model.lm_head.weight`.
 *
 * Inputs are LEFT-padded batches: an attention mask [B, past+T] (1 = real) gives each row its own positions
 * (cumsum(mask) - 1) and hides pad keys. A KVCache makes decoding incremental. Inputs may be token ids or
 * ready embeddings (the ULM splices image features into the embeddings).
 */
import * as torch from '../torch/index.js';
import { F, type KVCache, nn, type Tensor } from '../torch/index.js';
import type { ULMConfig } from './config.js';
import { applyRope, ropeCosSin } from './rope.js';
import { blockedMask, positionIds } from './attention-mask.js';

type LMConfig = ULMConfig['language_config'];
export interface InitOpts {
  generator?: torch.Generator;
}
/** HF Llama initialisation: N(0, 0.02) for every linear and embedding weight. */
const STD = 0.02;

class LlamaAttention extends nn.Module {
  readonly q_proj: nn.Linear;
  readonly k_proj: nn.Linear;
  readonly v_proj: nn.Linear;
  readonly o_proj: nn.Linear;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;

  constructor(c: LMConfig, o: InitOpts) {
    super();
    this.heads = c.num_attention_heads;
    this.kvHeads = c.num_key_value_heads ?? c.num_attention_heads;
    this.headDim = c.hidden_size / this.heads;
    const lin = (i: number, out: number) =>
      new nn.Linear(i, out, { bias: false, std: STD, generator: o.generator });
    this.q_proj = this.child('q_proj', lin(c.hidden_size, this.heads * this.headDim));
    this.k_proj = this.child('k_proj', lin(c.hidden_size, this.kvHeads * this.headDim));
    this.v_proj = this.child('v_proj', lin(c.hidden_size, this.kvHeads * this.headDim));
    this.o_proj = this.child('o_proj', lin(this.heads * this.headDim, c.hidden_size));
  }

  /** x [B, T, D]; rope cos/sin [B, 1, T, Dh]; blocked [B, 1, T, S]. */
  forward(
    x: Tensor,
    rope: { cos: Tensor; sin: Tensor },
    blocked: Tensor,
    layer: number,
    cache?: KVCache,
  ): Tensor {
    const [B, T] = x.shape as [number, number];
    const split = (t: Tensor, h: number) => t.view([B, T, h, this.headDim]).transpose(1, 2);
    const q = applyRope(split(this.q_proj.forward(x), this.heads), rope.cos, rope.sin);
    let k = applyRope(split(this.k_proj.forward(x), this.kvHeads), rope.cos, rope.sin);
    let v = split(this.v_proj.forward(x), this.kvHeads);
    if (cache) ({ k, v } = cache.append(layer, k, v));
    const rep = this.heads / this.kvHeads;
    if (rep > 1) {
      // each key/value head serves `rep` query heads (HF's repeat_kv: expand, then fold into the head dim)
      const expand = (t: Tensor) => {
        const [b, h, S, d] = t.shape as [number, number, number, number];
        return t
          .unsqueeze(2)
          .expand([b, h, rep, S, d])
          .reshape([b, h * rep, S, d]);
      };
      k = expand(k);
      v = expand(v);
    }
    const y = F.scaledDotProductAttention(q, k, v, { blocked }) // [B, H, T, Dh]
      .transpose(1, 2)
      .reshape([B, T, this.heads * this.headDim]);
    return this.o_proj.forward(y);
  }
}

class LlamaMLP extends nn.Module {
  readonly gate_proj: nn.Linear;
  readonly up_proj: nn.Linear;
  readonly down_proj: nn.Linear;
  constructor(c: LMConfig, o: InitOpts) {
    super();
    const lin = (i: number, out: number) =>
      new nn.Linear(i, out, { bias: false, std: STD, generator: o.generator });
    this.gate_proj = this.child('gate_proj', lin(c.hidden_size, c.intermediate_size));
    this.up_proj = this.child('up_proj', lin(c.hidden_size, c.intermediate_size));
    this.down_proj = this.child('down_proj', lin(c.intermediate_size, c.hidden_size));
  }
  /** down(silu(gate(x)) * up(x)) */
  forward(x: Tensor): Tensor {
    return this.down_proj.forward(this.gate_proj.forward(x).silu().mul(this.up_proj.forward(x)));
  }
}

class LlamaDecoderLayer extends nn.Module {
  readonly input_layernorm: nn.RMSNorm;
  readonly self_attn: LlamaAttention;
  readonly post_attention_layernorm: nn.RMSNorm;
  readonly mlp: LlamaMLP;
  constructor(c: LMConfig, o: InitOpts) {
    super();
    this.input_layernorm = this.child('input_layernorm', new nn.RMSNorm(c.hidden_size, c.rms_norm_eps));
    this.self_attn = this.child('self_attn', new LlamaAttention(c, o));
    this.post_attention_layernorm = this.child(
      'post_attention_layernorm',
      new nn.RMSNorm(c.hidden_size, c.rms_norm_eps),
    );
    this.mlp = this.child('mlp', new LlamaMLP(c, o));
  }
  forward(
    x: Tensor,
    rope: { cos: Tensor; sin: Tensor },
    blocked: Tensor,
    layer: number,
    cache?: KVCache,
  ): Tensor {
    if (cache && x.size(1) === 1 && !torch.isGradEnabled() && this.plain(x)) {
      return this.decodeStep(x, rope, blocked, layer, cache);
    }
    return torch.tidy(() => {
      const h = x.add(this.self_attn.forward(this.input_layernorm.forward(x), rope, blocked, layer, cache));
      return h.add(this.mlp.forward(this.post_attention_layernorm.forward(h)));
    });
  }

  /**
   * Every linear without bias or adapter (LoRA), of x's dtype, and one eps for both norms: then the fused
   * decode step computes what forward does.
   */
  private plain(x: Tensor): boolean {
    const a = this.self_attn;
    const m = this.mlp;
    const dtype = x.dtype; // a native call: read once
    return (
      this.input_layernorm.eps === this.post_attention_layernorm.eps &&
      [a.q_proj, a.k_proj, a.v_proj, a.o_proj, m.gate_proj, m.up_proj, m.down_proj].every(
        (l) => l.bias === null && l.adapter === null && l.weight.dtype === dtype,
      )
    );
  }

  /**
   * One new token per row with a KV cache, under noGrad: forward's ops in one native call
   * (torch.F.llamaDecodeLayer, bit-identical), which saves the per-op crossings that dominate decoding a small
   * model (docs/distributed.md, "Sampling").
   */
  private decodeStep(
    x: Tensor,
    rope: { cos: Tensor; sin: Tensor },
    blocked: Tensor,
    layer: number,
    cache: KVCache,
  ): Tensor {
    const a = this.self_attn;
    const m = this.mlp;
    const spec = { B: x.size(0), H: a.kvHeads, D: a.headDim, dtype: x.dtype, device: x.device };
    const { kBuf, vBuf, at } = cache.slot(layer, spec, 1);
    const y = F.llamaDecodeLayer(
      x,
      {
        inputNorm: this.input_layernorm.weight,
        q: a.q_proj.weight,
        k: a.k_proj.weight,
        v: a.v_proj.weight,
        o: a.o_proj.weight,
        postNorm: this.post_attention_layernorm.weight,
        gate: m.gate_proj.weight,
        up: m.up_proj.weight,
        down: m.down_proj.weight,
      },
      { eps: this.input_layernorm.eps, heads: a.heads, kvHeads: a.kvHeads, ...rope, blocked, kBuf, vBuf, at },
    );
    cache.advance(layer, 1);
    return y;
  }
}

/** The decoder stack (HF `LlamaModel`): embed_tokens, layers, norm. */
export class LlamaModel extends nn.Module {
  readonly embed_tokens: nn.Embedding;
  readonly layers: nn.ModuleList<LlamaDecoderLayer>;
  readonly norm: nn.RMSNorm;
  /**
   * Activation checkpointing (HF's gradient_checkpointing): in a forward that records gradients (no KV cache),
   * each decoder layer keeps only its input and is recomputed in backward (torch.checkpoint).
   */
  gradientCheckpointing = false;
  constructor(
    readonly config: LMConfig,
    o: InitOpts = {},
  ) {
    super();
    const c = config;
    this.embed_tokens = this.child(
      'embed_tokens',
      new nn.Embedding(c.vocab_size, c.hidden_size, { std: STD, generator: o.generator }),
    );
    this.layers = this.child(
      'layers',
      new nn.ModuleList(Array.from({ length: c.num_hidden_layers }, () => new LlamaDecoderLayer(c, o))),
    );
    this.norm = this.child('norm', new nn.RMSNorm(c.hidden_size, c.rms_norm_eps));
  }

  /** Hidden states [B, T, D] after the final norm. */
  forward(embeds: Tensor, attentionMask: Tensor | undefined, cache?: KVCache): Tensor {
    return torch.tidy(() => {
      const [B, T] = embeds.shape as [number, number];
      const past = cache?.length ?? 0;
      const device = embeds.device;
      const mask = attentionMask?.to(device) ?? torch.ones([B, past + T], { dtype: 'int64', device });
      if (mask.size(1) !== past + T)
        throw new Error(`attention mask covers ${mask.size(1)} positions, expected past ${past} + new ${T}`);
      const c = this.config;
      const rope = ropeCosSin(
        positionIds(mask, past, T),
        c.hidden_size / c.num_attention_heads,
        c.rope_theta,
      );
      const blocked = blockedMask(mask, past, T);
      let h = embeds;
      const recompute = this.gradientCheckpointing && cache === undefined && torch.isGradEnabled();
      this.layers.items.forEach((layer, i) => {
        h = recompute
          ? torch.checkpoint(
              ([x, cos, sin, b]) => [layer.forward(x!, { cos: cos!, sin: sin! }, b!, i)],
              [h, rope.cos, rope.sin, blocked],
            )[0]!
          : layer.forward(h, rope, blocked, i, cache);
      });
      return this.norm.forward(h);
    });
  }
}

export interface LMForwardArgs {
  /** Token ids [B, T] (int64), or */
  inputIds?: Tensor;
  /** ready input embeddings [B, T, D]. */
  inputsEmbeds?: Tensor;
  /** [B, past + T], 1 = real token; default: all real. */
  attentionMask?: Tensor;
  /** Appended in place when given. */
  cache?: KVCache;
  /** true: logits at every position; 'last': at the last position only ([B, 1, V]); false: none. */
  logits?: boolean | 'last';
}

/** HF `LlamaForCausalLM`: `model` + untied `lm_head`. */
export class LlamaForCausalLM extends nn.Module {
  readonly model: LlamaModel;
  readonly lm_head: nn.Linear;
  constructor(
    readonly config: LMConfig,
    o: InitOpts = {},
  ) {
    super();
    this.model = this.child('model', new LlamaModel(config, o));
    this.lm_head = this.child(
      'lm_head',
      new nn.Linear(config.hidden_size, config.vocab_size, { bias: false, std: STD, generator: o.generator }),
    );
  }

  /** The device of the weights (Module.to moves them); embed and forward move their inputs there. */
  get device(): string {
    return this.lm_head.weight.device;
  }

  /** Token embeddings of ids (moved to the model's device). */
  embed(ids: Tensor): Tensor {
    return this.model.embed_tokens.forward(ids.to(this.device));
  }

  /** Returns the last hidden states [B, T, D] (after the final norm) and, unless turned off, the logits. */
  forward(a: LMForwardArgs): { hidden: Tensor; logits: Tensor | null } {
    return torch.tidy(() => {
      const embeds = a.inputsEmbeds?.to(this.device) ?? (a.inputIds ? this.embed(a.inputIds) : null);
      if (embeds === null) throw new Error('LlamaForCausalLM.forward: give inputIds or inputsEmbeds');
      const hidden = this.model.forward(embeds, a.attentionMask, a.cache);
      const want = a.logits ?? true;
      const logits =
        want === false
          ? null
          : this.lm_head.forward(want === 'last' ? hidden.narrow(1, hidden.size(1) - 1, 1) : hidden);
      return { hidden, logits };
    });
  }
}
