// The MR's own grid and its random rigid misalignment to the CT, for the head phantom.
#include <algorithm>
#include <cmath>

#include "PhantomInternal.h"

namespace mr2ct::phantom {

namespace {
Vec3 randomUnitVector(Random& rng) {
  for (;;) {
    const Vec3 v{rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(-1, 1)};
    const double n = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    if (n > 0.1 && n <= 1) return {v[0] / n, v[1] / n, v[2] / n};
  }
}
}  // namespace

Misalignment drawMisalignment(const Vec3& centre, double maxDeg, double maxMm, Random& rng) {
  Misalignment m;
  m.centre = centre;
  // At least a fifth of the maximum, so every case needs a real registration.
  m.angleDeg = maxDeg * rng.uniform(0.2, 1.0);
  m.translationMm = maxMm * rng.uniform(0.2, 1.0);
  const Vec3 k = randomUnitVector(rng);
  const double a = m.angleDeg * M_PI / 180, c = std::cos(a), s = std::sin(a), t = 1 - c;
  // Rodrigues' formula.
  m.rotation = {t * k[0] * k[0] + c,        t * k[0] * k[1] - s * k[2], t * k[0] * k[2] + s * k[1],
                t * k[0] * k[1] + s * k[2], t * k[1] * k[1] + c,        t * k[1] * k[2] - s * k[0],
                t * k[0] * k[2] - s * k[1], t * k[1] * k[2] + s * k[0], t * k[2] * k[2] + c};
  const Vec3 dir = randomUnitVector(rng);
  for (int i = 0; i < 3; ++i) m.translation[i] = dir[i] * m.translationMm;
  return m;
}

Geometry drawMrGrid(const Geometry& ct, double minMm, double maxMm, double marginMm, Random& rng) {
  Geometry g;
  const Vec3 extent = ct.extentMm();
  const Vec3 centre = ct.center();
  for (int i = 0; i < 3; ++i) {
    g.spacing[i] = std::round(rng.uniform(minMm, maxMm) * 100) / 100;  // scanners state round spacings
    g.size[i] = std::size_t(std::ceil((extent[i] + 2 * marginMm) / g.spacing[i]));
  }
  for (int i = 0; i < 3; ++i) g.origin[i] = centre[i] - 0.5 * double(g.size[i] - 1) * g.spacing[i];
  return g;
}

}  // namespace mr2ct::phantom
