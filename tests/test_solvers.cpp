// ODE solvers against closed-form oracles (float64 throughout).
#include <gtest/gtest.h>

#include <cmath>

#include "mr2ct/core/Error.h"
#include "mr2ct/models/OdeSolver.h"

namespace mr2ct {
namespace {

const auto kF64 = torch::TensorOptions().dtype(torch::kFloat64);

// v = 3t², independent of x: x(1) = x(0) + 1.
VelocityFn cubicVelocity(int* calls) {
  return [calls](const torch::Tensor& x, double t) {
    if (calls) ++*calls;
    return torch::full_like(x, 3.0 * t * t);
  };
}

// dx/dt = −x + sin t, x(0) = 1: x(t) = 1.5·e^(−t) + (sin t − cos t)/2.
VelocityFn decayVelocity(int* calls) {
  return [calls](const torch::Tensor& x, double t) {
    if (calls) ++*calls;
    return -x + std::sin(t);
  };
}
double decayExact(double t) { return 1.5 * std::exp(-t) + 0.5 * (std::sin(t) - std::cos(t)); }

double solveDecay(SolverMethod m, int steps) {
  SolverOptions o;
  o.method = m;
  o.steps = steps;
  const auto r = solve(decayVelocity(nullptr), torch::ones({3}, kF64), o);
  return r.x[0].item<double>();
}

TEST(Solvers, CubicVelocityReachesExactEndpointForRk4AndDopri5) {
  const auto x0 = torch::tensor({-2.0, 0.0, 5.5}, kF64);
  for (SolverMethod m : {SolverMethod::Rk4, SolverMethod::Dopri5}) {
    SolverOptions o;
    o.method = m;
    o.steps = 3;
    const auto r = solve(cubicVelocity(nullptr), x0, o);
    EXPECT_TRUE(torch::allclose(r.x, x0 + 1.0, 0, 1e-12)) << solverMethodName(m);  // Simpson is exact on t²
  }
}

TEST(Solvers, CubicVelocityMatchesEachRulesQuadratureAndConverges) {
  // The lower-order methods are quadrature rules for ∫3t²: compare with the rule's exact sum.
  const int n = 5;
  const double h = 1.0 / n;
  double euler = 0, midpoint = 0, heun = 0;
  for (int i = 0; i < n; ++i) {
    const double t = i * h;
    euler += h * 3 * t * t;
    midpoint += h * 3 * (t + h / 2) * (t + h / 2);
    heun += h / 2 * 3 * (t * t + (t + h) * (t + h));
  }
  const std::pair<SolverMethod, double> cases[] = {
      {SolverMethod::Euler, euler}, {SolverMethod::Midpoint, midpoint}, {SolverMethod::Heun, heun}};
  for (const auto& [m, expected] : cases) {
    SolverOptions o;
    o.method = m;
    o.steps = n;
    EXPECT_NEAR(solve(cubicVelocity(nullptr), torch::zeros({1}, kF64), o).x.item<double>(), expected, 1e-13);
    o.steps = 400;
    EXPECT_NEAR(solve(cubicVelocity(nullptr), torch::zeros({1}, kF64), o).x.item<double>(), 1.0, 5e-3)
        << solverMethodName(m);
  }
}

TEST(Solvers, ObservedOrderMatchesTheMethod) {
  const double exact = decayExact(1.0);
  const std::tuple<SolverMethod, double, int> cases[] = {{SolverMethod::Euler, 1.0, 32},
                                                         {SolverMethod::Midpoint, 2.0, 16},
                                                         {SolverMethod::Heun, 2.0, 16},
                                                         {SolverMethod::Rk4, 4.0, 8}};
  for (const auto& [m, order, n] : cases) {
    const double e1 = std::abs(solveDecay(m, n) - exact);
    const double e2 = std::abs(solveDecay(m, 2 * n) - exact);
    const double observed = std::log2(e1 / e2);
    EXPECT_NEAR(observed, order, 0.15) << solverMethodName(m) << " errors " << e1 << " " << e2;
  }
}

TEST(Solvers, Dopri5MeetsItsToleranceAndTightensWithIt) {
  const double exact = decayExact(1.0);
  double previousError = 1e9;
  int previousNfe = 0;
  for (double tol : {1e-4, 1e-7, 1e-10}) {
    SolverOptions o;
    o.method = SolverMethod::Dopri5;
    o.rtol = o.atol = tol;
    int calls = 0;
    const auto r = solve(decayVelocity(&calls), torch::ones({2}, kF64), o);
    const double err = std::abs(r.x[0].item<double>() - exact);
    EXPECT_LT(err, tol) << "tol " << tol;
    EXPECT_LT(err, previousError);
    EXPECT_GT(r.nfe, previousNfe);
    // one initial evaluation, one for the starting step, then 6 per attempted step (FSAL)
    EXPECT_EQ(r.nfe, 2 + 6 * (r.acceptedSteps + r.rejectedSteps));
    EXPECT_EQ(r.nfe, calls);
    previousError = err;
    previousNfe = r.nfe;
  }
}

TEST(Solvers, NfeCountsAreExact) {
  for (SolverMethod m : {SolverMethod::Euler, SolverMethod::Midpoint, SolverMethod::Heun, SolverMethod::Rk4}) {
    for (int steps : {1, 3, 7}) {
      SolverOptions o;
      o.method = m;
      o.steps = steps;
      int calls = 0;
      const auto r = solve(decayVelocity(&calls), torch::ones({1}, kF64), o);
      EXPECT_EQ(calls, steps * evaluationsPerStep(m));
      EXPECT_EQ(r.nfe, calls);
      EXPECT_EQ(r.nfe, o.expectedNfe());
    }
  }
}

TEST(Solvers, ExplicitTimeGridIsFollowed) {
  SolverOptions o;
  o.method = SolverMethod::Euler;
  o.timeGrid = {0.0, 0.5, 0.75, 1.0};
  // Euler on v = 3t² visits t = 0, 0.5, 0.75: 0.5·0 + 0.25·0.75 + 0.25·1.6875
  const auto r = solve(cubicVelocity(nullptr), torch::zeros({1}, kF64), o);
  EXPECT_NEAR(r.x.item<double>(), 0.25 * 3 * 0.25 + 0.25 * 3 * 0.5625, 1e-14);
  EXPECT_EQ(r.nfe, 3);
  o.timeGrid = {0.0, 0.6, 0.5, 1.0};
  EXPECT_THROW(o.validate(), UsageError);
}

TEST(Solvers, NestedEulerSweepEqualsSeparateRunsAndSharesTheFirstEvaluation) {
  const auto x0 = torch::tensor({1.0, -0.3}, kF64);
  int calls = 0;
  int total = 0;
  const auto sweep = eulerNfeSweep(decayVelocity(&calls), x0, {1, 2, 4, 8}, 0.0, 1.0, &total);
  ASSERT_EQ(sweep.size(), 4u);
  EXPECT_EQ(calls, 1 + 1 + 3 + 7);
  EXPECT_EQ(total, calls);
  const int nfes[] = {1, 2, 4, 8};
  for (std::size_t i = 0; i < 4; ++i) {
    SolverOptions o;
    o.method = SolverMethod::Euler;
    o.steps = nfes[i];
    const auto single = solve(decayVelocity(nullptr), x0, o);
    EXPECT_TRUE(torch::allclose(sweep[i].x, single.x, 0, 1e-14)) << "NFE " << nfes[i];
    EXPECT_EQ(sweep[i].nfe, nfes[i]);
  }
  EXPECT_THROW(eulerNfeSweep(decayVelocity(nullptr), x0, {0}), UsageError);
}

TEST(Solvers, BadOptionsAreUsageErrors) {
  EXPECT_THROW(parseSolverMethod("leapfrog"), UsageError);
  SolverOptions o;
  o.steps = 0;
  EXPECT_THROW(o.validate(), UsageError);
  o = SolverOptions{};
  o.method = SolverMethod::Dopri5;
  o.rtol = 0;
  EXPECT_THROW(o.validate(), UsageError);
  EXPECT_EQ(parseSolverMethod("rk4"), SolverMethod::Rk4);
}

}  // namespace
}  // namespace mr2ct
