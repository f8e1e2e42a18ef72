#pragma once
// Building blocks of the head phantom (private to mr2ct_preprocessing): a portable seeded random
// source, smooth random fields, the analytic anatomy, and the CT / MR / misalignment steps.
#include <cmath>
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "mr2ct/preprocessing/Geometry.h"
#include "mr2ct/preprocessing/Volume.h"

namespace mr2ct::phantom {

/// splitmix64: tiny, portable and identical on every platform (std::normal_distribution is not),
/// so a seed gives the same phantom everywhere.
class Random {
 public:
  explicit Random(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double uniform() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }  ///< [0, 1)
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  double normal() {  // Box–Muller, one value per call (simple and still deterministic)
    const double u1 = 1.0 - uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  /// An independent stream for one purpose (so adding draws in one step leaves the others unchanged).
  Random fork(std::uint64_t salt) { return Random(next() ^ (salt * 0xd6e8feb86659fd93ull)); }

 private:
  std::uint64_t state_;
};

/// Zero-mean, unit-variance-at-nodes random field, smooth on the scale `correlationMm`: values on a
/// lattice over a box, interpolated with smoothstep weights. Points outside the box are clamped.
class SmoothField {
 public:
  SmoothField() = default;
  SmoothField(const Vec3& lo, const Vec3& hi, double correlationMm, Random& rng);
  double at(const Vec3& p) const;

 private:
  Vec3 lo_{0, 0, 0};
  double step_ = 1;
  std::array<int, 3> n_{1, 1, 1};
  std::vector<float> v_{0.f};
};

/// Physical bounding box of a grid (voxel centres), widened by `margin` mm.
void gridBox(const Geometry& g, double margin, Vec3& lo, Vec3& hi);

/// In-place separable Gaussian blur with sigma in voxels (per axis), edges clamped.
void gaussianBlur(Volume& v, const Vec3& sigmaVoxels);

/// The analytic head: label(p) for a point p in CT physical space (LPS mm).
class HeadAnatomy {
 public:
  /// Draws a case's shape around `centre` (the CT grid centre); fields cover [lo, hi].
  HeadAnatomy(const Vec3& centre, const Vec3& lo, const Vec3& hi, Random& rng);
  std::uint8_t label(const Vec3& p) const;
  /// Labels at every voxel centre of `grid`, through `gridToAnatomy` (identity when null).
  Volume labels(const Geometry& grid, const Mat3* rotation = nullptr, const Vec3* translation = nullptr,
                const Vec3* rotationCentre = nullptr) const;
  nlohmann::json toJson() const { return params_; }

 private:
  struct Ellipsoid {
    Vec3 c, a;
    double radius(const Vec3& q) const {  // ellipsoidal radius: 1 on the surface
      const double x = (q[0] - c[0]) / a[0], y = (q[1] - c[1]) / a[1], z = (q[2] - c[2]) / a[2];
      return std::sqrt(x * x + y * y + z * z);
    }
    // Approximate depth below the surface in mm along the ray from the centre (negative outside).
    double depth(const Vec3& q) const {
      const double r = radius(q);
      const double dx = q[0] - c[0], dy = q[1] - c[1], dz = q[2] - c[2];
      const double len = std::sqrt(dx * dx + dy * dy + dz * dz);
      if (r < 1e-9) return std::min(a[0], std::min(a[1], a[2]));
      return len * (1.0 / r - 1.0);
    }
  };
  Vec3 centre_;
  Ellipsoid head_, cavity_;
  double skin_, fat_, bone_, csf_, grey_;
  double floorZ0_, floorSlope_;
  Ellipsoid ventricles_[2], deepGrey_[2], eyes_[2], sinuses_[4];
  double orbitFat_, orbitBone_, earY_, earZ_, earRadius_, earDepth_;
  double gyriFreq_[3], gyriPhase_[3];
  double deformMm_;
  SmoothField deform_[3], fatVar_, boneVar_;
  nlohmann::json params_;
};

/// CT in HU on the labels' grid (texture, partial volume, noise; rounded integers in [-1024, 3071]).
Volume synthesizeCt(const Volume& labels, const Vec3& lo, const Vec3& hi, Random& rng, nlohmann::json& meta);

/// T1-weighted MR on the labels' grid (contrast, heterogeneity, partial volume, bias, Rician noise).
Volume synthesizeMr(const Volume& labels, const Vec3& lo, const Vec3& hi, Random& rng, nlohmann::json& meta);

/// A random rigid misalignment: rotation about a random axis by up to maxDeg, translation up to maxMm.
struct Misalignment {
  Mat3 rotation{1, 0, 0, 0, 1, 0, 0, 0, 1};
  Vec3 translation{0, 0, 0}, centre{0, 0, 0};
  double angleDeg = 0, translationMm = 0;
};
Misalignment drawMisalignment(const Vec3& centre, double maxDeg, double maxMm, Random& rng);

/// The MR grid: its own spacing (per axis in [minMm, maxMm]), identity direction, centred on the CT
/// grid's centre, covering the CT field of view plus a margin for the misalignment.
Geometry drawMrGrid(const Geometry& ct, double minMm, double maxMm, double marginMm, Random& rng);

}  // namespace mr2ct::phantom
