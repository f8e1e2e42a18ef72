#pragma once
// The physical grid of a 3D image: size, spacing, origin and direction, exactly as ITK defines them:
//   physical point p = origin + D · diag(spacing) · index,
// with D a 3×3 direction matrix stored row-major (D[r*3+c]); column c is the world direction of
// voxel axis c. World coordinates are ITK's LPS millimetres.
// Voxel buffers are x-fastest: linear index = x + size[0]·(y + size[1]·z).
#include <array>
#include <cstddef>
#include <string>

namespace mr2ct {

using Vec3 = std::array<double, 3>;
using Mat3 = std::array<double, 9>;  ///< row-major 3×3

/// 3-vector and 3×3 algebra in one place (direction matrices, transforms, NIfTI orientations,
/// DICOM slice planes).
double dot(const Vec3& a, const Vec3& b);
Vec3 cross(const Vec3& a, const Vec3& b);
double determinant(const Mat3& m);
Mat3 inverse(const Mat3& m);  ///< the caller checks determinant(m) != 0
Mat3 multiply(const Mat3& a, const Mat3& b);

struct Geometry {
  std::array<std::size_t, 3> size{0, 0, 0};
  Vec3 spacing{1.0, 1.0, 1.0};
  Vec3 origin{0.0, 0.0, 0.0};
  Mat3 direction{1, 0, 0, 0, 1, 0, 0, 0, 1};

  std::size_t voxelCount() const { return size[0] * size[1] * size[2]; }
  std::size_t linearIndex(std::size_t x, std::size_t y, std::size_t z) const {
    return x + size[0] * (y + size[1] * z);
  }
  /// Continuous index → physical point (LPS mm).
  Vec3 indexToPhysical(const Vec3& index) const;
  /// Physical point → continuous index.
  Vec3 physicalToIndex(const Vec3& point) const;
  /// Physical position of the centre of the grid.
  Vec3 center() const;
  /// Extent along each voxel axis in mm (size·spacing).
  Vec3 extentMm() const;

  /// Same size, and origin/spacing/direction equal within `tolerance` (mm for origin, relative
  /// for spacing, absolute for direction cosines).
  bool sameAs(const Geometry& other, double tolerance = 1e-4) const;
  /// A one-line description of the first difference from `other`, empty when sameAs.
  std::string differenceFrom(const Geometry& other, double tolerance = 1e-4) const;

  /// Three-letter orientation code of the voxel axes in the anatomical convention where each
  /// letter says which way the axis *points to* (ITK's "RAI" naming is the opposite, "from").
  /// Example: an identity direction in LPS world is "LPS".
  std::string orientationCode() const;

  /// Throws DataError (naming `context`) when spacing is not positive/finite, the direction is
  /// singular, or the size is zero.
  void validate(const std::string& context) const;

  std::string describe() const;
};

}  // namespace mr2ct
