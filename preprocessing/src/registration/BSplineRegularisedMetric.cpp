// The penalty of BSplineRegularisedMetric on the coefficient grid.
#include "BSplineRegularisedMetric.h"

#include <array>
#include <cmath>
#include <vector>

namespace mr2ct::registration {

namespace {

struct Stencil {
  std::vector<std::array<int, 3>> offsets;
  std::vector<double> weights;
  int a, b;        // the two axes differentiated
  double factor;   // 2 for mixed terms (∂ab and ∂ba)
};

std::vector<Stencil> secondDifferences() {
  std::vector<Stencil> s;
  for (int a = 0; a < 3; ++a)
    for (int b = a; b < 3; ++b) {
      Stencil st{{}, {}, a, b, a == b ? 1.0 : 2.0};
      std::array<int, 3> o{0, 0, 0};
      if (a == b) {
        for (int k : {-1, 0, 1}) {
          o = {0, 0, 0};
          o[a] = k;
          st.offsets.push_back(o);
          st.weights.push_back(k == 0 ? -2.0 : 1.0);
        }
      } else {
        for (int i : {0, 1})
          for (int j : {0, 1}) {
            o = {0, 0, 0};
            o[a] = i;
            o[b] = j;
            st.offsets.push_back(o);
            st.weights.push_back((i + j) % 2 == 0 ? 1.0 : -1.0);
          }
      }
      s.push_back(st);
    }
  return s;
}

}  // namespace

double BSplineRegularisedMetric::penalty(DerivativeType* derivative) const {
  if (!bspline_ || (bending_ <= 0 && shrink_ <= 0)) return 0;
  const auto& params = bspline_->GetParameters();
  const auto coefficients = bspline_->GetCoefficientImages();
  const auto size = coefficients[0]->GetLargestPossibleRegion().GetSize();
  const auto spacing = coefficients[0]->GetSpacing();
  const std::array<long, 3> n{long(size[0]), long(size[1]), long(size[2])};
  const long perComponent = n[0] * n[1] * n[2];
  if (long(params.Size()) != 3 * perComponent || (derivative && long(derivative->Size()) != 3 * perComponent))
    return 0;  // not the layout we know: no penalty rather than a wrong one
  const double hMean = std::cbrt(spacing[0] * spacing[1] * spacing[2]);
  static const std::vector<Stencil> stencils = secondDifferences();
  auto index = [&](long x, long y, long z) { return x + n[0] * (y + n[1] * z); };

  std::vector<double> grad(params.Size(), 0.0);
  double bend = 0, bendTerms = 0;
  for (const auto& st : stencils) {
    // mm of displacement → dimensionless curvature: Δa Δb c / (ha hb) · h̄
    const double scale = hMean / (spacing[st.a] * spacing[st.b]);
    std::array<long, 3> lo{0, 0, 0}, hi = n;
    for (const auto& o : st.offsets)
      for (int d = 0; d < 3; ++d) {
        lo[d] = std::max(lo[d], long(-o[d]));
        hi[d] = std::min(hi[d], n[d] - long(o[d]));
      }
    for (int comp = 0; comp < 3; ++comp)
      for (long z = lo[2]; z < hi[2]; ++z)
        for (long y = lo[1]; y < hi[1]; ++y)
          for (long x = lo[0]; x < hi[0]; ++x) {
            double r = 0;
            for (std::size_t k = 0; k < st.offsets.size(); ++k)
              r += st.weights[k] *
                   params[comp * perComponent + index(x + st.offsets[k][0], y + st.offsets[k][1], z + st.offsets[k][2])];
            r *= scale;
            bend += st.factor * r * r;
            bendTerms += st.factor;
            for (std::size_t k = 0; k < st.offsets.size(); ++k)
              grad[comp * perComponent + index(x + st.offsets[k][0], y + st.offsets[k][1], z + st.offsets[k][2])] +=
                  2.0 * st.factor * r * scale * st.weights[k];
          }
  }
  double value = 0;
  if (bendTerms > 0) {
    value += bending_ * bend / bendTerms;
    for (auto& g : grad) g *= bending_ / bendTerms;
  }
  double sq = 0;
  const double shrinkScale = shrink_ / (double(params.Size()) * hMean * hMean);
  for (unsigned i = 0; i < params.Size(); ++i) {
    sq += params[i] * params[i];
    grad[i] += 2.0 * shrinkScale * params[i];
  }
  value += shrinkScale * sq;
  if (derivative)
    for (unsigned i = 0; i < params.Size(); ++i) (*derivative)[i] -= grad[i];
  return value;
}

}  // namespace mr2ct::registration
