// Real volumes moved by a known rigid transform must be recovered within 0.5 mm (issue 3).
// Downsampled to 2 mm so each case stays well under a minute on 2 cores.
#include <gtest/gtest.h>

#include <cmath>

#include "mr2ct/preprocessing/Registration.h"
#include "mr2ct/preprocessing/Resampling.h"
#include "mr2ct/preprocessing/Statistics.h"
#include "mr2ct/preprocessing/VolumeIO.h"
#include "support/TestSupport.h"

namespace mr2ct {
namespace {

using test::rotationXYZ;

/// Fixed = the volume on a 2 mm grid; moving = the full-resolution volume seen through a known
/// motion on a 2 mm grid (so the moving image is not a re-interpolation of the fixed one).
void recoverKnownMotion(const std::filesystem::path& file, double outside) {
  const Volume full = readVolume(file);
  const Geometry g2 = withSpacing(full.geometry(), {2.0, 2.0, 2.0});
  const Volume fixed = resampleVolume(full, g2, SpatialTransform::identity(), Interpolation::Linear, float(outside));
  const SpatialTransform truth = SpatialTransform::rigid(rotationXYZ(0.12, -0.09, 0.15), {7.0, -5.0, 9.0}, g2.center());
  // moving(q) = full(truth⁻¹(q)) so that moving(truth(p)) = fixed(p)
  Geometry movingGrid = g2;
  movingGrid.origin = {g2.origin[0] + 3.3, g2.origin[1] - 2.1, g2.origin[2] + 1.7};
  const Volume moving = resampleVolume(full, movingGrid, truth.inverse(), Interpolation::Linear, float(outside));
  RegistrationOptions o;
  o.kind = RegistrationKind::Rigid;
  const RegistrationResult r = registerImages(fixed, moving, o);
  // TRE over the object: voxels above the 60th percentile of the fixed image.
  const double threshold = percentiles(fixed.data(), fixed.voxelCount(), {60.0})[0];
  Mask object(g2);
  for (std::size_t i = 0; i < object.voxelCount(); ++i) object.data()[i] = fixed.data()[i] > threshold ? 1 : 0;
  const double tre = r.transform.meanDistance(truth, object);
  ::testing::Test::RecordProperty("tre_mm", std::to_string(tre));
  EXPECT_LT(tre, 0.5) << file << " " << r.qa.toJson().dump();
}

TEST(RegistrationData, Ch2MovedByAKnownRigidTransform) {
  MR2CT_REQUIRE_DATA(dir);
  recoverKnownMotion(dir / "mricron-ch2" / "ch2.nii.gz", 0.0);
}

TEST(RegistrationData, CraniumCtMovedByAKnownRigidTransform) {
  MR2CT_REQUIRE_DATA(dir);
  recoverKnownMotion(dir / "invesalius-cranium-ct" / "Cranium.nii.gz", -1024.0);
}

}  // namespace
}  // namespace mr2ct
