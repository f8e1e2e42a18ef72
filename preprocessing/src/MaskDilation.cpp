// dilateMaskBox. Its first user is the registration's metric mask: the body mask grown by a margin,
// because a mask cut exactly at the skin hides the body outline, the strongest MR↔CT edge. Measured
// on the test phantoms: with the tight mask the affine stage drifts 1.5-1.7 mm from a rigid truth
// (Mattes MI rises by rescaling the inside), with the outline in view it stays at 0.3-0.6 mm.
#include <algorithm>
#include <cmath>
#include <vector>

#include "mr2ct/preprocessing/BodyMask.h"

namespace mr2ct {

Mask dilateMaskBox(const Mask& mask, double marginMm) {
  const Geometry& g = mask.geometry();
  Mask out = mask.clone();
  if (!(marginMm > 0)) return out;
  const std::array<std::size_t, 3> n = g.size;
  const std::array<std::size_t, 3> stride{1, n[0], n[0] * n[1]};
  std::vector<std::uint8_t> line, grown;
  std::vector<std::size_t> prefix;
  // Separable: a cuboid of ±r voxels per axis is three 1D "any within r" passes (prefix counts).
  for (int axis = 0; axis < 3; ++axis) {
    const auto r = static_cast<std::ptrdiff_t>(std::floor(marginMm / g.spacing[axis]));
    if (r <= 0 || n[axis] < 2) continue;
    const std::size_t len = n[axis], s = stride[axis];
    const int a1 = (axis + 1) % 3, a2 = (axis + 2) % 3;
    line.resize(len);
    prefix.assign(len + 1, 0);
    std::uint8_t* v = out.data();
    for (std::size_t j = 0; j < n[a2]; ++j)
      for (std::size_t i = 0; i < n[a1]; ++i) {
        const std::size_t base = i * stride[a1] + j * stride[a2];
        for (std::size_t k = 0; k < len; ++k) prefix[k + 1] = prefix[k] + (v[base + k * s] != 0);
        if (prefix[len] == 0) continue;
        for (std::size_t k = 0; k < len; ++k) {
          const auto lo = static_cast<std::size_t>(std::max<std::ptrdiff_t>(0, std::ptrdiff_t(k) - r));
          const auto hi = std::min(len, k + static_cast<std::size_t>(r) + 1);
          line[k] = prefix[hi] > prefix[lo] ? 1 : 0;
        }
        for (std::size_t k = 0; k < len; ++k) v[base + k * s] = line[k];
      }
  }
  return out;
}

}  // namespace mr2ct
