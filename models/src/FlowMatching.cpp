#include "mr2ct/models/FlowMatching.h"

#include <cmath>

#include "mr2ct/core/Error.h"

namespace mr2ct {

LinearProbabilityPath::LinearProbabilityPath(double sigma) : sigma_(sigma) {
  if (!(sigma >= 0.0)) throw UsageError("LinearProbabilityPath: sigma must be >= 0");
}

PathSample LinearProbabilityPath::sample(const torch::Tensor& x0, const torch::Tensor& x1, const torch::Tensor& t,
                                         const torch::Tensor& eps) const {
  TORCH_CHECK(x0.sizes() == x1.sizes(), "LinearProbabilityPath: x0 ", x0.sizes(), " and x1 ", x1.sizes(),
              " must have the same shape");
  TORCH_CHECK(t.dim() == 1 && t.size(0) == x0.size(0), "LinearProbabilityPath: t must have shape [batch_size] = [",
              x0.size(0), "], got ", t.sizes());
  std::vector<int64_t> shape(size_t(x0.dim()), 1);
  shape[0] = x0.size(0);
  const torch::Tensor tb = t.to(x0.dtype()).view(shape);  // [B, 1, 1, ...]
  PathSample s;
  s.x0 = x0;
  s.x1 = x1;
  s.t = t;
  s.x_t = x0 + tb * (x1 - x0);
  if (sigma_ > 0.0) {
    TORCH_CHECK(eps.defined() && eps.sizes() == x0.sizes(), "LinearProbabilityPath: sigma > 0 needs eps of shape ",
                x0.sizes());
    s.x_t = s.x_t + sigma_ * torch::sqrt((tb * (1.0 - tb)).clamp_min(0.0)) * eps;
  }
  s.dx_t = x1 - x0;
  return s;
}

TimeSampler::TimeSampler(const FlowConfig& flow)
    : logitNormal_(flow.timeSampling == "logit-normal"), mean_(flow.logitMean), std_(flow.logitStd) {}

double TimeSampler::sample(SplitMix64& rng) const {
  if (!logitNormal_) return rng.uniform();
  const double z = mean_ + std_ * rng.normal();
  return 1.0 / (1.0 + std::exp(-z));
}

torch::Tensor lossWeights(const torch::Tensor& body, const torch::Tensor& valid, double bodyWeight,
                          double backgroundWeight) {
  return valid * (backgroundWeight + (bodyWeight - backgroundWeight) * body);
}

torch::Tensor lossWeights(const torch::Tensor& body, const torch::Tensor& valid, const torch::Tensor& ct,
                          const FlowConfig& flow, double boneLevel) {
  torch::Tensor w = lossWeights(body, valid, flow.bodyWeight, flow.backgroundWeight);
  if (flow.boneWeight == 1.0) return w;
  TORCH_CHECK(ct.sizes() == w.sizes(), "lossWeights: ct ", ct.sizes(), " and body ", w.sizes(), " differ in shape");
  return w * (1.0 + (flow.boneWeight - 1.0) * ct.gt(boneLevel).to(w.scalar_type()));
}

torch::Tensor flowMatchingLoss(const torch::Tensor& v, const torch::Tensor& u, const torch::Tensor& w) {
  TORCH_CHECK(v.sizes() == u.sizes() && w.sizes() == u.sizes(), "flowMatchingLoss: v ", v.sizes(), ", u ",
              u.sizes(), " and w ", w.sizes(), " must have the same shape");
  return flowMatchingErrorSum(v, u, w) / w.sum().clamp_min(1.0);
}

torch::Tensor flowMatchingErrorSum(const torch::Tensor& v, const torch::Tensor& u, const torch::Tensor& w) {
  return (w * (v - u).square()).sum();
}

}  // namespace mr2ct
