#pragma once
// Intensity normalization with records that invert it exactly; the records travel with the data
// (HDF5 attributes, model folder config.json). CONTRACT: extend, do not break.
#include <nlohmann/json.hpp>
#include <string>

#include "mr2ct/preprocessing/Volume.h"

namespace mr2ct {

/// MR: robust percentiles inside the body mask → [-1, 1] (default p0.5 → -1, p99.5 → +1), or z-score.
struct MrNormalizationRule {
  std::string method = "percentile";  ///< "percentile" | "zscore"
  double lowPercentile = 0.5;
  double highPercentile = 99.5;
  void validate() const;
  nlohmann::json toJson() const;
  static MrNormalizationRule fromJson(const nlohmann::json& j);
};

/// What was applied to one volume: y = (x − shift) / scale · 2 − 1 for percentile (shift = low
/// value, scale = high − low), y = (x − mean) / std for z-score. Inverts exactly.
struct MrNormalizationRecord {
  MrNormalizationRule rule;
  double low = 0, high = 1;   ///< percentile values (percentile method)
  double mean = 0, std = 1;   ///< (zscore method)
  float forward(float x) const;
  float inverse(float y) const;
  nlohmann::json toJson() const;
  static MrNormalizationRecord fromJson(const nlohmann::json& j);
};

/// Computes the record from voxels inside `mask` (DataError naming context when the mask is empty
/// or the values are flat) and returns the normalized volume.
Volume normalizeMr(const Volume& mr, const Mask& mask, const MrNormalizationRule& rule, MrNormalizationRecord* record,
                   const std::string& context = "MR");

/// CT: clipped to [minHu, maxHu] and scaled linearly to [-1, 1].
struct CtNormalization {
  double minHu = -1024.0;
  double maxHu = 3000.0;
  float toUnit(float hu) const;    ///< clip then scale
  float toHu(float unit) const;    ///< exact inverse on [minHu, maxHu]
  Volume apply(const Volume& ctHu) const;
  Volume invert(const Volume& unit) const;
  void validate() const;
  nlohmann::json toJson() const;
  static CtNormalization fromJson(const nlohmann::json& j);
};

}  // namespace mr2ct
