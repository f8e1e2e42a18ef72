#pragma once
// How well a voxel-wise standard deviation (`mr2ct convert --samples K` writes <sct>_std.<ext>)
// predicts the error of the sCT it came with. Per case: the mean std inside the evaluation mask,
// set beside the case's MAE (Pearson r over the cases of a batch). Per voxel: the mask voxels
// binned by their std, with the mean |sCT − CT| of each bin, a calibration curve. A calibrated
// Gaussian std s has mean |error| s·√(2/π) ≈ 0.80·s; a curve below that line is over-dispersed
// (too cautious), above it under-dispersed (errors larger than the spread).
#include <array>
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mr2ct/preprocessing/Volume.h"

namespace mr2ct {

struct CalibrationBin {
  double stdFrom = 0, stdTo = 0;  ///< HU, [from, to)
  std::size_t voxels = 0;
  double meanStd = 0;             ///< HU
  double meanAbsError = 0;        ///< HU
};

/// Pearson's r of paired values; NaN with fewer than 3 pairs or no spread in either.
double pearsonR(const std::vector<double>& x, const std::vector<double>& y);

/// The std map written beside a prediction: "d/case.nii.gz" → "d/case_std.nii.gz" (the rule of
/// `convert --samples`), or an empty path when there is none.
std::filesystem::path findUncertaintyMap(const std::filesystem::path& prediction);

class UncertaintyCalibration {
 public:
  /// Bin edges of the std in HU: 0, 2.5, 5, 10, 20, 40, 80, 160, 320, then everything above.
  static const std::array<double, 10>& binEdges();

  /// Adds the mask voxels of one case and returns its mean std in the mask (HU). The four share
  /// one grid; DataError naming stdName otherwise, or when a std is negative or not finite.
  double add(const Volume& stdHu, const Volume& pred, const Volume& ref, const Mask& mask, const std::string& stdName);

  std::vector<CalibrationBin> bins() const;  ///< the bins holding voxels, in order
  double voxelPearsonR() const;              ///< r between std and |error| over every voxel added
  std::size_t voxels() const { return n_; }
  nlohmann::json toJson() const;             ///< {"voxels", "voxel_pearson_r", "bins": [...]}

 private:
  struct Sums {
    std::size_t n = 0;
    double std = 0, absError = 0;
  };
  std::array<Sums, 10> bins_{};
  std::size_t n_ = 0;
  double sx_ = 0, sy_ = 0, sxx_ = 0, syy_ = 0, sxy_ = 0;  // running sums for r (std, |error|)
};

}  // namespace mr2ct
