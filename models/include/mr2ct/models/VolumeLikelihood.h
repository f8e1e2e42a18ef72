#pragma once
// log p(CT | MR) of a whole volume under a 2D/2.5D flow model (LogLikelihood.h per batch of slices).
//
// A 2D/2.5D model moves each slice by its own ODE (VolumeIntegrator.h: the slice's state and its MR
// condition channels z−k … z+k, clamped at the ends), so the model's density of the volume is the
// product of the slices' densities: log p(CT | MR) = Σ_z log p(CT_z | MR). H and W are padded
// (replicate) to the network's size multiple as in conversion; the density is then that of the
// padded slice (the CT's edge repeated), and `voxels` counts the padded voxels.
//
// Source densities p₀ (FlowConfig.source, sigma):
//   noise:          x₀ ~ N(0, I)                       log p₀ = log N(x₀; 0, I)
//   mr, σ > 0:      x₀ ~ N(MR, σ²I)                    log p₀ = log N(x₀; MR, σ²I)
//                   (the model that starts the learned ODE from the MR plus σ-noise; the training
//                   path's own t = 0 marginal is the MR itself, a point mass)
//   mr, σ = 0:      refused: x₀ is the MR, whose distribution is unknown, so no density exists.
//
// 3D patch models are refused: their velocity is a window-blended sum over overlapping patches, a
// well-defined field whose divergence needs every patch touching a voxel in one autograd graph of
// the whole volume at every evaluation (the 3D state lives on the CPU, patches stream through the
// device); not implemented.
//
// Shapes: mr, ct [D, H, W] float CPU, the CT already normalized to the model's [-1, 1].
#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "mr2ct/models/LogLikelihood.h"
#include "mr2ct/models/VolumeIntegrator.h"

namespace mr2ct {

struct VolumeLikelihoodOptions {
  int dims = 2;               ///< the network's; 3 is refused (see above)
  int contextSlices = 0;      ///< 2.5D condition channels on each side
  int batchSize = 4;          ///< slices per solve
  int64_t sizeMultiple = 1;   ///< H, W padded (replicate) to multiples of this
  torch::Device device = torch::kCPU;
  std::string source = "mr";  ///< "mr" | "noise"
  double sigma = 0.0;         ///< the model's bridge noise σ (mr source: the source's std)
  LikelihoodOptions likelihood;

  /// UsageError naming the option; DataError with the sentence above for σ = 0 and for 3D.
  void validate() const;
  nlohmann::json toJson() const;
};

struct VolumeLikelihood {
  double logDensity = 0.0;    ///< log p(CT | MR) in nats, Σ over slices
  double logSource = 0.0;     ///< Σ log p₀(x₀)
  double divergence = 0.0;    ///< Σ ∫₀¹ div v dt
  int64_t voxels = 0;         ///< dimensions (padded slices × D)
  double bitsPerVoxel = 0.0;  ///< −log₂ p / voxels
  int nfe = 0;                ///< velocity evaluations per solve
  int64_t evaluations = 0;    ///< over all batches
  int64_t vjps = 0;           ///< backward passes over all batches
  int batches = 0;
  double rmsX0 = 0.0;         ///< RMS of (x₀ − source mean) over voxels: how atypical the mapped source is
  nlohmann::json toJson() const;
};

/// Called with (done, total) batches of slices.
using LikelihoodProgress = std::function<void(std::size_t, std::size_t)>;

/// The velocity is called with gradients enabled (x requires grad). Probes are Rademacher, seeded
/// per slice from (seed, z), so the result does not depend on the batch size.
VolumeLikelihood volumeLogLikelihood(const ConditionalVelocityFn& velocity, const torch::Tensor& mr,
                                     const torch::Tensor& ct, const VolumeLikelihoodOptions& options,
                                     const LikelihoodProgress& progress = {});

}  // namespace mr2ct
