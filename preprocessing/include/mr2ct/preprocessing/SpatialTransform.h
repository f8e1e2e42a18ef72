#pragma once
// A spatial transform in physical space (LPS mm). Convention (ITK's, for registration): it maps
// points of the FIXED image's space (the MR, which defines the space) to points of the MOVING
// image's space (the CT). Resampling the CT onto the MR grid uses it directly.
// CONTRACT between the registration and the preprocessing work: extend, do not break.
#include <filesystem>
#include <memory>
#include <string>

#include "mr2ct/preprocessing/Geometry.h"
#include "mr2ct/preprocessing/Volume.h"

namespace itk {
template <typename TParametersValueType, unsigned int NInputDimensions, unsigned int NOutputDimensions>
class Transform;
}

namespace mr2ct {

class SpatialTransform {
 public:
  using ItkTransform = itk::Transform<double, 3, 3>;

  SpatialTransform();  ///< identity
  static SpatialTransform identity();
  /// p ↦ R·(p − c) + c + t, R a rotation (checked orthonormal, det +1).
  static SpatialTransform rigid(const Mat3& rotation, const Vec3& translation, const Vec3& center = {0, 0, 0});
  /// p ↦ A·(p − c) + c + t.
  static SpatialTransform affine(const Mat3& matrix, const Vec3& translation, const Vec3& center = {0, 0, 0});
  /// Wraps any ITK transform (B-spline, composite, ...). Shares ownership.
  static SpatialTransform fromItk(const ItkTransform* transform);

  /// Reads an ITK .tfm/.txt/.h5 transform file; IoError naming the file on failure.
  static SpatialTransform load(const std::filesystem::path& path);
  /// Writes an ITK transform file (atomically).
  void save(const std::filesystem::path& path) const;

  Vec3 apply(const Vec3& point) const;
  /// Exact inverse of a linear transform; DataError for non-invertible ones.
  SpatialTransform inverse() const;
  /// Composition: (this ∘ first)(p) = this(first(p)). Linear∘linear stays linear.
  SpatialTransform after(const SpatialTransform& first) const;

  bool isLinear() const;
  std::string kind() const;  ///< "identity", "rigid", "affine", "bspline", "composite"
  /// For linear transforms: p ↦ matrix·p + offset.
  Mat3 matrix() const;
  Vec3 offset() const;

  /// Mean distance |this(p) − other(p)| over the voxel centres of `grid` (subsampled to at most
  /// `maxPoints` points), in mm. With a mask, only points inside it.
  double meanDistance(const SpatialTransform& other, const Geometry& grid, std::size_t maxPoints = 20000) const;
  /// The same over the voxel centres of `mask`'s grid where the mask is non-zero (DataError if none is visited).
  double meanDistance(const SpatialTransform& other, const Mask& mask, std::size_t maxPoints = 20000) const;

  /// The ITK object, for resampling filters. Never null.
  const ItkTransform* itk() const;

 private:
  double meanDistance(const SpatialTransform& other, const Geometry& grid, const std::uint8_t* mask,
                      std::size_t maxPoints) const;

 public:
  struct Impl;

 private:
  std::shared_ptr<const Impl> impl_;
};

}  // namespace mr2ct
