#pragma once
// Body masks: from an MR (Otsu, hole filling per slice and in 3D, largest connected component,
// closing) or from a CT (HU threshold, same clean-up). CONTRACT: extend, do not break.
#include <nlohmann/json.hpp>

#include "mr2ct/preprocessing/Volume.h"

namespace mr2ct {

struct BodyMaskOptions {
  double closingRadiusMm = 3.0;
  bool fillHolesPerSlice = true;
  float ctThresholdHu = -400.0f;  ///< for bodyMaskFromCt
  int otsuBins = 256;             ///< histogram bins for the MR's Otsu threshold
  void validate() const;
  nlohmann::json toJson() const;
  /// The keys of toJson; missing ones keep their defaults (nlohmann::json::exception on bad types).
  static BodyMaskOptions fromJson(const nlohmann::json& j);
};

/// DataError naming `context` when the result is empty.
Mask bodyMaskFromMr(const Volume& mr, const BodyMaskOptions& options = {}, const std::string& context = "MR");
Mask bodyMaskFromCt(const Volume& ct, const BodyMaskOptions& options = {}, const std::string& context = "CT");

/// The mask grown by ±marginMm along each axis (whole voxels, a cuboid structuring element;
/// separable, O(voxels)). Registration grows the body mask this way so the outline stays in view.
Mask dilateMaskBox(const Mask& mask, double marginMm);

}  // namespace mr2ct
