/**
 * A small GPT-2-style decoder (pre-LayerNorm, learned positions, GELU-tanh MLP 4x, untied head) written on
 * corl's engine. It is the fixed benchmark model of `corl bench` (mirrored op for op by
 * scripts/bench_reference.py in PyTorch) and the model of the engine's learning test.
 */
import * as torch from '../torch/index.js';
import { KVCache, Tensor, nn, F } from '../torch/index.js';

export interface GPTConfig {
  vocab: number;
  dModel: number;
  layers: number;
  heads: number;
  maxSeq: number;
}

class Attention extends nn.Module {
  readonly qkv: nn.Linear;
  readonly proj: nn.Linear;
  constructor(readonly cfg: GPTConfig) {
    super();
    this.qkv = this.child('qkv', new nn.Linear(cfg.dModel, 3 * cfg.dModel));
    this.proj = this.child('proj', new nn.Linear(cfg.dModel, cfg.dModel));
  }

  /** x [B, T, D]; with a cache, x holds the new positions only and the cache grows by T. */
  forward(x: Tensor, layer: number, cache?: KVCache): Tensor {
    const [B, T, D] = x.shape as [number, number, number];
    const H = this.cfg.heads;
    const Dh = D / H;
    const heads = (t: Tensor) => t.view([B, T, H, Dh]).transpose(1, 2); // [B, H, T, Dh]
    const [q, kNew, vNew] = this.qkv.forward(x).split(D, -1).map(heads) as [Tensor, Tensor, Tensor];
    const { k, v } = cache ? cache.append(layer, kNew, vNew) : { k: kNew, v: vNew };
    // causal: query i (at absolute position S - T + i) sees keys 0..S-T+i
    const S = k.size(2);
    const blocked = T > 1 ? torch.ones([T, S], { dtype: 'bool' }).triu(S - T + 1) : undefined;
    const y = F.scaledDotProductAttention(q, k, v, { blocked }).transpose(1, 2).reshape([B, T, D]);
    return this.proj.forward(y);
  }
}

class Block extends nn.Module {
  readonly ln1: nn.LayerNorm;
  readonly attn: Attention;
  readonly ln2: nn.LayerNorm;
  readonly fc: nn.Linear;
  readonly out: nn.Linear;
  constructor(cfg: GPTConfig) {
    super();
    this.ln1 = this.child('ln1', new nn.LayerNorm(cfg.dModel));
    this.attn = this.child('attn', new Attention(cfg));
    this.ln2 = this.child('ln2', new nn.LayerNorm(cfg.dModel));
    this.fc = this.child('fc', new nn.Linear(cfg.dModel, 4 * cfg.dModel));
    this.out = this.child('out', new nn.Linear(4 * cfg.dModel, cfg.dModel));
  }
  forward(x: Tensor, layer: number, cache?: KVCache): Tensor {
    const h = x.add(this.attn.forward(this.ln1.forward(x), layer, cache));
    const m = this.out.forward(this.fc.forward(this.ln2.forward(h)).gelu('tanh'));
    return h.add(m);
  }
}

export class GPT extends nn.Module {
  readonly tokEmb: nn.Embedding;
  readonly posEmb: nn.Embedding;
  readonly blocks: nn.ModuleList<Block>;
  readonly lnF: nn.LayerNorm;
  readonly head: nn.Linear;

  constructor(readonly cfg: GPTConfig) {
    super();
    this.tokEmb = this.child('tok_emb', new nn.Embedding(cfg.vocab, cfg.dModel, { std: 0.02 }));
    this.posEmb = this.child('pos_emb', new nn.Embedding(cfg.maxSeq, cfg.dModel, { std: 0.02 }));
    this.blocks = this.child(
      'blocks',
      new nn.ModuleList(Array.from({ length: cfg.layers }, () => new Block(cfg))),
    );
    this.lnF = this.child('ln_f', new nn.LayerNorm(cfg.dModel));
    this.head = this.child('head', new nn.Linear(cfg.dModel, cfg.vocab, { bias: false }));
  }

  /** ids [B, T] -> logits [B, T, V]. With a cache, ids are the next positions after the cached ones. */
  forward(ids: Tensor, cache?: KVCache): Tensor {
    const T = ids.size(1);
    const past = cache?.length ?? 0;
    const pos = torch.arange(past, past + T);
    let x = this.tokEmb.forward(ids).add(this.posEmb.forward(pos));
    this.blocks.items.forEach((b, i) => (x = b.forward(x, i, cache)));
    return this.head.forward(this.lnF.forward(x));
  }
}

/** The benchmark's policy-gradient loss: -(log p(target) * advantage).mean(). */
export function pgLoss(model: GPT, ids: Tensor, targets: Tensor, adv: Tensor): Tensor {
  const logits = model.forward(ids);
  return F.logProbsOf(logits, targets).mul(adv).mean().neg();
}

/**
 * KV-cached sampling at temperature 1: prefill the prompt, then one token per step. Returns [B, P + n].
 * Runs under noGrad; the cache is preallocated for the whole sequence, and each step's tensors are released
 * as it ends.
 */
export function sample(model: GPT, prompt: Tensor, newTokens: number, generator?: torch.Generator): Tensor {
  const cache = new KVCache(prompt.size(1) + newTokens);
  try {
    return torch.noGrad(() =>
      torch.tidy(() => {
        let logits = model.forward(prompt, cache);
        const out: Tensor[] = [prompt];
        for (let i = 0; i < newTokens; i++) {
          const next = torch.tidy(() => {
            const tok = torch.multinomial(logits.select(1, -1).softmax(-1), 1, { generator }); // [B, 1]
            return { tok, logits: i + 1 < newTokens ? model.forward(tok, cache) : logits };
          });
          if (next.logits !== logits) logits.dispose();
          logits = next.logits;
          out.push(next.tok);
        }
        return torch.cat(out, 1);
      }),
    );
  } finally {
    cache.dispose();
  }
}
