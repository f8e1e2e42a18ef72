#pragma once
// Shared helpers for the GoogleTest suites: temporary folders, real-data lookup, tiny volumes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "mr2ct/preprocessing/Volume.h"
#include "support/TempDir.h"

namespace mr2ct::test {

/// The message of the `E` that `f` throws; a test failure (and "") when it throws nothing.
template <class E, class F>
std::string thrownMessage(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an exception";
  return "";
}

/// R = Rz·Rx·Ry (radians), the convention of the phantom generator's misalignments.
inline Mat3 rotationXYZ(double ax, double ay, double az) {
  const double cx = std::cos(ax), sx = std::sin(ax), cy = std::cos(ay), sy = std::sin(ay), cz = std::cos(az),
               sz = std::sin(az);
  const Mat3 rx{1, 0, 0, 0, cx, -sx, 0, sx, cx}, ry{cy, 0, sy, 0, 1, 0, -sy, 0, cy}, rz{cz, -sz, 0, sz, cz, 0, 0, 0, 1};
  auto mul = [](const Mat3& a, const Mat3& b) {
    Mat3 r{};
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j)
        for (int k = 0; k < 3; ++k) r[i * 3 + j] += a[i * 3 + k] * b[k * 3 + j];
    return r;
  };
  return mul(rz, mul(rx, ry));
}

/// $MR2CT_DATA_DIR, or empty when unset / missing.
inline std::filesystem::path dataDir() {
  const char* d = std::getenv("MR2CT_DATA_DIR");
  if (!d || !*d || !std::filesystem::is_directory(d)) return {};
  return std::filesystem::path(d);
}

#define MR2CT_REQUIRE_DATA(dir)                                                              \
  const std::filesystem::path dir = ::mr2ct::test::dataDir();                                \
  if (dir.empty()) GTEST_SKIP() << "MR2CT_DATA_DIR not set: real-data test skipped";

/// A non-cubic, non-isotropic volume with a non-identity (rotated, flipped) direction and a
/// value pattern that identifies each voxel: v = x + 100·y + 10000·z.
inline Volume makeIdentifiableVolume(std::array<std::size_t, 3> size = {7, 5, 3}) {
  Geometry g;
  g.size = size;
  g.spacing = {0.7, 1.3, 2.9};
  g.origin = {-12.5, 33.25, 101.0};
  const double c = std::cos(0.3), s = std::sin(0.3);
  g.direction = {c, -s, 0, s, c, 0, 0, 0, -1};  // rotation about z, third axis flipped
  Volume v(g);
  for (std::size_t z = 0; z < size[2]; ++z)
    for (std::size_t y = 0; y < size[1]; ++y)
      for (std::size_t x = 0; x < size[0]; ++x) v.at(x, y, z) = float(x + 100 * y + 10000 * z);
  return v;
}

}  // namespace mr2ct::test
