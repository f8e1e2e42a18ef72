#pragma once
// ODE solvers for dx/dt = v(x, t) from t0 to t1, over any velocity function (no knowledge of
// networks). Fixed-step Euler, midpoint, Heun and RK4 on a uniform (or given) time grid, and
// Dopri5 (Dormand–Prince 5(4), adaptive, embedded error estimate, PI-free step-size control).
// Every solve reports its number of function evaluations (NFE).
//
// Time convention: the velocity receives t as a plain double, the same for every element of the
// batch (all samples in a batch are integrated in lock step). A network that wants t as a tensor
// [B] builds it with torch::full({B}, t) inside its VelocityFn adapter.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace mr2ct {

/// v(x, t): returns a tensor of x's shape. x is never modified in place by the solvers.
using VelocityFn = std::function<torch::Tensor(const torch::Tensor& x, double t)>;

enum class SolverMethod { Euler, Midpoint, Heun, Rk4, Dopri5 };

/// "euler" | "midpoint" | "heun" | "rk4" | "dopri5"; UsageError otherwise.
SolverMethod parseSolverMethod(const std::string& name);
std::string solverMethodName(SolverMethod method);
/// Velocity evaluations per step of a fixed-step method (1, 2, 2, 4); 0 for Dopri5 (adaptive).
int evaluationsPerStep(SolverMethod method);

struct SolverOptions {
  SolverMethod method = SolverMethod::Heun;
  int steps = 4;            ///< fixed-step methods: uniform steps between t0 and t1
  /// Dopri5 tolerances on the normalized state ([-1, 1] spans the CT's HU range, ~4000 HU), so
  /// 1e-3 keeps each step's local error near 2 HU.
  double rtol = 1e-3;
  double atol = 1e-3;
  double t0 = 0.0;
  double t1 = 1.0;
  /// Optional explicit time grid for fixed-step methods (strictly monotone, first = t0, last = t1);
  /// overrides `steps`. For Dopri5 it is ignored.
  std::vector<double> timeGrid;
  int maxSteps = 10000;     ///< Dopri5: accepted + rejected steps before giving up (DataError)
  double firstStep = 0.0;   ///< Dopri5: initial step (0 = chosen from the problem, Hairer's rule)

  void validate() const;  ///< UsageError naming the option
  nlohmann::json toJson() const;
  /// The grid actually used by fixed-step methods: timeGrid or a uniform grid of `steps` steps.
  std::vector<double> grid() const;
  /// NFE a fixed-step solve will take (steps × evaluationsPerStep); -1 for Dopri5.
  int expectedNfe() const;
};

struct SolveResult {
  torch::Tensor x;  ///< state at t1
  int nfe = 0;      ///< velocity evaluations
  int acceptedSteps = 0;
  int rejectedSteps = 0;  ///< Dopri5 only
};

class OdeSolver {
 public:
  virtual ~OdeSolver() = default;
  virtual SolveResult solve(const VelocityFn& v, const torch::Tensor& x0, const SolverOptions& options) const = 0;
};

/// Integrates on options.grid(); subclasses define one step x(t) → x(t + h).
class FixedStepSolver : public OdeSolver {
 public:
  SolveResult solve(const VelocityFn& v, const torch::Tensor& x0, const SolverOptions& options) const override;
  /// One step; adds its evaluations to nfe.
  virtual torch::Tensor step(const VelocityFn& v, const torch::Tensor& x, double t, double h, int& nfe) const = 0;
};

/// x + h·v(x, t). Order 1, 1 NFE per step.
class EulerSolver : public FixedStepSolver {
 public:
  torch::Tensor step(const VelocityFn& v, const torch::Tensor& x, double t, double h, int& nfe) const override;
};

/// x + h·v(x + h/2·v(x, t), t + h/2). Order 2, 2 NFE per step.
class MidpointSolver : public FixedStepSolver {
 public:
  torch::Tensor step(const VelocityFn& v, const torch::Tensor& x, double t, double h, int& nfe) const override;
};

/// Heun (explicit trapezoid): k1 = v(x, t), k2 = v(x + h·k1, t + h), x + h/2·(k1 + k2). Order 2, 2 NFE.
class HeunSolver : public FixedStepSolver {
 public:
  torch::Tensor step(const VelocityFn& v, const torch::Tensor& x, double t, double h, int& nfe) const override;
};

/// Classic Runge–Kutta 4. Order 4, 4 NFE per step.
class Rk4Solver : public FixedStepSolver {
 public:
  torch::Tensor step(const VelocityFn& v, const torch::Tensor& x, double t, double h, int& nfe) const override;
};

/// Dormand–Prince 5(4) with FSAL (6 new evaluations per step after the first), error norm
/// RMS(err / (atol + rtol·max(|x|, |x_new|))), step factor 0.9·err^(-1/5) clamped to [0.2, 10].
class Dopri5Solver : public OdeSolver {
 public:
  SolveResult solve(const VelocityFn& v, const torch::Tensor& x0, const SolverOptions& options) const override;
};

std::unique_ptr<OdeSolver> makeSolver(SolverMethod method);

/// The one entry point: validates options, picks the solver, integrates from x0 at t0 to t1.
SolveResult solve(const VelocityFn& v, const torch::Tensor& x0, const SolverOptions& options);

/// Euler on nested uniform grids from ONE run: the state at t1 for each NFE in `nfes` (each ≥ 1,
/// any order; results in the same order). All grids start with the same evaluation v(x0, t0), so
/// it is computed once and shared; after that the grids' states differ (x after one step of h ≠
/// x after two of h/2) and each grid continues on its own. With nfes {1,2,4,8} the sweep costs
/// 1 + 1 + 3 + 7 = 12 evaluations instead of 15. SolveResult.nfe is the NFE of that grid alone
/// (what a plain Euler solve with that many steps costs); `totalNfe` gets the sweep's total.
std::vector<SolveResult> eulerNfeSweep(const VelocityFn& v, const torch::Tensor& x0, const std::vector<int>& nfes,
                                       double t0 = 0.0, double t1 = 1.0, int* totalNfe = nullptr);

}  // namespace mr2ct
