#pragma once
// MR bias-field correction with ITK's N4 on a shrunk copy (for speed); the smooth B-spline log
// field is then evaluated on the full-resolution grid and divided out. The field is smooth, so
// fitting it on a 4× shrunk image loses nothing that matters for normalization.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mr2ct/preprocessing/Volume.h"

namespace mr2ct {

struct BiasFieldOptions {
  int shrinkFactor = 4;                          ///< per axis, never below 1 voxel
  std::vector<unsigned> iterations{50, 50, 30};  ///< per fitting level
  double convergenceThreshold = 1e-3;
  unsigned splineOrder = 3;
  unsigned controlPoints = 4;                    ///< initial mesh per axis (doubles each level)
  unsigned histogramBins = 200;
  void validate() const;                         ///< UsageError naming the bad option
  nlohmann::json toJson() const;
  /// The keys of toJson; missing ones keep their defaults (nlohmann::json::exception on bad types).
  static BiasFieldOptions fromJson(const nlohmann::json& j);
};

struct BiasFieldRecord {
  BiasFieldOptions options;
  double seconds = 0;
  double fieldMin = 1, fieldMax = 1;  ///< range of the multiplicative field inside the mask
  std::vector<unsigned> iterationsRun;
  nlohmann::json toJson() const;
};

/// Returns mr / field, where field is N4's multiplicative bias estimated inside `mask` (or over the
/// whole image when the mask is empty-sized). Voxels ≤ 0 are left as they are in the fit's input
/// (N4 works on log intensities; they are excluded from the fit mask). DataError naming `context`
/// when no positive voxel lies inside the mask.
Volume correctBiasField(const Volume& mr, const Mask& mask, const BiasFieldOptions& options,
                        BiasFieldRecord* record = nullptr, const std::string& context = "MR");

}  // namespace mr2ct
