#include "mr2ct/models/VolumeIntegrator.h"

#include "SliceBatch.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>

#include "mr2ct/core/Error.h"
#include "mr2ct/core/OptionError.h"

namespace mr2ct {

using torch::indexing::Slice;

BlendWindow parseBlendWindow(const std::string& name) {
  if (name == "gaussian") return BlendWindow::Gaussian;
  if (name == "hann") return BlendWindow::Hann;
  throw OptionError("{blend}: unknown window '" + name + "' (use gaussian or hann)");
}

void IntegratorOptions::validate() const {
  if (dims != 2 && dims != 3) throw UsageError("integrator: dims must be 2 or 3 (got " + std::to_string(dims) + ")");
  if (contextSlices < 0) throw UsageError("integrator: contextSlices must not be negative");
  if (batchSize < 1) throw OptionError("{batch} must be at least 1 (got " + std::to_string(batchSize) + ")");
  if (sizeMultiple < 1) throw UsageError("integrator: sizeMultiple must be at least 1");
  if (source != "mr" && source != "noise")
    throw UsageError("integrator: source must be mr or noise (got '" + source + "')");
  if (dims == 3) {
    for (int i = 0; i < 3; ++i) {
      if (patchSize[i] < 1 || patchSize[i] % sizeMultiple != 0)
        throw OptionError("{patch}: every patch size must be a positive multiple of " + std::to_string(sizeMultiple));
      if (patchOverlap[i] < 0 || patchOverlap[i] >= patchSize[i])
        throw OptionError("{overlap}: each overlap must be in [0, patch size)");
    }
  }
  solver.validate();
  if (!(bridgeSigma >= 0.0)) throw UsageError("integrator: bridgeSigma must be >= 0");
  if (bridgeSigma > 0.0 && source != "mr") throw UsageError("integrator: the bridge sampler needs the mr source");
  if (bridgeSigma > 0.0 && solver.method == SolverMethod::Dopri5)
    throw OptionError("{samples} with an mr-source model samples the Brownian bridge on a fixed grid: use a fixed-step "
                     "{solver.method} (euler, midpoint, heun, rk4) with {steps} N (NFE N), not dopri5");
  // One step lands on the posterior mean without noise (the bridge's last step has none): every
  // draw would be the same.
  if (bridgeSigma > 0.0 && solver.grid().size() < 3)
    throw OptionError("{samples} with an mr-source model and {steps} 1: one bridge step ends on the posterior mean "
                     "without noise, so every draw is the same; use {steps} 2 or more");
}

nlohmann::json IntegratorOptions::toJson() const {
  nlohmann::json j{{"dims", dims}, {"batchSize", batchSize}, {"solver", solver.toJson()}, {"device", device.str()},
                   {"source", source}};
  if (source == "noise") j["noiseSeed"] = noiseSeed;
  if (bridgeSigma > 0.0) j["sampler"] = {{"kind", "bridge"}, {"sigma", bridgeSigma}, {"noiseSeed", noiseSeed}};
  if (dims == 2) {
    j["contextSlices"] = contextSlices;
  } else {
    j["patchSize"] = patchSize;
    j["patchOverlap"] = patchOverlap;
    j["blend"] = blend == BlendWindow::Gaussian ? "gaussian" : "hann";
  }
  return j;
}

std::vector<int64_t> tileStarts(int64_t length, int64_t window, int64_t overlap) {
  if (window >= length) return {0};
  const int64_t stride = std::max<int64_t>(1, window - overlap);
  const int64_t tiles = (length - window + stride - 1) / stride + 1;  // ceil((L − w)/stride) + 1
  std::vector<int64_t> starts(std::size_t(tiles), 0);
  // Spread the tiles evenly so the overlaps are about equal (none smaller than `overlap`).
  for (int64_t i = 0; i < tiles; ++i)
    starts[std::size_t(i)] = tiles == 1 ? 0 : int64_t(std::llround(double(i) * double(length - window) / double(tiles - 1)));
  return starts;
}

torch::Tensor blendWindow1d(int64_t length, BlendWindow kind) {
  const auto i = torch::arange(length, torch::kFloat64);
  torch::Tensor w;
  if (kind == BlendWindow::Gaussian) {
    const double sigma = std::max(1e-6, double(length) / 8.0);
    const double centre = double(length - 1) / 2.0;
    w = torch::exp(-(i - centre).pow(2) / (2.0 * sigma * sigma));
  } else {
    w = 0.5 - 0.5 * torch::cos(2.0 * M_PI * (i + 1.0) / double(length + 1));
  }
  w = w / w.max();
  return w.clamp_min(1e-3).to(torch::kFloat32);
}

namespace {

using slicebatch::padTo2d;
using slicebatch::padTo3d;
using slicebatch::roundUp;

/// x0 ~ N(0, I) of the given (padded) shape, from its own CPU generator.
torch::Tensor seededNoise(at::IntArrayRef sizes, std::uint64_t seed) {
  auto generator = at::detail::createCPUGenerator(seed);
  return torch::randn(sizes, generator, torch::kFloat32);
}

void checkInput(const torch::Tensor& mr) {
  if (mr.dim() != 3) throw DataError("integrator: the MR tensor must be [D,H,W], got " + std::to_string(mr.dim()) + " dims");
  if (mr.numel() == 0) throw DataError("integrator: the MR tensor is empty");
}

/// The seed of one slice's (or, with slice −1, the whole volume's) bridge noise at one step:
/// SplitMix64's finalizer over the three, so neighbouring slices and steps are unrelated streams.
std::uint64_t stepSeed(std::uint64_t seed, int64_t slice, int step) {
  std::uint64_t z = seed + 0x9E3779B97F4A7C15ull * std::uint64_t(slice + 2) + 0xD1B54A32D192ED03ull * std::uint64_t(step + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// Evaluations of eulerNfeSweep: the first one is shared, each grid then takes n − 1 more.
std::size_t sweepEvaluations(const std::vector<int>& nfes) {
  std::size_t total = 1;
  for (int n : nfes) total += std::size_t(std::max(0, n - 1));
  return total;
}

}  // namespace

VolumeIntegrator::VolumeIntegrator(ConditionalVelocityFn velocity, IntegratorOptions options)
    : velocity_(std::move(velocity)), options_(std::move(options)) {
  options_.validate();
}

VolumeIntegrator VolumeIntegrator::withNoiseSeed(std::uint64_t seed) const {
  IntegratorOptions o = options_;
  o.noiseSeed = seed;
  VolumeIntegrator copy(velocity_, o);
  copy.progress = progress;
  return copy;
}

IntegrationResult VolumeIntegrator::integrate(const torch::Tensor& mr) const {
  const SolverOptions so = options_.solver;
  if (options_.bridgeSigma > 0.0) {
    const std::vector<double> grid = so.grid();
    const double sigma = options_.bridgeSigma;
    return run(
        mr,
        [grid, sigma](const VelocityFn& v, const torch::Tensor& x0, const StepNoiseFn& noise) {
          return std::vector<SolveResult>{bridgeSample(v, x0, sigma, grid, noise)};
        },
        1, grid.size() - 1);
  }
  return run(
      mr,
      [so](const VelocityFn& v, const torch::Tensor& x0, const StepNoiseFn&) {
        return std::vector<SolveResult>{solve(v, x0, so)};
      },
      1, std::size_t(std::max(0, so.expectedNfe())));
}

IntegrationResult VolumeIntegrator::integrateSweep(const torch::Tensor& mr, const std::vector<int>& nfes) const {
  const double t0 = options_.solver.t0, t1 = options_.solver.t1;
  return run(
      mr,
      [nfes, t0, t1](const VelocityFn& v, const torch::Tensor& x0, const StepNoiseFn&) {
        return eulerNfeSweep(v, x0, nfes, t0, t1);
      },
      nfes.size(), sweepEvaluations(nfes));
}

IntegrationResult VolumeIntegrator::run(const torch::Tensor& mr, const UnitSolver& unit, std::size_t outputs,
                                       std::size_t expectedEvaluations) const {
  checkInput(mr);
  torch::NoGradGuard noGrad;
  return options_.dims == 2 ? runSlices(mr, unit, outputs) : runPatches(mr, unit, outputs, expectedEvaluations);
}

// ---- 2D / 2.5D ---------------------------------------------------------------------------------

IntegrationResult VolumeIntegrator::runSlices(const torch::Tensor& mrIn, const UnitSolver& unit,
                                              std::size_t outputs) const {
  const torch::Tensor mr = mrIn.to(torch::kCPU, torch::kFloat32).contiguous();
  const int64_t D = mr.size(0), H = mr.size(1), W = mr.size(2);
  const int64_t Hp = roundUp(H, options_.sizeMultiple), Wp = roundUp(W, options_.sizeMultiple);
  const int k = options_.contextSlices;
  IntegrationResult result;
  for (std::size_t i = 0; i < outputs; ++i) result.x.push_back(torch::empty({D, H, W}, torch::kFloat32));
  result.nfe.assign(outputs, 0);
  int64_t B = options_.batchSize;
  if (options_.maxBatchVoxels > 0) B = std::max<int64_t>(1, std::min(B, options_.maxBatchVoxels / (Hp * Wp)));
  const std::size_t batches = std::size_t((D + B - 1) / B);
  const bool noiseSource = options_.source == "noise";
  const torch::Tensor noiseVolume = noiseSource ? seededNoise({D, 1, Hp, Wp}, options_.noiseSeed) : torch::Tensor();
  for (int64_t z0 = 0; z0 < D; z0 += B) {
    const int64_t b = std::min(B, D - z0);
    // x0 = condition channel k (the slice itself).
    const torch::Tensor cond = padTo2d(slicebatch::conditionSlices(mr, z0, b, k), Hp, Wp).to(options_.device);
    const torch::Tensor x0 =
        noiseSource ? noiseVolume.narrow(0, z0, b).to(options_.device) : cond.narrow(1, k, 1).clone();
    int evaluations = 0;
    const VelocityFn v = [&](const torch::Tensor& x, double t) {
      ++evaluations;
      return velocity_(x, torch::full({b}, t, x.options()), cond);
    };
    const StepNoiseFn noise = [&](int step) {
      std::vector<torch::Tensor> slices;
      for (int64_t z = z0; z < z0 + b; ++z) slices.push_back(seededNoise({1, Hp, Wp}, stepSeed(options_.noiseSeed, z, step)));
      return torch::stack(slices, 0).to(options_.device);
    };
    const auto solved = unit(v, x0, noise);
    for (std::size_t i = 0; i < outputs; ++i) {
      const auto x = solved[i].x.index({Slice(), 0, Slice(0, H), Slice(0, W)}).to(torch::kCPU, torch::kFloat32);
      result.x[i].narrow(0, z0, b).copy_(x);
      result.nfe[i] = std::max(result.nfe[i], solved[i].nfe);
    }
    result.totalEvaluations += evaluations;
    ++result.batches;
    if (progress) progress(std::size_t(result.batches), batches);
  }
  return result;
}

// ---- 3D patches ----------------------------------------------------------------------------------

IntegrationResult VolumeIntegrator::runPatches(const torch::Tensor& mrIn, const UnitSolver& unit,
                                               std::size_t outputs, std::size_t expectedEvaluations) const {
  const torch::Tensor mr = mrIn.to(torch::kCPU, torch::kFloat32).contiguous();
  const int64_t D = mr.size(0), H = mr.size(1), W = mr.size(2);
  const int64_t m = options_.sizeMultiple;
  // A patch never larger than the (padded) volume.
  const int64_t pd = std::min(options_.patchSize[0], roundUp(D, m));
  const int64_t ph = std::min(options_.patchSize[1], roundUp(H, m));
  const int64_t pw = std::min(options_.patchSize[2], roundUp(W, m));
  const int64_t Sd = std::max(D, pd), Sh = std::max(H, ph), Sw = std::max(W, pw);  // padded volume
  // The state of the whole volume stays on the CPU (it is volume-sized like the input and the
  // output); only batches of patches go to the device, so device memory is bounded by the batch.
  const torch::Tensor cond = padTo3d(mr.unsqueeze(0).unsqueeze(0), Sd, Sh, Sw);  // [1,1,Sd,Sh,Sw]
  struct Tile {
    int64_t z, y, x;
  };
  std::vector<Tile> tiles;
  for (int64_t z : tileStarts(Sd, pd, options_.patchOverlap[0]))
    for (int64_t y : tileStarts(Sh, ph, options_.patchOverlap[1]))
      for (int64_t x : tileStarts(Sw, pw, options_.patchOverlap[2])) tiles.push_back({z, y, x});
  const torch::Tensor wd = blendWindow1d(pd, options_.blend), wh = blendWindow1d(ph, options_.blend),
                      ww = blendWindow1d(pw, options_.blend);
  const torch::Tensor patchWeight = wd.view({pd, 1, 1}) * wh.view({1, ph, 1}) * ww.view({1, 1, pw});
  // Σ window over the tiles, constant over the whole solve.
  torch::Tensor weightSum = torch::zeros({Sd, Sh, Sw}, torch::kFloat32);
  for (const auto& t : tiles) weightSum.narrow(0, t.z, pd).narrow(1, t.y, ph).narrow(2, t.x, pw).add_(patchWeight);

  IntegrationResult result;
  const int64_t B = options_.batchSize;
  int evaluations = 0;
  // The velocity of the whole volume at every evaluation: each tile's velocity, window-weighted,
  // normalised by Σ window. The solver steps one field, so no seam can build up over steps.
  const VelocityFn v = [&](const torch::Tensor& x, double t) {
    torch::Tensor out = torch::zeros({Sd, Sh, Sw}, torch::kFloat32);
    for (std::size_t i0 = 0; i0 < tiles.size(); i0 += std::size_t(B)) {
      const std::size_t n = std::min(tiles.size() - i0, std::size_t(B));
      std::vector<torch::Tensor> xs, cs;
      for (std::size_t i = i0; i < i0 + n; ++i) {
        const auto& tl = tiles[i];
        xs.push_back(x.narrow(2, tl.z, pd).narrow(3, tl.y, ph).narrow(4, tl.x, pw));
        cs.push_back(cond.narrow(2, tl.z, pd).narrow(3, tl.y, ph).narrow(4, tl.x, pw));
      }
      const torch::Tensor xb = torch::cat(xs, 0).to(options_.device), cb = torch::cat(cs, 0).to(options_.device);
      const torch::Tensor vel =
          velocity_(xb, torch::full({int64_t(n)}, t, xb.options()), cb).to(torch::kCPU, torch::kFloat32);
      for (std::size_t i = 0; i < n; ++i) {
        const auto& tl = tiles[i0 + i];
        out.narrow(0, tl.z, pd).narrow(1, tl.y, ph).narrow(2, tl.x, pw).add_(vel[int64_t(i)][0] * patchWeight);
      }
    }
    ++evaluations;
    if (progress) progress(std::size_t(evaluations), std::max(std::size_t(evaluations), expectedEvaluations));
    return out.div_(weightSum).view({1, 1, Sd, Sh, Sw});
  };
  const StepNoiseFn noise = [&](int step) { return seededNoise({1, 1, Sd, Sh, Sw}, stepSeed(options_.noiseSeed, -1, step)); };
  const auto solved =
      unit(v, options_.source == "noise" ? seededNoise({1, 1, Sd, Sh, Sw}, options_.noiseSeed) : cond.clone(), noise);
  result.nfe.assign(outputs, 0);
  for (std::size_t i = 0; i < outputs; ++i) {
    result.x.push_back(
        solved[i].x.reshape({Sd, Sh, Sw}).narrow(0, 0, D).narrow(1, 0, H).narrow(2, 0, W).contiguous());
    result.nfe[i] = solved[i].nfe;
  }
  result.totalEvaluations = evaluations;
  result.batches = 1;
  return result;
}

}  // namespace mr2ct
