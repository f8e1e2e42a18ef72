#include "mr2ct/models/LogLikelihood.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "mr2ct/core/Error.h"
#include "mr2ct/core/OptionError.h"

namespace mr2ct {

DivergenceMethod parseDivergenceMethod(const std::string& name) {
  if (name == "exact") return DivergenceMethod::Exact;
  if (name == "hutchinson") return DivergenceMethod::Hutchinson;
  throw OptionError("{divergence}: unknown method '" + name + "' (use hutchinson or exact)");
}

std::string divergenceMethodName(DivergenceMethod method) {
  return method == DivergenceMethod::Exact ? "exact" : "hutchinson";
}

namespace {

/// v at a leaf copy of x that requires grad, with gradients on whatever the caller's mode.
std::pair<torch::Tensor, torch::Tensor> velocityWithGraph(const VelocityFn& v, const torch::Tensor& x, double t) {
  torch::Tensor leaf = x.detach().requires_grad_(true);
  torch::Tensor out = v(leaf, t);
  if (!out.requires_grad())
    throw DataError("likelihood", "the velocity does not depend on x through autograd (no divergence can be taken)");
  return {leaf, out};
}

}  // namespace

torch::Tensor exactDivergence(const VelocityFn& v, const torch::Tensor& x, double t) {
  torch::AutoGradMode grad(true);
  auto [leaf, out] = velocityWithGraph(v, x, t);
  const int64_t B = x.size(0), N = x.numel() / std::max<int64_t>(1, B);
  const torch::Tensor flat = out.reshape({B, N});
  torch::Tensor div = torch::zeros({B}, x.options().dtype(torch::kFloat64));
  for (int64_t i = 0; i < N; ++i) {
    // Σ_b ∂v_{b,i}/∂x: batch elements are independent, so row b of the gradient is ∂v_{b,i}/∂x_b.
    const auto g = torch::autograd::grad({flat.select(1, i).sum()}, {leaf}, {}, /*retain_graph=*/i + 1 < N,
                                         /*create_graph=*/false, /*allow_unused=*/true)[0];
    if (g.defined()) div += g.reshape({B, N}).select(1, i).to(torch::kFloat64);
  }
  return div;
}

torch::Tensor hutchinsonDivergence(const VelocityFn& v, const torch::Tensor& x, double t, const torch::Tensor& probes) {
  if (!probes.defined() || probes.dim() != x.dim() + 1 || probes.sizes().slice(1) != x.sizes())
    throw UsageError("hutchinsonDivergence: probes must be [K, " + std::to_string(x.dim()) + " dims of x]");
  torch::AutoGradMode grad(true);
  auto [leaf, out] = velocityWithGraph(v, x, t);
  const int64_t K = probes.size(0), B = x.size(0);
  torch::Tensor sum = torch::zeros({B}, x.options().dtype(torch::kFloat64));
  for (int64_t k = 0; k < K; ++k) {
    const torch::Tensor eps = probes[k].to(out.device(), out.scalar_type());
    // εᵀ(∂v/∂x) = ∂(εᵀv)/∂x: one VJP.
    const auto g = torch::autograd::grad({(out * eps).sum()}, {leaf}, {}, /*retain_graph=*/k + 1 < K,
                                         /*create_graph=*/false, /*allow_unused=*/true)[0];
    if (g.defined()) sum += (g * eps).reshape({B, -1}).sum(1).to(torch::kFloat64);
  }
  return sum / double(K);
}

torch::Tensor rademacherProbes(int64_t k, at::IntArrayRef shape, std::uint64_t seed, torch::ScalarType dtype) {
  std::vector<int64_t> sizes{k};
  sizes.insert(sizes.end(), shape.begin(), shape.end());
  auto generator = at::detail::createCPUGenerator(seed);
  return torch::randint(0, 2, sizes, generator, torch::TensorOptions().dtype(torch::kFloat32)).mul_(2).sub_(1).to(dtype);
}

torch::Tensor gaussianLogDensity(const torch::Tensor& x, const torch::Tensor& mean, double sigma) {
  if (!(sigma > 0) || !std::isfinite(sigma)) throw UsageError("gaussianLogDensity: sigma must be positive and finite");
  const int64_t B = x.size(0);
  const torch::Tensor d = (mean.defined() ? x - mean.to(x.device(), x.scalar_type()) : x).reshape({B, -1}).to(torch::kFloat64);
  const double N = double(d.size(1));
  return -0.5 * d.pow(2).sum(1) / (sigma * sigma) - N * std::log(sigma) - 0.5 * N * std::log(2.0 * M_PI);
}

double bitsPerDimension(double logDensityNats, double dimensions) { return -logDensityNats / (dimensions * std::log(2.0)); }

void LikelihoodOptions::validate() const {
  if (method != SolverMethod::Dopri5 && steps < 1)
    throw OptionError("{steps} must be at least 1 (got " + std::to_string(steps) + ")");
  if (divergence == DivergenceMethod::Hutchinson && probes < 1)
    throw OptionError("{probes} must be at least 1 (got " + std::to_string(probes) + ")");
  solver().validate();
}

nlohmann::json LikelihoodOptions::toJson() const {
  nlohmann::json j{{"solver", solver().toJson()}, {"divergence", divergenceMethodName(divergence)}};
  if (divergence == DivergenceMethod::Hutchinson) {
    j["probes"] = probes;
    j["seed"] = seed;
  }
  return j;
}

SolverOptions LikelihoodOptions::solver() const {
  SolverOptions s;
  s.method = method;
  s.steps = steps;
  s.rtol = rtol;
  s.atol = atol;
  s.t0 = 1.0;  // backwards: from the CT at t = 1 to the source at t = 0
  s.t1 = 0.0;
  return s;
}

DivergenceIntegral integrateDivergence(const VelocityFn& v, const torch::Tensor& x1, const LikelihoodOptions& options,
                                       const torch::Tensor& probes) {
  options.validate();
  if (x1.dim() < 1 || x1.size(0) < 1 || x1.numel() == 0) throw DataError("likelihood", "x1 is empty");
  const bool exact = options.divergence == DivergenceMethod::Exact;
  if (!exact && (!probes.defined() || probes.size(0) < 1))
    throw UsageError("integrateDivergence: Hutchinson needs probes [K, ...x1's shape]");
  const int64_t B = x1.size(0), N = x1.numel() / B;
  const auto shape = x1.sizes().vec();
  DivergenceIntegral r;
  // Augmented state [B, N + 1]: the voxels, then ℓ.
  const torch::Tensor state1 = torch::cat({x1.detach().reshape({B, N}), torch::zeros({B, 1}, x1.options())}, 1);
  const VelocityFn augmented = [&](const torch::Tensor& state, double t) {
    const torch::Tensor x = state.narrow(1, 0, N).reshape(shape);
    torch::Tensor div;
    torch::Tensor vel;
    {
      torch::AutoGradMode grad(true);
      // The divergence functions take their own leaf; evaluate v once more here only through them.
      torch::Tensor velOut;
      const VelocityFn recording = [&](const torch::Tensor& xi, double ti) {
        velOut = v(xi, ti);
        return velOut;
      };
      div = exact ? exactDivergence(recording, x, t) : hutchinsonDivergence(recording, x, t, probes);
      vel = velOut.detach();
    }
    r.vjps += exact ? N : probes.size(0);
    return torch::cat({vel.reshape({B, N}), div.to(state.scalar_type()).reshape({B, 1})}, 1);
  };
  const SolveResult solved = solve(augmented, state1, options.solver());
  r.nfe = solved.nfe;
  r.x0 = solved.x.narrow(1, 0, N).reshape(shape);
  r.integral = -solved.x.select(1, N).to(torch::kFloat64);  // ℓ(0) = −∫₀¹ div v dt
  return r;
}

}  // namespace mr2ct
