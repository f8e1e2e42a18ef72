// models/Trainer: the learning-rate schedule, training on a phantom (fp32 and bf16), bit-exact resume.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>

#include "mr2ct/core/Error.h"
#include "mr2ct/models/MixedPrecision.h"
#include "mr2ct/models/ModelFolder.h"
#include "mr2ct/models/Trainer.h"
#include "mr2ct/models/VelocityUNet.h"
#include "support/ModelFixtures.h"
#include "support/TempDir.h"

namespace fs = std::filesystem;
using namespace mr2ct;
using mr2ct::test::phantomSource;
constexpr auto tinyConfig = mr2ct::test::tinyTrainingConfig;

namespace {

// The schedule's last step against its floor: a cosine evaluated in double near π, a few ulps.
constexpr double kScheduleTolerance = 1e-12;
// 60 steps of the tiny network on the phantom must at least halve the loss (a learning signal far
// above the batch-to-batch noise of the logged averages).
constexpr double kLossDropFactor = 0.5;

using test::firstAndLastLoss;

}  // namespace

TEST(LearningRate, WarmupThenCosine) {
  TrainingConfig t;
  t.lr = 1.0;
  t.steps = 110;
  t.warmupSteps = 10;
  t.minLrFraction = 0.1;
  EXPECT_DOUBLE_EQ(learningRateAt(t, 0), 0.1);
  EXPECT_DOUBLE_EQ(learningRateAt(t, 9), 1.0);
  EXPECT_DOUBLE_EQ(learningRateAt(t, 10), 1.0);
  EXPECT_NEAR(learningRateAt(t, 109), 0.1, kScheduleTolerance);
  EXPECT_LT(learningRateAt(t, 60), learningRateAt(t, 30));
}

TEST(Trainer, LossFallsOnAPhantom) {
  const auto src = phantomSource(2, 1);
  test::TempDir dir;
  ModelConfig c = tinyConfig();
  c.training.logEvery = 10;
  TrainRunOptions run;
  run.progress = false;
  run.finalNfes = {1, 4};
  const TrainSummary s = trainModel(c, src, dir.path(), run);
  EXPECT_EQ(s.lastStep, 60);
  // First logged interval vs the last one.
  const auto [l0, l1] = firstAndLastLoss(trainLogPath(dir.path()));
  EXPECT_LT(l1, kLossDropFactor * l0);
  ASSERT_EQ(s.finalValMaeHu.size(), 2u);
  EXPECT_TRUE(std::isfinite(s.finalValMaeHu[0].second));
  // The folder is complete and loads.
  const LoadedModel m = loadModel(dir.path());
  EXPECT_EQ(m.config.toJson(), c.toJson());
  EXPECT_TRUE(fs::exists(trainStatePath(dir.path())));
  // Training again into the same folder without --resume is refused.
  EXPECT_THROW(trainModel(c, src, dir.path(), run), UsageError);
}

TEST(Trainer, HarmonizedBoneTrainsAndAStoreWithoutBoneTrainsAsStored) {
  const auto src = phantomSource(2, 1);
  ModelConfig c = tinyConfig();
  c.training.steps = 4;
  c.training.harmonizeBoneLevel = true;  // the phantom's CT reaches 0.6 (2195 HU): above 250 HU is bone
  TrainRunOptions run;
  run.progress = false;
  run.finalNfes = {};
  test::TempDir harmonized, noBone, plain;
  EXPECT_EQ(trainModel(c, src, harmonized.path(), run).lastStep, 4);
  EXPECT_TRUE(loadModelConfig(harmonized.path()).training.harmonizeBoneLevel);

  // Above every phantom voxel: no bone level to bring anyone to, so the CT is trained on as stored,
  // exactly as without harmonization (same seed, same batches, same weights).
  c.flow.boneAboveHu = 2900.0;
  trainModel(c, src, noBone.path(), run);
  c.training.harmonizeBoneLevel = false;
  trainModel(c, src, plain.path(), run);
  VelocityUNet a = makeNetwork(c), b = makeNetwork(c), h = makeNetwork(c);
  loadWeights(a, modelWeightsPath(noBone.path()));
  loadWeights(b, modelWeightsPath(plain.path()));
  loadWeights(h, modelWeightsPath(harmonized.path()));
  const auto pa = a->parameters(), pb = b->parameters(), ph = h->parameters();
  bool harmonizationActed = false;
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_TRUE(torch::equal(pa[i], pb[i])) << "parameter " << i;
    harmonizationActed = harmonizationActed || !torch::equal(pa[i], ph[i]);
  }
  EXPECT_TRUE(harmonizationActed);  // with bone, the CT trained on did change
}

TEST(Trainer, Bf16AutocastTrainsAndRestoresTheAutocastState) {
  const auto src = phantomSource(2, 1);
  ModelConfig c = tinyConfig();
  c.training.logEvery = 10;
  TrainRunOptions run;
  run.progress = false;
  test::TempDir fp32, bf16;
  trainModel(c, src, fp32.path(), run);
  c.training.precision = "bf16";
  trainModel(c, src, bf16.path(), run);
  EXPECT_FALSE(autocastEnabled(torch::kCPU));  // the guard gave the thread its state back
  // The loss falls in bf16 too.
  const auto [l0, l1] = firstAndLastLoss(trainLogPath(bf16.path()));
  EXPECT_LT(l1, kLossDropFactor * l0);
  // Same seed, same batches: only the arithmetic differs, so the weights must (autocast did act)
  // and the saved weights stay float32.
  VelocityUNet a = makeNetwork(c), b = makeNetwork(c);
  loadWeights(a, modelWeightsPath(fp32.path()));
  loadWeights(b, modelWeightsPath(bf16.path()));
  auto pa = a->parameters(), pb = b->parameters();
  bool anyDifferent = false;
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_EQ(pb[i].scalar_type(), torch::kFloat);
    anyDifferent = anyDifferent || !torch::equal(pa[i], pb[i]);
  }
  EXPECT_TRUE(anyDifferent);
  EXPECT_EQ(loadModelConfig(bf16.path()).training.precision, "bf16");

  // Channels-last bf16 runs the fused GroupNorm + SiLU with its own backward: it learns as well.
  test::TempDir bf16ChannelsLast;
  c.training.channelsLast = true;
  trainModel(c, src, bf16ChannelsLast.path(), run);
  const auto [m0, m1] = firstAndLastLoss(trainLogPath(bf16ChannelsLast.path()));
  EXPECT_LT(m1, kLossDropFactor * m0);
  VelocityUNet d = makeNetwork(c);
  loadWeights(d, modelWeightsPath(bf16ChannelsLast.path()));
  for (const auto& p : d->parameters()) {
    EXPECT_EQ(p.scalar_type(), torch::kFloat);
    EXPECT_TRUE(torch::isfinite(p).all().item<bool>());
  }
}

TEST(Trainer, ResumeIsBitForBit) {
  const auto src = phantomSource(2, 0);
  ModelConfig c = tinyConfig();
  c.training.steps = 6;
  c.training.checkpointEvery = 2;
  c.flow.sigma = 0.05;  // exercise the bridge-noise draws as well
  TrainRunOptions run;
  run.progress = false;
  test::TempDir whole, parts;
  trainModel(c, src, whole.path(), run);
  run.stopAfterStep = 3;
  EXPECT_EQ(trainModel(c, src, parts.path(), run).lastStep, 3);
  run.stopAfterStep = -1;
  run.resume = true;
  const TrainSummary resumed = trainModel(c, src, parts.path(), run);
  EXPECT_EQ(resumed.firstStep, 3);
  EXPECT_EQ(resumed.lastStep, 6);

  VelocityUNet a = makeNetwork(c), b = makeNetwork(c);
  loadWeights(a, modelWeightsPath(whole.path()));
  loadWeights(b, modelWeightsPath(parts.path()));
  const auto names = a->named_parameters().keys();
  auto pa = a->parameters(), pb = b->parameters();
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i])) << names[i];
  // And the raw (non-EMA) weights in the training state.
  torch::serialize::InputArchive sa, sb, ma, mb;
  sa.load_from(trainStatePath(whole.path()).string());
  sb.load_from(trainStatePath(parts.path()).string());
  ASSERT_TRUE(sa.try_read("model", ma));
  ASSERT_TRUE(sb.try_read("model", mb));
  readModuleArchive(*a, ma, "whole");
  readModuleArchive(*b, mb, "parts");
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i])) << names[i];

  // A different network cannot resume this folder.
  ModelConfig other = c;
  other.network.unet.channels({16, 16});
  EXPECT_THROW(trainModel(other, src, parts.path(), run), UsageError);
}
