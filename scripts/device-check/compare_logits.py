#!/usr/bin/env python3
"""scripts/device-check.sh step 5, transformers' side: loads DIR/hf (written by `corl convert --layout hf`) with
transformers' JanusForConditionalGeneration in float32, runs its language model on the ids corl used
(DIR/corl-logits.safetensors) and compares the text (lm_head) and generation-head logits with corl's. Prints
one line; exit status 1 when a maximum absolute difference passes 1e-4 (float32, random weights of scale 0.05).
Runs on CUDA when PyTorch sees a device (corl's logits are computed on the CPU)."""
import sys

import torch
from safetensors.torch import load_file
from transformers import JanusForConditionalGeneration

d = sys.argv[1]
ref = load_file(f"{d}/corl-logits.safetensors")
dev = "cuda" if torch.cuda.is_available() else "cpu"
model = JanusForConditionalGeneration.from_pretrained(f"{d}/hf", torch_dtype=torch.float32).to(dev).eval()
with torch.no_grad():
    ids = ref["ids"].to(dev)
    hidden = model.model.language_model(input_ids=ids).last_hidden_state
    text = model.lm_head(hidden).float().cpu()
    gen = model.model.generation_head(hidden).float().cpu()
dt = (text - ref["text"]).abs().max().item()
dg = (gen - ref["gen"]).abs().max().item()
print(f"max |transformers - corl|: text logits {dt:.2e}, gen-head logits {dg:.2e} ({dev}, shapes "
      f"{list(text.shape)} / {list(gen.shape)})")
sys.exit(0 if dt < 1e-4 and dg < 1e-4 else 1)
