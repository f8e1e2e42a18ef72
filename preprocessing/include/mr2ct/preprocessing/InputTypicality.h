#pragma once
// Does an MR look like the ones a model was trained on? A handful of dimensionless statistics of
// the prepared MR inside its body mask (InputProfile), compared with their spread over the training
// cases (TypicalityReference). It needs no CT and no network, so `convert` can warn before it
// integrates anything; README "Uncertainty" has the study that chose it over the samples' std
// (a CT fed in as MR gives a *lower* std) and the likelihood (needs the CT).
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mr2ct/preprocessing/BodyMask.h"
#include "mr2ct/preprocessing/TrainingStore.h"
#include "mr2ct/preprocessing/Volume.h"

namespace mr2ct {

/// One value per entry of inputProfileFeatures(), in that order.
struct InputProfile {
  std::vector<double> values;
};

struct InputProfileFeature {
  std::string key;          ///< JSON key, e.g. "p95"
  std::string description;  ///< for the warning: "the 95th percentile of the body's intensities"
  /// Spreads below this are raised to it: a centroid varies by < 0.01 over BrainWeb heads, and a
  /// z against such a spread would flag a few voxels of field-of-view difference; voxel sizes are
  /// often identical over a training set, and 0.15 (log2 units) lets 11 % pass unflagged
  /// (0.94 mm against 1 mm) while 1 mm against 2 mm is 6.7 of it.
  double minimumScale = 0.02;
};

/// The features, each dimensionless and O(0.1–1) on a normalized MR:
///  p05, p50, p95, iqr — quantiles of the intensities in the body (contrast: a CT fed in as MR
///    has an IQR a sixth of a T1's);
///  centre_x/y/z — the mask's centroid as a fraction of its bounding box along each grid axis
///    (orientation: a head stored upside down has its bulk at the other end);
///  trend_x/y/z — Pearson r between the position along each axis and the intensity in the body
///    (a bias field left in the MR);
///  neighbour_r — Pearson r of x-neighbours inside the body (noise or a corrupt scan);
///  voxel_inplane, voxel_slice — log2 of the voxel size in mm, in-plane (geometric mean of x and
///    y) and along z: a model trained on its inputs' own grid (no plan spacing) sees anatomy at
///    another scale when they change (after resampling to the plan's spacing they are constant).
const std::vector<InputProfileFeature>& inputProfileFeatures();
/// The feature named `key`; DataError for a key that is not one of them.
const InputProfileFeature& inputProfileFeature(const std::string& key);

/// The profile of a normalized MR on `body`'s grid. DataError naming `context` when the mask holds
/// fewer than two voxels along some axis (a single slice: no profile to compare) or the volume and
/// mask grids differ.
InputProfile inputProfile(const Volume& normalizedMr, const Mask& body, const std::string& context);

struct TypicalityScore {
  double score = 0;      ///< the largest |z| over the features
  std::string feature;   ///< the key of the feature that gave it
  double z = 0;          ///< its signed z
  double threshold = 0;  ///< of the reference
  bool typical() const { return score <= threshold; }
  nlohmann::json toJson() const;
};

/// The training cases' mean and spread per feature, and the threshold above which an input is
/// called unlike them.
struct TypicalityReference {
  static constexpr int kFormatVersion = 1;
  static constexpr std::size_t kMinimumCases = 3;

  std::vector<double> mean, scale;  ///< per feature; scale = max(sample std, the feature's minimumScale)
  /// The largest leave-one-out score of the training cases (each scored against the others): every
  /// training case would pass as a new input, and a new case from the same population exceeds it
  /// with probability about 1 / (cases + 1).
  double threshold = 0;
  std::size_t cases = 0;

  /// UsageError when fewer than kMinimumCases profiles are given.
  static TypicalityReference fit(const std::vector<InputProfile>& training);
  TypicalityScore score(const InputProfile& profile) const;

  nlohmann::json toJson() const;
  /// DataError naming `context` and the key for another version, other feature keys, wrong types,
  /// fewer than kMinimumCases cases or a negative threshold.
  static TypicalityReference fromJson(const nlohmann::json& j, const std::string& context);
};

/// The reference of a store's train split: up to `maxCases` cases, evenly spaced in id order, each
/// profiled with the body mask `convert` would derive from its MR (not the store's mask, which may
/// be one the manifest gave). None when the split has fewer than kMinimumCases cases.
std::optional<TypicalityReference> fitTypicalityReference(const TrainingStore& store, const BodyMaskOptions& bodyMask,
                                                          std::size_t maxCases = 100);

}  // namespace mr2ct
