// Autograd: requires_grad, backward, .grad, detach, grad mode.
#include <c10/core/GradMode.h>

#include "handle.h"

namespace corl {

CORL_FN(RequiresGrad_) {
  Unwrap(info[0]).requires_grad_(Bool(info[1]));
  return info.Env().Undefined();
}
CORL_FN(RequiresGrad) { return Napi::Boolean::New(info.Env(), Unwrap(info[0]).requires_grad()); }
CORL_FN(IsLeaf) { return Napi::Boolean::New(info.Env(), Unwrap(info[0]).is_leaf()); }
CORL_FN(Detach) { return Wrap(info.Env(), Unwrap(info[0]).detach()); }

// backward(t, gradient|null, retainGraph)
CORL_FN(Backward) {
  auto g = OptTensor(info[1]);
  c10::optional<bool> retain;
  if (!IsMissing(info[2])) retain = Bool(info[2]);
  Unwrap(info[0]).backward(g.has_value() ? *g : at::Tensor(), retain, /*create_graph=*/false);
  return info.Env().Undefined();
}

// grad(t) -> tensor handle, or null when no gradient has been accumulated
CORL_FN(Grad) {
  const at::Tensor& g = Unwrap(info[0]).grad();
  if (!g.defined()) return info.Env().Null();
  return Wrap(info.Env(), g);
}

// setGrad(t, g|null): null frees the gradient (optimizer.zeroGrad with set_to_none)
CORL_FN(SetGrad) {
  auto g = OptTensor(info[1]);
  Unwrap(info[0]).mutable_grad() = g.has_value() ? *g : at::Tensor();
  return info.Env().Undefined();
}

// setData_(t, src): t.set_data(src) (PyTorch's `param.data = src`): t keeps its identity, requires_grad and
// handle but takes src's storage, dtype and device. Used by Module.to(dtype).
CORL_FN(SetData_) {
  Unwrap(info[0]).set_data(Unwrap(info[1]));
  return info.Env().Undefined();
}

// moveTo_(t, device): the handle now holds t's data on `device`, detached; a tensor that required gradients
// still does (its gradient is dropped). For Module.to(device): set_data cannot change a tensor's backend (CPU ->
// meta), and the JS objects that layers hold keep their identity either way. Whatever held the old tensor in
// C++ (an optimizer) does not see the move, so models move before their optimizers are built, as in PyTorch.
CORL_FN(MoveTo_) {
  at::Tensor& t = Unwrap(info[0]);
  const bool requires_grad = t.requires_grad();
  at::Tensor moved = t.detach().to(ToDevice(info[1]));
  if (requires_grad) moved.set_requires_grad(true);
  t = moved;
  return info.Env().Undefined();
}

CORL_FN(SetGradEnabled) {
  bool prev = c10::GradMode::is_enabled();
  c10::GradMode::set_enabled(Bool(info[0]));
  return Napi::Boolean::New(info.Env(), prev);
}
CORL_FN(IsGradEnabled) { return Napi::Boolean::New(info.Env(), c10::GradMode::is_enabled()); }

void RegisterAutograd(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "requiresGrad_", RequiresGrad_);
  Export(env, exports, "requiresGrad", RequiresGrad);
  Export(env, exports, "isLeaf", IsLeaf);
  Export(env, exports, "detach", Detach);
  Export(env, exports, "backward", Backward);
  Export(env, exports, "grad", Grad);
  Export(env, exports, "setGrad", SetGrad);
  Export(env, exports, "setData_", SetData_);
  Export(env, exports, "moveTo_", MoveTo_);
  Export(env, exports, "setGradEnabled", SetGradEnabled);
  Export(env, exports, "isGradEnabled", IsGradEnabled);
}

}  // namespace corl
