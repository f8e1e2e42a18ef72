// Times mr2ct's full metric set (MAE, ME, RMSE, PSNR, SSIM, MS-SSIM, tissue MAE, bone Dice) on
// three files and prints one JSON line: the values, the median wall time of --repeats runs
// (reading excluded) and the read time. Used by bench/metrics_vs_reference.sh.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "mr2ct/evaluation/Metrics.h"
#include "mr2ct/preprocessing/VolumeIO.h"

int main(int argc, char** argv) {
  using namespace mr2ct;
  if (argc < 4) {
    std::cerr << "usage: metrics_bench PRED REF MASK [--profile P] [--threads N] [--repeats R]\n";
    return 2;
  }
  MetricsOptions o;
  int repeats = 3;
  for (int i = 4; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--profile") o.profile = argv[i + 1];
    else if (k == "--threads") o.threads = std::atoi(argv[i + 1]);
    else if (k == "--repeats") repeats = std::max(1, std::atoi(argv[i + 1]));
  }
  try {
    const auto t0 = std::chrono::steady_clock::now();
    const Volume pred = readVolume(argv[1]);
    const Volume ref = readVolume(argv[2]);
    const Mask mask = readMask(argv[3]);
    const double readS = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::vector<double> times;
    MetricsResult r;
    for (int k = 0; k < repeats; ++k) {
      const auto t = std::chrono::steady_clock::now();
      r = computeMetrics(pred, ref, mask, o, argv[1], argv[2], argv[3]);
      times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count());
    }
    std::sort(times.begin(), times.end());
    nlohmann::json j = r.toJson();
    j["compute_s_median"] = times[times.size() / 2];
    j["read_s"] = readS;
    j["threads"] = o.threads;
    j["repeats"] = repeats;
    j["size"] = ref.size();
    std::cout.precision(17);
    std::cout << j.dump() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "metrics_bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
