#pragma once
// Batch evaluation of many cases into a report folder:
//   metrics.csv        one row per case (id, status, every metric, mask voxels, mask source,
//                      resampling, warnings, error)
//   summary.json       options, counts, failed cases, and per metric over the successful cases:
//                      n, mean, std (sample, n-1), median, q1, q3 (linear interpolation, numpy's
//                      default), min, max
//   <id>_montage.png   MR, sCT, CT, |error| in three planes (Montage.h)
//   index.html         a table of cases with their numbers and pictures
// A failing case (missing prediction, grid mismatch, NaN voxels, ...) is recorded and the batch
// goes on; the caller maps failures to exit code 3.
// Predictions are looked up as <pred-dir>/<id>.nii.gz (also .nii, .mha, .nrrd), then
// <pred-dir>/<id>/sct.nii.gz (also sct.nii, sct.mha, sct.nrrd).
#include <filesystem>
#include <string>
#include <vector>

#include "mr2ct/evaluation/CaseEvaluation.h"
#include "mr2ct/evaluation/Montage.h"

namespace mr2ct {

struct BatchCase {
  std::string id;
  std::filesystem::path mr, ct, mask;  ///< ct required; mr (montage only) and mask optional
  std::string ctSeries;  ///< ct is a DICOM folder of several series: the one to read ("" = options')
  std::string mrSeries;  ///< the same for mr
};

struct BatchOptions {
  std::filesystem::path predDir;
  std::filesystem::path outDir;  ///< created if missing
  EvaluateOptions evaluate;
  MontageOptions montage;
  bool montages = true;
  void validate() const;
};

struct BatchFailure {
  std::string id, error;
};

struct BatchResult {
  std::size_t cases = 0, succeeded = 0;
  std::vector<BatchFailure> failures;
};

/// The prediction file for `id`, or an empty path when none of the accepted names exists.
std::filesystem::path findPrediction(const std::filesystem::path& predDir, const std::string& id);

/// Summary statistics of one metric (NaN values are left out; n counts the rest).
struct MetricSummary {
  std::size_t n = 0;
  double mean = 0, std = 0, median = 0, q1 = 0, q3 = 0, min = 0, max = 0;
};
MetricSummary summarize(std::vector<double> values);

BatchResult evaluateBatch(const std::vector<BatchCase>& cases, const BatchOptions& options);

}  // namespace mr2ct
