#pragma once
// Registration QA pictures: MR and the registered CT (same grid) in three planes through the
// body's centre. Top row: checkerboard (MR and CT tiles alternate, so misalignment shows as broken
// edges); bottom row: MR in grey with CT bone in red and the body-mask outline in green.
#include <filesystem>

#include "mr2ct/preprocessing/Volume.h"

namespace mr2ct {

struct QaImageOptions {
  double tileMm = 16.0;                    ///< checkerboard tile size
  double ctLowHu = -1000, ctHighHu = 1500;  ///< CT display window
  double boneHu = 300;                     ///< CT above this is drawn red in the overlay
  double mrLowPercentile = 1, mrHighPercentile = 99;  ///< MR display window (inside the mask)
};

/// Writes an RGB PNG atomically. `ctHu` must be on the MR's grid; `mask` may be null.
/// DataError when the grids differ; IoError naming the file when it cannot be written.
void writeRegistrationQaPng(const Volume& mr, const Volume& ctHu, const Mask* mask, const std::filesystem::path& out,
                            const QaImageOptions& options = {});

}  // namespace mr2ct
