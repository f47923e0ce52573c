// Tensor creation, data in and out, metadata, disposal, dtype/device moves.
#include <cstring>

#include "handle.h"

namespace corl {

// fromBuffer(bytes: ArrayBuffer|TypedArray, shape, dtype, device?) copies the little-endian bytes in.
CORL_FN(FromBuffer) {
  auto shape = Ints(info[1]);
  auto st = ToScalarType(Int(info[2]));
  const uint8_t* src = nullptr;
  size_t nbytes = 0;
  if (info[0].IsTypedArray()) {
    auto ta = info[0].As<Napi::TypedArray>();
    src = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    nbytes = ta.ByteLength();
  } else if (info[0].IsArrayBuffer()) {
    auto ab = info[0].As<Napi::ArrayBuffer>();
    src = static_cast<const uint8_t*>(ab.Data());
    nbytes = ab.ByteLength();
  } else if (info[0].IsBuffer()) {
    auto b = info[0].As<Napi::Buffer<uint8_t>>();
    src = b.Data();
    nbytes = b.Length();
  } else {
    throw std::invalid_argument("fromBuffer expects an ArrayBuffer or typed array");
  }
  auto t = at::empty(shape, at::TensorOptions().dtype(st));
  size_t want = static_cast<size_t>(t.numel()) * t.element_size();
  if (want != nbytes) {
    throw std::invalid_argument("fromBuffer: " + std::to_string(nbytes) + " bytes given, shape needs " +
                                std::to_string(want));
  }
  if (nbytes > 0) std::memcpy(t.data_ptr(), src, nbytes);
  auto dev = ToDevice(info[3]);
  if (dev.type() != at::kCPU) t = t.to(dev);
  return Wrap(info.Env(), t);
}

// toBuffer(t) -> ArrayBuffer with a contiguous CPU copy of the data.
CORL_FN(ToBuffer) {
  auto t = Unwrap(info[0]).detach().to(at::kCPU).contiguous();
  size_t nbytes = static_cast<size_t>(t.numel()) * t.element_size();
  auto ab = Napi::ArrayBuffer::New(info.Env(), nbytes);
  if (nbytes > 0) std::memcpy(ab.Data(), t.data_ptr(), nbytes);
  return ab;
}

CORL_FN(Item) {
  auto& t = Unwrap(info[0]);
  if (t.scalar_type() == at::kBool) return Napi::Boolean::New(info.Env(), t.item<bool>());
  return Napi::Number::New(info.Env(), t.item<double>());
}

CORL_FN(Full) {
  return Wrap(info.Env(), at::full(Ints(info[0]), ToScalar(info[1]), Options(info[2], info[3])));
}

CORL_FN(Zeros) { return Wrap(info.Env(), at::zeros(Ints(info[0]), Options(info[1], info[2]))); }
CORL_FN(Ones) { return Wrap(info.Env(), at::ones(Ints(info[0]), Options(info[1], info[2]))); }
CORL_FN(Empty) { return Wrap(info.Env(), at::empty(Ints(info[0]), Options(info[1], info[2]))); }

CORL_FN(Arange) {
  return Wrap(info.Env(), at::arange(ToScalar(info[0]), ToScalar(info[1]), ToScalar(info[2]),
                                     Options(info[3], info[4])));
}

CORL_FN(ZerosLike) { return Wrap(info.Env(), at::zeros_like(Unwrap(info[0]))); }
CORL_FN(OnesLike) { return Wrap(info.Env(), at::ones_like(Unwrap(info[0]))); }
CORL_FN(FullLike) { return Wrap(info.Env(), at::full_like(Unwrap(info[0]), ToScalar(info[1]))); }

CORL_FN(Shape) {
  auto sizes = Unwrap(info[0]).sizes();
  auto arr = Napi::Array::New(info.Env(), sizes.size());
  for (size_t i = 0; i < sizes.size(); i++) arr.Set(static_cast<uint32_t>(i), Napi::Number::New(info.Env(), sizes[i]));
  return arr;
}

CORL_FN(Dtype) { return Napi::Number::New(info.Env(), FromScalarType(Unwrap(info[0]).scalar_type())); }
CORL_FN(Device) { return Napi::String::New(info.Env(), Unwrap(info[0]).device().str()); }

CORL_FN(Dispose) {
  if (!info[0].IsExternal()) throw std::invalid_argument("expected a tensor handle");
  Holder* h = info[0].As<Napi::External<Holder>>().Data();
  if (h->t.defined()) {
    h->t.reset();
    g_live.fetch_sub(1, std::memory_order_relaxed);
  }
  return info.Env().Undefined();
}

CORL_FN(IsDisposed) {
  Holder* h = info[0].As<Napi::External<Holder>>().Data();
  return Napi::Boolean::New(info.Env(), !h->t.defined());
}

CORL_FN(LiveCount) { return Napi::Number::New(info.Env(), static_cast<double>(g_live.load())); }

// to(t, dtype|null, device|null, copy)
CORL_FN(To) {
  auto& t = Unwrap(info[0]);
  auto st = IsMissing(info[1]) ? t.scalar_type() : ToScalarType(Int(info[1]));
  auto dev = IsMissing(info[2]) ? t.device() : ToDevice(info[2]);
  return Wrap(info.Env(), t.to(dev, st, /*non_blocking=*/false, /*copy=*/Bool(info[3])));
}

CORL_FN(Clone) { return Wrap(info.Env(), Unwrap(info[0]).clone()); }
CORL_FN(Contiguous) { return Wrap(info.Env(), Unwrap(info[0]).contiguous()); }
CORL_FN(IsContiguous) { return Napi::Boolean::New(info.Env(), Unwrap(info[0]).is_contiguous()); }

// In-place writes used by optimisers, caches and weight loading (no autograd history: callers use noGrad).
CORL_FN(Copy_) {
  Unwrap(info[0]).copy_(Unwrap(info[1]));
  return info.Env().Undefined();
}
CORL_FN(Fill_) {
  Unwrap(info[0]).fill_(ToScalar(info[1]));
  return info.Env().Undefined();
}
CORL_FN(Zero_) {
  Unwrap(info[0]).zero_();
  return info.Env().Undefined();
}
CORL_FN(Numel) { return Napi::Number::New(info.Env(), static_cast<double>(Unwrap(info[0]).numel())); }
CORL_FN(DataPtrEqual) {
  return Napi::Boolean::New(info.Env(), Unwrap(info[0]).data_ptr() == Unwrap(info[1]).data_ptr());
}

void RegisterCreation(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "fromBuffer", FromBuffer);
  Export(env, exports, "toBuffer", ToBuffer);
  Export(env, exports, "item", Item);
  Export(env, exports, "full", Full);
  Export(env, exports, "zeros", Zeros);
  Export(env, exports, "ones", Ones);
  Export(env, exports, "empty", Empty);
  Export(env, exports, "arange", Arange);
  Export(env, exports, "zerosLike", ZerosLike);
  Export(env, exports, "onesLike", OnesLike);
  Export(env, exports, "fullLike", FullLike);
  Export(env, exports, "shape", Shape);
  Export(env, exports, "dtype", Dtype);
  Export(env, exports, "device", Device);
  Export(env, exports, "dispose", Dispose);
  Export(env, exports, "isDisposed", IsDisposed);
  Export(env, exports, "liveCount", LiveCount);
  Export(env, exports, "to", To);
  Export(env, exports, "clone", Clone);
  Export(env, exports, "contiguous", Contiguous);
  Export(env, exports, "isContiguous", IsContiguous);
  Export(env, exports, "copy_", Copy_);
  Export(env, exports, "fill_", Fill_);
  Export(env, exports, "zero_", Zero_);
  Export(env, exports, "numel", Numel);
  Export(env, exports, "dataPtrEqual", DataPtrEqual);
}

}  // namespace corl
