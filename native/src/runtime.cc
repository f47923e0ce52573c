// Threads, devices and version information.
#include <ATen/Parallel.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <dlfcn.h>
#include <torch/csrc/api/include/torch/version.h>

#include "handle.h"

namespace corl {

CORL_FN(SetNumThreads) {
  at::set_num_threads(static_cast<int>(Int(info[0])));
  return info.Env().Undefined();
}
CORL_FN(GetNumThreads) { return Napi::Number::New(info.Env(), at::get_num_threads()); }

// setBlasThreads(n) -> true when an OpenBLAS (or compatible) symbol was found and called.
CORL_FN(SetBlasThreads) {
  using SetFn = void (*)(int);
  auto fn = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (fn == nullptr) fn = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "MKL_Set_Num_Threads"));
  if (fn == nullptr) return Napi::Boolean::New(info.Env(), false);
  fn(static_cast<int>(Int(info[0])));
  return Napi::Boolean::New(info.Env(), true);
}
CORL_FN(GetBlasThreads) {
  using GetFn = int (*)();
  auto fn = reinterpret_cast<GetFn>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
  return Napi::Number::New(info.Env(), fn == nullptr ? -1 : fn());
}

CORL_FN(CudaDeviceCount) {
  if (!at::detail::getCUDAHooks().hasCUDA()) return Napi::Number::New(info.Env(), 0);
  return Napi::Number::New(info.Env(), at::detail::getCUDAHooks().getNumGPUs());
}

CORL_FN(Version) {
  std::string v = std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
                  std::to_string(TORCH_VERSION_PATCH);
  return Napi::String::New(info.Env(), v);
}

CORL_FN(ParallelInfo) { return Napi::String::New(info.Env(), at::get_parallel_info()); }

void RegisterRuntime(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "setNumThreads", SetNumThreads);
  Export(env, exports, "getNumThreads", GetNumThreads);
  Export(env, exports, "setBlasThreads", SetBlasThreads);
  Export(env, exports, "getBlasThreads", GetBlasThreads);
  Export(env, exports, "cudaDeviceCount", CudaDeviceCount);
  Export(env, exports, "version", Version);
  Export(env, exports, "parallelInfo", ParallelInfo);
}

}  // namespace corl
