#pragma once
// Randomly initialised tiny model folders for the suites that run `mr2ct convert` and friends:
// the network is small enough that a whole phantom converts in well under a second.
#include <filesystem>
#include <vector>

#include <torch/torch.h>

#include "mr2ct/models/ModelFolder.h"
#include "mr2ct/models/VelocityUNet.h"
#include "mr2ct/preprocessing/BodyMask.h"
#include "mr2ct/preprocessing/Normalization.h"

namespace mr2ct::test {

/// The "test-tiny" network (channels 8/16, no attention) with the default preprocessing records.
inline ModelConfig tinyNetworkConfig(int dims = 2, int neighbours = 1) {
  ModelConfig c;
  c.network.preset = "test-tiny";
  c.network.unet.dims(dims);
  c.network.neighbours = dims == 2 ? neighbours : 0;
  c.network.unet.channels({8, 16});
  c.network.unet.blocksPerLevel(1);
  c.network.unet.attention(false);
  c.network.unet.groups(4);
  c.network.unet.timeFeatures(8);
  c.network.unet.timeDim(16);
  c.network.patchSize = dims == 2 ? std::vector<int64_t>{16, 16} : std::vector<int64_t>{8, 8, 8};
  c.preprocessing = {{"orientation", "LPS"},
                     {"spacing", nullptr},
                     {"n4", false},
                     {"mr_normalization", MrNormalizationRule{}.toJson()},
                     {"ct_normalization", CtNormalization{}.toJson()},
                     {"body_mask", BodyMaskOptions{}.toJson()}};
  return c;
}

/// Writes config.json and randomly initialised weights (torch seed `seed`) into `dir`.
inline std::filesystem::path saveRandomModel(const std::filesystem::path& dir, const ModelConfig& c,
                                             uint64_t seed = 7) {
  torch::manual_seed(seed);
  saveModelConfig(c, dir);
  auto net = makeNetwork(c);
  saveWeights(*net, modelWeightsPath(dir));
  return dir;
}

}  // namespace mr2ct::test
