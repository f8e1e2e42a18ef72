// The flow likelihood (LogLikelihood.h, VolumeLikelihood.h) against closed-form oracles (float64).
#include <gtest/gtest.h>

#include <cmath>

#include "mr2ct/core/Error.h"
#include "mr2ct/models/LogLikelihood.h"
#include "mr2ct/models/VolumeLikelihood.h"

namespace mr2ct {
namespace {

const auto kF64 = torch::TensorOptions().dtype(torch::kFloat64);

// A fixed non-symmetric 4×4 matrix (trace −0.7) and offset: v(x, t) = A x + b, x [B, 4].
torch::Tensor matrixA() {
  return torch::tensor({{-0.5, 0.3, 0.0, 0.2}, {0.1, 0.4, -0.6, 0.0}, {0.25, 0.0, -0.3, 0.5}, {-0.2, 0.15, 0.1, -0.3}},
                       kF64);
}
torch::Tensor offsetB() { return torch::tensor({0.3, -0.2, 0.1, 0.05}, kF64); }

VelocityFn linearVelocity(const torch::Tensor& A, const torch::Tensor& b) {
  return [A, b](const torch::Tensor& x, double) { return torch::matmul(x, A.t()) + b; };
}

LikelihoodOptions exactRk4(int steps) {
  LikelihoodOptions o;
  o.method = SolverMethod::Rk4;
  o.steps = steps;
  o.divergence = DivergenceMethod::Exact;
  return o;
}

TEST(Likelihood, ExactDivergenceOfLinearAndElementwiseFields) {
  const auto A = matrixA();
  const auto x = torch::randn({3, 4}, kF64);
  const auto div = exactDivergence(linearVelocity(A, offsetB()), x, 0.3);
  EXPECT_TRUE(torch::allclose(div, torch::full({3}, A.trace().item<double>(), kF64), 0, 1e-12));
  // v = sin(x)·t: div = t·Σ cos(x_i), per batch element, on a [B, 1, 3, 2] image-shaped state.
  const auto y = torch::randn({2, 1, 3, 2}, kF64);
  const VelocityFn s = [](const torch::Tensor& z, double t) { return torch::sin(z) * t; };
  const auto d2 = exactDivergence(s, y, 0.7);
  EXPECT_TRUE(torch::allclose(d2, 0.7 * torch::cos(y).reshape({2, -1}).sum(1), 0, 1e-12));
}

TEST(Likelihood, LinearFlowLogDensityMatchesThePushedForwardGaussian) {
  // x0 ~ N(0, I) through dx/dt = A x + b for t ∈ [0, 1]: x1 = e^A x0 + c, c = A⁻¹(e^A − I) b, so
  // x1 ~ N(c, e^A e^Aᵀ). Oracle: that Gaussian's log-density, computed without any divergence.
  const auto A = matrixA(), b = offsetB();
  const auto eA = torch::matrix_exp(A);
  const auto c = at::linalg_solve(A, torch::matmul(eA - torch::eye(4, kF64), b), true);
  const auto cov = torch::matmul(eA, eA.t());
  const auto x1 = torch::tensor({{0.4, -1.2, 0.3, 2.0}, {-0.7, 0.1, 0.9, -0.4}}, kF64);
  const auto r = integrateDivergence(linearVelocity(A, b), x1, exactRk4(20));
  const double n = 4;
  for (int i = 0; i < 2; ++i) {
    const auto d = x1[i] - c;
    const double maha = torch::dot(d, at::linalg_solve(cov, d, true)).item<double>();
    const double oracle = -0.5 * maha - 0.5 * std::get<1>(at::linalg_slogdet(cov)).item<double>() -
                          0.5 * n * std::log(2 * M_PI);
    const double got = (gaussianLogDensity(r.x0, {}, 1.0)[i] - r.integral[i]).item<double>();
    EXPECT_NEAR(got, oracle, 1e-6) << "case " << i;  // RK4, 20 steps: x0 error ~1e-8
  }
  // The divergence is constant: its integral is trace A exactly, whatever the solver.
  EXPECT_TRUE(torch::allclose(r.integral, torch::full({2}, A.trace().item<double>(), kF64), 0, 1e-12));
  EXPECT_EQ(r.nfe, 20 * 4);
  EXPECT_EQ(r.vjps, 20 * 4 * 4);  // exact: one VJP per dimension per evaluation
  // Backward solve reached x0 = e^{−A}(x1 − c).
  const auto x0 = torch::matmul(x1 - c, torch::matrix_exp(-A).t());
  EXPECT_TRUE(torch::allclose(r.x0, x0, 0, 1e-7));
}

TEST(Likelihood, BackwardIntegrationReturnsTheForwardStart) {
  // A nonlinear, time-dependent field: forward from x0 with RK4, then backward with the divergence.
  const auto W = torch::tensor({{0.6, -0.4, 0.2}, {0.3, 0.5, -0.7}, {-0.2, 0.1, 0.4}}, kF64);
  const VelocityFn v = [W](const torch::Tensor& x, double t) { return torch::tanh(torch::matmul(x, W.t())) + t * x; };
  const auto x0 = torch::tensor({{0.5, -1.0, 0.25}, {1.5, 0.2, -0.3}}, kF64);
  SolverOptions fwd;
  fwd.method = SolverMethod::Rk4;
  fwd.steps = 32;
  const auto x1 = solve(v, x0, fwd).x;
  const auto back = integrateDivergence(v, x1, exactRk4(32));
  EXPECT_TRUE(torch::allclose(back.x0, x0, 0, 1e-7)) << (back.x0 - x0).abs().max().item<double>();
  // Midpoint converges to the same start (order 2): error shrinks ~4× when the steps double.
  LikelihoodOptions mid = exactRk4(8);
  mid.method = SolverMethod::Midpoint;
  const double e8 = (integrateDivergence(v, x1, mid).x0 - x0).abs().max().item<double>();
  mid.steps = 16;
  const double e16 = (integrateDivergence(v, x1, mid).x0 - x0).abs().max().item<double>();
  EXPECT_GT(e8 / e16, 3.0);
  EXPECT_LT(e8 / e16, 5.0);
}

TEST(Likelihood, HutchinsonMeanConvergesToTheExactDivergence) {
  // Linear field: ∂v/∂x = A, one probe gives εᵀAε with mean tr A and variance V = Σ_{i<j}(A_ij + A_ji)².
  // The mean of K probes has std √(V/K); each check allows 5 std (two-sided false alarm < 1e-6).
  const auto A = matrixA();
  const double trace = A.trace().item<double>();
  const auto S = A + A.t();
  const double V = 0.5 * (S.pow(2).sum() - S.diagonal().pow(2).sum()).item<double>();
  ASSERT_GT(V, 0.1);
  const auto x = torch::randn({1, 4}, kF64);
  const auto v = linearVelocity(A, offsetB());
  const int M = 400;  // independent estimates per K
  std::vector<double> stds;
  for (int64_t K : {1, 4, 16, 64}) {
    double sum = 0, sumSq = 0;
    for (int m = 0; m < M; ++m) {
      const auto probes = rademacherProbes(K, {1, 4}, 1000 * uint64_t(K) + uint64_t(m), torch::kFloat64);
      const double e = hutchinsonDivergence(v, x, 0.5, probes).item<double>();
      sum += e;
      sumSq += e * e;
    }
    const double mean = sum / M, var = sumSq / M - mean * mean;
    EXPECT_NEAR(mean, trace, 5 * std::sqrt(V / double(K) / M)) << "K " << K;
    // The sample variance of M estimates: relative std √(2/(M−1)) ≈ 7% for Gaussian-like errors;
    // allow ±40% (εᵀAε with 4 dims is far from Gaussian for K = 1).
    EXPECT_NEAR(var / (V / double(K)), 1.0, 0.4) << "K " << K;
    stds.push_back(std::sqrt(var));
  }
  // Error falls as 1/√K: ×4 probes → std ÷2 (within the same 40%).
  for (std::size_t i = 1; i < stds.size(); ++i) EXPECT_NEAR(stds[i - 1] / stds[i], 2.0, 0.8);
}

TEST(Likelihood, HutchinsonSolveIntegratesTheProbedQuadraticForm) {
  // The probes are held fixed over t: for a linear field the estimated integral is exactly
  // mean_k ε_kᵀAε_k (the Jacobian is constant), and the state still goes back to x0.
  const auto A = matrixA(), b = offsetB();
  const auto x1 = torch::tensor({{0.4, -1.2, 0.3, 2.0}, {-0.7, 0.1, 0.9, -0.4}}, kF64);
  LikelihoodOptions o = exactRk4(20);
  o.divergence = DivergenceMethod::Hutchinson;
  o.probes = 3;
  const auto probes = rademacherProbes(3, {2, 4}, 42, torch::kFloat64);
  const auto r = integrateDivergence(linearVelocity(A, b), x1, o, probes);
  const auto quad = torch::einsum("kbi,ij,kbj->kb", {probes, A, probes}).mean(0);
  EXPECT_TRUE(torch::allclose(r.integral, quad, 0, 1e-12));
  EXPECT_EQ(r.vjps, 20 * 4 * 3);
  const auto exact = integrateDivergence(linearVelocity(A, b), x1, exactRk4(20));
  EXPECT_TRUE(torch::allclose(r.x0, exact.x0, 0, 1e-12));
  // Same seed, same probes, same answer; another seed, other probes.
  EXPECT_TRUE(torch::equal(probes, rademacherProbes(3, {2, 4}, 42, torch::kFloat64)));
  EXPECT_FALSE(torch::equal(probes, rademacherProbes(3, {2, 4}, 43, torch::kFloat64)));
  EXPECT_TRUE(torch::all((probes == 1) | (probes == -1)).item<bool>());
}

TEST(Likelihood, GaussianLogDensityAndBits) {
  const auto x = torch::tensor({{1.0, 2.0}}, kF64), mu = torch::tensor({{0.0, 1.0}}, kF64);
  // −½(1 + 1)/σ² − 2 ln σ − ln 2π at σ = 0.5.
  const double expected = -0.5 * 2.0 / 0.25 - 2 * std::log(0.5) - std::log(2 * M_PI);
  EXPECT_NEAR(gaussianLogDensity(x, mu, 0.5).item<double>(), expected, 1e-12);
  EXPECT_NEAR(bitsPerDimension(-std::log(2.0) * 6, 3), 2.0, 1e-12);
  EXPECT_THROW(gaussianLogDensity(x, mu, 0.0), UsageError);
}

// Volume level: v(x, t, cond) = a·x + c·MR per voxel. Per voxel x1 = e^a x0 + (c·m/a)(e^a − 1),
// div = a per voxel, x0 = e^{−a}(x1 + c·m/a) − c·m/a.
ConditionalVelocityFn voxelwiseLinear(double a, double c, int k) {
  return [a, c, k](const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& cond) {
    EXPECT_EQ(t.size(0), x.size(0));
    return a * x + c * cond.narrow(1, k, 1);
  };
}

TEST(VolumeLikelihood, MrSourceMatchesClosedFormAndIgnoresBatchSize) {
  const double a = -0.6, c = 0.8, sigma = 0.3;
  const auto mr = torch::rand({5, 3, 4}) * 2 - 1;
  const auto ct = torch::rand({5, 3, 4}) * 2 - 1;
  VolumeLikelihoodOptions o;
  o.contextSlices = 1;
  o.batchSize = 2;
  o.source = "mr";
  o.sigma = sigma;
  o.likelihood = exactRk4(16);
  const auto r = volumeLogLikelihood(voxelwiseLinear(a, c, 1), mr, ct, o);
  const auto m = mr.to(torch::kFloat64), x1 = ct.to(torch::kFloat64);
  const auto x0 = std::exp(-a) * (x1 + c * m / a) - c * m / a;
  const double N = 60;
  const double oracle = (-0.5 * (x0 - m).pow(2).sum() / (sigma * sigma)).item<double>() - N * std::log(sigma) -
                        0.5 * N * std::log(2 * M_PI) - a * N;
  EXPECT_NEAR(r.logDensity, oracle, 1e-3 * std::abs(oracle));  // float32 state, RK4
  EXPECT_NEAR(r.divergence, a * N, 1e-4);
  EXPECT_EQ(r.voxels, 60);
  EXPECT_EQ(r.batches, 3);
  EXPECT_NEAR(r.bitsPerVoxel, -oracle / (N * std::log(2.0)), 1e-3);
  // Hutchinson with per-slice seeded probes: the same answer for batch 2 and batch 5.
  o.likelihood.divergence = DivergenceMethod::Hutchinson;
  o.likelihood.probes = 2;
  o.likelihood.seed = 9;
  const auto h2 = volumeLogLikelihood(voxelwiseLinear(a, c, 1), mr, ct, o);
  o.batchSize = 5;
  const auto h5 = volumeLogLikelihood(voxelwiseLinear(a, c, 1), mr, ct, o);
  EXPECT_NEAR(h2.logDensity, h5.logDensity, 1e-4 * std::abs(h2.logDensity));
  // A diagonal Jacobian: εᵀ(aI)ε = a·N for every Rademacher probe, so Hutchinson is exact here.
  EXPECT_NEAR(h2.divergence, a * N, 1e-4);
}

TEST(VolumeLikelihood, NoiseSourcePaddingCountsPaddedVoxels) {
  const auto mr = torch::zeros({2, 3, 3});
  const auto ct = torch::rand({2, 3, 3});
  VolumeLikelihoodOptions o;
  o.source = "noise";
  o.sizeMultiple = 4;
  o.likelihood = exactRk4(8);
  const auto r = volumeLogLikelihood(voxelwiseLinear(0.5, 0.0, 0), mr, ct, o);
  EXPECT_EQ(r.voxels, 2 * 4 * 4);
  // x0 = e^{−0.5} x1 over the replicate-padded CT; log N(x0; 0, I) − 0.5·N.
  const auto padded = torch::nn::functional::pad(ct.unsqueeze(1).to(torch::kFloat64),
                                                 torch::nn::functional::PadFuncOptions({0, 1, 0, 1}).mode(torch::kReplicate));
  const auto x0 = std::exp(-0.5) * padded;
  const double N = 32;
  const double oracle = (-0.5 * x0.pow(2).sum()).item<double>() - 0.5 * N * std::log(2 * M_PI) - 0.5 * N;
  EXPECT_NEAR(r.logDensity, oracle, 1e-4 * std::abs(oracle));
}

TEST(VolumeLikelihood, RefusesModelsWithoutASourceDensityAnd3d) {
  VolumeLikelihoodOptions o;
  o.source = "mr";
  o.sigma = 0.0;
  try {
    o.validate();
    FAIL() << "sigma 0 accepted";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown distribution of MR images"), std::string::npos) << e.what();
  }
  o.sigma = 0.2;
  o.dims = 3;
  EXPECT_THROW(o.validate(), DataError);
  o.dims = 2;
  o.likelihood.probes = 0;
  EXPECT_THROW(o.validate(), UsageError);
  EXPECT_THROW(parseDivergenceMethod("trace"), UsageError);
}

}  // namespace
}  // namespace mr2ct
