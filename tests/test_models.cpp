// models/: velocity networks, probability path, loss, sampler, model folder, trainer (tiny sizes).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <utility>

#include "mr2ct/core/Error.h"
#include "mr2ct/models/FlowMatching.h"
#include "mr2ct/models/MixedPrecision.h"
#include "mr2ct/models/ModelFolder.h"
#include "mr2ct/models/SliceSampler.h"
#include "mr2ct/models/Trainer.h"
#include "mr2ct/models/VelocityUNet.h"
#include "support/TempDir.h"
#include "support/ModelFixtures.h"

namespace fs = std::filesystem;
using namespace mr2ct;
using mr2ct::test::phantomSource;
constexpr auto tinyConfig = mr2ct::test::tinyTrainingConfig;

namespace {

class Seeded : public ::testing::Test {
 protected:
  void SetUp() override { torch::manual_seed(0); }
};

int64_t countParameters(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

}  // namespace

// ---- networks -----------------------------------------------------------------------------------

TEST_F(Seeded, BenchPresetHasThePeersExactParameterCount) {
  VelocityUNet net(velocityUNetPreset("unet2d-bench"));
  EXPECT_EQ(net->parameterCount(), 10774849);
  EXPECT_EQ(countParameters(*net), 10774849);
  // Every preset builds; attention adds parameters.
  EXPECT_GT(VelocityUNet(velocityUNetPreset("unet2d"))->parameterCount(), 10774849);
  EXPECT_THROW(velocityUNetPreset("unet9d"), UsageError);
}

TEST_F(Seeded, ShapesPerPreset) {
  torch::NoGradGuard g;
  {
    VelocityUNet net(velocityUNetPreset("unet2d-bench"));
    auto v = net(torch::randn({2, 1, 16, 24}), torch::rand({2}), torch::randn({2, 1, 16, 24}));
    EXPECT_EQ(v.sizes(), (std::vector<int64_t>{2, 1, 16, 24}));
  }
  {
    VelocityUNet net(velocityUNetPreset("unet2d-small").condChannels(5));  // 2.5D, 2 neighbours
    auto v = net(torch::randn({3, 1, 8, 12}), torch::rand({3}), torch::randn({3, 5, 8, 12}));
    EXPECT_EQ(v.sizes(), (std::vector<int64_t>{3, 1, 8, 12}));
    EXPECT_THROW(net(torch::randn({3, 1, 8, 12}), torch::rand({3}), torch::randn({3, 1, 8, 12})), c10::Error);
    EXPECT_THROW(net(torch::randn({3, 1, 6, 12}), torch::rand({3}), torch::randn({3, 5, 6, 12})), c10::Error);
  }
  {
    VelocityUNet net(velocityUNetPreset("unet3d-small"));
    auto v = net(torch::randn({1, 1, 8, 12, 16}), torch::rand({1}), torch::randn({1, 1, 8, 12, 16}));
    EXPECT_EQ(v.sizes(), (std::vector<int64_t>{1, 1, 8, 12, 16}));
  }
}

TEST_F(Seeded, ChannelsLastGivesTheSameVelocity) {
  torch::NoGradGuard g;
  VelocityUNet net(velocityUNetPreset("unet2d-small"));
  const auto x = torch::randn({2, 1, 16, 16}), t = torch::rand({2}), c = torch::randn({2, 1, 16, 16});
  const auto a = net(x, t, c);
  net->useChannelsLast();
  const auto b = net(x, t, c);
  EXPECT_TRUE(torch::allclose(a, b.contiguous(), 1e-4, 1e-5));
}

TEST_F(Seeded, GradientsReachEveryParameter) {
  for (const char* preset : {"unet2d-small", "unet3d-small"}) {
    auto o = velocityUNetPreset(preset);
    if (o.dims() == 2) o.condChannels(3);
    VelocityUNet net(o);
    const std::vector<int64_t> shape = o.dims() == 2 ? std::vector<int64_t>{2, 1, 8, 8} : std::vector<int64_t>{1, 1, 4, 8, 8};
    auto condShape = shape;
    condShape[1] = o.condChannels();
    auto v = net(torch::randn(shape), torch::rand({shape[0]}), torch::randn(condShape));
    (v * torch::randn_like(v)).sum().backward();
    for (const auto& p : net->named_parameters()) {
      ASSERT_TRUE(p.value().grad().defined()) << preset << " " << p.key();
      EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << preset << " " << p.key();
    }
  }
}

// ---- flow matching ------------------------------------------------------------------------------

TEST_F(Seeded, LinearPathMatchesClosedFormInFloat64) {
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  const auto x0 = torch::randn({4, 1, 3, 5}, f64), x1 = torch::randn({4, 1, 3, 5}, f64);
  const auto eps = torch::randn({4, 1, 3, 5}, f64);
  const auto t = torch::tensor({0.0, 0.25, 0.7, 1.0}, f64);
  const double sigma = 0.3;
  const PathSample s = LinearProbabilityPath(sigma).sample(x0, x1, t, eps);
  for (int64_t b = 0; b < 4; ++b) {
    const double tb = t[b].item<double>();
    const auto expected = (1 - tb) * x0[b] + tb * x1[b] + sigma * std::sqrt(tb * (1 - tb)) * eps[b];
    EXPECT_TRUE(torch::allclose(s.x_t[b], expected, 0, 1e-14)) << "t = " << tb;
  }
  EXPECT_TRUE(torch::equal(s.dx_t, x1 - x0));
  EXPECT_TRUE(torch::allclose(s.x_t[0], x0[0], 0, 1e-15));  // endpoints: no bridge noise
  EXPECT_TRUE(torch::allclose(s.x_t[3], x1[3], 0, 1e-15));
  // σ = 0: no eps needed; the path's time derivative equals the target (finite difference).
  const LinearProbabilityPath straight;
  const auto h = 1e-6;
  const auto d = (straight.sample(x0, x1, t * 0.5 + h).x_t - straight.sample(x0, x1, t * 0.5).x_t) / h;
  EXPECT_TRUE(torch::allclose(d, straight.sample(x0, x1, t).dx_t, 1e-6, 1e-6));
  EXPECT_THROW(LinearProbabilityPath(0.1).sample(x0, x1, t), c10::Error);
  EXPECT_THROW(straight.sample(x0, x1, torch::rand({3}, f64)), c10::Error);
}

TEST(FlowMatching, LossExcludesVoxelsOutsideTheFieldOfView) {
  const auto v = torch::randn({2, 1, 4, 4}), u = torch::randn({2, 1, 4, 4});
  auto body = torch::zeros({2, 1, 4, 4});
  body.narrow(2, 1, 2).fill_(1);
  auto valid = torch::ones({2, 1, 4, 4});
  valid.narrow(3, 0, 1).fill_(0);
  const auto w = lossWeights(body, valid, 1.0, 0.25);
  const auto loss = flowMatchingLoss(v, u, w);
  // Changing v where valid = 0 changes nothing.
  auto v2 = v.clone();
  v2.narrow(3, 0, 1).fill_(100);
  EXPECT_FLOAT_EQ(flowMatchingLoss(v2, u, w).item<float>(), loss.item<float>());
  // Closed form.
  const double expected = ((w * (v - u).square()).sum() / w.sum()).item<double>();
  EXPECT_NEAR(loss.item<double>(), expected, 1e-6);
  EXPECT_FLOAT_EQ(w[0][0][1][1].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(w[0][0][0][1].item<float>(), 0.25f);
  EXPECT_FLOAT_EQ(w[0][0][1][0].item<float>(), 0.0f);
}

TEST(FlowMatching, TimeSamplers) {
  FlowConfig f;
  SplitMix64 rng(3);
  double mean = 0;
  for (int i = 0; i < 20000; ++i) mean += TimeSampler(f).sample(rng);
  EXPECT_NEAR(mean / 20000, 0.5, 0.01);
  f.timeSampling = "logit-normal";
  f.logitMean = 1.0;
  int above = 0;
  for (int i = 0; i < 20000; ++i) {
    const double t = TimeSampler(f).sample(rng);
    ASSERT_GT(t, 0.0);
    ASSERT_LT(t, 1.0);
    above += t > 1.0 / (1.0 + std::exp(-1.0));
  }
  EXPECT_NEAR(above / 20000.0, 0.5, 0.02);  // the median is sigmoid(m)
}

TEST(LearningRate, WarmupThenCosine) {
  TrainingConfig t;
  t.lr = 1.0;
  t.steps = 110;
  t.warmupSteps = 10;
  t.minLrFraction = 0.1;
  EXPECT_DOUBLE_EQ(learningRateAt(t, 0), 0.1);
  EXPECT_DOUBLE_EQ(learningRateAt(t, 9), 1.0);
  EXPECT_DOUBLE_EQ(learningRateAt(t, 10), 1.0);
  EXPECT_NEAR(learningRateAt(t, 109), 0.1, 1e-12);
  EXPECT_LT(learningRateAt(t, 60), learningRateAt(t, 30));
}

// ---- sampler ------------------------------------------------------------------------------------

TEST(Sampler, BatchesArePureFunctionsOfSeedAndStepAndMostlyInTheBody) {
  const auto src = phantomSource(2, 1);
  ModelConfig c = tinyConfig();
  c.network.neighbours = 1;
  c.flow.source = "noise";
  c.flow.sigma = 0.1;
  c.training.batch = 16;
  const BatchSampler s(src, c);
  const TrainingBatch a = s.batch(7), b = s.batch(7), other = s.batch(8);
  EXPECT_EQ(a.cond.sizes(), (std::vector<int64_t>{16, 3, 32, 32}));
  EXPECT_EQ(a.ct.sizes(), (std::vector<int64_t>{16, 1, 32, 32}));
  EXPECT_EQ(a.noise.sizes(), a.ct.sizes());
  EXPECT_EQ(a.eps.sizes(), a.ct.sizes());
  for (auto [x, y] : {std::pair{a.cond, b.cond}, {a.ct, b.ct}, {a.t, b.t}, {a.noise, b.noise}, {a.eps, b.eps}})
    EXPECT_TRUE(torch::equal(x, y));
  EXPECT_FALSE(torch::equal(a.t, other.t));
  EXPECT_GT(a.body.sum().item<double>(), 0.3 * double(a.body.numel()));
  // Padding: the phantom slice is 40×36, so no invalid column appears... except the first 2 rows.
  EXPECT_LT(a.valid.sum().item<double>(), double(a.valid.numel()));
  // Neighbouring MR slices differ from the centre one.
  EXPECT_FALSE(torch::equal(a.cond.select(1, 0), a.cond.select(1, 1)));
  // 3D patches.
  ModelConfig c3;
  c3.network = NetworkConfig::fromPreset("unet3d-small");
  c3.network.patchSize = {4, 16, 16};
  c3.training.batch = 2;
  const TrainingBatch p = BatchSampler(src, c3).batch(0);
  EXPECT_EQ(p.cond.sizes(), (std::vector<int64_t>{2, 1, 4, 16, 16}));
}

TEST(Sampler, PrefetchLoaderDeliversStepsInOrder) {
  const auto src = phantomSource(1, 0);
  const ModelConfig c = tinyConfig();
  const BatchSampler s(src, c);
  PrefetchLoader loader(s, 3, 9, 2);
  for (int64_t step = 3; step < 9; ++step) {
    const TrainingBatch b = loader.next();
    EXPECT_EQ(b.step, step);
    EXPECT_TRUE(torch::equal(b.cond, s.batch(step).cond));
  }
  EXPECT_GE(loader.waitSeconds(), 0.0);
}

// ---- model folder -------------------------------------------------------------------------------

TEST(ModelFolder, ConfigRoundTripAndErrors) {
  test::TempDir dir;
  ModelConfig c = tinyConfig();
  c.network.neighbours = 2;
  c.flow.source = "noise";
  c.flow.timeSampling = "logit-normal";
  c.training.seed = 42;
  c.training.precision = "bf16";
  c.preprocessing = {{"mr", {{"rule", "percentile"}, {"p", {1, 99}}}}, {"spacing", {1.0, 1.0, 2.5}}};
  saveModelConfig(c, dir.path());
  const ModelConfig back = loadModelConfig(dir.path());
  EXPECT_EQ(back.toJson(), c.toJson());

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

// ---- trainer ------------------------------------------------------------------------------------

/// The loss of the first and of the last row of a log.csv.
std::pair<double, double> firstAndLastLoss(const fs::path& logCsv) {
  std::ifstream log(logCsv);
  std::string header, first, line, lastLine;
  std::getline(log, header);
  std::getline(log, first);
  while (std::getline(log, line)) lastLine = line;
  return {std::stod(first.substr(first.find(',') + 1)), std::stod(lastLine.substr(lastLine.find(',') + 1))};
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
  EXPECT_LT(l1, 0.5 * l0);
  ASSERT_EQ(s.finalValMaeHu.size(), 2u);
  EXPECT_TRUE(std::isfinite(s.finalValMaeHu[0].second));
  // The folder is complete and loads.
  const LoadedModel m = loadModel(dir.path());
  EXPECT_EQ(m.config.toJson(), c.toJson());
  EXPECT_TRUE(fs::exists(trainStatePath(dir.path())));
  // Training again into the same folder without --resume is refused.
  EXPECT_THROW(trainModel(c, src, dir.path(), run), UsageError);
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
  EXPECT_LT(l1, 0.5 * l0);
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
