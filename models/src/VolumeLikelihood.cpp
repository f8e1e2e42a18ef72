#include "mr2ct/models/VolumeLikelihood.h"

#include "SliceBatch.h"

#include <algorithm>
#include <cmath>

#include "mr2ct/core/Error.h"
#include "mr2ct/core/OptionError.h"
#include "mr2ct/models/Random.h"

namespace mr2ct {


void VolumeLikelihoodOptions::validate() const {
  if (dims == 3)
    throw DataError("likelihood",
                    "3D patch models are not supported: their velocity blends overlapping patches, so the divergence "
                    "needs one autograd graph over the whole volume at every step (use a 2D/2.5D model)");
  if (dims != 2) throw UsageError("likelihood: dims must be 2 (got " + std::to_string(dims) + ")");
  if (contextSlices < 0) throw UsageError("likelihood: contextSlices must not be negative");
  if (batchSize < 1) throw OptionError("{batch} must be at least 1 (got " + std::to_string(batchSize) + ")");
  if (sizeMultiple < 1) throw UsageError("likelihood: sizeMultiple must be at least 1");
  if (source != "mr" && source != "noise") throw UsageError("likelihood: source must be mr or noise (got '" + source + "')");
  if (!(sigma >= 0) || !std::isfinite(sigma)) throw UsageError("likelihood: sigma must be finite and >= 0");
  if (source == "mr" && sigma == 0.0)
    throw DataError("likelihood",
                    "this model starts from the MR itself (source mr, sigma 0): its source density is the unknown "
                    "distribution of MR images, so log p(CT | MR) does not exist; only noise-source models and "
                    "mr-source models with bridge noise sigma > 0 have a likelihood");
  likelihood.validate();
}

nlohmann::json VolumeLikelihoodOptions::toJson() const {
  return {{"dims", dims},       {"contextSlices", contextSlices},
          {"batchSize", batchSize}, {"device", device.str()},
          {"source", source},   {"sigma", sigma},
          {"source_density", source == "noise" ? "N(0, I)" : "N(MR, sigma^2 I)"},
          {"likelihood", likelihood.toJson()}};
}

nlohmann::json VolumeLikelihood::toJson() const {
  return {{"log_density_nats", logDensity}, {"log_source_nats", logSource}, {"divergence_integral", divergence},
          {"voxels", voxels},          {"bits_per_voxel", bitsPerVoxel},  {"nfe", nfe},
          {"evaluations", evaluations}, {"vjps", vjps},                   {"batches", batches},
          {"rms_x0", rmsX0}};
}

namespace {
using slicebatch::padTo2d;
using slicebatch::roundUp;
}  // namespace

VolumeLikelihood volumeLogLikelihood(const ConditionalVelocityFn& velocity, const torch::Tensor& mrIn,
                                     const torch::Tensor& ctIn, const VolumeLikelihoodOptions& options,
                                     const LikelihoodProgress& progress) {
  options.validate();
  if (mrIn.dim() != 3 || mrIn.numel() == 0) throw DataError("likelihood", "the MR tensor must be a non-empty [D,H,W]");
  if (ctIn.sizes() != mrIn.sizes()) throw DataError("likelihood", "the CT tensor must have the MR's shape");
  const torch::Tensor mr = mrIn.to(torch::kCPU, torch::kFloat32).contiguous();
  const torch::Tensor ct = ctIn.to(torch::kCPU, torch::kFloat32).contiguous();
  const int64_t D = mr.size(0), H = mr.size(1), W = mr.size(2);
  const int64_t Hp = roundUp(H, options.sizeMultiple), Wp = roundUp(W, options.sizeMultiple);
  const int k = options.contextSlices;
  const int64_t B = options.batchSize;
  const bool noise = options.source == "noise";
  const bool exact = options.likelihood.divergence == DivergenceMethod::Exact;
  const int64_t K = options.likelihood.probes;
  const std::size_t batches = std::size_t((D + B - 1) / B);
  VolumeLikelihood r;
  double sumSq = 0.0;
  for (int64_t z0 = 0; z0 < D; z0 += B) {
    const int64_t b = std::min(B, D - z0);
    const torch::Tensor cond = padTo2d(slicebatch::conditionSlices(mr, z0, b, k), Hp, Wp).to(options.device);
    const torch::Tensor x1 = padTo2d(ct.narrow(0, z0, b).unsqueeze(1), Hp, Wp).to(options.device);
    torch::Tensor probes;
    if (!exact) {
      std::vector<torch::Tensor> perSlice;
      for (int64_t z = z0; z < z0 + b; ++z)
        perSlice.push_back(rademacherProbes(K, {1, Hp, Wp}, SplitMix64::forStream(options.likelihood.seed, uint64_t(z)).next()));
      probes = torch::stack(perSlice, 1).to(options.device);  // [K, b, 1, Hp, Wp]
    }
    const VelocityFn v = [&](const torch::Tensor& x, double t) {
      return velocity(x, torch::full({b}, t, x.options().requires_grad(false)), cond);
    };
    const DivergenceIntegral d = integrateDivergence(v, x1, options.likelihood, probes);
    const torch::Tensor mean = noise ? torch::Tensor() : cond.narrow(1, k, 1);
    const double sigma = noise ? 1.0 : options.sigma;
    const double logSource = gaussianLogDensity(d.x0, mean, sigma).sum().item<double>();
    const torch::Tensor diff = (noise ? d.x0 : d.x0 - mean).to(torch::kFloat64);
    sumSq += diff.pow(2).sum().item<double>() / (sigma * sigma);
    r.logSource += logSource;
    r.divergence += d.integral.sum().item<double>();
    r.nfe = std::max(r.nfe, d.nfe);
    r.evaluations += d.nfe;
    r.vjps += d.vjps;
    ++r.batches;
    if (progress) progress(std::size_t(r.batches), batches);
  }
  r.voxels = D * Hp * Wp;
  r.logDensity = r.logSource - r.divergence;
  r.bitsPerVoxel = bitsPerDimension(r.logDensity, double(r.voxels));
  r.rmsX0 = std::sqrt(sumSq / double(r.voxels));
  return r;
}

}  // namespace mr2ct
