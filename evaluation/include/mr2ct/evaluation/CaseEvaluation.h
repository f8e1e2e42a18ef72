#pragma once
// One case: a synthetic CT against its reference CT from files or volumes, with the checks a user
// needs before trusting numbers: same grid (or an explicit, recorded resampling), a mask (given,
// or the body mask of the reference CT: bodyMaskFromCt, HU > BodyMaskOptions::ctThresholdHu with
// hole filling, largest component and closing), no NaN voxels, a reference that looks like HU.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "mr2ct/evaluation/Metrics.h"
#include "mr2ct/preprocessing/BodyMask.h"
#include "mr2ct/preprocessing/Volume.h"

namespace mr2ct {

struct EvaluateOptions {
  MetricsOptions metrics;
  /// Grid tolerance: origin in mm, spacing relative, direction cosines absolute.
  double geometryTolerance = 1e-3;
  /// Resample the prediction onto the reference grid (linear, -1024 HU outside) instead of failing.
  bool resamplePred = false;
  /// Optional ITK transform file mapping PREDICTION-grid points to REFERENCE points (the
  /// registration convention, fixed = MR/prediction): the reference CT (linear, -1024 outside)
  /// is resampled onto the prediction grid through it; a mask on the prediction's grid is kept,
  /// a mask on the reference's grid is resampled with it (nearest).
  std::filesystem::path refTransform;
  BodyMaskOptions bodyMask;  ///< used when no mask is given
  /// When the reference is a DICOM folder holding several series (a PACS export of the study):
  /// its SeriesInstanceUID or SeriesNumber. Applies to the reference only; the prediction is
  /// mr2ct's own output, one series.
  std::string dicomSeries;
  void validate() const;
  nlohmann::json toJson() const;
};

struct CaseEvaluation {
  MetricsResult metrics;
  std::string maskSource;   ///< the mask file, or "body mask of the reference CT (HU > -400)"
  std::string resampling;   ///< "" when none, else what was resampled and how
  /// Mask voxels left out because a resampled grid did not cover them (padding, not data).
  std::size_t excludedOutsideFov = 0;
  std::vector<std::string> warnings;
  /// The volumes the metrics were computed on (for montages).
  Volume pred, ref;
  Mask mask;
  nlohmann::json toJson() const;  ///< metrics + mask source + resampling + warnings
};

/// Evaluates volumes already in memory. `mask` may be empty (no voxels): body mask of `ref`.
/// Names are used in every message.
CaseEvaluation evaluateVolumes(Volume pred, Volume ref, Mask mask, const EvaluateOptions& options,
                               const std::string& predName, const std::string& refName,
                               const std::string& maskName = "");

/// Reads the files (NaN/Inf voxels refused by the reader, naming the file) and evaluates.
CaseEvaluation evaluateFiles(const std::filesystem::path& pred, const std::filesystem::path& ref,
                             const std::filesystem::path& mask, const EvaluateOptions& options);

}  // namespace mr2ct
