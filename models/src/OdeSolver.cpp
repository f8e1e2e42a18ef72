#include "mr2ct/models/OdeSolver.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "mr2ct/core/Error.h"
#include "mr2ct/core/OptionError.h"

namespace mr2ct {

SolverMethod parseSolverMethod(const std::string& name) {
  static const std::map<std::string, SolverMethod> methods{{"euler", SolverMethod::Euler},
                                                           {"midpoint", SolverMethod::Midpoint},
                                                           {"heun", SolverMethod::Heun},
                                                           {"rk4", SolverMethod::Rk4},
                                                           {"dopri5", SolverMethod::Dopri5}};
  const auto it = methods.find(name);
  if (it == methods.end())
    throw OptionError("{solver.method}: unknown method '" + name + "' (use euler, midpoint, heun, rk4 or dopri5)");
  return it->second;
}

std::string solverMethodName(SolverMethod method) {
  switch (method) {
    case SolverMethod::Euler: return "euler";
    case SolverMethod::Midpoint: return "midpoint";
    case SolverMethod::Heun: return "heun";
    case SolverMethod::Rk4: return "rk4";
    case SolverMethod::Dopri5: return "dopri5";
  }
  return "?";
}

int evaluationsPerStep(SolverMethod method) {
  switch (method) {
    case SolverMethod::Euler: return 1;
    case SolverMethod::Midpoint:
    case SolverMethod::Heun: return 2;
    case SolverMethod::Rk4: return 4;
    case SolverMethod::Dopri5: return 0;
  }
  return 0;
}

void SolverOptions::validate() const {
  if (!std::isfinite(t0) || !std::isfinite(t1) || t0 == t1)
    throw UsageError("solver: t0 and t1 must be finite and different (got " + std::to_string(t0) + ", " +
                     std::to_string(t1) + ")");
  if (method == SolverMethod::Dopri5) {
    if (!(rtol > 0) || !(atol > 0)) throw OptionError("{rtol}/{atol} must be positive for dopri5");
    if (maxSteps < 1) throw UsageError("solver: maxSteps must be at least 1");
    if (firstStep < 0) throw UsageError("solver: firstStep must not be negative");
    return;
  }
  if (timeGrid.empty()) {
    if (steps < 1) throw OptionError("{steps} must be at least 1 (got " + std::to_string(steps) + ")");
    return;
  }
  if (timeGrid.size() < 2) throw UsageError("solver: a time grid needs at least two points");
  if (timeGrid.front() != t0 || timeGrid.back() != t1)
    throw UsageError("solver: the time grid must start at t0 and end at t1");
  const double dir = t1 > t0 ? 1.0 : -1.0;
  for (std::size_t i = 1; i < timeGrid.size(); ++i)
    if (!((timeGrid[i] - timeGrid[i - 1]) * dir > 0)) throw UsageError("solver: the time grid must be strictly monotone");
}

nlohmann::json SolverOptions::toJson() const {
  nlohmann::json j{{"method", solverMethodName(method)}, {"t0", t0}, {"t1", t1}};
  if (method == SolverMethod::Dopri5) {
    j["rtol"] = rtol;
    j["atol"] = atol;
  } else if (timeGrid.empty()) {
    j["steps"] = steps;
  } else {
    j["timeGrid"] = timeGrid;
  }
  return j;
}

std::vector<double> SolverOptions::grid() const {
  if (!timeGrid.empty()) return timeGrid;
  std::vector<double> g(std::size_t(steps) + 1);
  for (int i = 0; i <= steps; ++i) g[std::size_t(i)] = t0 + (t1 - t0) * double(i) / double(steps);
  g.back() = t1;  // exact endpoint, no rounding drift
  return g;
}

int SolverOptions::expectedNfe() const {
  if (method == SolverMethod::Dopri5) return -1;
  const int n = timeGrid.empty() ? steps : int(timeGrid.size()) - 1;
  return n * evaluationsPerStep(method);
}

// ---- fixed-step methods ------------------------------------------------------------------------

SolveResult FixedStepSolver::solve(const VelocityFn& v, const torch::Tensor& x0, const SolverOptions& options) const {
  const auto grid = options.grid();
  SolveResult r;
  r.x = x0;
  for (std::size_t i = 0; i + 1 < grid.size(); ++i) {
    r.x = step(v, r.x, grid[i], grid[i + 1] - grid[i], r.nfe);
    ++r.acceptedSteps;
  }
  return r;
}

torch::Tensor EulerSolver::step(const VelocityFn& v, const torch::Tensor& x, double t, double h, int& nfe) const {
  ++nfe;
  return x + h * v(x, t);
}

torch::Tensor MidpointSolver::step(const VelocityFn& v, const torch::Tensor& x, double t, double h, int& nfe) const {
  nfe += 2;
  const auto k1 = v(x, t);
  return x + h * v(x + (0.5 * h) * k1, t + 0.5 * h);
}

torch::Tensor HeunSolver::step(const VelocityFn& v, const torch::Tensor& x, double t, double h, int& nfe) const {
  nfe += 2;
  const auto k1 = v(x, t);
  const auto k2 = v(x + h * k1, t + h);
  return x + (0.5 * h) * (k1 + k2);
}

torch::Tensor Rk4Solver::step(const VelocityFn& v, const torch::Tensor& x, double t, double h, int& nfe) const {
  nfe += 4;
  const auto k1 = v(x, t);
  const auto k2 = v(x + (0.5 * h) * k1, t + 0.5 * h);
  const auto k3 = v(x + (0.5 * h) * k2, t + 0.5 * h);
  const auto k4 = v(x + h * k3, t + h);
  return x + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4);
}

// ---- Dopri5 ------------------------------------------------------------------------------------

namespace {

// Dormand & Prince (1980) tableau.
constexpr double c2 = 1.0 / 5, c3 = 3.0 / 10, c4 = 4.0 / 5, c5 = 8.0 / 9;
constexpr double a21 = 1.0 / 5;
constexpr double a31 = 3.0 / 40, a32 = 9.0 / 40;
constexpr double a41 = 44.0 / 45, a42 = -56.0 / 15, a43 = 32.0 / 9;
constexpr double a51 = 19372.0 / 6561, a52 = -25360.0 / 2187, a53 = 64448.0 / 6561, a54 = -212.0 / 729;
constexpr double a61 = 9017.0 / 3168, a62 = -355.0 / 33, a63 = 46732.0 / 5247, a64 = 49.0 / 176,
                 a65 = -5103.0 / 18656;
// 5th-order weights (also row 7: FSAL).
constexpr double b1 = 35.0 / 384, b3 = 500.0 / 1113, b4 = 125.0 / 192, b5 = -2187.0 / 6784, b6 = 11.0 / 84;
// error weights e = b(5th) − b*(4th).
constexpr double e1 = 35.0 / 384 - 5179.0 / 57600, e3 = 500.0 / 1113 - 7571.0 / 16695,
                 e4 = 125.0 / 192 - 393.0 / 640, e5 = -2187.0 / 6784 + 92097.0 / 339200,
                 e6 = 11.0 / 84 - 187.0 / 2100, e7 = -1.0 / 40;

double rmsNorm(const torch::Tensor& a, const torch::Tensor& scale) {
  return std::sqrt((a / scale).pow(2).mean().item<double>());
}

}  // namespace

SolveResult Dopri5Solver::solve(const VelocityFn& v, const torch::Tensor& x0, const SolverOptions& o) const {
  SolveResult r;
  const double dir = o.t1 > o.t0 ? 1.0 : -1.0;
  const double span = std::abs(o.t1 - o.t0);
  torch::Tensor x = x0;
  double t = o.t0;
  torch::Tensor k1 = v(x, t);
  ++r.nfe;

  double h = o.firstStep;
  if (h <= 0) {
    // Hairer, Nørsett & Wanner, "Solving ODEs I", II.4: starting step from the problem's scale.
    const auto scale = o.atol + o.rtol * x.abs();
    const double d0 = rmsNorm(x, scale), d1 = rmsNorm(k1, scale);
    const double h0 = (d0 < 1e-5 || d1 < 1e-5) ? 1e-6 : 0.01 * d0 / d1;
    const auto f1 = v(x + (dir * h0) * k1, t + dir * h0);
    ++r.nfe;
    const double d2 = rmsNorm(f1 - k1, scale) / h0;
    const double m = std::max(d1, d2);
    const double h1 = m <= 1e-15 ? std::max(1e-6, h0 * 1e-3) : std::pow(0.01 / m, 1.0 / 5.0);
    h = std::min(100 * h0, h1);
  }
  h = std::min(h, span);

  while (dir * (o.t1 - t) > 0) {
    if (r.acceptedSteps + r.rejectedSteps >= o.maxSteps)
      throw DataError("dopri5: no convergence within " + std::to_string(o.maxSteps) + " steps (rtol " +
                      std::to_string(o.rtol) + ", atol " + std::to_string(o.atol) + ")");
    const bool last = h >= dir * (o.t1 - t) * (1 - 1e-12);
    if (last) h = dir * (o.t1 - t);
    const double s = dir * h;  // signed step
    const auto k2 = v(x + s * (a21 * k1), t + c2 * s);
    const auto k3 = v(x + s * (a31 * k1 + a32 * k2), t + c3 * s);
    const auto k4 = v(x + s * (a41 * k1 + a42 * k2 + a43 * k3), t + c4 * s);
    const auto k5 = v(x + s * (a51 * k1 + a52 * k2 + a53 * k3 + a54 * k4), t + c5 * s);
    const auto k6 = v(x + s * (a61 * k1 + a62 * k2 + a63 * k3 + a64 * k4 + a65 * k5), t + s);
    const auto xNew = x + s * (b1 * k1 + b3 * k3 + b4 * k4 + b5 * k5 + b6 * k6);
    const double tNew = last ? o.t1 : t + s;
    const auto k7 = v(xNew, tNew);
    r.nfe += 6;
    const auto err = s * (e1 * k1 + e3 * k3 + e4 * k4 + e5 * k5 + e6 * k6 + e7 * k7);
    const auto scale = o.atol + o.rtol * torch::max(x.abs(), xNew.abs());
    const double errNorm = rmsNorm(err, scale);
    if (!std::isfinite(errNorm)) throw DataError("dopri5: the velocity produced non-finite values at t = " + std::to_string(t));
    if (errNorm <= 1.0) {
      x = xNew;
      t = tNew;
      k1 = k7;  // first same as last
      ++r.acceptedSteps;
    } else {
      ++r.rejectedSteps;
    }
    const double factor = errNorm == 0 ? 10.0 : std::clamp(0.9 * std::pow(errNorm, -1.0 / 5.0), 0.2, 10.0);
    h = std::abs(h) * factor;
  }
  r.x = x;
  return r;
}

std::unique_ptr<OdeSolver> makeSolver(SolverMethod method) {
  switch (method) {
    case SolverMethod::Euler: return std::make_unique<EulerSolver>();
    case SolverMethod::Midpoint: return std::make_unique<MidpointSolver>();
    case SolverMethod::Heun: return std::make_unique<HeunSolver>();
    case SolverMethod::Rk4: return std::make_unique<Rk4Solver>();
    case SolverMethod::Dopri5: return std::make_unique<Dopri5Solver>();
  }
  throw UsageError("solver: unknown method");
}

SolveResult solve(const VelocityFn& v, const torch::Tensor& x0, const SolverOptions& options) {
  options.validate();
  return makeSolver(options.method)->solve(v, x0, options);
}

std::vector<SolveResult> eulerNfeSweep(const VelocityFn& v, const torch::Tensor& x0, const std::vector<int>& nfes,
                                       double t0, double t1, int* totalNfe) {
  if (nfes.empty()) throw OptionError("{nfeSweep}: give at least one NFE");
  for (int n : nfes)
    if (n < 1) throw OptionError("{nfeSweep}: every NFE must be at least 1 (got " + std::to_string(n) + ")");
  if (!(t1 != t0)) throw UsageError("solver: t0 and t1 must differ");
  // The first evaluation is common to every grid.
  const torch::Tensor v0 = v(x0, t0);
  int total = 1;
  std::map<int, torch::Tensor> done;
  for (int n : nfes) {
    if (done.count(n)) continue;
    const double h = (t1 - t0) / double(n);
    torch::Tensor x = x0 + h * v0;
    for (int i = 1; i < n; ++i) {
      x = x + h * v(x, t0 + (t1 - t0) * double(i) / double(n));
      ++total;
    }
    done[n] = x;
  }
  std::vector<SolveResult> out;
  for (int n : nfes) {
    SolveResult r;
    r.x = done[n];
    r.nfe = n;
    r.acceptedSteps = n;
    out.push_back(r);
  }
  if (totalNfe) *totalNfe = total;
  return out;
}

}  // namespace mr2ct
