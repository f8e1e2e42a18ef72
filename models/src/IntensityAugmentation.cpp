#include "mr2ct/models/IntensityAugmentation.h"

#include <cmath>
#include <vector>

namespace mr2ct {

namespace {
constexpr float kSpacing = 2.0f / float(ContrastCurve::kPoints - 1);
float knot(int k) { return -1.0f + kSpacing * float(k); }
}  // namespace

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
  for (int64_t p = 0; p < planes; ++p) {
    float* d = data + p * height * width;
    for (int64_t i = 0; i < height * width; ++i) d[i] = (d[i] + 1.0f) * field[size_t(i)] - 1.0f;
  }
}

}  // namespace mr2ct
