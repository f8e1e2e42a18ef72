// models/FlowMatching: the probability path, the masked loss and the time samplers.
#include <gtest/gtest.h>

#include <cmath>

#include "mr2ct/models/FlowMatching.h"
#include "mr2ct/models/Random.h"
#include "support/SeededTest.h"

using namespace mr2ct;
using mr2ct::test::Seeded;

namespace {

// x_t against its closed form, both in float64 from O(1) inputs: three products summed, a few ulps.
constexpr double kPathAtol = 1e-14;
// At t = 0 and t = 1 one weight is exactly 0 and the bridge noise vanishes: one rounding at most.
constexpr double kEndpointAtol = 1e-15;
// Forward-difference step in t for the σ = 0 path (float64, linear in t: no truncation error).
constexpr double kTimeStep = 1e-6;
// The forward difference against dx_t: float64 cancellation over kTimeStep leaves about 1e-10.
constexpr double kDerivativeRtol = 1e-6;
constexpr double kDerivativeAtol = 1e-6;
// The float32 loss against the same sum re-evaluated by torch: 32 terms, summed in another order.
constexpr double kLossTolerance = 1e-6;
// Uniform t over 20000 draws: the mean's standard error is 0.002, so 5σ.
constexpr double kUniformMeanTolerance = 0.01;
// The fraction above the median over 20000 draws: its standard error is 0.0035, so about 6σ.
constexpr double kMedianFractionTolerance = 0.02;

}  // namespace

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
    EXPECT_TRUE(torch::allclose(s.x_t[b], expected, 0, kPathAtol)) << "t = " << tb;
  }
  EXPECT_TRUE(torch::equal(s.dx_t, x1 - x0));
  EXPECT_TRUE(torch::allclose(s.x_t[0], x0[0], 0, kEndpointAtol));  // endpoints: no bridge noise
  EXPECT_TRUE(torch::allclose(s.x_t[3], x1[3], 0, kEndpointAtol));
  // σ = 0: no eps needed; the path's time derivative equals the target (finite difference).
  const LinearProbabilityPath straight;
  const auto h = kTimeStep;
  const auto d = (straight.sample(x0, x1, t * 0.5 + h).x_t - straight.sample(x0, x1, t * 0.5).x_t) / h;
  EXPECT_TRUE(torch::allclose(d, straight.sample(x0, x1, t).dx_t, kDerivativeRtol, kDerivativeAtol));
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
  EXPECT_NEAR(loss.item<double>(), expected, kLossTolerance);
  EXPECT_FLOAT_EQ(w[0][0][1][1].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(w[0][0][0][1].item<float>(), 0.25f);
  EXPECT_FLOAT_EQ(w[0][0][1][0].item<float>(), 0.0f);
}

TEST(FlowMatching, BoneWeightMultipliesTheWeightWhereTheTargetCtIsBone) {
  auto body = torch::zeros({1, 1, 2, 4});
  body.narrow(2, 0, 1).fill_(1);
  auto valid = torch::ones({1, 1, 2, 4});
  valid[0][0][0][3] = 0;
  // Normalized CT of one body row: air, soft tissue, bone, bone outside the field of view; the
  // background row has a bone-level value too (a table or a bright artefact outside the mask).
  const auto ct = torch::tensor({-1.0f, -0.4f, 0.2f, 0.6f, -1.0f, -1.0f, 0.5f, -1.0f}).reshape({1, 1, 2, 4});
  FlowConfig flow;
  flow.bodyWeight = 1.0;
  flow.backgroundWeight = 0.25;
  EXPECT_TRUE(torch::equal(lossWeights(body, valid, ct, flow, 0.0), lossWeights(body, valid, 1.0, 0.25)));
  flow.boneWeight = 3.0;
  const auto w = lossWeights(body, valid, ct, flow, 0.0);
  const auto expected = torch::tensor({1.0f, 1.0f, 3.0f, 0.0f, 0.25f, 0.25f, 0.75f, 0.25f}).reshape({1, 1, 2, 4});
  EXPECT_TRUE(torch::allclose(w, expected)) << w;
  // The level is strict: a voxel exactly at it is not bone.
  EXPECT_FLOAT_EQ(lossWeights(body, valid, ct, flow, 0.2)[0][0][0][2].item<float>(), 1.0f);
  EXPECT_THROW(lossWeights(body, valid, ct.narrow(3, 0, 2), flow, 0.0), c10::Error);
  // The trainer's level of 250 HU on the default CT scale [-1024, 3000] HU.
  EXPECT_NEAR(TrainingConfig().normalizedCt(250.0), 2.0 * 1274.0 / 4024.0 - 1.0, 1e-12);
  EXPECT_NEAR(TrainingConfig().normalizedCt(-1024.0), -1.0, 1e-12);
}

TEST(FlowMatching, TimeSamplers) {
  FlowConfig f;
  SplitMix64 rng(3);
  double mean = 0;
  for (int i = 0; i < 20000; ++i) mean += TimeSampler(f).sample(rng);
  EXPECT_NEAR(mean / 20000, 0.5, kUniformMeanTolerance);
  f.timeSampling = "logit-normal";
  f.logitMean = 1.0;
  int above = 0;
  for (int i = 0; i < 20000; ++i) {
    const double t = TimeSampler(f).sample(rng);
    ASSERT_GT(t, 0.0);
    ASSERT_LT(t, 1.0);
    above += t > 1.0 / (1.0 + std::exp(-1.0));
  }
  EXPECT_NEAR(above / 20000.0, 0.5, kMedianFractionTolerance);  // the median is sigmoid(m)
}
