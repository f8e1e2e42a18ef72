#pragma once
// Training batches from a TrainingDataSource: random slices (2D, with neighbouring MR slices as
// extra condition channels in 2.5D) or patches (3D) of the train split, centred mostly inside the
// body, with optional left-right flips and a small MR intensity jitter. Every batch is a pure
// function of (seed, step) — resuming at step k replays exactly the batches of an uninterrupted
// run — and a PrefetchLoader prepares the next batches on a background thread.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <torch/torch.h>

#include "mr2ct/models/FlowMatching.h"
#include "mr2ct/models/ModelFolder.h"
#include "mr2ct/models/TrainingDataSource.h"

namespace mr2ct {

/// One batch (CPU, float32). Spatial = [H, W] (2D) or [D, H, W] (3D).
struct TrainingBatch {
  int64_t step = 0;
  torch::Tensor cond;   ///< [B, condChannels, *spatial] MR (centre slice at channel `neighbours`)
  torch::Tensor ct;     ///< [B, 1, *spatial] normalized CT (x1)
  torch::Tensor body;   ///< [B, 1, *spatial] body mask {0, 1}
  torch::Tensor valid;  ///< [B, 1, *spatial] 1 inside the CT's field of view (and the image)
  torch::Tensor t;      ///< [B] times
  torch::Tensor noise;  ///< [B, 1, *spatial] x0 ~ N(0, I) for source "noise"; undefined otherwise
  torch::Tensor eps;    ///< [B, 1, *spatial] bridge noise when σ > 0; undefined otherwise
  /// x0 of the path: the MR centre channel (source "mr") or `noise`.
  torch::Tensor source(const FlowConfig& flow, int neighbours) const;
};

/// Per-slice body extent of one case (from its mask), for sampling inside the body.
struct CaseIndex {
  std::string id;
  std::array<int64_t, 3> shape{};  ///< nz, ny, nx
  std::vector<int64_t> bodySlices; ///< z with any body voxel
  /// per z: body bounding box y0, y1, x0, x1 (inclusive; -1 when empty)
  std::vector<std::array<int64_t, 4>> bbox;
};

/// Where a window is cut: centre voxel (z, y, x) and flip.
struct WindowSpec {
  size_t caseIndex = 0;
  int64_t z = 0, y = 0, x = 0;
  bool flip = false;
};

/// Which part of every global batch this process trains on (data-parallel training): items
/// [index·B/count, (index+1)·B/count) of the batch drawn for the whole run, so the samples of a
/// step do not depend on the number of processes.
struct BatchPart {
  int64_t index = 0, count = 1;
};

class BatchSampler {
 public:
  /// Indexes the split's cases (reads their masks). DataError when the split is empty or a case is
  /// smaller than the 3D patch depth... (2D slices of any size are cropped or padded).
  /// `part`: the share of each batch that batch() returns (config.training.batch must divide by part.count).
  BatchSampler(const TrainingDataSource& data, const ModelConfig& config, const std::string& split = "train",
               BatchPart part = {});

  /// This process's part of the batch of training step `step`: a pure function of
  /// (config.training.seed, step, part); the parts of all processes concatenate to the whole batch.
  TrainingBatch batch(int64_t step) const;

  /// Cuts windows of size `size` ([H,W] or [D,H,W]) around the given centres (no augmentation):
  /// fills cond/ct/body/valid of a batch. Voxels outside the image get valid = 0, body = 0,
  /// CT = -1 and the MR's minimum.
  TrainingBatch windows(const std::vector<WindowSpec>& specs, const std::vector<int64_t>& size) const;

  /// Validation windows: per case, `perCase` centres evenly spread over its body slices; 2D windows
  /// cover the whole slice (rounded up to the network's size multiple), 3D windows are patches.
  std::vector<std::pair<std::vector<WindowSpec>, std::vector<int64_t>>> validationWindows(int64_t perCase,
                                                                                        int64_t sizeMultiple) const;

  const std::vector<CaseIndex>& cases() const { return cases_; }

 private:
  WindowSpec drawWindow(SplitMix64& rng) const;
  void fillWindow(const WindowSpec& w, const std::vector<int64_t>& size, float* cond, float* ct, float* body,
                  float* valid) const;

  const TrainingDataSource& data_;
  ModelConfig config_;
  BatchPart part_;
  std::vector<CaseIndex> cases_;
  std::vector<int64_t> cumulativeBodySlices_;  ///< for choosing a body slice uniformly over all cases
  std::vector<int64_t> cumulativeSlices_;
};

/// Prepares batches for steps first, first+1, …, last-1 on a background thread, `depth` ahead.
class PrefetchLoader {
 public:
  PrefetchLoader(const BatchSampler& sampler, int64_t first, int64_t last, int depth);
  ~PrefetchLoader();
  PrefetchLoader(const PrefetchLoader&) = delete;
  PrefetchLoader& operator=(const PrefetchLoader&) = delete;
  /// The next batch (in step order); rethrows an exception of the loader thread.
  TrainingBatch next();
  /// Seconds the caller spent waiting in next() (the network waiting for data).
  double waitSeconds() const { return waitSeconds_; }

 private:
  void run();
  const BatchSampler& sampler_;
  int64_t next_, last_;
  size_t depth_;
  std::deque<TrainingBatch> queue_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::exception_ptr error_;
  bool stop_ = false;
  double waitSeconds_ = 0.0;
  std::thread thread_;
};

}  // namespace mr2ct
