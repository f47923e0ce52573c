// Activation checkpointing (recompute in backward) for a JS function, as PyTorch's reentrant
// torch.utils.checkpoint: libtorch 1.13's C++ API has no checkpoint, so it is a custom autograd Function.
//
// checkpoint(recompute, inputs, outputs) -> outputs': `outputs` were computed by JS from `inputs` without
// gradients (so no activation was kept); the returned tensors are the same values with one autograd node
// (CheckpointFn) as their grad_fn, which saves only the inputs. In backward that node calls `recompute` (a JS
// function: detached inputs -> outputs, run with gradients on), back-propagates the incoming gradients
// through the recomputed graph (a reentrant backward: parameter gradients accumulate as usual), and hands the
// detached inputs' gradients on. The last input is a token that requires grad, so the node is recorded even
// when no real input needs a gradient (frozen embeddings with LoRA: the parameters are not inputs).
//
// The JS call happens on the thread that runs the node's backward: the calling thread for CPU tensors (the
// thread of the JS call to backward(), as the engine runs the CPU queue on its caller). CUDA nodes run on the
// engine's device threads, where JS cannot be called: checkpointing is refused there (see Checkpoint below).
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include "handle.h"

namespace corl {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The JS recompute function, owned by the node (through saved_data); released with it.
struct JsFn : torch::CustomClassHolder {
  Napi::FunctionReference ref;
};

// Moves the tensors out of the handles JS returned (the handles become disposed; their JS objects are dropped).
std::vector<at::Tensor> TakeList(const Napi::Value& v) {
  if (!v.IsArray()) throw std::invalid_argument("checkpoint: the recompute function must return an array of tensors");
  auto arr = v.As<Napi::Array>();
  std::vector<at::Tensor> out;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value h = arr.Get(i);
    out.push_back(Unwrap(h));
    Holder* holder = h.As<Napi::External<Holder>>().Data();
    holder->t.reset();
    g_live.fetch_sub(1, std::memory_order_relaxed);
  }
  return out;
}

// The precomputed outputs, passed as a non-tensor argument (a tensor list argument would count as inputs).
struct Outputs {
  std::vector<at::Tensor> list;
};

struct CheckpointFn : public torch::autograd::Function<CheckpointFn> {
  static variable_list forward(AutogradContext* ctx, at::TensorList inputs, Outputs outputs,
                               c10::intrusive_ptr<JsFn> fn) {
    ctx->save_for_backward(inputs.vec());
    ctx->saved_data["fn"] = c10::IValue::make_capsule(std::move(fn));
    ctx->set_materialize_grads(false);
    return outputs.list;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto fn = c10::static_intrusive_pointer_cast<JsFn>(ctx->saved_data["fn"].toCapsule());
    variable_list saved = ctx->get_saved_variables();
    // detached inputs (the token excluded), requiring grad where the originals did
    std::vector<at::Tensor> detached;
    for (size_t i = 0; i + 1 < saved.size(); i++) {
      at::Tensor d = saved[i].detach();
      if (saved[i].requires_grad()) d.requires_grad_(true);
      detached.push_back(d);
    }
    std::vector<at::Tensor> outs;
    {
      Napi::Env env = fn->ref.Env();
      Napi::HandleScope scope(env);
      at::AutoGradMode enable(true);
      outs = TakeList(fn->ref.Call({WrapList(env, detached)}));
    }
    if (outs.size() != grads.size())
      throw std::runtime_error("checkpoint: the recompute gave " + std::to_string(outs.size()) + " outputs, the forward " +
                               std::to_string(grads.size()));
    variable_list roots, rootGrads;
    for (size_t i = 0; i < outs.size(); i++)
      if (grads[i].defined() && outs[i].requires_grad()) {
        roots.push_back(outs[i]);
        rootGrads.push_back(grads[i]);
      }
    if (!roots.empty()) torch::autograd::backward(roots, rootGrads, /*retain_graph=*/false, /*create_graph=*/false);
    variable_list result;
    for (auto& d : detached) result.push_back(d.requires_grad() ? d.grad() : at::Tensor());
    result.push_back(at::Tensor());  // the token
    result.push_back(at::Tensor());  // Outputs and the function: not tensors
    result.push_back(at::Tensor());
    return result;
  }
};

}  // namespace

// checkpoint(recompute, inputs, outputs) -> tensors
CORL_FN(Checkpoint) {
  Napi::Env env = info.Env();
  if (!info[0].IsFunction()) throw std::invalid_argument("checkpoint: expected a recompute function");
  auto inputs = UnwrapList(info[1]);
  auto outputs = UnwrapList(info[2]);
  for (auto& t : inputs)
    if (!t.device().is_cpu()) throw std::invalid_argument("checkpoint: activation checkpointing runs on CPU tensors only");
  // a leaf that requires grad, the last input of every node: the node is recorded even when no input needs a
  // gradient (a plain tensor, not a JS handle, so it is not in the live-tensor count)
  static at::Tensor token = at::zeros({}).requires_grad_(true);
  inputs.push_back(token);
  auto fn = c10::make_intrusive<JsFn>();
  fn->ref = Napi::Persistent(info[0].As<Napi::Function>());
  auto res = CheckpointFn::apply(at::TensorList(inputs), Outputs{outputs}, fn);
  return WrapList(env, res);
}

void RegisterCheckpoint(Napi::Env env, Napi::Object exports) { Export(env, exports, "checkpoint", Checkpoint); }

}  // namespace corl
