#pragma once
// `mr2ct likelihood`: log p(CT | MR) under a trained 2D/2.5D flow model, in bits per voxel
// (models/VolumeLikelihood.h for the mathematics and the models that have no likelihood).
//
// Per case: the MR is prepared exactly as `convert` prepares it (model folder's rules: LPS,
// spacing, body mask, N4, normalization); the CT must lie on the MR file's grid, or
// `ctTransform` (an ITK transform file, MR-grid point → CT point, the direction of evaluate's
// --ref-transform) resamples it linearly (outside: the rule's minimum HU). The CT is then taken
// through the same geometric steps as the MR and normalized with the model's CT rule to [-1, 1].
// Densities are of the normalized CT; `bitsPerVoxelHu` adds log₂((maxHu − minHu)/2), the change
// of variables to HU (exact except at the clipping bounds).
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mr2ct/models/VolumeLikelihood.h"
#include "mr2ct/pipeline/Manifest.h"

namespace mr2ct {

struct LikelihoodCommandOptions {
  std::filesystem::path model;
  std::string device = "cpu";
  int batch = 4;                    ///< slices per solve
  LikelihoodOptions likelihood;     ///< solver, steps, divergence, probes, seed
  std::filesystem::path ctTransform;  ///< empty: the CT must be on the MR's grid
  double geometryTolerance = 1e-3;  ///< MR vs CT grid: origin mm, spacing relative, direction absolute
  void validate() const;            ///< UsageError naming the option
  nlohmann::json toJson() const;
};

struct LikelihoodReport {
  std::filesystem::path mr, ct;
  VolumeLikelihood result;
  double bitsPerVoxelHu = 0.0;
  double seconds = 0.0;
  nlohmann::json toJson() const;
};

/// Loads the model once; scores any number of cases.
class LikelihoodScorer {
 public:
  explicit LikelihoodScorer(LikelihoodCommandOptions options);
  ~LikelihoodScorer();
  /// DataError / IoError naming the file for a CT off the MR's grid, unreadable files, 3D models,
  /// and σ = 0 models (their source density is the unknown MR distribution).
  /// mrSeries/ctSeries pick a series of a DICOM folder (ReadOptions::dicomSeries).
  LikelihoodReport score(const std::filesystem::path& mr, const std::filesystem::path& ct, bool showProgress = true,
                         const std::string& mrSeries = "", const std::string& ctSeries = "") const;
  const LikelihoodCommandOptions& options() const { return options_; }
  nlohmann::json modelJson() const;

 private:
  struct Impl;
  LikelihoodCommandOptions options_;
  std::unique_ptr<Impl> impl_;
};

struct LikelihoodBatchOptions {
  LikelihoodCommandOptions score;
  std::filesystem::path manifest;
  std::filesystem::path out;  ///< report CSV (written atomically after the last case)
  std::string split;          ///< only this split ("" = all cases with a CT)
  ManifestOptions manifestOptions;
};

struct LikelihoodBatchResult {
  std::size_t cases = 0, failed = 0;
};

/// Scores every manifest case with a CT; a failing case is recorded (one line in `err` and the
/// CSV's error column) and the batch goes on.
LikelihoodBatchResult runLikelihoodBatch(const LikelihoodBatchOptions& options, std::ostream& err);

}  // namespace mr2ct
