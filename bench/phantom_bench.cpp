// Time to generate phantom cases (in memory, and written to disk with the manifest).
// Usage: phantom_bench [OUT_DIR=/tmp/mr2ct-phantom-bench] [CASES=3] [SEED=1]
// Prints one JSON line per case (generation seconds, MR grid, misalignment) and the disk total.
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>

#include "mr2ct/phantom/HeadPhantom.h"

int main(int argc, char** argv) {
  using namespace mr2ct;
  using Clock = std::chrono::steady_clock;
  PhantomDatasetOptions o;
  o.out = argc > 1 ? argv[1] : "/tmp/mr2ct-phantom-bench";
  o.cases = argc > 2 ? std::size_t(std::atoi(argv[2])) : 3;
  o.phantom.seed = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 1;
  try {
    for (std::size_t i = 0; i < o.cases; ++i) {
      const auto t0 = Clock::now();
      const PhantomCase c = generatePhantomCase(o.phantom, i);
      const double s = std::chrono::duration<double>(Clock::now() - t0).count();
      std::cout << nlohmann::json{{"case", i},
                                  {"generate_s", s},
                                  {"ct_size", c.ct.size()},
                                  {"mr_size", c.mr.size()},
                                  {"mr_spacing", c.mr.geometry().spacing},
                                  {"rotation_deg", c.rotationDeg},
                                  {"translation_mm", c.translationMm}}
                       .dump()
                << "\n";
    }
    const auto t0 = Clock::now();
    writePhantomDataset(o);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    std::cout << nlohmann::json{{"cases", o.cases}, {"write_dataset_s", s}, {"per_case_s", s / double(o.cases)}}.dump()
              << "\n";
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
