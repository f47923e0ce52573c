// torch.distributed (c10d) for corl: one process group per process, Gloo over TCP (FileStore or TCPStore
// rendezvous), the collectives data-parallel training needs, and a parent-death signal for launched workers.
//
// Every collective is synchronous from JS but bounded: it waits on the c10d Work with the group's timeout (or
// the one passed), and a timeout or a peer's failure becomes a JS error naming the operation and this rank.
// Gloo itself runs with the same timeout, so its worker threads give up too.
//
// Built with Gloo when CMake finds its headers and library (Debian: libgloo-dev); otherwise every function
// here says how to get it. NCCL is not bound: libtorch 1.13 on Debian is a CPU build, and `backend: 'nccl'`
// answers with one clear error.
#include <sys/prctl.h>

#include <csignal>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "handle.h"

#ifdef CORL_WITH_GLOO
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

namespace corl {

#ifdef CORL_WITH_GLOO

namespace {

struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
  int rank = 0;
  int size = 1;
  std::chrono::milliseconds timeout{60000};
  std::string method;
};

// Deliberately leaked at exit: a process that ends while a peer is gone must not block in Gloo's destructor.
Group* g_group = nullptr;

Group& Current(const char* op) {
  if (g_group == nullptr) {
    throw std::runtime_error(std::string(op) + ": no process group (call initProcessGroup first)");
  }
  return *g_group;
}

std::string Where(const Group& g) {
  return "rank " + std::to_string(g.rank) + " of " + std::to_string(g.size);
}

std::chrono::milliseconds TimeoutArg(const Napi::Value& v, const Group& g) {
  if (IsMissing(v)) return g.timeout;
  int64_t ms = Int(v);
  if (ms <= 0) throw std::invalid_argument("timeoutMs must be positive");
  return std::chrono::milliseconds(ms);
}

// One line naming the op and the rank for a collective that failed with message `msg`. A timeout reads the same
// whichever layer noticed it: c10d's wait (c10::Error) or Gloo's transport ("Timed out waiting ... for send").
[[noreturn]] void ThrowCollectiveError(std::string msg, std::chrono::milliseconds timeout, const Group& g,
                                       const char* op, bool fromGloo) {
  auto nl = msg.find('\n');
  if (nl != std::string::npos) msg = msg.substr(0, nl);
  bool timedOut = msg.find("imed out") != std::string::npos || msg.find("imeout") != std::string::npos;
  if (timedOut) {
    throw std::runtime_error(std::string(op) + " timed out after " + std::to_string(timeout.count()) + " ms on " +
                             Where(g) + ": another rank is dead, hung or far behind (" + msg + ")");
  }
  // Gloo's own errors other than a timeout: a peer closed its connection, it died
  throw std::runtime_error(std::string(op) + " failed on " + Where(g) + ": " + msg +
                           (fromGloo ? " (another rank died or left)" : ""));
}

// Waits for one collective; a timeout or a failure on the wire becomes one line naming the op and the rank.
void Wait(const c10::intrusive_ptr<c10d::Work>& work, std::chrono::milliseconds timeout, const Group& g,
          const char* op) {
  try {
    work->wait(timeout);
  } catch (const c10::Error& e) {
    ThrowCollectiveError(e.what_without_backtrace(), timeout, g, op, false);
  } catch (const std::exception& e) {
    ThrowCollectiveError(e.what(), timeout, g, op, true);
  }
}

std::shared_ptr<::gloo::transport::Device> MakeDevice(const std::string& host) {
  const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
  if (ifname != nullptr && *ifname != '\0') return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
  if (host.empty() || host == "localhost" || host.rfind("127.", 0) == 0) {
    return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  }
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

// Indices of `ts` grouped by dtype, in first-seen order (one flat buffer per dtype).
std::vector<std::vector<size_t>> ByDtype(const std::vector<at::Tensor>& ts) {
  std::vector<std::vector<size_t>> out;
  std::map<at::ScalarType, size_t> slot;
  for (size_t i = 0; i < ts.size(); i++) {
    if (!ts[i].defined()) throw std::invalid_argument("a tensor in the list is undefined");
    if (!ts[i].device().is_cpu()) throw std::invalid_argument("gloo: tensors must be on the CPU");
    auto st = ts[i].scalar_type();
    auto it = slot.find(st);
    if (it == slot.end()) {
      slot[st] = out.size();
      out.push_back({i});
    } else {
      out[it->second].push_back(i);
    }
  }
  return out;
}

at::Tensor Flatten(const std::vector<at::Tensor>& ts, const std::vector<size_t>& idx) {
  std::vector<at::Tensor> parts;
  parts.reserve(idx.size());
  for (size_t i : idx) parts.push_back(ts[i].detach().reshape({-1}));
  return at::cat(parts).contiguous();
}

void Unflatten(std::vector<at::Tensor>& ts, const std::vector<size_t>& idx, const at::Tensor& flat) {
  int64_t off = 0;
  for (size_t i : idx) {
    int64_t n = ts[i].numel();
    ts[i].detach().copy_(flat.narrow(0, off, n).view(ts[i].sizes()));
    off += n;
  }
}

}  // namespace

static Napi::Value InitGroup(const Napi::CallbackInfo& info, int rank, int size, const std::string& method,
                             std::chrono::milliseconds timeout);

// initProcessGroup(backend, rank, worldSize, initMethod, timeoutMs)
CORL_FN(DistInit) {
  std::string backend = info[0].As<Napi::String>().Utf8Value();
  int64_t rank = Int(info[1]);
  int64_t size = Int(info[2]);
  std::string method = info[3].As<Napi::String>().Utf8Value();
  int64_t ms = Int(info[4]);
  if (g_group != nullptr) throw std::runtime_error("initProcessGroup: a process group is already initialized");
  if (backend == "nccl") {
    throw std::runtime_error(
        "initProcessGroup: backend 'nccl' needs a CUDA build of libtorch; this addon is built without it (use "
        "'gloo')");
  }
  if (backend != "gloo") throw std::invalid_argument("initProcessGroup: unknown backend '" + backend + "'");
  if (size < 1 || rank < 0 || rank >= size) {
    throw std::invalid_argument("initProcessGroup: rank " + std::to_string(rank) + " is not in [0, " +
                                std::to_string(size) + ")");
  }
  if (ms <= 0) throw std::invalid_argument("initProcessGroup: timeoutMs must be positive");

  std::string where = "rank " + std::to_string(rank) + " of " + std::to_string(size);
  try {
    return InitGroup(info, static_cast<int>(rank), static_cast<int>(size), method, std::chrono::milliseconds(ms));
  } catch (const c10::Error& e) {
    std::string msg = e.what_without_backtrace();
    throw std::runtime_error("initProcessGroup (" + where + ", " + method + ", timeout " + std::to_string(ms) +
                             " ms): " + msg.substr(0, msg.find('\n')));
  } catch (const std::invalid_argument&) {
    throw;
  } catch (const std::exception& e) {
    throw std::runtime_error("initProcessGroup (" + where + ", " + method + ", timeout " + std::to_string(ms) +
                             " ms): " + e.what());
  }
}

static Napi::Value InitGroup(const Napi::CallbackInfo& info, int rank, int size, const std::string& method,
                             std::chrono::milliseconds timeout) {
  c10::intrusive_ptr<c10d::Store> store;
  std::string host;
  if (method.rfind("file://", 0) == 0) {
    std::string path = method.substr(7);
    if (path.empty()) throw std::invalid_argument("initProcessGroup: file:// needs a path");
    store = c10::make_intrusive<c10d::FileStore>(path, static_cast<int>(size));
  } else if (method.rfind("tcp://", 0) == 0) {
    std::string rest = method.substr(6);
    auto colon = rest.rfind(':');
    if (colon == std::string::npos) throw std::invalid_argument("initProcessGroup: tcp:// needs host:port");
    host = rest.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    int64_t port = std::stoll(rest.substr(colon + 1));
    if (port < 1 || port > 65535) throw std::invalid_argument("initProcessGroup: port must be in 1..65535");
    c10d::TCPStoreOptions o;
    o.port = static_cast<std::uint16_t>(port);
    o.isServer = rank == 0;
    o.numWorkers = static_cast<std::size_t>(size);
    o.waitWorkers = true;
    o.timeout = timeout;
    store = c10::make_intrusive<c10d::TCPStore>(host, o);
  } else {
    throw std::invalid_argument("initProcessGroup: initMethod must be file://PATH or tcp://HOST:PORT, got '" +
                                method + "'");
  }
  store->setTimeout(timeout);

  auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
  opts->devices.push_back(MakeDevice(host));
  opts->threads = 2;
  auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, size, opts);
  g_group = new Group{store, pg, rank, size, timeout, method};
  return info.Env().Undefined();
}

CORL_FN(DistIsInitialized) { return Napi::Boolean::New(info.Env(), g_group != nullptr); }

CORL_FN(DistInfo) {
  if (g_group == nullptr) return info.Env().Null();
  auto o = Napi::Object::New(info.Env());
  o.Set("rank", g_group->rank);
  o.Set("worldSize", g_group->size);
  o.Set("timeoutMs", static_cast<double>(g_group->timeout.count()));
  o.Set("backend", "gloo");
  return o;
}

// allReduce(tensors[], op: 'sum' | 'avg' | 'max' | 'min', timeoutMs?): in place, one flat buffer per dtype.
CORL_FN(DistAllReduce) {
  Group& g = Current("allReduce");
  auto ts = UnwrapList(info[0]);
  std::string op = info[1].As<Napi::String>().Utf8Value();
  auto timeout = TimeoutArg(info[2], g);
  c10d::AllreduceOptions o;
  o.timeout = timeout;
  bool avg = false;
  if (op == "sum") {
    o.reduceOp = c10d::ReduceOp::SUM;
  } else if (op == "avg") {
    o.reduceOp = c10d::ReduceOp::SUM;  // Gloo has no AVG: sum, then divide
    avg = true;
  } else if (op == "max") {
    o.reduceOp = c10d::ReduceOp::MAX;
  } else if (op == "min") {
    o.reduceOp = c10d::ReduceOp::MIN;
  } else {
    throw std::invalid_argument("allReduce: op must be sum, avg, max or min, got '" + op + "'");
  }
  c10::AutoGradMode no_grad(false);
  for (const auto& idx : ByDtype(ts)) {
    if (avg && !at::isFloatingType(ts[idx[0]].scalar_type())) {
      throw std::invalid_argument("allReduce: avg needs floating-point tensors");
    }
    at::Tensor flat = Flatten(ts, idx);
    std::vector<at::Tensor> v{flat};
    Wait(g.pg->allreduce(v, o), timeout, g, "allReduce");
    if (avg) flat.div_(static_cast<double>(g.size));
    Unflatten(ts, idx, flat);
  }
  return info.Env().Undefined();
}

// broadcast(tensors[], src, timeoutMs?): in place, one flat buffer per dtype.
CORL_FN(DistBroadcast) {
  Group& g = Current("broadcast");
  auto ts = UnwrapList(info[0]);
  int64_t src = Int(info[1]);
  if (src < 0 || src >= g.size) throw std::invalid_argument("broadcast: src " + std::to_string(src) + " is not a rank");
  auto timeout = TimeoutArg(info[2], g);
  c10d::BroadcastOptions o;
  o.rootRank = src;
  o.timeout = timeout;
  c10::AutoGradMode no_grad(false);
  for (const auto& idx : ByDtype(ts)) {
    at::Tensor flat = Flatten(ts, idx);
    std::vector<at::Tensor> v{flat};
    Wait(g.pg->broadcast(v, o), timeout, g, "broadcast");
    Unflatten(ts, idx, flat);
  }
  return info.Env().Undefined();
}

// allGather(tensor, timeoutMs?) -> one tensor per rank (same shape and dtype on every rank).
CORL_FN(DistAllGather) {
  Group& g = Current("allGather");
  at::Tensor t = Unwrap(info[0]).detach().contiguous();
  auto timeout = TimeoutArg(info[1], g);
  c10d::AllgatherOptions o;
  o.timeout = timeout;
  std::vector<std::vector<at::Tensor>> out(1);
  for (int r = 0; r < g.size; r++) out[0].push_back(at::empty_like(t));
  std::vector<at::Tensor> in{t};
  Wait(g.pg->allgather(out, in, o), timeout, g, "allGather");
  return WrapList(info.Env(), out[0]);
}

CORL_FN(DistBarrier) {
  Group& g = Current("barrier");
  auto timeout = TimeoutArg(info[0], g);
  c10d::BarrierOptions o;
  o.timeout = timeout;
  Wait(g.pg->barrier(o), timeout, g, "barrier");
  return info.Env().Undefined();
}

// destroyProcessGroup(): releases the group (joins Gloo's threads) and the store. Idempotent.
CORL_FN(DistDestroy) {
  if (g_group == nullptr) return info.Env().Undefined();
  Group* g = g_group;
  g_group = nullptr;
  delete g;
  return info.Env().Undefined();
}

CORL_FN(DistBackends) {
  auto o = Napi::Object::New(info.Env());
  o.Set("gloo", true);
  o.Set("nccl", false);
  return o;
}

#else  // no Gloo: every entry point explains how to get it

static Napi::Value NoGloo(const Napi::CallbackInfo& info) {
  throw Napi::Error::New(info.Env(),
                         "torch.distributed is not available: the addon was built without Gloo (install "
                         "libgloo-dev, then npm run build:native -- --force)");
}
#define DistInit NoGloo
#define DistAllReduce NoGloo
#define DistBroadcast NoGloo
#define DistAllGather NoGloo
#define DistBarrier NoGloo
CORL_FN(DistIsInitialized) { return Napi::Boolean::New(info.Env(), false); }
CORL_FN(DistInfo) { return info.Env().Null(); }
CORL_FN(DistDestroy) { return info.Env().Undefined(); }
CORL_FN(DistBackends) {
  auto o = Napi::Object::New(info.Env());
  o.Set("gloo", false);
  o.Set("nccl", false);
  return o;
}

#endif

// setParentDeathSignal(signal): the kernel sends `signal` to this process when its parent dies (Linux), so a
// launched worker never outlives its launcher. Returns false where unsupported.
CORL_FN(SetParentDeathSignal) {
  int sig = static_cast<int>(Int(info[0]));
#ifdef __linux__
  return Napi::Boolean::New(info.Env(), prctl(PR_SET_PDEATHSIG, sig) == 0);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

void RegisterDistributed(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "distInit", DistInit);
  Export(env, exports, "distIsInitialized", DistIsInitialized);
  Export(env, exports, "distInfo", DistInfo);
  Export(env, exports, "distAllReduce", DistAllReduce);
  Export(env, exports, "distBroadcast", DistBroadcast);
  Export(env, exports, "distAllGather", DistAllGather);
  Export(env, exports, "distBarrier", DistBarrier);
  Export(env, exports, "distDestroy", DistDestroy);
  Export(env, exports, "distBackends", DistBackends);
  Export(env, exports, "setParentDeathSignal", SetParentDeathSignal);
}

}  // namespace corl
