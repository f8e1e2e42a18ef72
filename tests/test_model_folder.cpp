// models/ModelFolder: config.json and weights round trips, and the errors of broken folders.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <string>

#include "mr2ct/core/Error.h"
#include "mr2ct/models/ModelFolder.h"
#include "support/ModelFixtures.h"
#include "support/SeededTest.h"
#include "support/TempDir.h"

using namespace mr2ct;
using mr2ct::test::Seeded;
constexpr auto tinyConfig = mr2ct::test::tinyTrainingConfig;

TEST(ModelFolder, ConfigRoundTripAndErrors) {
  test::TempDir dir;
  ModelConfig c = tinyConfig();
  c.network.neighbours = 2;
  c.flow.source = "noise";
  c.flow.timeSampling = "logit-normal";
  c.flow.boneWeight = 3.0;
  c.flow.boneAboveHu = 300.0;
  c.training.seed = 42;
  c.training.precision = "bf16";
  c.training.contrastAugmentation = 0.5;
  c.training.gammaAugmentation = 0.4;
  c.training.biasFieldAugmentation = 0.2;
  c.training.surfaceGainAugmentation = 0.25;
  c.training.harmonizeBoneLevel = false;  // not the default: the round trip must write it
  c.preprocessing = {{"mr", {{"rule", "percentile"}, {"p", {1, 99}}}}, {"spacing", {1.0, 1.0, 2.5}}};
  saveModelConfig(c, dir.path());
  const ModelConfig back = loadModelConfig(dir.path());
  EXPECT_EQ(back.toJson(), c.toJson());

  // A config.json from before the surface gain, the contrast curve or the bone harmonization
  // existed: that model trained without them, though all are on by default now.
  EXPECT_GT(ModelConfig().training.surfaceGainAugmentation, 0.0);
  EXPECT_GT(ModelConfig().training.contrastAugmentation, 0.0);
  EXPECT_TRUE(ModelConfig().training.harmonizeBoneLevel);
  auto old = c.toJson();
  old["training"].erase("surface_gain_augmentation");
  old["training"].erase("contrast_augmentation");
  old["training"].erase("harmonize_bone_level");
  std::ofstream(dir.path() / "config.json", std::ios::trunc) << old.dump();
  EXPECT_EQ(loadModelConfig(dir.path()).training.surfaceGainAugmentation, 0.0);
  EXPECT_EQ(loadModelConfig(dir.path()).training.contrastAugmentation, 0.0);
  EXPECT_FALSE(loadModelConfig(dir.path()).training.harmonizeBoneLevel);
  old["training"]["contrast_augmentation"] = 0.5;  // a key that is there is read as written
  std::ofstream(dir.path() / "config.json", std::ios::trunc) << old.dump();
  EXPECT_EQ(loadModelConfig(dir.path()).training.contrastAugmentation, 0.5);

  EXPECT_THROW(loadModelConfig(dir.path() / "absent"), IoError);
  std::ofstream(dir.path() / "config.json") << "{ not json";
  try {
    loadModelConfig(dir.path());
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("config.json"), std::string::npos) << e.what();
  }
  auto j = c.toJson();
  j["format_version"] = 99;
  std::ofstream(dir.path() / "config.json", std::ios::trunc) << j.dump();
  EXPECT_THROW(loadModelConfig(dir.path()), DataError);
  j = c.toJson();
  j["network"]["channels"] = "many";
  std::ofstream(dir.path() / "config.json", std::ios::trunc) << j.dump();
  EXPECT_THROW(loadModelConfig(dir.path()), DataError);
  c.training.precision = "fp16";
  EXPECT_THROW(c.validate(), UsageError);
  c.training.precision = "fp32";
  c.training.contrastAugmentation = 1.0;  // the curve could fold back on itself
  EXPECT_THROW(c.validate(), UsageError);
  c.training.contrastAugmentation = 0.0;
  c.training.biasFieldAugmentation = -0.1;
  EXPECT_THROW(c.validate(), UsageError);
  c.training.biasFieldAugmentation = 0.0;
  c.training.surfaceGainAugmentation = 1.0;  // a gain of 0 would erase the skin
  EXPECT_THROW(c.validate(), UsageError);
  c.training.surfaceGainAugmentation = 0.0;
  c.training.gammaAugmentation = 1.0;  // gamma from 1/e to e: allowed
  EXPECT_NO_THROW(c.validate());
  c.training.gammaAugmentation = 1.5;
  EXPECT_THROW(c.validate(), UsageError);
  c.training.gammaAugmentation = 0.0;
  c.flow.boneWeight = 0.0;  // would drop the bone from the loss, and 1 is the way to turn it off
  EXPECT_THROW(c.validate(), UsageError);
  c.flow.boneWeight = 2.0;
  c.flow.boneAboveHu = std::nan("");
  EXPECT_THROW(c.validate(), UsageError);
}

TEST_F(Seeded, WeightsRoundTripAndMismatchedOrCorruptCheckpoints) {
  test::TempDir dir;
  ModelConfig c = tinyConfig();
  VelocityUNet a = makeNetwork(c);
  saveWeights(*a, dir.path() / "w.pt");
  VelocityUNet b = makeNetwork(c);
  loadWeights(b, dir.path() / "w.pt");
  auto pa = a->parameters(), pb = b->parameters();
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i]));

  ModelConfig wider = c;
  wider.network.unet.channels({16, 16});
  VelocityUNet w = makeNetwork(wider);
  try {
    loadWeights(w, dir.path() / "w.pt");
    FAIL();
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("shape"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("w.pt"), std::string::npos) << e.what();
  }
  ModelConfig deeper = c;
  deeper.network.unet.channels({8, 16, 32});
  VelocityUNet d = makeNetwork(deeper);
  EXPECT_THROW(loadWeights(d, dir.path() / "w.pt"), DataError);

  std::ofstream(dir.path() / "bad.pt") << "garbage, not a zip archive";
  EXPECT_THROW(loadWeights(b, dir.path() / "bad.pt"), DataError);
  EXPECT_THROW(loadWeights(b, dir.path() / "missing.pt"), IoError);
}
