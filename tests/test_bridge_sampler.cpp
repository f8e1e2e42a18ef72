// The Brownian-bridge sampler (BridgeSampler.h) against closed-form oracles, float64. Each element
// of a large tensor is an independent sample, so moments are checked with stated statistical
// tolerances (5 standard errors: a false failure about once in 3.5 million runs per check).
#include <gtest/gtest.h>

#include <cmath>

#include "mr2ct/core/Error.h"
#include "mr2ct/models/BridgeSampler.h"
#include "mr2ct/models/VolumeIntegrator.h"

namespace mr2ct {
namespace {

const auto kF64 = torch::TensorOptions().dtype(torch::kFloat64);
constexpr int64_t kSamples = 200000;

StepNoiseFn seededNoise(std::uint64_t seed, std::vector<int>* steps = nullptr) {
  auto generator = std::make_shared<at::Generator>(at::detail::createCPUGenerator(seed));
  return [generator, steps](int step) {
    if (steps) steps->push_back(step);
    return torch::randn({kSamples}, *generator, kF64);
  };
}

std::vector<double> uniformGrid(int steps, double end = 1.0) {
  std::vector<double> g;
  for (int i = 0; i <= steps; ++i) g.push_back(end * double(i) / double(steps));
  return g;
}

// A point-mass target CT = c: the exact velocity E[CT − MR | x_t] is c − MR everywhere. The path's
// marginal at t is N((1−t)·MR + t·c, σ²·t·(1−t)), and at t = 1 the sample is c exactly.
TEST(BridgeSampler, PointTargetFollowsTheBridgeMarginalsAndEndsOnTheTarget) {
  const double mr = -0.4, c = 0.6, sigma = 0.8;
  const torch::Tensor x0 = torch::full({kSamples}, mr, kF64);
  int calls = 0;
  const VelocityFn v = [&](const torch::Tensor& x, double) {
    ++calls;
    return torch::full_like(x, c - mr);
  };
  std::vector<int> noiseSteps;
  const SolveResult end = bridgeSample(v, x0, sigma, uniformGrid(4), seededNoise(1, &noiseSteps));
  EXPECT_EQ(end.nfe, 4);
  EXPECT_EQ(calls, 4);
  EXPECT_EQ(noiseSteps, (std::vector<int>{0, 1, 2}));  // the last step to t = 1 has no variance
  EXPECT_LT((end.x - c).abs().max().item<double>(), 1e-12);

  for (const double t : {0.25, 0.5, 0.8}) {
    const SolveResult mid = bridgeSample(v, x0, sigma, uniformGrid(3, t), seededNoise(2));
    const double mean = (1 - t) * mr + t * c, variance = sigma * sigma * t * (1 - t);
    const double n = double(kSamples);
    EXPECT_NEAR(mid.x.mean().item<double>(), mean, 5 * std::sqrt(variance / n)) << "t = " << t;
    // The sample variance of n normals has relative standard error √(2/(n−1)).
    EXPECT_NEAR(mid.x.var().item<double>() / variance, 1.0, 5 * std::sqrt(2.0 / (n - 1))) << "t = " << t;
  }
}

// A Gaussian target CT ~ N(m, s²) independent of the MR, with the exact posterior-mean velocity:
// x_t ~ N((1−t)·MR + t·m, t²s² + σ²t(1−t)), E[CT | x_t] = m + t·s²/(t²s² + σ²t(1−t))·(x_t − (1−t)·MR − t·m).
// The sampler steps with the endpoint's posterior MEAN, so few steps under-disperse (one step
// returns m exactly); as steps grow the samples' law tends to N(m, s²) (the bridge SDE's).
TEST(BridgeSampler, GaussianTargetIsRecoveredAsTheStepsGrow) {
  const double mr = 0.0, m = 0.3, s = 0.5, sigma = 1.0;
  const torch::Tensor x0 = torch::full({kSamples}, mr, kF64);
  const VelocityFn v = [&](const torch::Tensor& x, double t) {
    const torch::Tensor endpoint =
        t == 0.0 ? torch::full_like(x, m)
                 : m + t * s * s / (t * t * s * s + sigma * sigma * t * (1 - t)) * (x - (1 - t) * mr - t * m);
    return endpoint - mr;
  };
  std::vector<double> variances;
  for (const int steps : {1, 4, 16, 256}) {
    const SolveResult r = bridgeSample(v, x0, sigma, uniformGrid(steps), seededNoise(3));
    EXPECT_NEAR(r.x.mean().item<double>(), m, 5 * s / std::sqrt(double(kSamples))) << steps << " steps";
    variances.push_back(r.x.var().item<double>());
  }
  EXPECT_LT(variances[0], 1e-20);  // one step: the posterior mean, no noise
  for (std::size_t i = 1; i < variances.size(); ++i) EXPECT_GT(variances[i], variances[i - 1]);
  // Measured in float64 numpy with the same scheme: 0.085, 0.165, 0.236 for 4, 16, 256 steps.
  EXPECT_NEAR(variances.back() / (s * s), 0.944, 0.03) << "256 steps";
}

TEST(BridgeSampler, RefusesAGridOrSigmaItCannotSample) {
  const VelocityFn v = [](const torch::Tensor& x, double) { return torch::zeros_like(x); };
  const torch::Tensor x0 = torch::zeros({2}, kF64);
  const StepNoiseFn noise = [](int) { return torch::zeros({2}, kF64); };
  EXPECT_THROW(bridgeSample(v, x0, 0.0, uniformGrid(2), noise), UsageError);
  EXPECT_THROW(bridgeSample(v, x0, 1.0, {0.1, 1.0}, noise), UsageError);   // must start at 0
  EXPECT_THROW(bridgeSample(v, x0, 1.0, {0.0, 1.2}, noise), UsageError);   // past t = 1
  EXPECT_THROW(bridgeSample(v, x0, 1.0, {0.0, 0.5, 0.5, 1.0}, noise), UsageError);
}

// The integrator refuses what the sampler cannot sample, for every caller (not only the CLI).
TEST(BridgeSampler, IntegratorOptionsRefuseOneStepDopri5AndTheNoiseSource) {
  IntegratorOptions o;
  o.bridgeSigma = 1.0;
  o.solver.method = SolverMethod::Euler;
  o.solver.steps = 2;
  EXPECT_NO_THROW(o.validate());
  o.solver.steps = 1;
  EXPECT_THROW(o.validate(), UsageError);
  o.solver.steps = 4;
  o.solver.method = SolverMethod::Dopri5;
  EXPECT_THROW(o.validate(), UsageError);
  o.solver.method = SolverMethod::Euler;
  o.source = "noise";
  EXPECT_THROW(o.validate(), UsageError);
}

}  // namespace
}  // namespace mr2ct
