#pragma once
// A classical, non-learning synthetic CT to compare models against ("bulk density assignment").
// Rule, on the MR's own grid:
//   1. body mask: the given one, else bodyMaskFromMr (Otsu, holes filled, largest component);
//   2. m = median MR intensity inside the mask (soft tissue dominates a head);
//      depth = distance (mm) from a voxel to the outside of the mask;
//   3. inside the mask, T1 "dark" voxels (MR < darkFraction * m) in the outer shell
//      (depth <= boneMaxDepthMm: the skull lies under the scalp)      -> bone   (boneHu)
//      very dark voxels (MR < airFraction * m) deeper than the shell
//      (sinuses, airways)                                             -> air    (airHu)
//      everything else (including deep dark CSF)                      -> soft   (softHu)
//   4. outside the mask -> air (airHu).
// Bone and air are both dark on T1, so a shell rule is the simplest separation that needs no
// atlas; its errors (sinuses next to the skull counted as bone, marrow counted as soft tissue)
// are exactly what a learnt model has to beat.
#include <nlohmann/json.hpp>

#include "mr2ct/preprocessing/BodyMask.h"
#include "mr2ct/preprocessing/Volume.h"

namespace mr2ct {

struct BulkDensityOptions {
  float airHu = -1000.0f;
  float softHu = 30.0f;
  float boneHu = 700.0f;
  double darkFraction = 0.35;    ///< of the in-mask median: dark (bone candidates)
  double airFraction = 0.10;     ///< of the in-mask median: very dark (air candidates)
  double boneMaxDepthMm = 20.0;  ///< thickness of the outer shell where dark means bone
  BodyMaskOptions bodyMask;
  void validate() const;
  nlohmann::json toJson() const;
};

struct BulkDensityResult {
  Volume sct;  ///< HU, on the MR's grid
  Mask mask;   ///< the body mask used
  std::size_t airVoxels = 0, softVoxels = 0, boneVoxels = 0;  ///< inside the mask
  double mrMedian = 0;
  nlohmann::json toJson() const;  ///< counts, median, options
  nlohmann::json options;
};

/// `mask` may be empty: the body mask of the MR is used. DataError naming `context` when the mask
/// is empty or has another grid.
BulkDensityResult bulkDensitySct(const Volume& mr, const Mask& mask, const BulkDensityOptions& options = {},
                                 const std::string& context = "MR");

}  // namespace mr2ct
