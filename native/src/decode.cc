// One Llama decoder layer for one new token with a KV cache, in one call: the same ATen ops, in the same order,
// as src/model/llm.ts LlamaDecoderLayer.forward (RMSNorm, q/k/v, RoPE, the in-place cache write, attention as
// src/torch/functional.ts scaledDotProductAttention, o_proj, the SwiGLU MLP, the two residual adds), so its
// output is bit-identical to the layer's; what it saves is the ~100 N-API crossings and JS handles a decode
// step makes per layer, a fixed cost per token that does not shrink with the batch (docs/distributed.md,
// "Sampling"). Inference only: the caller uses it under noGrad, with plain linears (no bias, no LoRA).
#include <cmath>

#include "handle.h"

namespace corl {

at::Tensor RmsNormOp(const at::Tensor& x, const c10::optional<at::Tensor>& w, double eps);

namespace {

// src/model/rope.ts applyRope: x * cos + rotate_half(x) * sin, cos/sin cast to x's dtype.
at::Tensor ApplyRope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  int64_t half = x.size(-1) / 2;
  at::Tensor x1 = x.narrow(-1, 0, half);
  at::Tensor x2 = x.narrow(-1, half, half);
  at::Tensor rotated = at::cat({at::neg(x2), x1}, -1);
  at::Tensor c = cos.scalar_type() == x.scalar_type() ? cos : cos.to(x.scalar_type());
  at::Tensor s = sin.scalar_type() == x.scalar_type() ? sin : sin.to(x.scalar_type());
  return at::add(at::mul(x, c), at::mul(rotated, s));
}

// HF repeat_kv: each key/value head serves `rep` query heads.
at::Tensor RepeatKv(const at::Tensor& t, int64_t rep) {
  if (rep == 1) return t;
  int64_t b = t.size(0), h = t.size(1), S = t.size(2), d = t.size(3);
  return t.unsqueeze(2).expand({b, h, rep, S, d}).reshape({b, h * rep, S, d});
}

// src/torch/functional.ts scaledDotProductAttention for one query position (T = 1).
at::Tensor Attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& blocked,
                     int64_t productMax) {
  double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  bool product = k.numel() <= productMax && q.device().is_cpu();
  at::Tensor scores = product ? at::mul(at::sum(at::mul(q, k), {-1}, false).unsqueeze(-2), scale)
                              : at::mul(at::matmul(q, k.transpose(-2, -1)), scale);
  scores = at::masked_fill(scores, blocked, -INFINITY);
  bool half = scores.scalar_type() == at::kBFloat16 || scores.scalar_type() == at::kHalf;
  at::Tensor probs = half ? at::softmax(scores.to(at::kFloat), -1).to(scores.scalar_type()) : at::softmax(scores, -1);
  return product ? at::sum(at::mul(probs.transpose(-2, -1), v), {-2}, true) : at::matmul(probs, v);
}

}  // namespace

// llamaDecodeLayer(x[B,1,D], [inNorm, q, k, v, o, postNorm, gate, up, down], eps, heads, kvHeads,
//                  cos[B,1,1,Dh], sin, blocked[B,1,1,S], kBuf[B,kvH,cap,Dh], vBuf, at, productMax) -> [B,1,D]
// Writes the token's key and value at position `at` of the cache buffers (the caller has made room).
CORL_FN(LlamaDecodeLayer) {
  const at::Tensor& x = Unwrap(info[0]);
  std::vector<at::Tensor> w = UnwrapList(info[1]);
  if (w.size() != 9) throw std::invalid_argument("llamaDecodeLayer: expected 9 weights");
  double eps = Num(info[2]);
  int64_t heads = Int(info[3]), kvHeads = Int(info[4]);
  const at::Tensor& cos = Unwrap(info[5]);
  const at::Tensor& sin = Unwrap(info[6]);
  const at::Tensor& blocked = Unwrap(info[7]);
  at::Tensor& kBuf = Unwrap(info[8]);
  at::Tensor& vBuf = Unwrap(info[9]);
  int64_t at = Int(info[10]);
  int64_t productMax = Int(info[11]);
  int64_t B = x.size(0), T = x.size(1);
  if (T != 1) throw std::invalid_argument("llamaDecodeLayer: one new token per row (T = 1)");
  int64_t headDim = w[1].size(0) / heads;
  auto split = [&](const at::Tensor& t, int64_t h) { return t.view({B, T, h, headDim}).transpose(1, 2); };

  at::Tensor xn = RmsNormOp(x, w[0], eps);
  at::Tensor q = ApplyRope(split(at::linear(xn, w[1]), heads), cos, sin);
  at::Tensor k = ApplyRope(split(at::linear(xn, w[2]), kvHeads), cos, sin);
  at::Tensor v = split(at::linear(xn, w[3]), kvHeads);
  kBuf.narrow(2, at, T).copy_(k);
  vBuf.narrow(2, at, T).copy_(v);
  at::Tensor kAll = RepeatKv(kBuf.narrow(2, 0, at + T), heads / kvHeads);
  at::Tensor vAll = RepeatKv(vBuf.narrow(2, 0, at + T), heads / kvHeads);
  at::Tensor y = Attention(q, kAll, vAll, blocked, productMax).transpose(1, 2).reshape({B, T, heads * headDim});
  at::Tensor h = at::add(x, at::linear(y, w[4]));
  at::Tensor hn = RmsNormOp(h, w[5], eps);
  at::Tensor mlp = at::linear(at::mul(at::silu(at::linear(hn, w[6])), at::linear(hn, w[7])), w[8]);
  return Wrap(info.Env(), at::add(h, mlp));
}

void RegisterDecode(Napi::Env env, Napi::Object exports) { Export(env, exports, "llamaDecodeLayer", LlamaDecodeLayer); }

}  // namespace corl
