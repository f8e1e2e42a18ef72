#pragma once
// Image metrics between a synthetic CT (pred) and a reference CT on the same grid, inside a mask,
// following the SynthRAD challenges' code (the definition we match is
// ../shared/peers/metrics_reference.py):
//   MAE, ME = mean(pred - ref), RMSE: unclipped, over the mask, in HU.
//   PSNR: both clipped to the profile range [lo, hi], in-mask voxels, data range hi - lo.
//   SSIM (SynthRAD2023) and MS-SSIM (SynthRAD2025): see Ssim.h; both use the profile's range.
//   Per-tissue MAE by the REFERENCE's HU class (air < airBelowHu <= soft <= boneAboveHu < bone)
//   and the Dice of bone (HU > boneDiceHu) between pred and ref inside the mask.
// Non-finite results (PSNR of identical images, an empty class) are NaN here and null in JSON.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mr2ct/preprocessing/Volume.h"

namespace mr2ct {

struct MetricProfile {
  std::string name;
  double lo, hi;
};

/// "synthrad2023" [-1024, 3000] and "synthrad2025" [-1024, 3071]; UsageError for other names.
MetricProfile metricProfile(const std::string& name);
const std::vector<std::string>& metricProfileNames();

struct MetricsOptions {
  std::string profile = "synthrad2025";  ///< same default as metrics_reference.py
  double airBelowHu = -200.0;   ///< reference HU < this: air class
  double boneAboveHu = 250.0;   ///< reference HU > this: bone class (between: soft tissue)
  double boneDiceHu = 250.0;    ///< threshold for the bone Dice (applied to pred and ref)
  bool ssim = true;             ///< compute SSIM (SynthRAD2023 definition)
  bool msSsim = true;           ///< compute MS-SSIM (SynthRAD2025 definition)
  int threads = 0;              ///< 0 = all cores
  void validate() const;
  nlohmann::json toJson() const;
};

struct TissueError {
  double mae = 0;             ///< NaN when the class is empty
  std::size_t voxels = 0;
};

struct MetricsResult {
  std::string profile;
  std::size_t maskVoxels = 0;
  double mae = 0, me = 0, rmse = 0, psnr = 0, ssim = 0, msSsim = 0;
  TissueError air, soft, bone;
  double boneDice = 0;        ///< NaN when neither image has bone in the mask
  nlohmann::json toJson() const;
  /// Metric names in report order, and their values in the same order (for CSV and summaries).
  static const std::vector<std::string>& names();
  std::vector<double> values() const;
};

/// Plain-array core. Buffers x-fastest, all of `size`. Throws DataError when the mask is empty.
MetricsResult computeMetrics(const float* pred, const float* ref, const std::uint8_t* mask,
                             const std::array<std::size_t, 3>& size, const MetricsOptions& options);

/// Volume form: checks that the sizes match (DataError naming `predName` / `refName` / `maskName`)
/// and that no voxel is NaN/Inf.
MetricsResult computeMetrics(const Volume& pred, const Volume& ref, const Mask& mask, const MetricsOptions& options,
                             const std::string& predName = "prediction", const std::string& refName = "reference",
                             const std::string& maskName = "mask");

}  // namespace mr2ct
