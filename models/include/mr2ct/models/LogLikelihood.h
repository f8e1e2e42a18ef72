#pragma once
// The exact log-likelihood of a flow model (issue 16, "Likelihood"): the instantaneous change of
// variables along the ODE dx/dt = v(x, t),
//   log p₁(x₁) = log p₀(x₀) − ∫₀¹ div v(x_t, t) dt,
// computed by integrating the augmented state [x, ℓ] BACKWARDS from (x₁, 0) at t = 1 to t = 0:
//   d/dt [x, ℓ] = [v(x, t), div v(x, t)]   ⇒   ℓ(0) = −∫₀¹ div v dt,   log p₁(x₁) = log p₀(x₀) + ℓ(0).
// The augmented state goes through the project's OdeSolver (any method; NFE = the solver's NFE),
// packed as one [B, N + 1] tensor (N = voxels of one batch element).
//
// Divergence: exact (N vector-Jacobian products per evaluation: only for tiny tests) or Hutchinson's
// estimator div v ≈ (1/K) Σ_k ε_kᵀ (∂v/∂x) ε_k with K Rademacher probes ε_k ∈ {−1, 1}^N (K VJPs
// per evaluation). The probes are drawn once per solve and held fixed over t (FFJORD's choice), so
// the augmented ODE is deterministic and E_ε[ℓ(0)] = −∫ div v dt: the estimate is unbiased for the
// integral. Per evaluation, Var εᵀJε = Σ_{i<j} (J_ij + J_ji)² for one Rademacher probe (the
// ε_iε_j, i < j, are uncorrelated with variance 1), divided by K for the mean of K probes.
//
// Shapes: x [B, ...] in any floating dtype (tests use float64); results per batch element [B].
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "mr2ct/models/OdeSolver.h"

namespace mr2ct {

enum class DivergenceMethod { Exact, Hutchinson };
/// "exact" | "hutchinson"; UsageError otherwise.
DivergenceMethod parseDivergenceMethod(const std::string& name);
std::string divergenceMethodName(DivergenceMethod method);

/// div v(x, t) = Σ_i ∂v_i/∂x_i per batch element [B], exactly: 1 velocity evaluation + N VJPs
/// (one backward pass per dimension). Cost grows with N: for tiny tests only.
torch::Tensor exactDivergence(const VelocityFn& v, const torch::Tensor& x, double t);

/// Hutchinson: (1/K) Σ_k ε_kᵀ (∂v/∂x) ε_k per batch element [B]; probes [K, B, ...] (x's shape
/// behind K). 1 velocity evaluation + K VJPs.
torch::Tensor hutchinsonDivergence(const VelocityFn& v, const torch::Tensor& x, double t, const torch::Tensor& probes);

/// K Rademacher probes of `shape` (±1 with probability ½ each) from a CPU generator seeded with `seed`.
torch::Tensor rademacherProbes(int64_t k, at::IntArrayRef shape, std::uint64_t seed,
                               torch::ScalarType dtype = torch::kFloat32);

/// log N(x; μ, σ²I) per batch element [B]: −½‖x − μ‖²/σ² − N·ln σ − (N/2)·ln 2π.
/// `mean` undefined means μ = 0. σ > 0 (UsageError otherwise).
torch::Tensor gaussianLogDensity(const torch::Tensor& x, const torch::Tensor& mean, double sigma);

/// Bits per dimension of a log-density in nats: −log p / (N·ln 2).
double bitsPerDimension(double logDensityNats, double dimensions);

struct LikelihoodOptions {
  SolverMethod method = SolverMethod::Midpoint;  ///< no evaluation at t = 0 or 1 (a noise model is stiff at t = 1)
  int steps = 8;                                 ///< fixed-step methods: uniform steps from t = 1 to 0
  double rtol = 1e-5, atol = 1e-5;               ///< Dopri5
  DivergenceMethod divergence = DivergenceMethod::Hutchinson;
  int probes = 1;                                ///< Hutchinson: K
  std::uint64_t seed = 0;                        ///< Hutchinson: seed of the probes

  void validate() const;  ///< UsageError naming the option
  nlohmann::json toJson() const;
  /// The solver options of the backward solve (t0 = 1, t1 = 0).
  SolverOptions solver() const;
};

struct DivergenceIntegral {
  torch::Tensor x0;        ///< the state reached at t = 0, x1's shape
  torch::Tensor integral;  ///< ∫₀¹ div v(x_t, t) dt per batch element [B] (float64)
  int nfe = 0;             ///< velocity evaluations of the solve (each with its VJPs)
  int64_t vjps = 0;        ///< vector-Jacobian products (backward passes)
};

/// Backward solve of the augmented ODE from x1 at t = 1 (see the top of this file). `probes`
/// [K, B, ...] for Hutchinson (ignored for the exact divergence). The velocity is evaluated with
/// gradients enabled (whatever the caller's grad mode) and its result detached after each VJP.
DivergenceIntegral integrateDivergence(const VelocityFn& v, const torch::Tensor& x1, const LikelihoodOptions& options,
                                       const torch::Tensor& probes = {});

}  // namespace mr2ct
