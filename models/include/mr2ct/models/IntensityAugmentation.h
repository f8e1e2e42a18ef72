#pragma once
// MR appearance augmentation for training: the MR of another scanner, sequence or subject differs
// from the training MRs by more than a linear gain (IntensityJitter in the sampler): tissue
// contrasts move against each other (TR/TE/flip) and a smooth receive-bias field scales the signal.
// On BrainWeb the val subject whose skin/white-matter ratio sits at the edge of the training range
// carries most of the error spread over subjects (README "Quality"), so the sampler can draw both.
//   - GammaCurve: a random power u -> u^gamma of the MR's 0…1 position u = (x + 1)/2, one per sample:
//     the whole tone scale moves at once, as between subjects whose MRs sit darker or brighter
//     after the percentile map (BrainWeb's subject 48: grey and white matter 0.3 below the mean,
//     beyond the contrast curve's reach of 0.16 at one knot).
//   - ContrastCurve: a random monotone piecewise-linear map of the normalized MR (control points at
//     -1, -0.6, ..., 1 with the inner ones moved; MONAI's RandHistogramShift is the same idea).
//   - BiasField: a random smooth multiplicative field exp(quadratic in the window's coordinates)
//     on the signal above the normalized floor (-1 is air/cortical bone, no signal).
//   - SurfaceGain: a random gain on the outer shell of the body (the first 1-4 voxels in from its
//     surface): skin and scalp brightness relative to the brain varies with the sequence and the
//     subject, and receive coils close to the surface brighten it, while the brain's own contrasts
//     stay (a global curve cannot move the skin without moving the grey matter of equal signal).
// All are identity at strength 0, and none draws random numbers then, so batches of runs
// without augmentation do not change.
#include <array>
#include <cstdint>
#include <vector>

#include "mr2ct/models/Random.h"

namespace mr2ct {

class GammaCurve {
 public:
  GammaCurve() = default;  ///< identity
  /// log gamma ~ U(±strength).
  static GammaCurve draw(SplitMix64& rng, double strength);
  /// 2·((v + 1)/2)^gamma − 1 on (-1, 1); identity outside (the ends are fixed).
  float operator()(float v) const;
  void apply(float* data, int64_t n) const;
  float gamma() const { return gamma_; }

 private:
  float gamma_ = 1.0f;
};

class ContrastCurve {
 public:
  static constexpr int kPoints = 6;  ///< -1, -0.6, -0.2, 0.2, 0.6, 1
  ContrastCurve();                   ///< identity
  /// Inner control points moved by U(±strength·half spacing): monotone for strength < 1.
  static ContrastCurve draw(SplitMix64& rng, double strength);
  /// Piecewise linear between the points; identity outside [-1, 1] (the ends are fixed).
  float operator()(float v) const;
  void apply(float* data, int64_t n) const;

 private:
  std::array<float, kPoints> y_;
};

class BiasField {
 public:
  BiasField() = default;  ///< identity
  /// log field = a·u + b·v + c·u·v + d·u² + e·v² with each coefficient U(±strength), u, v in
  /// [-1, 1] across the window.
  static BiasField draw(SplitMix64& rng, double strength);
  /// data: `planes` consecutive H×W images (channels, depth), each scaled by the same field:
  /// x' = (x + 1)·exp(field) − 1.
  void apply(float* data, int64_t planes, int64_t height, int64_t width) const;

 private:
  std::array<float, 5> c_{};
};

class SurfaceGain {
 public:
  SurfaceGain() = default;  ///< identity
  /// Gain 1 + U(±strength) on the voxels within U(1, 4) voxels of the body's surface, falling
  /// linearly to 1 over the next voxel.
  static SurfaceGain draw(SplitMix64& rng, double strength);
  /// Depth into the body of each pixel of an H×W mask (chamfer 3-4, in voxels; 0 outside the body).
  /// Beyond the window's edges is taken as body, so a window cut through the head has no surface
  /// there.
  static std::vector<float> depth(const float* body, int64_t height, int64_t width);
  /// data: `planes` consecutive H×W images sharing one body mask: x' = (x + 1)·gain(depth) − 1.
  void apply(float* data, int64_t planes, const float* body, int64_t height, int64_t width) const;

 private:
  float gain_ = 0.0f, thickness_ = 0.0f;
};

}  // namespace mr2ct
