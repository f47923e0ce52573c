// Seeded random number generators and the random ops that take one (null = libtorch's default generator).
#include <ATen/CPUGeneratorImpl.h>

#include <mutex>

#include "handle.h"

namespace corl {

struct GenHolder {
  at::Generator g;
};

static c10::optional<at::Generator> OptGen(const Napi::Value& v) {
  if (IsMissing(v)) return c10::nullopt;
  if (!v.IsExternal()) throw std::invalid_argument("expected a generator handle");
  return v.As<Napi::External<GenHolder>>().Data()->g;
}

static at::Generator GenOrDefault(const Napi::Value& v) {
  auto g = OptGen(v);
  return g.has_value() ? *g : at::detail::getDefaultCPUGenerator();
}

CORL_FN(GeneratorCreate) {
  auto* h = new GenHolder{at::detail::createCPUGenerator(static_cast<uint64_t>(Int(info[0])))};
  return Napi::External<GenHolder>::New(info.Env(), h, [](Napi::Env, GenHolder* p) { delete p; });
}

// manualSeed(gen|null, seed)
CORL_FN(ManualSeed) {
  auto g = GenOrDefault(info[0]);
  std::lock_guard<std::mutex> lock(g.mutex());
  g.set_current_seed(static_cast<uint64_t>(Int(info[1])));
  return info.Env().Undefined();
}

// getState(gen|null) -> uint8 tensor; setState(gen|null, tensor). Used for bit-exact resume.
CORL_FN(GetRngState) {
  auto g = GenOrDefault(info[0]);
  std::lock_guard<std::mutex> lock(g.mutex());
  return Wrap(info.Env(), g.get_state());
}
CORL_FN(SetRngState) {
  auto g = GenOrDefault(info[0]);
  std::lock_guard<std::mutex> lock(g.mutex());
  g.set_state(Unwrap(info[1]));
  return info.Env().Undefined();
}

// randn(shape, gen|null, dtype, device), rand(...)
CORL_FN(Randn) { return Wrap(info.Env(), at::randn(Ints(info[0]), OptGen(info[1]), Options(info[2], info[3]))); }
CORL_FN(Rand) { return Wrap(info.Env(), at::rand(Ints(info[0]), OptGen(info[1]), Options(info[2], info[3]))); }

// randint(low, high, shape, gen|null, device) -> int64
CORL_FN(Randint) {
  return Wrap(info.Env(), at::randint(Int(info[0]), Int(info[1]), Ints(info[2]), OptGen(info[3]),
                                      at::TensorOptions().dtype(at::kLong).device(ToDevice(info[4]))));
}

CORL_FN(Randperm) {
  return Wrap(info.Env(), at::randperm(Int(info[0]), OptGen(info[1]), at::TensorOptions().dtype(at::kLong)));
}

// multinomial(probs[..., V], numSamples, replacement, gen|null) -> int64 indices
CORL_FN(Multinomial) {
  return Wrap(info.Env(), at::multinomial(Unwrap(info[0]), Int(info[1]), Bool(info[2]), OptGen(info[3])));
}

// In-place initialisers: normal_(t, mean, std, gen), uniform_(t, from, to, gen)
CORL_FN(Normal_) {
  Unwrap(info[0]).normal_(Num(info[1]), Num(info[2]), OptGen(info[3]));
  return info.Env().Undefined();
}
CORL_FN(Uniform_) {
  Unwrap(info[0]).uniform_(Num(info[1]), Num(info[2]), OptGen(info[3]));
  return info.Env().Undefined();
}

// bernoulli(probs, gen|null)
CORL_FN(Bernoulli) { return Wrap(info.Env(), at::bernoulli(Unwrap(info[0]), OptGen(info[1]))); }

void RegisterRandom(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "generatorCreate", GeneratorCreate);
  Export(env, exports, "manualSeed", ManualSeed);
  Export(env, exports, "getRngState", GetRngState);
  Export(env, exports, "setRngState", SetRngState);
  Export(env, exports, "randn", Randn);
  Export(env, exports, "rand", Rand);
  Export(env, exports, "randint", Randint);
  Export(env, exports, "randperm", Randperm);
  Export(env, exports, "multinomial", Multinomial);
  Export(env, exports, "normal_", Normal_);
  Export(env, exports, "uniform_", Uniform_);
  Export(env, exports, "bernoulli", Bernoulli);
}

}  // namespace corl
