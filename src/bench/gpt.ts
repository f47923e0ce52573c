/**
 * A small GPT-2-style decoder (pre-LayerNorm, learned positions, GELU-tanh MLP 4x, untied head) written on
 * corl's engine. It is the fixed benchmark model of `corl bench` (mirrored op for op by
 * scripts/bench_reference.py in PyTorch) and the model of the engine's learning test.
 */
import * as torch from '../torch/index.js';
import { Tensor, nn, F } from '../torch/index.js';

export interface GPTConfig {
  vocab: number;
  dModel: number;
  layers: number;
  heads: number;
  maxSeq: number;
}

/** One layer's cached keys and values, [B, H, T, Dh] each. */
export interface KV {
  k: Tensor;
  v: Tensor;
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
  forward(x: Tensor, cache?: KV): { y: Tensor; kv: KV } {
    const [B, T, D] = x.shape as [number, number, number];
    const H = this.cfg.heads;
    const Dh = D / H;
    const heads = (t: Tensor) => t.view([B, T, H, Dh]).transpose(1, 2); // [B, H, T, Dh]
    const [q, kNew, vNew] = this.qkv.forward(x).split(D, -1).map(heads) as [Tensor, Tensor, Tensor];
    const k = cache ? torch.cat([cache.k, kNew], 2) : kNew;
    const v = cache ? torch.cat([cache.v, vNew], 2) : vNew;
    let att = q.matmul(k.transpose(-2, -1)).mul(1 / Math.sqrt(Dh)); // [B, H, T, S]
    if (T > 1) {
      // causal: query i (at absolute position S - T + i) sees keys 0..S-T+i
      const S = k.size(2);
      const mask = torch.ones([T, S], { dtype: 'bool' }).triu(S - T + 1);
      att = att.maskedFill(mask, -Infinity);
    }
    const y = att.softmax(-1).matmul(v).transpose(1, 2).reshape([B, T, D]);
    return { y: this.proj.forward(y), kv: { k, v } };
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
  forward(x: Tensor, cache?: KV): { x: Tensor; kv: KV } {
    const { y, kv } = this.attn.forward(this.ln1.forward(x), cache);
    const h = x.add(y);
    const m = this.out.forward(this.fc.forward(this.ln2.forward(h)).gelu('tanh'));
    return { x: h.add(m), kv };
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
    this.blocks = this.child('blocks', new nn.ModuleList(Array.from({ length: cfg.layers }, () => new Block(cfg))));
    this.lnF = this.child('ln_f', new nn.LayerNorm(cfg.dModel));
    this.head = this.child('head', new nn.Linear(cfg.dModel, cfg.vocab, { bias: false }));
  }

  /** ids [B, T] -> logits [B, T, V]. With caches, ids are the next positions after the cached ones. */
  forward(ids: Tensor, caches?: KV[]): { logits: Tensor; caches: KV[] } {
    const T = ids.size(1);
    const past = caches?.[0]?.k.size(2) ?? 0;
    const pos = torch.arange(past, past + T);
    let x = this.tokEmb.forward(ids).add(this.posEmb.forward(pos));
    const next: KV[] = [];
    this.blocks.items.forEach((b, i) => {
      const r = b.forward(x, caches?.[i]);
      x = r.x;
      next.push(r.kv);
    });
    return { logits: this.head.forward(this.lnF.forward(x)), caches: next };
  }
}

/** The benchmark's policy-gradient loss: -(log p(target) * advantage).mean(). */
export function pgLoss(model: GPT, ids: Tensor, targets: Tensor, adv: Tensor): Tensor {
  const { logits } = model.forward(ids);
  return F.logProbsOf(logits, targets).mul(adv).mean().neg();
}

/**
 * KV-cached sampling at temperature 1: prefill the prompt, then one token per step. Returns [B, P + n].
 * Runs under noGrad; intermediate tensors are released step by step.
 */
export function sample(model: GPT, prompt: Tensor, newTokens: number, generator?: torch.Generator): Tensor {
  return torch.noGrad(() =>
    torch.tidy(() => {
      let { logits, caches } = model.forward(prompt);
      const out: Tensor[] = [prompt];
      for (let i = 0; i < newTokens; i++) {
        const next = torch.tidy(() => {
          const last = logits.select(1, -1); // [B, V]
          const tok = torch.multinomial(last.softmax(-1), 1, { generator }); // [B, 1]
          const r = i + 1 < newTokens ? model.forward(tok, caches) : { logits, caches };
          return { tok, ...r };
        });
        for (const c of caches) torch.dispose(c);
        logits.dispose();
        ({ logits, caches } = next);
        out.push(next.tok);
      }
      return torch.cat(out, 1);
    }),
  );
}
