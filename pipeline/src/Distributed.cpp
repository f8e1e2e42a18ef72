#include "mr2ct/pipeline/Distributed.h"

#include <cstdlib>

#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef MR2CT_HAVE_GLOO  // pip's LibTorch has Gloo inside but ships no gloo/ headers
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef MR2CT_HAVE_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "mr2ct/core/Error.h"
#include "mr2ct/core/OptionError.h"
#include "mr2ct/core/Log.h"

namespace mr2ct {

namespace {

std::optional<std::string> lookup(const std::map<std::string, std::string>* env, const std::string& name) {
  if (env) {
    auto it = env->find(name);
    return it == env->end() ? std::nullopt : std::optional<std::string>(it->second);
  }
  const char* v = std::getenv(name.c_str());
  return v ? std::optional<std::string>(v) : std::nullopt;
}

int intVariable(const std::string& name, const std::string& value, int min) {
  try {
    size_t used = 0;
    const long v = std::stol(value, &used);
    if (used == value.size() && v >= min && v <= 1 << 30) return int(v);
  } catch (const std::exception&) {
  }
  throw UsageError("environment variable " + name + "='" + value + "' is not an integer >= " + std::to_string(min));
}

std::string firstLine(std::string s) {
  if (auto nl = s.find('\n'); nl != std::string::npos) s.resize(nl);
  return s;
}

/// Gradient averaging and broadcasts on a c10d process group. Gradients travel in flat buckets
/// (one all-reduce per ~kBucketBytes, not one per parameter), as DDP does. Group is the concrete
/// ProcessGroupGloo/NCCL: a ProcessGroup in LibTorch 1.13, a Backend in 2.x, same collectives.
template <class Group>
class ProcessGroupReducer : public GradientReducer {
 public:
  ProcessGroupReducer(c10::intrusive_ptr<c10d::Store> store, c10::intrusive_ptr<Group> group,
                      const DistributedContext& context, std::chrono::seconds timeout)
      : store_(std::move(store)), group_(std::move(group)), context_(context), timeout_(timeout) {}

  int rank() const override { return context_.rank; }
  int worldSize() const override { return context_.worldSize; }

  void broadcastFromRankZero(const std::vector<torch::Tensor>& tensors) override {
    torch::NoGradGuard noGrad;
    forEachBucket(tensors, [&](torch::Tensor& flat) {
      std::vector<at::Tensor> io{flat};
      wait(group_->broadcast(io), "broadcast of rank 0's weights");
    }, /*gradients=*/false);
  }

  void sum(torch::Tensor& small) override {
    std::vector<at::Tensor> io{small};
    wait(group_->allreduce(io), "all-reduce of the loss terms");
  }

  void averageGradients(const std::vector<torch::Tensor>& parameters) override {
    torch::NoGradGuard noGrad;
    for (const auto& p : parameters)
      if (!p.grad().defined()) const_cast<torch::Tensor&>(p).mutable_grad() = torch::zeros_like(p);
    forEachBucket(parameters, [&](torch::Tensor& flat) {
      std::vector<at::Tensor> io{flat};
      wait(group_->allreduce(io), "all-reduce of the gradients");
      flat.div_(double(context_.worldSize));
    }, /*gradients=*/true);
  }

 private:
  static constexpr int64_t kBucketBytes = 25 << 20;

  /// Packs consecutive tensors (or their gradients) of one dtype/device into flat buckets, runs
  /// `op` on each and copies the result back.
  template <class Op>
  void forEachBucket(const std::vector<torch::Tensor>& tensors, Op op, bool gradients) {
    auto of = [&](const torch::Tensor& p) { return gradients ? p.grad() : p; };
    size_t begin = 0;
    while (begin < tensors.size()) {
      size_t end = begin;
      int64_t bytes = 0;
      const auto options = of(tensors[begin]).options();
      while (end < tensors.size() && (end == begin || bytes < kBucketBytes) &&
             of(tensors[end]).scalar_type() == options.dtype().toScalarType() &&
             of(tensors[end]).device() == options.device()) {
        bytes += of(tensors[end]).numel() * of(tensors[end]).element_size();
        ++end;
      }
      std::vector<torch::Tensor> parts;
      for (size_t i = begin; i < end; ++i) parts.push_back(of(tensors[i]).reshape({-1}));
      torch::Tensor flat = torch::cat(parts);
      op(flat);
      int64_t offset = 0;
      for (size_t i = begin; i < end; ++i) {
        torch::Tensor t = of(tensors[i]);
        t.copy_(flat.narrow(0, offset, t.numel()).view_as(t));
        offset += t.numel();
      }
      begin = end;
    }
  }

  void wait(const c10::intrusive_ptr<c10d::Work>& work, const char* what) {
    try {
      work->wait(timeout_);
    } catch (const std::exception& e) {
      throw Error("rank " + std::to_string(context_.rank) + " of " + std::to_string(context_.worldSize) + ": " +
                  what + " failed (another rank died or hung; --dist-timeout " + std::to_string(timeout_.count()) +
                  " s): " + firstLine(e.what()));
    }
  }

  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<Group> group_;
  DistributedContext context_;
  std::chrono::seconds timeout_;
};

}  // namespace

std::string firstSlurmHost(const std::string& nodelist) {
  size_t end = 0;
  int depth = 0;
  for (; end < nodelist.size(); ++end) {
    if (nodelist[end] == '[') ++depth;
    if (nodelist[end] == ']') --depth;
    if (nodelist[end] == ',' && depth == 0) break;
  }
  const std::string first = nodelist.substr(0, end);
  const size_t open = first.find('[');
  if (open == std::string::npos) return first;
  const size_t close = first.find(']', open);
  const std::string range = first.substr(open + 1, close == std::string::npos ? std::string::npos : close - open - 1);
  const std::string suffix = close == std::string::npos ? "" : first.substr(close + 1);  // "node[1-3]-ib"
  return first.substr(0, open) + range.substr(0, range.find_first_of(",-")) + suffix;
}

DistributedContext DistributedContext::fromEnvironment(const std::map<std::string, std::string>* env) {
  DistributedContext c;
  if (auto ws = lookup(env, "WORLD_SIZE")) {
    c.launcher = "torchrun";
    c.worldSize = intVariable("WORLD_SIZE", *ws, 1);
    c.rank = intVariable("RANK", lookup(env, "RANK").value_or(""), 0);
    c.localRank = intVariable("LOCAL_RANK", lookup(env, "LOCAL_RANK").value_or("0"), 0);
  } else if (auto procid = lookup(env, "SLURM_PROCID"); procid && lookup(env, "SLURM_STEP_ID")) {
    // Only inside an srun step: a batch script's own shell also has SLURM_PROCID/SLURM_NTASKS
    // but is one process.
    c.launcher = "slurm";
    const auto tasks = lookup(env, "SLURM_STEP_NUM_TASKS");
    c.worldSize = tasks ? intVariable("SLURM_STEP_NUM_TASKS", *tasks, 1)
                        : intVariable("SLURM_NTASKS", lookup(env, "SLURM_NTASKS").value_or(""), 1);
    c.rank = intVariable("SLURM_PROCID", *procid, 0);
    c.localRank = intVariable("SLURM_LOCALID", lookup(env, "SLURM_LOCALID").value_or("0"), 0);
  } else {
    return c;
  }
  if (c.rank >= c.worldSize)
    throw UsageError("rank " + std::to_string(c.rank) + " is not below the world size " + std::to_string(c.worldSize));
  if (!c.distributed()) return c;
  if (auto addr = lookup(env, "MASTER_ADDR")) {
    c.masterAddr = *addr;
  } else if (auto nodes = lookup(env, "SLURM_JOB_NODELIST"); c.launcher == "slurm" && nodes) {
    c.masterAddr = firstSlurmHost(*nodes);
  } else {
    throw UsageError("MASTER_ADDR is not set (needed with " + std::to_string(c.worldSize) + " processes)");
  }
  if (auto port = lookup(env, "MASTER_PORT")) {
    c.masterPort = intVariable("MASTER_PORT", *port, 1);
  } else if (auto job = lookup(env, "SLURM_JOB_ID"); c.launcher == "slurm" && job) {
    c.masterPort = 20000 + intVariable("SLURM_JOB_ID", *job, 0) % 10000;
  }
  return c;
}

std::unique_ptr<GradientReducer> joinProcessGroup(const DistributedContext& context, const std::string& device,
                                                  std::chrono::seconds timeout) {
  c10::intrusive_ptr<c10d::Store> store;
  try {
    c10d::TCPStoreOptions o;
    o.port = uint16_t(context.masterPort);
    // torchrun's agent already serves the store on MASTER_PORT and says so; all ranks are clients.
    const char* agentStore = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
    o.isServer = context.rank == 0 && !(agentStore && std::string(agentStore) == "True");
    o.numWorkers = size_t(context.worldSize);
    o.waitWorkers = true;
    o.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
    store = c10::make_intrusive<c10d::TCPStore>(context.masterAddr, o);
  } catch (const std::exception& e) {
    throw Error("rank " + std::to_string(context.rank) + ": rendezvous at " + context.masterAddr + ":" +
                std::to_string(context.masterPort) + " failed within " + std::to_string(timeout.count()) +
                " s: " + firstLine(e.what()));
  }
  std::unique_ptr<GradientReducer> reducer;
  try {
    if (device.rfind("cuda", 0) == 0) {
#ifdef MR2CT_HAVE_NCCL
      auto opts = c10d::ProcessGroupNCCL::Options::create();
      opts->timeout = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
      reducer = std::make_unique<ProcessGroupReducer<c10d::ProcessGroupNCCL>>(
          store, c10::make_intrusive<c10d::ProcessGroupNCCL>(store, context.rank, context.worldSize, opts), context,
          timeout);
#else
      throw OptionError("{device} " + device + " with several processes needs a LibTorch built with NCCL");
#endif
    } else {
#ifdef MR2CT_HAVE_GLOO
      auto opts = c10d::ProcessGroupGloo::Options::create(std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
      const bool loopback = context.masterAddr == "localhost" || context.masterAddr.rfind("127.", 0) == 0;
      if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"))
        opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
      else if (loopback)
        opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      else
        opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      reducer = std::make_unique<ProcessGroupReducer<c10d::ProcessGroupGloo>>(
          store, c10::make_intrusive<c10d::ProcessGroupGloo>(store, context.rank, context.worldSize, opts), context,
          timeout);
#else
      throw UsageError("training on the CPU with several processes needs a LibTorch with Gloo's headers "
                       "(Debian's libtorch-dev and libgloo-dev); this build has none");
#endif
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error("rank " + std::to_string(context.rank) + ": joining the process group failed: " + firstLine(e.what()));
  }
  spdlog::info("rank {} of {} (local rank {}, {}) joined the process group at {}:{}", context.rank,
               context.worldSize, context.localRank, context.launcher, context.masterAddr, context.masterPort);
  return reducer;
}

}  // namespace mr2ct
