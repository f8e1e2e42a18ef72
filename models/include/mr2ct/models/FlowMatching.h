#pragma once
// Flow matching from the MR (or from noise) to the CT (DESIGN.md §4), in the style of
// facebookresearch/flow_matching: a probability path returns a PathSample (x_t and its target
// velocity dx_t); the loss compares the network's velocity with dx_t.
#include <cstdint>

#include <torch/torch.h>

#include "mr2ct/models/ModelFolder.h"
#include "mr2ct/models/Random.h"

namespace mr2ct {

/// One sample of the path at times t. Shapes: x0, x1, x_t, dx_t [B, 1, *spatial]; t [B].
struct PathSample {
  torch::Tensor x0, x1, t, x_t, dx_t;
};

/// The linear (conditional optimal-transport) path with optional Brownian-bridge noise:
///   x_t  = (1 − t)·x0 + t·x1 + σ·√(t(1 − t))·ε,   ε ~ N(0, I)
///   dx_t = x1 − x0                                  (the target velocity)
/// At σ = 0 this is the straight line from x0 to x1; the bridge term vanishes at t = 0 and t = 1.
class LinearProbabilityPath {
 public:
  explicit LinearProbabilityPath(double sigma = 0.0);
  /// x0, x1: [B, ...] of the same shape; t: [B] in [0, 1]; eps: like x0 (required when σ > 0,
  /// ignored at σ = 0). Works in any floating dtype (tests use float64).
  PathSample sample(const torch::Tensor& x0, const torch::Tensor& x1, const torch::Tensor& t,
                    const torch::Tensor& eps = {}) const;
  double sigma() const { return sigma_; }

 private:
  double sigma_;
};

/// Training times: "uniform" t ~ U[0, 1], or "logit-normal" t = sigmoid(m + s·z), z ~ N(0, 1).
class TimeSampler {
 public:
  explicit TimeSampler(const FlowConfig& flow);
  double sample(SplitMix64& rng) const;

 private:
  bool logitNormal_;
  double mean_, std_;
};

/// Per-voxel loss weights: w = valid · (bodyWeight·body + backgroundWeight·(1 − body)).
/// body, valid: {0, 1} tensors [B, 1, *spatial]. Voxels outside the CT's field of view (valid = 0)
/// never contribute.
torch::Tensor lossWeights(const torch::Tensor& body, const torch::Tensor& valid, double bodyWeight,
                          double backgroundWeight);
/// The same, times boneWeight where the target CT (normalized, like ct) is above boneLevel: the
/// flow's loss with FlowConfig::boneWeight. boneWeight 1 gives lossWeights(body, valid, ...) exactly.
torch::Tensor lossWeights(const torch::Tensor& body, const torch::Tensor& valid, const torch::Tensor& ct,
                          const FlowConfig& flow, double boneLevel);

/// Weighted mean squared error: Σ w·(v − u)² / max(Σ w, 1). v, u, w: [B, 1, *spatial]. Returns a scalar.
torch::Tensor flowMatchingLoss(const torch::Tensor& v, const torch::Tensor& u, const torch::Tensor& w);
/// The loss's numerator Σ w·(v − u)² alone (data-parallel training divides by the global Σ w).
torch::Tensor flowMatchingErrorSum(const torch::Tensor& v, const torch::Tensor& u, const torch::Tensor& w);

}  // namespace mr2ct
