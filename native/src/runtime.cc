// Threads, devices and version information.
#include <ATen/Parallel.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <dlfcn.h>
#include <torch/csrc/api/include/torch/version.h>

#include "handle.h"

// CUDA-only code is compiled when libtorch is a CUDA build (native/CMakeLists.txt, scripts/device-check.sh);
// the CPU build answers "no CUDA" from the same functions.
#ifdef CORL_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

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

// cudaSynchronize() -> whether there was a CUDA device to wait for (timings of CUDA work need it).
CORL_FN(CudaSynchronize) {
#ifdef CORL_WITH_CUDA
  if (at::detail::getCUDAHooks().hasCUDA()) {
    c10::cuda::device_synchronize();
    return Napi::Boolean::New(info.Env(), true);
  }
#endif
  return Napi::Boolean::New(info.Env(), false);
}

// cudaMemory(device, resetPeak) -> { allocated, peak } bytes of the caching allocator on that device (as
// torch.cuda.memory_allocated / max_memory_allocated), or null in a build without CUDA.
CORL_FN(CudaMemory) {
#ifdef CORL_WITH_CUDA
  const auto device = static_cast<c10::DeviceIndex>(Int(info[0]));
  const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device);
  auto out = Napi::Object::New(info.Env());
  // index 0 of each stat array is the aggregate over the small and large pools
  out.Set("allocated", Napi::Number::New(info.Env(), static_cast<double>(stats.allocated_bytes[0].current)));
  out.Set("peak", Napi::Number::New(info.Env(), static_cast<double>(stats.allocated_bytes[0].peak)));
  if (Bool(info[1])) c10::cuda::CUDACachingAllocator::resetPeakStats(device);
  return out;
#else
  return info.Env().Null();
#endif
}

CORL_FN(CudaBuild) {
#ifdef CORL_WITH_CUDA
  return Napi::Boolean::New(info.Env(), true);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
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
  Export(env, exports, "cudaSynchronize", CudaSynchronize);
  Export(env, exports, "cudaMemory", CudaMemory);
  Export(env, exports, "cudaBuild", CudaBuild);
  Export(env, exports, "version", Version);
  Export(env, exports, "parallelInfo", ParallelInfo);
}

}  // namespace corl
