#pragma once
// Stochastic sampling of an mr-source model trained with bridge noise σ > 0. Its probability path
// x_t = (1−t)·MR + t·CT + σ·√(t(1−t))·ε (LinearProbabilityPath) is a Brownian bridge from the MR to
// the CT with diffusion σ, and the network's velocity is v(x, t) = E[CT − MR | x_t = x], so
// x̂1 = MR + v(x, t) is the posterior mean of the endpoint. Each step from t to t + h draws the
// next state from the Brownian bridge between (t, x) and (1, x̂1):
//   x ← x + h/(1−t)·(x̂1 − x) + σ·√(h·(1−t−h)/(1−t))·ξ,   ξ ~ N(0, I)
// (the drift (x̂1 − x)/(1−t) of the bridge SDE dx = (E[x1 | x] − x)/(1−t) dt + σ dW, whose
// marginals are the path's; the variance is the bridge's own, so the last step to t = 1 adds none).
// One velocity evaluation per step (NFE = steps). Without the noise term this is Euler on the
// drift above, which equals v on the path. The spread of K samples is the model's conditional
// spread of p(CT | MR): the uncertainty of `mr2ct convert --samples K`.
#include <functional>
#include <vector>

#include <torch/torch.h>

#include "mr2ct/models/OdeSolver.h"

namespace mr2ct {

/// ξ for step `step` (0-based), standard normal with the state's shape. The caller decides how the
/// noise is seeded (VolumeIntegrator: per slice or per volume, so a sample does not depend on
/// batch size or device).
using StepNoiseFn = std::function<torch::Tensor(int step)>;

/// Samples from x0 = the MR at grid.front() = 0 along `grid` (strictly increasing, last ≤ 1) with
/// bridge noise `sigma` > 0 (the model's flow.sigma). UsageError on a bad grid or σ.
SolveResult bridgeSample(const VelocityFn& v, const torch::Tensor& mr, double sigma, const std::vector<double>& grid,
                         const StepNoiseFn& noise);

}  // namespace mr2ct
