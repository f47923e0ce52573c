"""PyTorch reference for `corl bench`: the same GPT, training step and KV-cached sampling as src/bench/.

Used only by `npm run bench` (scripts/bench.mjs) to report corl's speed as a ratio to PyTorch on the same
machine in the same run. Never a run-time dependency of corl.

    /usr/bin/python3 scripts/bench_reference.py train-step --threads 1 --steps 15
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

VOCAB, D, LAYERS, HEADS, MAXSEQ = 512, 128, 4, 4, 128
DECODE_PRODUCT_MAX_ELEMENTS = 1 << 22  # as src/torch/functional.ts


class Cache:
    """corl's KV cache (src/model/kv-cache.ts): buffers preallocated for the whole sequence, written in place."""

    def __init__(self, capacity):
        self.capacity, self.layers = capacity, {}

    @property
    def length(self):
        return self.layers[0][2] if 0 in self.layers else 0

    def append(self, layer, k, v):
        if layer not in self.layers:
            B, H, _, dh = k.shape
            self.layers[layer] = [k.new_empty(B, H, self.capacity, dh), v.new_empty(B, H, self.capacity, dh), 0]
        entry = self.layers[layer]
        kb, vb, n = entry
        T = k.size(2)
        kb[:, :, n : n + T] = k
        vb[:, :, n : n + T] = v
        entry[2] = n + T
        return kb[:, :, : n + T], vb[:, :, : n + T]


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(D, 3 * D)
        self.proj = nn.Linear(D, D)

    def forward(self, x, layer, cache=None):
        B, T, _ = x.shape
        dh = D // HEADS
        q, k, v = [t.view(B, T, HEADS, dh).transpose(1, 2) for t in self.qkv(x).split(D, -1)]
        if isinstance(cache, Cache):
            k, v = cache.append(layer, k, v)
        elif cache is not None:
            k = torch.cat([cache[0], k], 2)
            v = torch.cat([cache[1], v], 2)
        if isinstance(cache, Cache) and T == 1 and k.numel() <= DECODE_PRODUCT_MAX_ELEMENTS:
            # corl's one-query path (F.scaledDotProductAttention): a broadcast product and a sum
            att = (q * k).sum(-1).unsqueeze(-2) * (1 / math.sqrt(dh))
            y = (att.softmax(-1).transpose(-2, -1) * v).sum(-2, keepdim=True)
            return self.proj(y.transpose(1, 2).reshape(B, T, D)), cache
        att = (q @ k.transpose(-2, -1)) * (1 / math.sqrt(dh))
        if T > 1:
            S = k.size(2)
            mask = torch.ones(T, S, dtype=torch.bool).triu(S - T + 1)
            att = att.masked_fill(mask, float("-inf"))
        y = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, T, D)
        return self.proj(y), (k, v)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.attn, self.ln2 = nn.LayerNorm(D), Attention(), nn.LayerNorm(D)
        self.fc, self.out = nn.Linear(D, 4 * D), nn.Linear(4 * D, D)

    def forward(self, x, layer, cache=None):
        y, kv = self.attn(self.ln1(x), layer, cache)
        h = x + y
        return h + self.out(F.gelu(self.fc(self.ln2(h)), approximate="tanh")), kv


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok_emb, self.pos_emb = nn.Embedding(VOCAB, D), nn.Embedding(MAXSEQ, D)
        self.blocks = nn.ModuleList([Block() for _ in range(LAYERS)])
        self.ln_f, self.head = nn.LayerNorm(D), nn.Linear(D, VOCAB, bias=False)

    def forward(self, ids, caches=None):
        """caches: None, a list of per-layer (k, v) that grows by cat (returned), or a preallocated Cache."""
        T = ids.size(1)
        past = caches.length if isinstance(caches, Cache) else caches[0][0].size(2) if caches else 0
        x = self.tok_emb(ids) + self.pos_emb(torch.arange(past, past + T))
        nxt = []
        for i, b in enumerate(self.blocks):
            x, kv = b(x, i, caches if isinstance(caches, Cache) else caches[i] if caches else None)
            nxt.append(kv)
        return self.head(self.ln_f(x)), caches if isinstance(caches, Cache) else nxt


def timed(warmup, steps, fn):
    for _ in range(warmup):
        fn()
    ms = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t0) * 1000)
    return ms


def train_step(steps):
    torch.manual_seed(0)
    model = GPT()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    tokens = torch.randint(0, VOCAB, (16, 97))
    ids, targets, adv = tokens[:, :96].contiguous(), tokens[:, 1:].contiguous(), torch.randn(16, 96)

    def step():
        opt.zero_grad()
        logp = model(ids)[0].log_softmax(-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        (-(logp * adv).mean()).backward()
        opt.step()

    return timed(3, steps, step)


@torch.no_grad()
def sample_step(steps, decode):
    """decode "growing": the cache grows by cat and attention is two matmuls (the textbook form, as Hugging Face's
    DynamicCache); "preallocated": corl's own algorithm (preallocated cache, one-query product path)."""
    torch.manual_seed(0)
    model = GPT().eval()
    prompt = torch.randint(0, VOCAB, (16, 32))

    def run():
        logits, caches = model(prompt, Cache(32 + 64) if decode == "preallocated" else None)
        out = [prompt]
        for i in range(64):
            tok = torch.multinomial(logits[:, -1].softmax(-1), 1)
            out.append(tok)
            if i + 1 < 64:
                logits, caches = model(tok, caches)
        return torch.cat(out, 1)

    return timed(8, steps, run)  # SAMPLE_WARMUP in src/bench/bench.ts


def main():
    p = argparse.ArgumentParser()
    p.add_argument("bench", choices=["train-step", "sample"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=15)
    p.add_argument("--decode", choices=["growing", "preallocated"], default="growing")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    ms = train_step(a.steps) if a.bench == "train-step" else sample_step(a.steps, a.decode)
    ms.sort()
    n = len(ms)
    med = ms[n // 2] if n % 2 else (ms[n // 2 - 1] + ms[n // 2]) / 2
    print(json.dumps({"bench": a.bench, "impl": "pytorch", "torch": torch.__version__, "ms_median": round(med, 3),
                      "ms_min": round(ms[0], 3), "steps": n, "threads": a.threads,
                      **({"decode": a.decode} if a.bench == "sample" else {})}))


if __name__ == "__main__":
    main()
