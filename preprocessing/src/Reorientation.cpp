// Reorientation to LPS: axes permuted/flipped without interpolation (values moved, not resampled),
// the geometry updated so every voxel keeps its physical position.
#include <cmath>

#include "mr2ct/preprocessing/Resampling.h"

namespace mr2ct {

namespace {

// Which old axis (and sign) becomes each new axis so that the new direction is closest to identity.
struct AxisMap {
  std::array<int, 3> source{0, 1, 2};
  std::array<bool, 3> flip{false, false, false};
};

AxisMap closestToIdentity(const Mat3& d) {
  static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
  AxisMap best;
  double bestScore = -1;
  for (const auto& p : perms) {
    // new axis r takes old axis p[r]; its direction column is ±column p[r]; score: |D[r][p[r]]|.
    double score = 0;
    for (int r = 0; r < 3; ++r) score += std::abs(d[r * 3 + p[r]]);
    if (score > bestScore + 1e-12) {
      bestScore = score;
      for (int r = 0; r < 3; ++r) {
        best.source[r] = p[r];
        best.flip[r] = d[r * 3 + p[r]] < 0;
      }
    }
  }
  return best;
}

template <class TGrid>
TGrid reorient(const TGrid& in) {
  const Geometry& g = in.geometry();
  g.validate("reorientToLps");
  const AxisMap map = closestToIdentity(g.direction);
  Geometry out;
  Vec3 firstOld{};
  for (int r = 0; r < 3; ++r) {
    const int s = map.source[r];
    out.size[r] = g.size[s];
    out.spacing[r] = g.spacing[s];
    for (int row = 0; row < 3; ++row) out.direction[row * 3 + r] = (map.flip[r] ? -1.0 : 1.0) * g.direction[row * 3 + s];
    firstOld[s] = map.flip[r] ? double(g.size[s]) - 1 : 0.0;
  }
  out.origin = g.indexToPhysical(firstOld);
  TGrid result(out);
  std::array<std::size_t, 3> oldIdx{};
  for (std::size_t z = 0; z < out.size[2]; ++z)
    for (std::size_t y = 0; y < out.size[1]; ++y)
      for (std::size_t x = 0; x < out.size[0]; ++x) {
        const std::size_t n[3] = {x, y, z};
        for (int r = 0; r < 3; ++r) {
          const int s = map.source[r];
          oldIdx[s] = map.flip[r] ? g.size[s] - 1 - n[r] : n[r];
        }
        result.at(x, y, z) = in.at(oldIdx[0], oldIdx[1], oldIdx[2]);
      }
  return result;
}

}  // namespace

Volume reorientToLps(const Volume& volume) { return reorient(volume); }
Mask reorientToLps(const Mask& mask) { return reorient(mask); }

}  // namespace mr2ct
