// Neural-network ops: matrix products, convolutions, normalisations, softmax, embedding, losses, top-k.
#include "handle.h"

namespace corl {

CORL_FN(Matmul) { return Wrap(info.Env(), at::matmul(Unwrap(info[0]), Unwrap(info[1]))); }
CORL_FN(Bmm) { return Wrap(info.Env(), at::bmm(Unwrap(info[0]), Unwrap(info[1]))); }

// linear(x, weight[out,in], bias|null) = x @ weight^T + bias
CORL_FN(Linear) { return Wrap(info.Env(), at::linear(Unwrap(info[0]), Unwrap(info[1]), OptTensor(info[2]))); }

// conv2d(x, weight, bias|null, stride[2], padding[2], dilation[2], groups)
CORL_FN(Conv2d) {
  return Wrap(info.Env(), at::conv2d(Unwrap(info[0]), Unwrap(info[1]), OptTensor(info[2]), Ints(info[3]),
                                     Ints(info[4]), Ints(info[5]), Int(info[6])));
}

// upsampleNearest2d(x[N,C,H,W], [outH, outW])
CORL_FN(UpsampleNearest2d) {
  std::vector<int64_t> size = Ints(info[1]);
  return Wrap(info.Env(), at::upsample_nearest2d(Unwrap(info[0]), size));
}

CORL_FN(AvgPool2d) {
  return Wrap(info.Env(), at::avg_pool2d(Unwrap(info[0]), Ints(info[1]), Ints(info[2])));
}

// groupNorm(x, groups, weight|null, bias|null, eps)
CORL_FN(GroupNorm) {
  return Wrap(info.Env(), at::group_norm(Unwrap(info[0]), Int(info[1]), OptTensor(info[2]), OptTensor(info[3]),
                                         Num(info[4]), /*cudnn_enabled=*/true));
}

// layerNorm(x, normalizedShape, weight|null, bias|null, eps)
CORL_FN(LayerNorm) {
  return Wrap(info.Env(), at::layer_norm(Unwrap(info[0]), Ints(info[1]), OptTensor(info[2]), OptTensor(info[3]),
                                         Num(info[4]), /*cudnn_enable=*/true));
}

// rmsNorm(x, weight|null, eps): x * rsqrt(mean(x^2, -1) + eps) * weight, computed in float32 for half inputs
// (as Llama does) and cast back.
// (Shared with native/src/decode.cc.)
at::Tensor RmsNormOp(const at::Tensor& x, const c10::optional<at::Tensor>& w, double eps) {
  bool half = x.scalar_type() == at::kHalf || x.scalar_type() == at::kBFloat16;
  at::Tensor xf = half ? x.to(at::kFloat) : x;
  at::Tensor y = xf * at::rsqrt(xf.pow(2).mean({-1}, /*keepdim=*/true) + eps);
  if (half) y = y.to(x.scalar_type());
  if (w.has_value()) y = y * *w;
  return y;
}
CORL_FN(RmsNorm) { return Wrap(info.Env(), RmsNormOp(Unwrap(info[0]), OptTensor(info[1]), Num(info[2]))); }

CORL_FN(Softmax) { return Wrap(info.Env(), at::softmax(Unwrap(info[0]), Int(info[1]))); }
CORL_FN(LogSoftmax) { return Wrap(info.Env(), at::log_softmax(Unwrap(info[0]), Int(info[1]))); }

// embedding(weight[V,D], ids)
CORL_FN(Embedding) { return Wrap(info.Env(), at::embedding(Unwrap(info[0]), Unwrap(info[1]))); }

// crossEntropy(logits[N,C], targets[N], ignoreIndex, reduction: 0 none | 1 mean | 2 sum, labelSmoothing)
CORL_FN(CrossEntropy) {
  return Wrap(info.Env(), at::cross_entropy_loss(Unwrap(info[0]), Unwrap(info[1]), /*weight=*/{}, Int(info[3]),
                                                 Int(info[2]), Num(info[4])));
}

// topk(t, k, dim, largest) -> [values, indices]
CORL_FN(Topk) {
  auto r = at::topk(Unwrap(info[0]), Int(info[1]), Int(info[2]), Bool(info[3]), /*sorted=*/true);
  return WrapList(info.Env(), {std::get<0>(r), std::get<1>(r)});
}

// sort(t, dim, descending) -> [values, indices]
CORL_FN(Sort) {
  auto r = at::sort(Unwrap(info[0]), Int(info[1]), Bool(info[2]));
  return WrapList(info.Env(), {std::get<0>(r), std::get<1>(r)});
}

// dropout(x, p, train)
CORL_FN(Dropout) { return Wrap(info.Env(), at::dropout(Unwrap(info[0]), Num(info[1]), Bool(info[2]))); }

void RegisterNN(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "matmul", Matmul);
  Export(env, exports, "bmm", Bmm);
  Export(env, exports, "linear", Linear);
  Export(env, exports, "conv2d", Conv2d);
  Export(env, exports, "upsampleNearest2d", UpsampleNearest2d);
  Export(env, exports, "avgPool2d", AvgPool2d);
  Export(env, exports, "groupNorm", GroupNorm);
  Export(env, exports, "layerNorm", LayerNorm);
  Export(env, exports, "rmsNorm", RmsNorm);
  Export(env, exports, "softmax", Softmax);
  Export(env, exports, "logSoftmax", LogSoftmax);
  Export(env, exports, "embedding", Embedding);
  Export(env, exports, "crossEntropy", CrossEntropy);
  Export(env, exports, "topk", Topk);
  Export(env, exports, "sort", Sort);
  Export(env, exports, "dropout", Dropout);
}

}  // namespace corl
