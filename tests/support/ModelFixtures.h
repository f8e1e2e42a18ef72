#pragma once
// Tiny training data and models shared by the suites that train or convert (models/ only: the
// torch-half GPU build compiles these suites without ITK).
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <utility>
#include <string>

#include "mr2ct/models/ModelFolder.h"
#include "mr2ct/models/TrainingDataSource.h"

namespace mr2ct::test {

/// Phantom cases: an elliptic body whose MR is a smooth pattern and whose CT is a nonlinear
/// function of the MR (so there is something to learn). Rows y < firstValidRow lie outside the
/// CT's field of view (valid = 0).
inline InMemoryDataSource phantomSource(int train, int val, int64_t nz = 6, int64_t ny = 40, int64_t nx = 36,
                                        int64_t firstValidRow = 2) {
  InMemoryDataSource src("phantom");
  for (int i = 0; i < train + val; ++i) {
    InMemoryDataSource::Case c;
    c.split = i < train ? "train" : "val";
    c.shape = {nz, ny, nx};
    const size_t n = size_t(nz * ny * nx);
    c.mr.resize(n);
    c.ct.resize(n);
    c.mask.resize(n);
    c.valid.resize(n);
    for (int64_t z = 0; z < nz; ++z)
      for (int64_t y = 0; y < ny; ++y)
        for (int64_t x = 0; x < nx; ++x) {
          const size_t k = size_t((z * ny + y) * nx + x);
          const double dy = (double(y) - double(ny) / 2.0) / (0.4 * double(ny));
          const double dx = (double(x) - double(nx) / 2.0) / (0.42 * double(nx));
          const bool body = dy * dy + dx * dx < 1.0 - 0.02 * double(z + i);
          const double pattern = std::sin(0.3 * double(x + i)) * std::cos(0.25 * double(y - z));
          c.mask[k] = body ? 1.f : 0.f;
          c.mr[k] = body ? float(0.5 + 0.5 * pattern) : 0.f;
          c.ct[k] = body ? float(0.8 * pattern * pattern - 0.2) : -1.f;
          c.valid[k] = y >= firstValidRow ? 1.f : 0.f;
        }
    src.addCase("case" + std::to_string(i), std::move(c));
  }
  return src;
}

/// unet2d-small cut to channels 8/16 on 32² crops: a minute-long training that visibly learns.
inline ModelConfig tinyTrainingConfig() {
  ModelConfig c;
  c.network = NetworkConfig::fromPreset("unet2d-small");
  c.network.unet.channels({8, 16});
  c.network.patchSize = {32, 32};
  c.training.batch = 4;
  c.training.steps = 60;
  c.training.lr = 3e-3;
  c.training.warmupSteps = 5;
  c.training.validateEvery = 0;
  c.training.checkpointEvery = 1000;
  c.training.validationSlices = 2;
  c.training.prefetch = 2;
  return c;
}

/// The loss of the first and of the last row of a training log.csv (second column).
inline std::pair<double, double> firstAndLastLoss(const std::filesystem::path& logCsv) {
  std::ifstream log(logCsv);
  std::string header, first, line, lastLine;
  std::getline(log, header);
  std::getline(log, first);
  while (std::getline(log, line)) lastLine = line;
  return {std::stod(first.substr(first.find(',') + 1)), std::stod(lastLine.substr(lastLine.find(',') + 1))};
}

}  // namespace mr2ct::test
