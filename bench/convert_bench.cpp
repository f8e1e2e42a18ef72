// Conversion speed: slices/s of whole-volume Euler integration with a velocity network, measured
// the way ../shared/peers/fm_reference.py `sample` measures (one warm-up forward, then `repeats`
// complete runs, median), plus a model-folder maker for the memory benchmark (its MR is made by convert_speed.sh).
//
//   convert_bench speed --preset unet2d-bench --size 256 --slices 8 --batch 4 --nfe 1,4 --threads 2 [--device cuda]
//   convert_bench make-model DIR [--preset unet2d-bench]
//   convert_bench profile --precision bf16 --size 256 --batch 4 --threads 2 --trace FILE.json
// --precision fp32|bf16 as `mr2ct convert` (bf16 falls back to fp32 without native bf16).
// Prints one JSON line of figures (speed); profile writes a Chrome trace of one forward
// (LibTorch's legacy profiler) that bench/bf16_profile.py sums per op kind.
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#if __has_include(<torch/csrc/autograd/profiler_legacy.h>)
#include <torch/csrc/autograd/profiler_legacy.h>
#define MR2CT_HAVE_LEGACY_PROFILER 1
#endif

#include "mr2ct/models/InferencePrecision.h"
#include "mr2ct/models/ModelFolder.h"
#include "mr2ct/models/Runtime.h"
#include "mr2ct/models/VolumeIntegrator.h"

using namespace mr2ct;

namespace {

std::map<std::string, std::string> parseArgs(int argc, char** argv, int first) {
  std::map<std::string, std::string> a;
  for (int i = first; i + 1 < argc; i += 2) a[argv[i]] = argv[i + 1];
  return a;
}
std::string get(const std::map<std::string, std::string>& a, const std::string& k, const std::string& d) {
  const auto it = a.find(k);
  return it == a.end() ? d : it->second;
}
std::vector<int> intList(const std::string& s) {
  std::vector<int> v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) v.push_back(std::stoi(item));
  return v;
}

int speed(const std::map<std::string, std::string>& a) {
  const std::string preset = get(a, "--preset", "unet2d-bench");
  const int64_t size = std::stoll(get(a, "--size", "256"));
  const int64_t slices = std::stoll(get(a, "--slices", "8"));
  const int batch = std::stoi(get(a, "--batch", "4"));
  const int threads = std::stoi(get(a, "--threads", "0"));
  const int repeats = std::stoi(get(a, "--repeats", "3"));
  const bool channelsLast = get(a, "--channels-last", "1") == "1";
  const int64_t volumeSlices = std::stoll(get(a, "--volume-slices", "150"));
  if (get(a, "--malloc", "tuned") == "tuned") tuneMallocForTensors();
  setTorchThreads(threads);
  torch::manual_seed(0);
  const torch::Device device = parseDevice(get(a, "--device", "cpu"));
  const InferencePrecision precision =
      effectiveInferencePrecision(parseInferencePrecision(get(a, "--precision", "fp32")), device);
  VelocityUNet net(velocityUNetPreset(preset));
  net->eval();
  net->to(device);
  net->prepareForInference(inferenceScalarType(precision), channelsLast);
  torch::NoGradGuard ng;
  const auto mr = torch::rand({slices, size, size}) * 2 - 1;
  {  // warm-up: one batched forward
    const auto x = mr.narrow(0, 0, std::min<int64_t>(batch, slices)).unsqueeze(1).to(device);
    net->forward(x, torch::zeros({x.size(0)}, x.options()), x);
  }
  nlohmann::json out{{"bench", "convert_speed"}, {"preset", preset},   {"size", size},
                     {"slices", slices},         {"batch", batch},     {"threads", torch::get_num_threads()},
                     {"channels_last", channelsLast}, {"volume_slices", volumeSlices},
                     {"precision", inferencePrecisionName(precision)}, {"device", device.str()}, {"cpu_bf16", detectCpuBf16Support().describe()}};
  nlohmann::json rows = nlohmann::json::array();
  for (int nfe : intList(get(a, "--nfe", "1,4"))) {
    IntegratorOptions o;
    o.batchSize = batch;
    o.sizeMultiple = net->options().sizeMultiple();
    o.solver.method = SolverMethod::Euler;
    o.solver.steps = nfe;
    o.device = device;
    VolumeIntegrator integrator([&](const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& c) {
      return net->forward(x, t, c);
    }, o);
    std::vector<double> times;
    for (int r = 0; r < repeats; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      const auto res = integrator.integrate(mr);
      times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      if (res.nfe[0] != nfe) return 1;
    }
    std::sort(times.begin(), times.end());
    const double median = times[times.size() / 2];
    const double slicesPerS = double(slices) / median;
    rows.push_back({{"nfe", nfe},
                    {"median_s", median},
                    {"slices_per_s", slicesPerS},
                    {"ms_per_eval_per_slice", 1000.0 * median / double(nfe) / double(slices)},
                    {"s_per_volume", double(volumeSlices) / slicesPerS},
                    {"s_per_volume_per_nfe", double(volumeSlices) / slicesPerS / nfe}});
    std::cerr << "NFE " << nfe << ": " << slicesPerS << " slices/s, " << double(volumeSlices) / slicesPerS
              << " s per " << volumeSlices << "-slice volume\n";
  }
  out["runs"] = rows;
  std::cout << out.dump() << std::endl;
  return 0;
}

int profile(const std::map<std::string, std::string>& a) {
#ifdef MR2CT_HAVE_LEGACY_PROFILER
  const int64_t size = std::stoll(get(a, "--size", "256"));
  const int64_t batch = std::stoll(get(a, "--batch", "4"));
  if (get(a, "--malloc", "tuned") == "tuned") tuneMallocForTensors();
  setTorchThreads(std::stoi(get(a, "--threads", "0")));
  torch::manual_seed(0);
  const InferencePrecision precision =
      effectiveInferencePrecision(parseInferencePrecision(get(a, "--precision", "bf16")), torch::kCPU);
  VelocityUNet net(velocityUNetPreset(get(a, "--preset", "unet2d-bench")));
  net->eval();
  net->prepareForInference(inferenceScalarType(precision), get(a, "--channels-last", "1") == "1");
  torch::NoGradGuard ng;
  const auto x = torch::rand({batch, 1, size, size});
  const auto t = torch::full({batch}, 0.5);
  for (int i = 0; i < 2; ++i) net->forward(x, t, x);  // warm-up: oneDNN primitives, allocator
  const auto t0 = std::chrono::steady_clock::now();
  {
    torch::autograd::profiler::RecordProfile guard(get(a, "--trace", "forward_trace.json"));
    net->forward(x, t, x);
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << nlohmann::json{{"bench", "forward_profile"}, {"precision", inferencePrecisionName(precision)},
                              {"size", size}, {"batch", batch}, {"threads", torch::get_num_threads()},
                              {"profiled_forward_s", s}}.dump()
            << std::endl;
  return 0;
#else
  (void)a;
  std::cerr << "convert_bench profile: this LibTorch has no legacy profiler\n";
  return 2;
#endif
}

int makeModel(const std::string& dir, const std::map<std::string, std::string>& a) {
  ModelConfig c;
  c.network = NetworkConfig::fromPreset(get(a, "--preset", "unet2d-bench"));
  // --channels 8,16,32,64 --attention 0: a cheap network of the same depth (memory runs)
  if (a.count("--channels")) {
    c.network.unet.channels().clear();
    for (int ch : intList(a.at("--channels"))) c.network.unet.channels().push_back(ch);
    c.network.preset = "custom";
  }
  if (a.count("--attention")) c.network.unet.attention(a.at("--attention") == "1");
  // the preprocess command's defaults (missing rules take them too)
  c.preprocessing = {{"orientation", "LPS"}, {"spacing", nullptr}, {"n4", false}};
  torch::manual_seed(0);
  saveModelConfig(c, dir);
  auto net = makeNetwork(c);
  saveWeights(*net, modelWeightsPath(dir));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: convert_bench speed|profile|make-model DIR [--key value ...]\n";
    return 2;
  }
  const std::string cmd = argv[1];
  try {
    if (cmd == "speed") return speed(parseArgs(argc, argv, 2));
    if (cmd == "profile") return profile(parseArgs(argc, argv, 2));
    if (cmd == "make-model" && argc >= 3) return makeModel(argv[2], parseArgs(argc, argv, 3));
  } catch (const std::exception& e) {
    std::cerr << "convert_bench: " << e.what() << "\n";
    return 1;
  }
  std::cerr << "convert_bench: unknown command\n";
  return 2;
}
