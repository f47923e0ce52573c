#include "handle.h"

#include <c10/util/Exception.h>

#include <cmath>

namespace corl {

std::atomic<int64_t> g_live{0};

at::ScalarType ToScalarType(int code) {
  switch (code) {
    case kF32: return at::kFloat;
    case kF64: return at::kDouble;
    case kF16: return at::kHalf;
    case kBF16: return at::kBFloat16;
    case kI64: return at::kLong;
    case kI32: return at::kInt;
    case kU8: return at::kByte;
    case kBool: return at::kBool;
  }
  throw std::invalid_argument("unknown dtype code " + std::to_string(code));
}

int FromScalarType(at::ScalarType st) {
  switch (st) {
    case at::kFloat: return kF32;
    case at::kDouble: return kF64;
    case at::kHalf: return kF16;
    case at::kBFloat16: return kBF16;
    case at::kLong: return kI64;
    case at::kInt: return kI32;
    case at::kByte: return kU8;
    case at::kBool: return kBool;
    default: break;
  }
  throw std::invalid_argument(std::string("unsupported dtype ") + c10::toString(st));
}

static void Finalize(Napi::Env, Holder* h) {
  if (h->t.defined()) g_live.fetch_sub(1, std::memory_order_relaxed);
  delete h;
}

Napi::Value Wrap(Napi::Env env, at::Tensor t) {
  auto* h = new Holder{std::move(t)};
  g_live.fetch_add(1, std::memory_order_relaxed);
  return Napi::External<Holder>::New(env, h, Finalize);
}

at::Tensor& Unwrap(const Napi::Value& v) {
  if (!v.IsExternal()) throw std::invalid_argument("expected a tensor handle");
  Holder* h = v.As<Napi::External<Holder>>().Data();
  if (!h->t.defined()) throw std::invalid_argument("tensor used after dispose()");
  return h->t;
}

Napi::Value WrapList(Napi::Env env, const std::vector<at::Tensor>& ts) {
  auto arr = Napi::Array::New(env, ts.size());
  for (size_t i = 0; i < ts.size(); i++) arr.Set(static_cast<uint32_t>(i), Wrap(env, ts[i]));
  return arr;
}

std::vector<at::Tensor> UnwrapList(const Napi::Value& v) {
  if (!v.IsArray()) throw std::invalid_argument("expected an array of tensors");
  auto arr = v.As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); i++) out.push_back(Unwrap(arr.Get(i)));
  return out;
}

bool IsMissing(const Napi::Value& v) { return v.IsUndefined() || v.IsNull(); }

c10::optional<at::Tensor> OptTensor(const Napi::Value& v) {
  if (IsMissing(v)) return c10::nullopt;
  return Unwrap(v);
}

std::vector<int64_t> Ints(const Napi::Value& v) {
  if (!v.IsArray()) throw std::invalid_argument("expected an array of integers");
  auto arr = v.As<Napi::Array>();
  std::vector<int64_t> out(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); i++) out[i] = Int(arr.Get(i));
  return out;
}

// A JS number that is an exact integer (a fractional size, dim or index is an error, not truncated).
int64_t Int(const Napi::Value& v) {
  if (!v.IsNumber()) throw std::invalid_argument("expected an integer");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(std::trunc(d) == d && std::fabs(d) < 9223372036854775808.0)) {
    throw std::invalid_argument("expected an integer, got " + std::to_string(d));
  }
  return static_cast<int64_t>(d);
}

double Num(const Napi::Value& v) {
  if (!v.IsNumber()) throw std::invalid_argument("expected a number");
  return v.As<Napi::Number>().DoubleValue();
}

bool Bool(const Napi::Value& v) { return v.ToBoolean().Value(); }

at::Device ToDevice(const Napi::Value& v) {
  if (IsMissing(v)) return at::Device(at::kCPU);
  return at::Device(v.As<Napi::String>().Utf8Value());
}

at::TensorOptions Options(const Napi::Value& dtype, const Napi::Value& device) {
  auto opts = at::TensorOptions().dtype(IsMissing(dtype) ? at::kFloat : ToScalarType(Int(dtype)));
  return opts.device(ToDevice(device));
}

// A JS number that is an exact integer becomes an integral Scalar (as a Python int), so integer tensors keep
// their dtype under scalar arithmetic (`ids.add(1)` stays int64); any other number is a double Scalar.
at::Scalar ToScalar(const Napi::Value& v) {
  if (v.IsBoolean()) return at::Scalar(v.As<Napi::Boolean>().Value());
  double d = Num(v);
  bool negative_zero = d == 0.0 && std::signbit(d);
  if (std::trunc(d) == d && std::fabs(d) <= 9007199254740992.0 && !negative_zero) {
    return at::Scalar(static_cast<int64_t>(d));
  }
  return at::Scalar(d);
}

Napi::Value Guard(const Napi::CallbackInfo& info,
                  const std::function<Napi::Value(const Napi::CallbackInfo&)>& fn) {
  try {
    return fn(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Napi::Error::New(info.Env(), e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw Napi::Error::New(info.Env(), e.what());
  }
}

void Export(Napi::Env env, Napi::Object exports, const char* name, Binding fn) {
  exports.Set(name, Napi::Function::New(env, fn, name));
}

}  // namespace corl
