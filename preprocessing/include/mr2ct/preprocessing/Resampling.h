#pragma once
// Resampling onto a target grid through a SpatialTransform (fixed→moving convention), and grid
// helpers. CONTRACT between the registration and the preprocessing work: extend, do not break.
#include "mr2ct/preprocessing/SpatialTransform.h"
#include "mr2ct/preprocessing/Volume.h"

namespace mr2ct {

enum class Interpolation { Nearest, Linear, BSpline };

/// Samples `moving` at transform(p) for every voxel centre p of `target`. Points outside the
/// moving image get `outsideValue` (e.g. -1024 HU for CT, 0 for MR).
Volume resampleVolume(const Volume& moving, const Geometry& target, const SpatialTransform& fixedToMoving,
                      Interpolation interpolation = Interpolation::Linear, float outsideValue = 0.0f);

/// Nearest-neighbour resampling of a mask.
Mask resampleMask(const Mask& moving, const Geometry& target, const SpatialTransform& fixedToMoving);

/// 1 where transform(p) of a target voxel centre lies inside the moving grid's field of view.
Mask fieldOfViewMask(const Geometry& moving, const Geometry& target, const SpatialTransform& fixedToMoving);

/// The same physical extent, origin corner and direction with a new spacing (size rounded).
Geometry withSpacing(const Geometry& g, const Vec3& spacing);

/// The grid's axes permuted/flipped so its direction is the closest to identity (LPS), without
/// interpolation: values are moved, not resampled. Exact inverse: resampleVolume onto the original
/// geometry with Nearest (or Linear: voxel centres coincide).
Volume reorientToLps(const Volume& volume);
Mask reorientToLps(const Mask& mask);

}  // namespace mr2ct
