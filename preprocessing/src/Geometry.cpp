#include "mr2ct/preprocessing/Geometry.h"

#include <cmath>
#include <sstream>

#include "mr2ct/core/Error.h"

namespace mr2ct {

double determinant(const Mat3& m) {
  return m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) + m[2] * (m[3] * m[7] - m[4] * m[6]);
}

Mat3 inverse(const Mat3& m) {
  const double d = determinant(m);
  Mat3 r{};
  r[0] = (m[4] * m[8] - m[5] * m[7]) / d;
  r[1] = (m[2] * m[7] - m[1] * m[8]) / d;
  r[2] = (m[1] * m[5] - m[2] * m[4]) / d;
  r[3] = (m[5] * m[6] - m[3] * m[8]) / d;
  r[4] = (m[0] * m[8] - m[2] * m[6]) / d;
  r[5] = (m[2] * m[3] - m[0] * m[5]) / d;
  r[6] = (m[3] * m[7] - m[4] * m[6]) / d;
  r[7] = (m[1] * m[6] - m[0] * m[7]) / d;
  r[8] = (m[0] * m[4] - m[1] * m[3]) / d;
  return r;
}

double dot(const Vec3& a, const Vec3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

Vec3 cross(const Vec3& a, const Vec3& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}

Mat3 multiply(const Mat3& a, const Mat3& b) {
  Mat3 r{};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 3; ++k) r[i * 3 + j] += a[i * 3 + k] * b[k * 3 + j];
  return r;
}

Vec3 Geometry::indexToPhysical(const Vec3& index) const {
  Vec3 p = origin;
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) p[r] += direction[r * 3 + c] * spacing[c] * index[c];
  return p;
}

Vec3 Geometry::physicalToIndex(const Vec3& point) const {
  const Mat3 inv = inverse(direction);
  Vec3 idx{0, 0, 0};
  for (int r = 0; r < 3; ++r) {
    double s = 0;
    for (int c = 0; c < 3; ++c) s += inv[r * 3 + c] * (point[c] - origin[c]);
    idx[r] = s / spacing[r];
  }
  return idx;
}

Vec3 Geometry::center() const {
  return indexToPhysical({(double(size[0]) - 1) / 2, (double(size[1]) - 1) / 2, (double(size[2]) - 1) / 2});
}

Vec3 Geometry::extentMm() const {
  return {double(size[0]) * spacing[0], double(size[1]) * spacing[1], double(size[2]) * spacing[2]};
}

std::string Geometry::differenceFrom(const Geometry& o, double tol) const {
  std::ostringstream s;
  if (size != o.size) {
    s << "size " << size[0] << "x" << size[1] << "x" << size[2] << " vs " << o.size[0] << "x" << o.size[1] << "x"
      << o.size[2];
    return s.str();
  }
  for (int i = 0; i < 3; ++i)
    if (std::abs(spacing[i] - o.spacing[i]) > tol * std::max(1.0, std::abs(spacing[i]))) {
      s << "spacing[" << i << "] " << spacing[i] << " vs " << o.spacing[i];
      return s.str();
    }
  for (int i = 0; i < 3; ++i)
    if (std::abs(origin[i] - o.origin[i]) > tol * std::max(1.0, spacing[i]) * 10) {
      s << "origin[" << i << "] " << origin[i] << " vs " << o.origin[i];
      return s.str();
    }
  for (int i = 0; i < 9; ++i)
    if (std::abs(direction[i] - o.direction[i]) > tol) {
      s << "direction[" << i / 3 << "][" << i % 3 << "] " << direction[i] << " vs " << o.direction[i];
      return s.str();
    }
  return "";
}

bool Geometry::sameAs(const Geometry& o, double tol) const { return differenceFrom(o, tol).empty(); }

std::string Geometry::orientationCode() const {
  // LPS world: +x = L, +y = P, +z = S.
  static const char pos[3] = {'L', 'P', 'S'};
  static const char neg[3] = {'R', 'A', 'I'};
  std::string code;
  for (int c = 0; c < 3; ++c) {
    int best = 0;
    for (int r = 1; r < 3; ++r)
      if (std::abs(direction[r * 3 + c]) > std::abs(direction[best * 3 + c])) best = r;
    code += direction[best * 3 + c] >= 0 ? pos[best] : neg[best];
  }
  return code;
}

void Geometry::validate(const std::string& context) const {
  for (int i = 0; i < 3; ++i) {
    if (size[i] == 0) throw DataError(context, "image has a zero size along axis " + std::to_string(i));
    if (!(spacing[i] > 0) || !std::isfinite(spacing[i]))
      throw DataError(context, "spacing along axis " + std::to_string(i) + " is not a positive number");
    if (!std::isfinite(origin[i])) throw DataError(context, "origin is not finite");
  }
  const double d = determinant(direction);
  if (!std::isfinite(d) || std::abs(d) < 1e-6) throw DataError(context, "direction matrix is singular");
}

std::string Geometry::describe() const {
  std::ostringstream s;
  s << "size " << size[0] << "x" << size[1] << "x" << size[2] << ", spacing (" << spacing[0] << ", " << spacing[1]
    << ", " << spacing[2] << ") mm, origin (" << origin[0] << ", " << origin[1] << ", " << origin[2] << "), "
    << orientationCode();
  return s.str();
}

}  // namespace mr2ct
