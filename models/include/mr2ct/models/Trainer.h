#pragma once
// The flow-matching trainer: AdamW, linear warm-up then cosine learning rate, gradient clipping,
// EMA of the weights, periodic validation (MAE in HU inside the body after Euler integration),
// checkpoints in the model folder (ModelFolder.h) that resume bit-for-bit.
//
// One step s (0-based): batch = BatchSampler::batch(s) (pure function of seed and s);
//   x0 = MR (or noise), PathSample = LinearProbabilityPath(σ).sample(x0, CT, t, ε);
//   loss = Σ w·(v_θ(x_t, t, cond) − dx_t)² / Σ w  with w = valid·(body weights);
//   clip ‖∇‖₂ ≤ gradClip; AdamW step at lr(s); EMA ← d·EMA + (1−d)·θ, d = min(emaDecay, (1+n)/(10+n)).
// Because the batch, the learning rate and the EMA decay depend only on the step, restoring
// (θ, AdamW moments, EMA, step) from train_state.pt continues exactly the uninterrupted run.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "mr2ct/models/GradientReducer.h"
#include "mr2ct/models/ModelFolder.h"
#include "mr2ct/models/SliceSampler.h"
#include "mr2ct/models/TrainingDataSource.h"

namespace mr2ct {

/// lr(s) = lr·(s+1)/w during warm-up (w = min(warmupSteps, steps/2)), then cosine from lr to
/// lr·minLrFraction at the last step.
double learningRateAt(const TrainingConfig& t, int64_t step);

struct TrainRunOptions {
  bool resume = false;        ///< continue from outDir/train_state.pt
  int64_t stopAfterStep = -1; ///< stop (with a checkpoint) once this many steps are done; -1 = run all
  bool progress = true;       ///< progress bar (still silent when stderr is not a terminal or --quiet)
  std::vector<int> finalNfes{1, 2, 4, 8};  ///< validation MAE at the end for these Euler NFEs
  /// Data-parallel training (not owned; null = one process): each rank trains on its part of every
  /// global batch (config.training.batch), gradients are averaged before clipping and AdamW, and
  /// only rank 0 validates and writes the model folder.
  GradientReducer* reducer = nullptr;
};

struct TrainSummary {
  int64_t firstStep = 0, lastStep = 0;  ///< steps done before this run, after it
  double lastLoss = std::numeric_limits<double>::quiet_NaN();  ///< mean loss of the last log interval
  double samplesPerSecond = 0.0;
  double seconds = 0.0;
  double dataWaitSeconds = 0.0;  ///< time the network waited for the loader
  /// Data-parallel runs: time in the all-reduces of the loss terms and gradients (packing and
  /// waiting for the slowest rank included), and the gradient bytes each rank reduces per step.
  double communicationSeconds = 0.0;
  int64_t gradientBytesPerStep = 0;
  std::vector<std::pair<int, double>> finalValMaeHu;  ///< (NFE, MAE) on the val split; empty without val cases
  nlohmann::json toJson() const;
};

/// MAE in HU inside body ∩ valid over the validation windows, for each Euler NFE in `nfes`
/// (one nested sweep). Source "noise" starts from a fixed-seed N(0, I).
std::vector<double> validationMaeHu(VelocityUNet& network, const BatchSampler& val, const ModelConfig& config,
                                    const torch::Device& device, const std::vector<int>& nfes);

/// Trains config.network on data's train split into outDir (config.json, weights.pt, train_state.pt,
/// log.csv). UsageError when outDir already holds a training state and resume is false, or when
/// resuming with a network/flow/seed/batch that differs from the stored config.
TrainSummary trainModel(const ModelConfig& config, const TrainingDataSource& data, const std::filesystem::path& outDir,
                        const TrainRunOptions& run = {});

}  // namespace mr2ct
