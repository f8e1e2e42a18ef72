// Metrics of the bulk-density baseline (BulkDensity.h) on generated phantom cases: per case the
// phantom's MR -> bulk-density sCT (body mask = the phantom's MR mask), the phantom CT resampled
// onto the MR grid through the true transform (linear, -1024 outside), metrics inside the mask.
// Prints one JSON line per case and a final line with the means (the figures in README).
// Usage: baseline_phantom [CASES=4] [SEED=1] [PROFILE=synthrad2025]
#include <cstdlib>
#include <iostream>

#include "mr2ct/evaluation/BulkDensity.h"
#include "mr2ct/evaluation/Metrics.h"
#include "mr2ct/phantom/HeadPhantom.h"
#include "mr2ct/preprocessing/Resampling.h"

int main(int argc, char** argv) {
  using namespace mr2ct;
  const int cases = argc > 1 ? std::atoi(argv[1]) : 4;
  PhantomOptions po;
  po.seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1;
  MetricsOptions mo;
  if (argc > 3) mo.profile = argv[3];
  try {
    std::vector<double> sums(MetricsResult::names().size(), 0.0);
    for (int i = 0; i < cases; ++i) {
      const PhantomCase pc = generatePhantomCase(po, std::size_t(i));
      const BulkDensityResult b = bulkDensitySct(pc.mr, pc.mrMask);
      const Volume ct = resampleVolume(pc.ct, pc.mr.geometry(), pc.mrToCt, Interpolation::Linear, -1024.0f);
      const MetricsResult m = computeMetrics(b.sct, ct, pc.mrMask, mo, "bulk-density sCT", "phantom CT", "MR mask");
      nlohmann::json j = m.toJson();
      j["case"] = i;
      j["baseline"] = b.toJson()["voxels"];
      std::cout << j.dump() << std::endl;
      const auto v = m.values();
      for (std::size_t k = 0; k < v.size(); ++k) sums[k] += v[k];
    }
    nlohmann::json mean;
    for (std::size_t k = 0; k < sums.size(); ++k) mean[MetricsResult::names()[k]] = sums[k] / cases;
    std::cout << nlohmann::json{{"bench", "baseline_phantom"}, {"cases", cases}, {"seed", po.seed},
                                {"profile", mo.profile}, {"phantom", po.toJson()}, {"mean", mean}}
                     .dump()
              << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "baseline_phantom: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
