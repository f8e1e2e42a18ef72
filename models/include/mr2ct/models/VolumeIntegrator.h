#pragma once
// Whole-volume integration of dx/dt = v(x, t | MR) from x0 = MR, with the network's memory bounded
// by a batch of slices or patches, not by the volume. Knows nothing of files or networks: the velocity is any callable with a
// network's forward signature.
//
//  2D / 2.5D (dims = 2): the volume [D,H,W] is cut into batches of `batchSize` slices along z; each
//    batch is an independent ODE (its slices do not interact), so only one batch of states is
//    alive at a time. Condition channels (as the trainer's SliceSampler): MR slices z−k … z+k,
//    k = contextSlices, the slice itself at channel k; clamped at the volume's ends (slice −1
//    repeats slice 0). H and W are padded (replicate) to sizeMultiple and cropped after.
//
//  3D (dims = 3): overlapping patches tile the whole volume and their VELOCITIES are blended with
//    a Gaussian or Hann window at every evaluation, so the volume's state evolves as one field and
//    no seam can build up over steps (nothing is ever blended on results). The state (a few
//    volume-sized float tensors, as many as the solver's stages) stays on the CPU; batches of
//    `batchSize` patches go to the device, so device memory is bounded by one batch.
//
// Shapes: mr is [D,H,W] float (CPU); results are [D,H,W] float32 CPU.
#include <array>
#include <functional>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "mr2ct/models/BridgeSampler.h"
#include "mr2ct/models/OdeSolver.h"

namespace mr2ct {

/// v(x_t [B,1,...], t [B], cond [B,C,...]) → velocity, shape of x_t. Called under NoGradGuard.
using ConditionalVelocityFn =
    std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& cond)>;

enum class BlendWindow { Gaussian, Hann };
BlendWindow parseBlendWindow(const std::string& name);  ///< "gaussian" | "hann"

struct IntegratorOptions {
  int dims = 2;                 ///< 2: slices (2D/2.5D), 3: overlapping patches
  int contextSlices = 0;        ///< 2.5D: neighbouring MR slices on each side (cond channels 1 + 2k)
  int batchSize = 4;            ///< slices (2D) or patches (3D) per velocity call
  /// 2D: fewer slices per call when batchSize × H × W would exceed this (0 = no limit), so large
  /// slices (512²) do not multiply the network's activation memory. At least one slice per call.
  int64_t maxBatchVoxels = 0;
  int64_t sizeMultiple = 1;     ///< network input sizes must be multiples of this (padding, then crop)
  std::array<int64_t, 3> patchSize{32, 64, 64};    ///< 3D patch [D,H,W]
  std::array<int64_t, 3> patchOverlap{8, 16, 16};  ///< 3D overlap [D,H,W], < patchSize
  BlendWindow blend = BlendWindow::Gaussian;
  torch::Device device = torch::kCPU;
  SolverOptions solver;
  /// x0: "mr" (the MR itself) or "noise" (N(0, I) drawn for the whole padded volume from
  /// `noiseSeed` on the CPU, so a result does not depend on batch size or device).
  std::string source = "mr";
  std::uint64_t noiseSeed = 0;
  /// mr source only: > 0 samples the Brownian bridge with this σ (the model's flow.sigma; see
  /// BridgeSampler.h) on the fixed-step grid of `solver` (one evaluation per step) instead of
  /// solving the ODE; the bridge noise comes from `noiseSeed`, drawn per slice (2D) or for the
  /// whole volume (3D) at every step, so a sample does not depend on batch size or device.
  double bridgeSigma = 0.0;

  void validate() const;  ///< UsageError naming the option
  nlohmann::json toJson() const;
};

/// Start offsets of windows of length `window` with `overlap` covering [0, length): first 0, last
/// length − window, evenly stepped by at most window − overlap. {0} when window ≥ length.
std::vector<int64_t> tileStarts(int64_t length, int64_t window, int64_t overlap);

/// A 1-D blending window of `length` samples, strictly positive, maximum 1 in the middle.
/// Gaussian: σ = length/8 (as nnU-Net); Hann: 0.5 − 0.5·cos(2π(i+1)/(length+1)). Floor 1e-3.
torch::Tensor blendWindow1d(int64_t length, BlendWindow kind);

struct IntegrationResult {
  std::vector<torch::Tensor> x;  ///< [D,H,W] float32 CPU, one per requested NFE (one for a plain solve)
  std::vector<int> nfe;          ///< NFE of each result (per trajectory; Dopri5: the largest over batches)
  int totalEvaluations = 0;      ///< velocity evaluations of the whole run, over all batches
  int batches = 0;               ///< independent solves (2D batches; 3D: 1, the whole volume)
};

class VolumeIntegrator {
 public:
  VolumeIntegrator(ConditionalVelocityFn velocity, IntegratorOptions options);

  /// Integrates from x0 (the MR, or seeded noise; see IntegratorOptions::source) with options.solver.
  IntegrationResult integrate(const torch::Tensor& mr) const;
  /// Euler on nested grids, one result per NFE in `nfes`, from one run (see eulerNfeSweep).
  IntegrationResult integrateSweep(const torch::Tensor& mr, const std::vector<int>& nfes) const;

  /// Called with (done, total): 2D after each batch of slices, 3D after each velocity evaluation.
  std::function<void(std::size_t, std::size_t)> progress;

  const IntegratorOptions& options() const { return options_; }
  /// The same integrator (velocity, options) with another noise seed: one more sample.
  VolumeIntegrator withNoiseSeed(std::uint64_t seed) const;

 private:
  using UnitSolver =
      std::function<std::vector<SolveResult>(const VelocityFn&, const torch::Tensor& x0, const StepNoiseFn& noise)>;
  IntegrationResult run(const torch::Tensor& mr, const UnitSolver& unit, std::size_t outputs,
                        std::size_t expectedEvaluations) const;
  IntegrationResult runSlices(const torch::Tensor& mr, const UnitSolver& unit, std::size_t outputs) const;
  IntegrationResult runPatches(const torch::Tensor& mr, const UnitSolver& unit, std::size_t outputs,
                               std::size_t expectedEvaluations) const;

  ConditionalVelocityFn velocity_;
  IntegratorOptions options_;
};

}  // namespace mr2ct
