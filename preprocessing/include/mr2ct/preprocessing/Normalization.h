#pragma once
// Intensity normalization with records that invert it exactly; the records travel with the data
// (HDF5 attributes, model folder config.json). CONTRACT: extend, do not break.
#include <nlohmann/json.hpp>
#include <limits>
#include <string>
#include <vector>

#include "mr2ct/preprocessing/Volume.h"

namespace mr2ct {

/// MR: robust percentiles inside the body mask → [-1, 1] (default p0.5 → -1, p99.5 → +1), z-score,
/// or Nyúl–Udupa histogram standardization ("nyul"): the landmarks p_low, p10, p20, …, p90, p_high
/// of each MR go piecewise linearly onto a standard scale fitted on the training MRs. The two
/// end landmarks land on −1 and +1 as with "percentile"; the deciles between them land where the
/// training MRs have them on average, so one subject's darker grey matter is moved onto the others'.
/// "gamma" is the one-parameter version of that: the percentile map, then on its [0, 1] position
/// the power (a gamma) that puts the MR's median inside the body where the training MRs have theirs
/// on average. It moves a whole MR's contrast and keeps each head's tissue proportions, which the
/// deciles of "nyul" force onto one standard.
struct MrNormalizationRule {
  std::string method = "percentile";  ///< "percentile" | "zscore" | "nyul" | "gamma"
  double lowPercentile = 0.5;
  double highPercentile = 99.5;
  /// "nyul": the landmarks' values on the standard scale (kNyulLandmarks of them, −1 first and +1
  /// last, non-decreasing); empty until fitted (fitNyulStandardScale), and refused by normalizeMr then.
  std::vector<double> standardScale;
  static constexpr std::size_t kNyulLandmarks = 11;
  /// "gamma": the training MRs' mean median position in (0, 1) between their low and high
  /// percentiles; NaN until fitted (preprocess fits it; normalizeMr refuses it unfitted).
  double medianPosition = std::numeric_limits<double>::quiet_NaN();
  /// The gamma is held inside [1/kMaxGamma, kMaxGamma]: a phantom or a mask that is mostly air can
  /// put the median near an end, where log(position) would ask for an extreme power.
  static constexpr double kMaxGamma = 3.0;
  /// The percentiles of the "nyul" landmarks: low, 10, 20, …, 90, high.
  std::vector<double> nyulPercentiles() const;
  /// UsageError on an unknown method, bad percentiles, a malformed standard scale or median
  /// position (an empty scale or a NaN position is valid here: preprocess fits them).
  void validate() const;
  nlohmann::json toJson() const;
  static MrNormalizationRule fromJson(const nlohmann::json& j);
};

/// What was applied to one volume: y = (x − shift) / scale · 2 − 1 for percentile (shift = low
/// value, scale = high − low), y = (x − mean) / std for z-score, and for "nyul" the piecewise linear
/// map from this MR's landmarks onto rule.standardScale, extended beyond the end landmarks by the
/// end segments' slopes. Inverts exactly (up to float rounding) wherever the landmarks and the
/// standard scale are increasing; where an MR's landmarks tie, the map jumps over that part of the scale.
/// "gamma": u = (x − low) / (high − low), u' = u^gamma where u > 0 (u elsewhere), y = 2u' − 1.
struct MrNormalizationRecord {
  MrNormalizationRule rule;
  double low = 0, high = 1;   ///< percentile values (percentile, gamma and nyul: the end landmarks)
  double gamma = 1;           ///< (gamma method)
  double mean = 0, std = 1;   ///< (zscore method)
  std::vector<double> landmarks;  ///< (nyul) this MR's values at rule.nyulPercentiles()
  float forward(float x) const;
  float inverse(float y) const;
  nlohmann::json toJson() const;
  static MrNormalizationRecord fromJson(const nlohmann::json& j);
};

/// Computes the record from voxels inside `mask` (DataError naming context when the mask is empty
/// or the values are flat) and returns the normalized volume.
Volume normalizeMr(const Volume& mr, const Mask& mask, const MrNormalizationRule& rule, MrNormalizationRecord* record,
                   const std::string& context = "MR");

/// The "nyul" standard scale from the training MRs: each MR's landmarks (its values at
/// rule.nyulPercentiles() inside its body mask) are mapped linearly so that its end landmarks go to
/// −1 and +1, then averaged landmark by landmark. DataError when there is no MR, or a landmark list
/// of the wrong length or without a range.
std::vector<double> fitNyulStandardScale(const std::vector<std::vector<double>>& landmarksPerMr);

/// An MR's landmarks for the "nyul" standard: its values at rule.nyulPercentiles() inside `mask`.
std::vector<double> nyulLandmarks(const Volume& mr, const Mask& mask, const MrNormalizationRule& rule,
                                  const std::string& context = "MR");

/// An MR's median position for the "gamma" standard: (p50 − p_low) / (p_high − p_low) inside
/// `mask`. DataError naming context when the percentiles are flat or not finite.
double mrMedianPosition(const Volume& mr, const Mask& mask, const MrNormalizationRule& rule,
                        const std::string& context = "MR");

/// The "gamma" median position from the training MRs' own: their mean. DataError when there is none
/// or one lies outside (0, 1).
double fitMedianPosition(const std::vector<double>& positionsPerMr);

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
