#include "mr2ct/models/BridgeSampler.h"

#include <cmath>
#include <string>

#include "mr2ct/core/Error.h"

namespace mr2ct {

SolveResult bridgeSample(const VelocityFn& v, const torch::Tensor& mr, double sigma, const std::vector<double>& grid,
                         const StepNoiseFn& noise) {
  if (!(sigma > 0.0)) throw UsageError("bridge sampler: sigma must be > 0 (got " + std::to_string(sigma) + ")");
  if (grid.size() < 2 || grid.front() != 0.0 || grid.back() > 1.0)
    throw UsageError("bridge sampler: the time grid must start at 0 and end at or before 1");
  SolveResult r;
  r.x = mr;
  for (std::size_t i = 0; i + 1 < grid.size(); ++i) {
    const double t = grid[i], h = grid[i + 1] - t;
    if (!(h > 0.0)) throw UsageError("bridge sampler: the time grid must be strictly increasing");
    const double rest = 1.0 - t;  // > 0: t < grid.back() ≤ 1
    const torch::Tensor x1 = mr + v(r.x, t);
    ++r.nfe;
    torch::Tensor next = r.x + (h / rest) * (x1 - r.x);
    const double variance = sigma * sigma * h * (rest - h) / rest;
    if (variance > 0.0) next.add_(noise(int(i)).to(next.options()), std::sqrt(variance));
    r.x = next;
    ++r.acceptedSteps;
  }
  return r;
}

}  // namespace mr2ct
