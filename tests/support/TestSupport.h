#pragma once
// Shared helpers for the GoogleTest suites: temporary folders, real-data lookup, tiny volumes.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "mr2ct/preprocessing/Volume.h"

namespace mr2ct::test {

/// A fresh temporary folder removed when the object goes out of scope.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() / ("mr2ct-test-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

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
