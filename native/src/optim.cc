// Optimiser steps done in C++ so one JS call updates every parameter. The state tensors (exp_avg,
// exp_avg_sq) live on the JS side, so checkpoints can save and restore them.
#include <c10/core/GradMode.h>

#include <cmath>

#include "handle.h"

namespace corl {

// adamwStep(params[], expAvg[], expAvgSq[], step, lr, beta1, beta2, eps, weightDecay)
// Decoupled weight decay, bias-corrected moments: the maths of torch.optim.AdamW's single-tensor path.
// Parameters whose .grad is undefined are skipped (as PyTorch does).
CORL_FN(AdamwStep) {
  auto params = UnwrapList(info[0]);
  auto m = UnwrapList(info[1]);
  auto v = UnwrapList(info[2]);
  double step = Num(info[3]), lr = Num(info[4]), b1 = Num(info[5]), b2 = Num(info[6]);
  double eps = Num(info[7]), wd = Num(info[8]);
  if (params.size() != m.size() || params.size() != v.size()) {
    throw std::invalid_argument("adamwStep: params and state lists differ in length");
  }
  c10::AutoGradMode no_grad(false);
  double bc1 = 1.0 - std::pow(b1, step);
  double bc2 = 1.0 - std::pow(b2, step);
  double step_size = lr / bc1;
  double bc2_sqrt = std::sqrt(bc2);
  for (size_t i = 0; i < params.size(); i++) {
    at::Tensor& p = params[i];
    const at::Tensor& g = p.grad();
    if (!g.defined()) continue;
    if (wd != 0.0) p.mul_(1.0 - lr * wd);
    m[i].mul_(b1).add_(g, 1.0 - b1);
    v[i].mul_(b2).addcmul_(g, g, 1.0 - b2);
    at::Tensor denom = (v[i].sqrt() / bc2_sqrt).add_(eps);
    p.addcdiv_(m[i], denom, -step_size);
  }
  return info.Env().Undefined();
}

// sgdStep(params[], lr): plain gradient descent, used by tests and tiny examples.
CORL_FN(SgdStep) {
  auto params = UnwrapList(info[0]);
  double lr = Num(info[1]);
  c10::AutoGradMode no_grad(false);
  for (auto& p : params) {
    if (p.grad().defined()) p.add_(p.grad(), -lr);
  }
  return info.Env().Undefined();
}

// clipGradNorm(params[], maxNorm) -> total L2 norm of all gradients before clipping (torch.nn.utils.clip_grad_norm_)
CORL_FN(ClipGradNorm) {
  auto params = UnwrapList(info[0]);
  double max_norm = Num(info[1]);
  c10::AutoGradMode no_grad(false);
  std::vector<at::Tensor> norms;
  for (auto& p : params) {
    if (p.grad().defined()) norms.push_back(at::norm(p.grad(), 2));
  }
  if (norms.empty()) return Napi::Number::New(info.Env(), 0.0);
  at::Tensor total = at::norm(at::stack(norms), 2);
  double total_v = total.item<double>();
  double coef = max_norm / (total_v + 1e-6);
  if (coef < 1.0) {
    for (auto& p : params) {
      if (p.grad().defined()) p.grad().mul_(coef);
    }
  }
  return Napi::Number::New(info.Env(), total_v);
}

void RegisterOptim(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "adamwStep", AdamwStep);
  Export(env, exports, "sgdStep", SgdStep);
  Export(env, exports, "clipGradNorm", ClipGradNorm);
}

}  // namespace corl
