// Tensor handles and argument decoding shared by every binding file.
//
// A JS tensor is a Napi::External that owns a heap `Holder` with one at::Tensor (a refcounted pointer to the
// TensorImpl). `dispose` resets it at once; the External's finalizer is the safety net when JS forgets.
// `g_live` counts holders whose tensor is still defined: the "live-tensor count" tests assert on.
#pragma once

#include <napi.h>

#include <ATen/ATen.h>

#include <atomic>
#include <functional>
#include <string>
#include <vector>

namespace corl {

struct Holder {
  at::Tensor t;
};

extern std::atomic<int64_t> g_live;

// dtype codes shared with src/torch/dtype.ts (keep in sync).
enum DtypeCode : int { kF32 = 0, kF64 = 1, kF16 = 2, kBF16 = 3, kI64 = 4, kI32 = 5, kU8 = 6, kBool = 7 };

at::ScalarType ToScalarType(int code);
int FromScalarType(at::ScalarType st);

Napi::Value Wrap(Napi::Env env, at::Tensor t);
at::Tensor& Unwrap(const Napi::Value& v);
Napi::Value WrapList(Napi::Env env, const std::vector<at::Tensor>& ts);
std::vector<at::Tensor> UnwrapList(const Napi::Value& v);

// Optional tensor argument: undefined or null -> empty optional.
c10::optional<at::Tensor> OptTensor(const Napi::Value& v);
std::vector<int64_t> Ints(const Napi::Value& v);
int64_t Int(const Napi::Value& v);
double Num(const Napi::Value& v);
bool Bool(const Napi::Value& v);
bool IsMissing(const Napi::Value& v);
at::Device ToDevice(const Napi::Value& v);
at::TensorOptions Options(const Napi::Value& dtype, const Napi::Value& device);
at::Scalar ToScalar(const Napi::Value& v);

// Runs a binding body, turning c10 / std exceptions into JS errors with libtorch's message (no C++ backtrace).
Napi::Value Guard(const Napi::CallbackInfo& info, const std::function<Napi::Value(const Napi::CallbackInfo&)>& fn);

using Binding = Napi::Value (*)(const Napi::CallbackInfo&);

// Defines a binding `name` whose body runs inside Guard:  CORL_FN(Add) { return Wrap(...); }
#define CORL_FN(name)                                                                  \
  static Napi::Value name##Impl(const Napi::CallbackInfo& info);                       \
  static Napi::Value name(const Napi::CallbackInfo& info) { return Guard(info, name##Impl); } \
  static Napi::Value name##Impl(const Napi::CallbackInfo& info)

void Export(Napi::Env env, Napi::Object exports, const char* name, Binding fn);

// Each binding file registers its functions through one of these.
void RegisterCreation(Napi::Env env, Napi::Object exports);
void RegisterShape(Napi::Env env, Napi::Object exports);
void RegisterMath(Napi::Env env, Napi::Object exports);
void RegisterNN(Napi::Env env, Napi::Object exports);
void RegisterAutograd(Napi::Env env, Napi::Object exports);
void RegisterOptim(Napi::Env env, Napi::Object exports);
void RegisterRandom(Napi::Env env, Napi::Object exports);
void RegisterRuntime(Napi::Env env, Napi::Object exports);
void RegisterDistributed(Napi::Env env, Napi::Object exports);
void RegisterCheckpoint(Napi::Env env, Napi::Object exports);
void RegisterDecode(Napi::Env env, Napi::Object exports);

}  // namespace corl
