// Smooth random fields and blurring for the head phantom.
#include <algorithm>
#include <cmath>

#include "PhantomInternal.h"

namespace mr2ct::phantom {

SmoothField::SmoothField(const Vec3& lo, const Vec3& hi, double correlationMm, Random& rng)
    : lo_(lo), step_(correlationMm) {
  std::size_t total = 1;
  for (int i = 0; i < 3; ++i) {
    n_[i] = std::max(2, int(std::ceil((hi[i] - lo[i]) / step_)) + 2);
    total *= std::size_t(n_[i]);
  }
  v_.resize(total);
  for (auto& x : v_) x = float(rng.normal());
}

double SmoothField::at(const Vec3& p) const {
  int i0[3];
  double w[3];
  for (int a = 0; a < 3; ++a) {
    double u = (p[a] - lo_[a]) / step_;
    u = std::clamp(u, 0.0, double(n_[a] - 1) - 1e-9);
    i0[a] = int(u);
    const double f = u - i0[a];
    w[a] = f * f * (3.0 - 2.0 * f);  // smoothstep: continuous first derivative at the nodes
  }
  auto node = [&](int x, int y, int z) { return double(v_[std::size_t(x) + std::size_t(n_[0]) * (y + std::size_t(n_[1]) * z)]); };
  double r = 0;
  for (int dz = 0; dz < 2; ++dz)
    for (int dy = 0; dy < 2; ++dy)
      for (int dx = 0; dx < 2; ++dx) {
        const double wt = (dx ? w[0] : 1 - w[0]) * (dy ? w[1] : 1 - w[1]) * (dz ? w[2] : 1 - w[2]);
        r += wt * node(i0[0] + dx, i0[1] + dy, i0[2] + dz);
      }
  return r;
}

void gridBox(const Geometry& g, double margin, Vec3& lo, Vec3& hi) {
  lo = {1e300, 1e300, 1e300};
  hi = {-1e300, -1e300, -1e300};
  for (int corner = 0; corner < 8; ++corner) {
    const Vec3 idx{(corner & 1) ? double(g.size[0]) - 1 : 0.0, (corner & 2) ? double(g.size[1]) - 1 : 0.0,
                   (corner & 4) ? double(g.size[2]) - 1 : 0.0};
    const Vec3 p = g.indexToPhysical(idx);
    for (int i = 0; i < 3; ++i) {
      lo[i] = std::min(lo[i], p[i] - margin);
      hi[i] = std::max(hi[i], p[i] + margin);
    }
  }
}

void gaussianBlur(Volume& v, const Vec3& sigmaVoxels) {
  const auto n = v.size();
  float* d = v.data();
  for (int axis = 0; axis < 3; ++axis) {
    const double s = sigmaVoxels[axis];
    if (s <= 0 || n[axis] < 2) continue;
    const int r = int(std::ceil(3 * s));
    std::vector<double> k(2 * r + 1);
    double sum = 0;
    for (int i = -r; i <= r; ++i) sum += k[i + r] = std::exp(-0.5 * i * i / (s * s));
    for (auto& x : k) x /= sum;
    const std::size_t stride = axis == 0 ? 1 : axis == 1 ? n[0] : n[0] * n[1];
    const std::size_t len = n[axis];
    std::vector<float> line(len);
    // Every line along `axis`: start indices are all voxels with coordinate 0 on that axis.
    const std::size_t total = v.voxelCount();
    for (std::size_t start = 0; start < total; ++start) {
      const std::size_t coord = (start / stride) % len;
      if (coord != 0) continue;
      for (std::size_t i = 0; i < len; ++i) line[i] = d[start + i * stride];
      for (std::size_t i = 0; i < len; ++i) {
        double acc = 0;
        for (int j = -r; j <= r; ++j) {
          const long idx = std::clamp(long(i) + j, 0L, long(len) - 1);
          acc += k[j + r] * line[std::size_t(idx)];
        }
        d[start + i * stride] = float(acc);
      }
    }
  }
}

}  // namespace mr2ct::phantom
