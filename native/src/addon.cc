// Module entry point: collects the bindings of every file into one exports object.
#include "handle.h"

namespace corl {

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  RegisterCreation(env, exports);
  RegisterShape(env, exports);
  RegisterMath(env, exports);
  RegisterNN(env, exports);
  RegisterAutograd(env, exports);
  RegisterOptim(env, exports);
  RegisterRandom(env, exports);
  RegisterRuntime(env, exports);
  RegisterDistributed(env, exports);
  RegisterCheckpoint(env, exports);
  RegisterDecode(env, exports);
  return exports;
}

NODE_API_MODULE(corl_torch, Init)

}  // namespace corl
