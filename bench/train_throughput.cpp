// Training throughput of the velocity network (default unet2d-bench at 256×256, batch 4, CPU),
// measured like ../shared/peers/fm_reference.py train: `--warmup` untimed steps, then `--steps`
// timed steps; a step = path sample + forward + loss + zero_grad + backward + AdamW step + loss.item()
// (batch assembly excluded). Prints one JSON line. bench/train_throughput.sh runs it next to the peer.
#include <ATen/autocast_mode.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#if __has_include(<torch/csrc/autograd/profiler_legacy.h>)
#include <torch/csrc/autograd/profiler_legacy.h>
#define MR2CT_HAVE_LEGACY_PROFILER 1
#endif

#include "mr2ct/models/FlowMatching.h"
#include "mr2ct/models/MixedPrecision.h"
#include "mr2ct/models/Runtime.h"
#include "mr2ct/models/VelocityUNet.h"

using namespace mr2ct;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void usage() {
  std::cerr << "train_throughput [--preset unet2d-bench] [--size 256] [--batch 4] [--steps 5] [--warmup 3]\n"
               "                 [--threads 1] [--malloc tuned|default] [--channels-last 0|1] [--bf16 0|1]\n"
               "                 [--device cpu|cuda] [--seed 0] [--trace FILE.json]\n"
               "--trace: a Chrome trace of the last timed step (forward, backward, optimizer) that\n"
               "         bench/bf16_profile.py sums per op kind\n";
}

/// The command line; defaults as in usage().
struct Options {
  std::string preset = "unet2d-bench", malloc = "tuned", deviceName = "cpu", trace;
  int64_t size = 256, batch = 4, steps = 5, warmup = 3, seed = 0;
  int threads = 1;
  bool channelsLast = true, bf16 = false;
};

/// Fills `o` from argv; returns the exit status when the program should stop (help, bad usage).
std::optional<int> parseOptions(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      usage();
      return 0;
    }
    if (i + 1 >= argc) {
      usage();
      return 2;
    }
    const std::string v = argv[++i];
    if (a == "--preset")
      o.preset = v;
    else if (a == "--size")
      o.size = std::stoll(v);
    else if (a == "--batch")
      o.batch = std::stoll(v);
    else if (a == "--steps")
      o.steps = std::stoll(v);
    else if (a == "--warmup")
      o.warmup = std::stoll(v);
    else if (a == "--threads")
      o.threads = std::stoi(v);
    else if (a == "--malloc")
      o.malloc = v;
    else if (a == "--channels-last")
      o.channelsLast = v == "1";
    else if (a == "--bf16")
      o.bf16 = v == "1";
    else if (a == "--device")
      o.deviceName = v;
    else if (a == "--seed")
      o.seed = std::stoll(v);
    else if (a == "--trace")
      o.trace = v;
    else {
      usage();
      return 2;
    }
  }
  return std::nullopt;
}

struct Timing {
  std::vector<double> stepSeconds;  ///< the timed steps (warm-up excluded)
  double lastLoss = 0;
};

/// `o.warmup` untimed then `o.steps` timed training steps of `net` on random slices.
Timing timeSteps(VelocityUNet& net, const Options& o, const torch::Device& device) {
  torch::optim::AdamW opt(net->parameters(), torch::optim::AdamWOptions(1e-4));  // wd 0.01 like the peer
  const LinearProbabilityPath path(0.0);

  // A pool of random slices like the peer's (timing only): MR in [0,1), CT in [-1,1).
  const int64_t pool = std::max<int64_t>(16, 2 * o.batch);
  const auto mr = torch::rand({pool, 1, o.size, o.size}), ct = torch::rand({pool, 1, o.size, o.size}) * 2 - 1;
  const auto weight = torch::ones({o.batch, 1, o.size, o.size}, torch::TensorOptions().device(device));

  const AutocastGuard autocast(o.bf16 ? "bf16" : "fp32", device);
  Timing timing;
  for (int64_t i = 0; i < o.warmup + o.steps; ++i) {
    const auto idx = torch::randint(pool, {o.batch}, torch::kLong);
    const auto x0 = mr.index_select(0, idx).to(device), x1 = ct.index_select(0, idx).to(device);
    const bool traced = !o.trace.empty() && i + 1 == o.warmup + o.steps;
#ifdef MR2CT_HAVE_LEGACY_PROFILER
    std::optional<torch::autograd::profiler::RecordProfile> profiling;
    if (traced) profiling.emplace(o.trace);
#endif
    const auto start = std::chrono::steady_clock::now();
    const auto t = torch::rand({o.batch}, torch::TensorOptions().device(device));
    const PathSample s = path.sample(x0, x1, t);
    const auto loss = flowMatchingLoss(net->forward(s.x_t, t, x0).to(torch::kFloat), s.dx_t, weight);
    opt.zero_grad();
    loss.backward();
    opt.step();
    timing.lastLoss = loss.item<double>();
    if (o.bf16) at::autocast::clear_cache();
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cerr << (i < o.warmup ? "warmup " : "step ") << i << "  loss " << timing.lastLoss << "  " << dt * 1000
              << " ms\n";
    if (i >= o.warmup && (!traced || o.steps == 1)) timing.stepSeconds.push_back(dt);  // the profiler's overhead is not timed
  }
  return timing;
}

/// The JSON line the scripts read.
nlohmann::json report(const Options& o, const VelocityUNet& net, const Timing& timing) {
  const std::vector<double>& times = timing.stepSeconds;
  const double med = median(times);
  // Forward FLOPs of unet2d-bench per sample, scaled by area (peer README: 67.32 GFLOP at 256²).
  const double fwdFlops = o.preset == "unet2d-bench" ? 67323437056.0 * double(o.size * o.size) / (256.0 * 256.0) : 0.0;
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return nlohmann::json{{"program", "train_throughput"},
                        {"net", o.preset},
                        {"params", net->parameterCount()},
                        {"size", o.size},
                        {"batch", o.batch},
                        {"threads", torch::get_num_threads()},
                        {"malloc", o.malloc},
                        {"channels_last", o.channelsLast},
                        {"bf16", o.bf16},
                        {"device", o.deviceName},
                        {"steps", o.steps},
                        {"warmup", o.warmup},
                        {"median_step_s", med},
                        {"min_step_s", *std::min_element(times.begin(), times.end())},
                        {"samples_per_s", double(o.batch) / med},
                        {"train_gflops_per_s_est", fwdFlops > 0 ? 3 * fwdFlops * double(o.batch) / med / 1e9 : 0.0},
                        {"last_loss", timing.lastLoss},
                        {"peak_rss_mib", double(ru.ru_maxrss) / 1024.0}};
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (const auto exitStatus = parseOptions(argc, argv, o)) return *exitStatus;
  if (o.malloc == "tuned") tuneMallocForTensors();  // before any large allocation
  setTorchThreads(o.threads);
  const torch::Device device = parseDevice(o.deviceName);
  torch::manual_seed(uint64_t(o.seed));

  VelocityUNet net(velocityUNetPreset(o.preset));
  net->to(device);
  if (o.channelsLast && device.is_cpu()) net->useChannelsLast();
  net->train();
  const Timing timing = timeSteps(net, o, device);
  std::cout << report(o, net, timing).dump() << std::endl;
  return 0;
}
