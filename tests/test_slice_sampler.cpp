// models/SliceSampler: training batches (a pure function of seed and step) and the prefetch loader.
#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include "mr2ct/models/SliceSampler.h"
#include "support/ModelFixtures.h"

using namespace mr2ct;
using mr2ct::test::phantomSource;
constexpr auto tinyConfig = mr2ct::test::tinyTrainingConfig;

namespace {

// The phantom's ellipse covers about half of each 40×36 slice, so of a 32² crop more still; 0.3
// leaves room for crops placed off the body's centre.
constexpr double kMinBodyFraction = 0.3;

}  // namespace

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
  EXPECT_GT(a.body.sum().item<double>(), kMinBodyFraction * double(a.body.numel()));
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
