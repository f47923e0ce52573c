#!/usr/bin/env python3
"""
Independent PyTorch reference for corl's Janus-style ULM (fixtures only, never used at run time).

Written from the architecture of Janus-Pro (deepseek-ai/Janus: HF Llama decoder, timm SigLIP ViT, MlpProjector
"mlp_gelu", VisionHead, VQ-16) as plain functions over the checkpoint's tensor dictionary, so it shares no code
with corl. It reads the tiny checkpoint and inputs written by scripts/parity/make-checkpoint.ts and writes the
expected outputs that test/model/parity.test.ts compares corl against:

  und_logits        [B, S, V]   text logits of a left-padded understanding batch (image features spliced in)
  gen_logits        [R, N, K]   gen_head logits predicting codes 0..N-1 (prompt + codes, conditional rows)
  gen_logits_uncond [R, N, K]   the same for the CFG unconditional rows (all but BOS and <begin_of_image> padded)
  vq_decoded        [R, 3, H, W] VQ decode of the codes, clipped to [-1, 1]
  vq_codes          [B, h*w]    VQ encode of the understanding images

Left padding is handled as Hugging Face does after transformers PR #36053: position ids = cumsum(mask) - 1,
padding keys masked out. Only real (non-pad) positions are compared.

Regenerate (from the repository root; /usr/bin/python3 has torch 1.13, no safetensors package needed):
  npx tsx scripts/parity/make-checkpoint.ts
  /usr/bin/python3 scripts/parity/janus_reference.py
"""
import json
import math
import os
import struct

import torch
import torch.nn.functional as F

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "test", "fixtures", "parity"))
DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "U8": torch.uint8, "BOOL": torch.bool,
}


# ---- safetensors by hand ------------------------------------------------------------------------------------

def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, e in header.items():
        begin, end = e["data_offsets"]
        dtype = DTYPES[e["dtype"]]
        if end > begin:
            t = torch.frombuffer(bytearray(blob[base + begin:base + end]), dtype=dtype)
        else:
            t = torch.empty(0, dtype=dtype)
        out[name] = t.reshape(e["shape"]).clone()
    return out, meta


def write_safetensors(path, tensors):
    header, chunks, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().to(torch.float32).contiguous()
        raw = t.numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)


# ---- language model (HF Llama) ------------------------------------------------------------------------------

def rms_norm(x, w, eps):
    x32 = x.float()
    return w * (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    a, b = x.chunk(2, dim=-1)
    return torch.cat([-b, a], dim=-1)


def llama(W, lc, embeds, mask):
    """Last hidden states (after the final norm) of embeds [B, T, D] under attention mask [B, T]."""
    B, T, D = embeds.shape
    H = lc["num_attention_heads"]
    KV = lc.get("num_key_value_heads") or H
    Dh = D // H
    eps = lc.get("rms_norm_eps", 1e-6)
    theta = lc.get("rope_theta", 10000.0)
    pos = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 1)
    inv = 1.0 / (theta ** (torch.arange(0, Dh, 2, dtype=torch.int64).float() / Dh))
    ang = pos[..., None].float() * inv
    emb = torch.cat([ang, ang], dim=-1)
    cos, sin = emb.cos()[:, None], emb.sin()[:, None]
    allowed = torch.ones(T, T, dtype=torch.bool).tril()[None, None] & (mask[:, None, None, :] == 1)
    bias = torch.zeros(B, 1, T, T).masked_fill(~allowed, torch.finfo(torch.float32).min)
    h = embeds
    for i in range(lc["num_hidden_layers"]):
        p = "language_model.model.layers.%d." % i
        x = rms_norm(h, W[p + "input_layernorm.weight"], eps)
        q = F.linear(x, W[p + "self_attn.q_proj.weight"]).view(B, T, H, Dh).transpose(1, 2)
        k = F.linear(x, W[p + "self_attn.k_proj.weight"]).view(B, T, KV, Dh).transpose(1, 2)
        v = F.linear(x, W[p + "self_attn.v_proj.weight"]).view(B, T, KV, Dh).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k[:, :, None].expand(B, KV, H // KV, T, Dh).reshape(B, H, T, Dh)
        v = v[:, :, None].expand(B, KV, H // KV, T, Dh).reshape(B, H, T, Dh)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(Dh) + bias, dim=-1)
        o = (att @ v).transpose(1, 2).reshape(B, T, H * Dh)
        h = h + F.linear(o, W[p + "self_attn.o_proj.weight"])
        x = rms_norm(h, W[p + "post_attention_layernorm.weight"], eps)
        m = F.silu(F.linear(x, W[p + "mlp.gate_proj.weight"])) * F.linear(x, W[p + "mlp.up_proj.weight"])
        h = h + F.linear(m, W[p + "mlp.down_proj.weight"])
    return rms_norm(h, W["language_model.model.norm.weight"], eps)


# ---- understanding encoder, projectors, heads --------------------------------------------------------------

def siglip(W, vp, pixels):
    t = "vision_model.vision_tower."
    patch, width, heads = vp["patch_size"], vp["width"], vp["heads"]
    total, sel = vp["layers"], vp.get("select_layer", -1)
    layers = min(total, total + sel + 1) if sel <= 0 else min(total, sel)
    x = F.conv2d(pixels, W[t + "patch_embed.proj.weight"], W[t + "patch_embed.proj.bias"], stride=patch)
    x = x.flatten(2).transpose(1, 2) + W[t + "pos_embed"]
    B, N, C = x.shape
    Dh = C // heads
    for i in range(layers):
        b = t + "blocks.%d." % i
        y = F.layer_norm(x, (C,), W[b + "norm1.weight"], W[b + "norm1.bias"], 1e-6)
        qkv = F.linear(y, W[b + "attn.qkv.weight"], W[b + "attn.qkv.bias"]).reshape(B, N, 3, heads, Dh)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        a = torch.softmax((q * Dh ** -0.5) @ k.transpose(-2, -1), dim=-1)
        x = x + F.linear((a @ v).transpose(1, 2).reshape(B, N, C), W[b + "attn.proj.weight"], W[b + "attn.proj.bias"])
        y = F.layer_norm(x, (C,), W[b + "norm2.weight"], W[b + "norm2.bias"], 1e-6)
        y = F.gelu(F.linear(y, W[b + "mlp.fc1.weight"], W[b + "mlp.fc1.bias"]))
        x = x + F.linear(y, W[b + "mlp.fc2.weight"], W[b + "mlp.fc2.bias"])
    return F.layer_norm(x, (C,), W[t + "norm.weight"], W[t + "norm.bias"], 1e-6)


def mlp_gelu(W, prefix, depth, x):
    for i in range(depth):
        if i > 0:
            x = F.gelu(x)
        x = F.linear(x, W["%s.layers.%d.weight" % (prefix, 2 * i)], W["%s.layers.%d.bias" % (prefix, 2 * i)])
    return x


def gen_head(W, x):
    x = F.gelu(F.linear(x, W["gen_head.output_mlp_projector.weight"], W["gen_head.output_mlp_projector.bias"]))
    return F.linear(x, W["gen_head.vision_head.weight"], W["gen_head.vision_head.bias"])


# ---- VQ-16 --------------------------------------------------------------------------------------------------

def gn(W, name, x, groups):
    return F.group_norm(x, groups, W[name + ".weight"], W[name + ".bias"], 1e-6)


def conv(W, name, x, stride=1, padding=None):
    w = W[name + ".weight"]
    if padding is None:
        padding = w.shape[-1] // 2
    return F.conv2d(x, w, W[name + ".bias"], stride=stride, padding=padding)


def resnet(W, name, x, g):
    h = conv(W, name + ".conv1", F.silu(gn(W, name + ".norm1", x, g)))
    h = conv(W, name + ".conv2", F.silu(gn(W, name + ".norm2", h, g)))
    if name + ".nin_shortcut.weight" in W:
        x = conv(W, name + ".nin_shortcut", x)
    return x + h


def attn_block(W, name, x, g):
    b, c, hh, ww = x.shape
    n = gn(W, name + ".norm", x, g)
    q = conv(W, name + ".q", n).reshape(b, c, hh * ww).permute(0, 2, 1)
    k = conv(W, name + ".k", n).reshape(b, c, hh * ww)
    v = conv(W, name + ".v", n).reshape(b, c, hh * ww)
    a = torch.softmax(torch.bmm(q, k) * c ** -0.5, dim=2)
    out = torch.bmm(v, a.permute(0, 2, 1)).reshape(b, c, hh, ww)
    return x + conv(W, name + ".proj_out", out)


def mid(W, prefix, x, g, use_attn):
    x = resnet(W, prefix + ".mid.0", x, g)
    if use_attn:
        x = attn_block(W, prefix + ".mid.1", x, g)
    return resnet(W, prefix + ".mid.2", x, g)


def vq_encode(W, gp, images):
    e = "gen_vision_model.encoder"
    g, nrb, levels, use_attn = gp["norm_groups"], gp["num_res_blocks"], len(gp["ch_mult"]), gp["use_attn"]
    h = conv(W, e + ".conv_in", images)
    for i in range(levels):
        for j in range(nrb):
            h = resnet(W, "%s.conv_blocks.%d.res.%d" % (e, i, j), h, g)
            if use_attn and i == levels - 1:
                h = attn_block(W, "%s.conv_blocks.%d.attn.%d" % (e, i, j), h, g)
        if i != levels - 1:
            h = conv(W, "%s.conv_blocks.%d.downsample.conv" % (e, i), F.pad(h, (0, 1, 0, 1)), stride=2, padding=0)
    h = mid(W, e, h, g, use_attn)
    h = conv(W, e + ".conv_out", F.silu(gn(W, e + ".norm_out", h, g)))
    z = conv(W, "gen_vision_model.quant_conv", h).permute(0, 2, 3, 1)
    z = F.normalize(z, p=2, dim=-1).reshape(-1, z.shape[-1])
    cb = F.normalize(W["gen_vision_model.quantize.embedding.weight"], p=2, dim=-1)
    d = z.pow(2).sum(1, keepdim=True) + cb.pow(2).sum(1) - 2 * z @ cb.t()
    return d.argmin(1).reshape(images.shape[0], -1)


def vq_decode(W, gp, codes):
    dname = "gen_vision_model.decoder"
    g, nrb, levels, use_attn = gp["norm_groups"], gp["num_res_blocks"], len(gp["ch_mult"]), gp["use_attn"]
    cb = F.normalize(W["gen_vision_model.quantize.embedding.weight"], p=2, dim=-1)
    side = int(round(math.sqrt(codes.shape[1])))
    z = cb[codes.reshape(-1)].reshape(codes.shape[0], side, side, -1).permute(0, 3, 1, 2)
    h = conv(W, dname + ".conv_in", conv(W, "gen_vision_model.post_quant_conv", z))
    h = mid(W, dname, h, g, use_attn)
    for k in range(levels):
        for j in range(nrb + 1):
            h = resnet(W, "%s.conv_blocks.%d.res.%d" % (dname, k, j), h, g)
            if use_attn and k == 0:
                h = attn_block(W, "%s.conv_blocks.%d.attn.%d" % (dname, k, j), h, g)
        if k != levels - 1:
            h = conv(W, "%s.conv_blocks.%d.upsample.conv" % (dname, k), F.interpolate(h, scale_factor=2.0, mode="nearest"))
    h = conv(W, dname + ".conv_out", F.silu(gn(W, dname + ".norm_out", h, g)))
    return h.clamp(-1, 1)


# ---- the fixture ------------------------------------------------------------------------------------------

def unconditional(ids, mask, pad_id):
    out = ids.clone()
    for r in range(ids.shape[0]):
        real = mask[r].nonzero().flatten().tolist()
        for p in real[1:-1]:
            out[r, p] = pad_id
    return out


def main():
    torch.set_grad_enabled(False)
    with open(os.path.join(ROOT, "model", "config.json")) as f:
        cfg = json.load(f)
    W, _ = read_safetensors(os.path.join(ROOT, "model", "model.safetensors"))
    W = {k: (v.float() if v.is_floating_point() else v) for k, v in W.items()}
    X, meta = read_safetensors(os.path.join(ROOT, "inputs.safetensors"))
    lc, vp = cfg["language_config"], cfg["vision_config"]["params"]
    gp = cfg["gen_vision_config"]["params"]
    embed = W["language_model.model.embed_tokens.weight"]
    pad_id = int(meta["pad_id"])

    # understanding: image features replace the image-token embeddings
    ids, mask = X["und_input_ids"], X["und_attention_mask"]
    seq_mask = X["und_images_seq_mask"].bool()
    feats = mlp_gelu(W, "aligner", cfg["aligner_config"]["params"]["depth"], siglip(W, vp, X["und_pixel_values"]))
    x = embed[ids].clone()
    x[seq_mask] = feats.reshape(-1, feats.shape[-1])
    und_logits = F.linear(llama(W, lc, x, mask), W["language_model.lm_head.weight"])

    # generation: prompt, then gen_aligner(gen_embed(code)) for every code but the last
    gids, gmask, codes = X["gen_input_ids"], X["gen_attention_mask"], X["gen_codes"]
    S, N = gids.shape[1], codes.shape[1]
    ga = cfg["gen_aligner_config"]["params"]["depth"]
    img = mlp_gelu(W, "gen_aligner", ga, W["gen_embed.weight"][codes[:, :-1]])
    full_mask = torch.cat([gmask, torch.ones(codes.shape[0], N - 1, dtype=gmask.dtype)], 1)

    def gen_logits(prompt_ids):
        h = llama(W, lc, torch.cat([embed[prompt_ids], img], 1), full_mask)
        return gen_head(W, h[:, S - 1:])

    write_safetensors(os.path.join(ROOT, "expected.safetensors"), {
        "und_logits": und_logits,
        "gen_logits": gen_logits(gids),
        "gen_logits_uncond": gen_logits(unconditional(gids, gmask, pad_id)),
        "vq_decoded": vq_decode(W, gp, codes),
        "vq_codes": vq_encode(W, gp, X["und_pixel_values"]).float(),
    })
    print("wrote", os.path.join(ROOT, "expected.safetensors"))


if __name__ == "__main__":
    main()
