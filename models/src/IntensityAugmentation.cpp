#include "mr2ct/models/IntensityAugmentation.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace mr2ct {

namespace {
constexpr float kSpacing = 2.0f / float(ContrastCurve::kPoints - 1);
float knot(int k) { return -1.0f + kSpacing * float(k); }

// Intensities are in [-1, 1] with -1 as "no signal": a multiplicative MR effect scales the signal
// above that floor, so air stays air. `factor` is one plane; it applies to each of `planes`.
void scalePlanes(float* data, int64_t planes, const std::vector<float>& factor) {
  const auto n = int64_t(factor.size());
  for (int64_t p = 0; p < planes; ++p) {
    float* x = data + p * n;
    for (int64_t i = 0; i < n; ++i) x[i] = (x[i] + 1.0f) * factor[size_t(i)] - 1.0f;
  }
}
}  // namespace

GammaCurve GammaCurve::draw(SplitMix64& rng, double strength) {
  GammaCurve g;
  g.gamma_ = float(std::exp(rng.uniform(-strength, strength)));
  return g;
}

float GammaCurve::operator()(float v) const {
  if (gamma_ == 1.0f || !(v > -1.0f) || v >= 1.0f) return v;
  return 2.0f * std::pow(0.5f * (v + 1.0f), gamma_) - 1.0f;
}

void GammaCurve::apply(float* data, int64_t n) const {
  if (gamma_ == 1.0f) return;
  for (int64_t i = 0; i < n; ++i) data[i] = (*this)(data[i]);
}

ContrastCurve::ContrastCurve() {
  for (int k = 0; k < kPoints; ++k) y_[size_t(k)] = knot(k);
}

ContrastCurve ContrastCurve::draw(SplitMix64& rng, double strength) {
  ContrastCurve c;
  for (int k = 1; k + 1 < kPoints; ++k)
    c.y_[size_t(k)] += float(rng.uniform(-strength, strength)) * 0.5f * kSpacing;
  return c;
}

float ContrastCurve::operator()(float v) const {
  if (!(v > -1.0f) || v >= 1.0f) return v;
  int k = int((v + 1.0f) / kSpacing);
  if (k > kPoints - 2) k = kPoints - 2;
  const float f = (v - knot(k)) / kSpacing;
  return y_[size_t(k)] + f * (y_[size_t(k + 1)] - y_[size_t(k)]);
}

void ContrastCurve::apply(float* data, int64_t n) const {
  for (int64_t i = 0; i < n; ++i) data[i] = (*this)(data[i]);
}

BiasField BiasField::draw(SplitMix64& rng, double strength) {
  BiasField b;
  for (auto& c : b.c_) c = float(rng.uniform(-strength, strength));
  return b;
}

void BiasField::apply(float* data, int64_t planes, int64_t height, int64_t width) const {
  std::vector<float> field(size_t(height * width));
  auto coord = [](int64_t i, int64_t n) { return n > 1 ? -1.0f + 2.0f * float(i) / float(n - 1) : 0.0f; };
  for (int64_t y = 0; y < height; ++y) {
    const float v = coord(y, height);
    for (int64_t x = 0; x < width; ++x) {
      const float u = coord(x, width);
      field[size_t(y * width + x)] = std::exp(c_[0] * u + c_[1] * v + c_[2] * u * v + c_[3] * u * u + c_[4] * v * v);
    }
  }
  scalePlanes(data, planes, field);
}

SurfaceGain SurfaceGain::draw(SplitMix64& rng, double strength) {
  SurfaceGain g;
  g.gain_ = float(rng.uniform(-strength, strength));
  g.thickness_ = float(rng.uniform(1.0, 4.0));
  return g;
}

std::vector<float> SurfaceGain::depth(const float* body, int64_t height, int64_t width) {
  // Two-pass 3-4 chamfer distance to the nearest non-body pixel; pixels beyond the window count
  // as body, so only background inside the window makes a surface.
  constexpr float kInf = std::numeric_limits<float>::max() / 4;
  std::vector<float> d(size_t(height * width));
  for (int64_t i = 0; i < height * width; ++i) d[size_t(i)] = body[i] > 0.5f ? kInf : 0.0f;
  auto at = [&](int64_t y, int64_t x) { return (y < 0 || y >= height || x < 0 || x >= width) ? kInf : d[size_t(y * width + x)]; };
  for (int64_t y = 0; y < height; ++y)
    for (int64_t x = 0; x < width; ++x) {
      float& v = d[size_t(y * width + x)];
      v = std::min({v, at(y, x - 1) + 3, at(y - 1, x) + 3, at(y - 1, x - 1) + 4, at(y - 1, x + 1) + 4});
    }
  for (int64_t y = height - 1; y >= 0; --y)
    for (int64_t x = width - 1; x >= 0; --x) {
      float& v = d[size_t(y * width + x)];
      v = std::min({v, at(y, x + 1) + 3, at(y + 1, x) + 3, at(y + 1, x + 1) + 4, at(y + 1, x - 1) + 4});
    }
  for (auto& v : d) v = v >= kInf ? std::numeric_limits<float>::infinity() : v / 3.0f;
  return d;
}

void SurfaceGain::apply(float* data, int64_t planes, const float* body, int64_t height, int64_t width) const {
  if (gain_ == 0.0f) return;
  const std::vector<float> d = depth(body, height, width);
  std::vector<float> g(d.size());
  // The first pixel inside the surface is at depth 1: full gain to depth `thickness`, then a
  // one-voxel ramp, so the shell has no step edge for the network to key on.
  for (size_t i = 0; i < d.size(); ++i)
    g[i] = d[i] > 0.0f ? 1.0f + gain_ * std::clamp(thickness_ + 1.0f - d[i], 0.0f, 1.0f) : 1.0f;
  scalePlanes(data, planes, g);
}

}  // namespace mr2ct
