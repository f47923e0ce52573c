// Elementwise maths, comparisons and reductions. Binary ops take a tensor or a JS number on the right.
#include "handle.h"

namespace corl {

#define CORL_UNARY(js, expr)                       \
  CORL_FN(Unary_##js) {                            \
    const at::Tensor& x = Unwrap(info[0]);         \
    return Wrap(info.Env(), expr);                 \
  }
#define CORL_UNARY_LIST(X)          \
  X(neg, at::neg(x))                \
  X(abs, at::abs(x))                \
  X(exp, at::exp(x))                \
  X(log, at::log(x))                \
  X(log1p, at::log1p(x))            \
  X(sqrt, at::sqrt(x))              \
  X(rsqrt, at::rsqrt(x))            \
  X(sin, at::sin(x))                \
  X(cos, at::cos(x))                \
  X(tanh, at::tanh(x))              \
  X(sigmoid, at::sigmoid(x))        \
  X(relu, at::relu(x))              \
  X(silu, at::silu(x))              \
  X(sign, at::sign(x))              \
  X(floor, at::floor(x))            \
  X(round, at::round(x))            \
  X(reciprocal, at::reciprocal(x))  \
  X(logicalNot, at::logical_not(x)) \
  X(isnan, at::isnan(x))            \
  X(isfinite, at::isfinite(x))
CORL_UNARY_LIST(CORL_UNARY)

// Binary: the right operand is a tensor handle or a number (boolean for logical ops).
#define CORL_BINARY(js, tensor_expr, scalar_expr)         \
  CORL_FN(Binary_##js) {                                  \
    const at::Tensor& a = Unwrap(info[0]);                \
    if (info[1].IsExternal()) {                           \
      const at::Tensor& b = Unwrap(info[1]);              \
      return Wrap(info.Env(), tensor_expr);               \
    }                                                     \
    at::Scalar s = ToScalar(info[1]);                     \
    return Wrap(info.Env(), scalar_expr);                 \
  }
#define CORL_BINARY_LIST(X)                                                                      \
  X(add, at::add(a, b), at::add(a, s))                                                           \
  X(sub, at::sub(a, b), at::sub(a, s))                                                           \
  X(mul, at::mul(a, b), at::mul(a, s))                                                           \
  X(div, at::div(a, b), at::div(a, s))                                                           \
  X(pow, at::pow(a, b), at::pow(a, s))                                                           \
  X(maximum, at::maximum(a, b), at::clamp_min(a, s))                                             \
  X(minimum, at::minimum(a, b), at::clamp_max(a, s))                                             \
  X(eq, at::eq(a, b), at::eq(a, s))                                                              \
  X(ne, at::ne(a, b), at::ne(a, s))                                                              \
  X(lt, at::lt(a, b), at::lt(a, s))                                                              \
  X(le, at::le(a, b), at::le(a, s))                                                              \
  X(gt, at::gt(a, b), at::gt(a, s))                                                              \
  X(ge, at::ge(a, b), at::ge(a, s))                                                              \
  X(logicalAnd, at::logical_and(a, b), at::logical_and(a, at::scalar_tensor(s, a.options())))    \
  X(logicalOr, at::logical_or(a, b), at::logical_or(a, at::scalar_tensor(s, a.options())))
CORL_BINARY_LIST(CORL_BINARY)

// rsub(a, s) = s - a, for scalars on the left.
CORL_FN(Rsub) { return Wrap(info.Env(), at::rsub(Unwrap(info[0]), ToScalar(info[1]))); }

// clamp(t, min|null, max|null)
CORL_FN(Clamp) {
  c10::optional<at::Scalar> lo, hi;
  if (!IsMissing(info[1])) lo = ToScalar(info[1]);
  if (!IsMissing(info[2])) hi = ToScalar(info[2]);
  return Wrap(info.Env(), at::clamp(Unwrap(info[0]), lo, hi));
}

CORL_FN(Gelu) {
  std::string approximate = IsMissing(info[1]) ? "none" : info[1].As<Napi::String>().Utf8Value();
  return Wrap(info.Env(), at::gelu(Unwrap(info[0]), approximate));
}

// Reductions over `dims` (array, or null for all), keepdim flag.
static std::vector<int64_t> DimsOrAll(const Napi::Value& v, const at::Tensor& t) {
  if (!IsMissing(v)) return Ints(v);
  std::vector<int64_t> all(t.dim());
  for (int64_t i = 0; i < t.dim(); i++) all[i] = i;
  return all;
}

// sum/mean(t, dims|null, keepdim): with no dims every dim is reduced (kept as size 1 when keepdim, as amax).
CORL_FN(Sum) {
  auto& t = Unwrap(info[0]);
  if (IsMissing(info[1]) && !Bool(info[2])) return Wrap(info.Env(), t.sum());
  return Wrap(info.Env(), t.sum(DimsOrAll(info[1], t), Bool(info[2])));
}
CORL_FN(Mean) {
  auto& t = Unwrap(info[0]);
  if (IsMissing(info[1]) && !Bool(info[2])) return Wrap(info.Env(), t.mean());
  return Wrap(info.Env(), t.mean(DimsOrAll(info[1], t), Bool(info[2])));
}
// var(t, dims|null, unbiased, keepdim)
CORL_FN(Var) {
  auto& t = Unwrap(info[0]);
  return Wrap(info.Env(), at::var(t, DimsOrAll(info[1], t), Bool(info[2]), Bool(info[3])));
}
CORL_FN(Std) {
  auto& t = Unwrap(info[0]);
  return Wrap(info.Env(), at::std(t, DimsOrAll(info[1], t), Bool(info[2]), Bool(info[3])));
}
CORL_FN(Amax) {
  auto& t = Unwrap(info[0]);
  return Wrap(info.Env(), at::amax(t, DimsOrAll(info[1], t), Bool(info[2])));
}
CORL_FN(Amin) {
  auto& t = Unwrap(info[0]);
  return Wrap(info.Env(), at::amin(t, DimsOrAll(info[1], t), Bool(info[2])));
}
CORL_FN(Logsumexp) {
  auto& t = Unwrap(info[0]);
  return Wrap(info.Env(), at::logsumexp(t, DimsOrAll(info[1], t), Bool(info[2])));
}
// max(t, dim, keepdim) -> [values, indices]
CORL_FN(MaxDim) {
  auto r = at::max(Unwrap(info[0]), Int(info[1]), Bool(info[2]));
  return WrapList(info.Env(), {std::get<0>(r), std::get<1>(r)});
}
CORL_FN(MinDim) {
  auto r = at::min(Unwrap(info[0]), Int(info[1]), Bool(info[2]));
  return WrapList(info.Env(), {std::get<0>(r), std::get<1>(r)});
}
CORL_FN(Argmax) {
  auto& t = Unwrap(info[0]);
  if (IsMissing(info[1])) return Wrap(info.Env(), at::argmax(t));
  return Wrap(info.Env(), at::argmax(t, Int(info[1]), Bool(info[2])));
}
CORL_FN(All) { return Wrap(info.Env(), at::all(Unwrap(info[0]))); }
CORL_FN(Any) { return Wrap(info.Env(), at::any(Unwrap(info[0]))); }
CORL_FN(Cumsum) { return Wrap(info.Env(), at::cumsum(Unwrap(info[0]), Int(info[1]))); }
// norm(t, p) over all elements
CORL_FN(Norm) { return Wrap(info.Env(), at::norm(Unwrap(info[0]), ToScalar(info[1]))); }

#define CORL_EXPORT_UNARY(js, expr) Export(env, exports, #js, Unary_##js);
#define CORL_EXPORT_BINARY(js, te, se) Export(env, exports, #js, Binary_##js);

void RegisterMath(Napi::Env env, Napi::Object exports) {
  CORL_UNARY_LIST(CORL_EXPORT_UNARY)
  CORL_BINARY_LIST(CORL_EXPORT_BINARY)
  Export(env, exports, "rsub", Rsub);
  Export(env, exports, "clamp", Clamp);
  Export(env, exports, "gelu", Gelu);
  Export(env, exports, "sum", Sum);
  Export(env, exports, "mean", Mean);
  Export(env, exports, "var", Var);
  Export(env, exports, "std", Std);
  Export(env, exports, "amax", Amax);
  Export(env, exports, "amin", Amin);
  Export(env, exports, "logsumexp", Logsumexp);
  Export(env, exports, "maxDim", MaxDim);
  Export(env, exports, "minDim", MinDim);
  Export(env, exports, "argmax", Argmax);
  Export(env, exports, "all", All);
  Export(env, exports, "any", Any);
  Export(env, exports, "cumsum", Cumsum);
  Export(env, exports, "norm", Norm);
}

}  // namespace corl
