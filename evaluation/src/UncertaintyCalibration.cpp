#include "mr2ct/evaluation/UncertaintyCalibration.h"

#include <cmath>
#include <limits>

#include "mr2ct/core/AtomicFile.h"
#include "mr2ct/core/Error.h"

namespace mr2ct {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double correlation(double n, double sx, double sy, double sxx, double syy, double sxy) {
  if (n < 3) return kNaN;
  const double cov = sxy - sx * sy / n, vx = sxx - sx * sx / n, vy = syy - sy * sy / n;
  if (!(vx > 0) || !(vy > 0)) return kNaN;
  return cov / std::sqrt(vx * vy);
}

}  // namespace

double pearsonR(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size()) throw UsageError("pearsonR: the two lists differ in length");
  // Centred first: the sums of squares of HU-sized values lose nothing.
  double mx = 0, my = 0;
  for (std::size_t i = 0; i < x.size(); ++i) mx += x[i], my += y[i];
  if (x.empty()) return kNaN;
  mx /= double(x.size()), my /= double(y.size());
  double sxx = 0, syy = 0, sxy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sxx += (x[i] - mx) * (x[i] - mx), syy += (y[i] - my) * (y[i] - my), sxy += (x[i] - mx) * (y[i] - my);
  }
  return correlation(double(x.size()), 0, 0, sxx, syy, sxy);
}

std::filesystem::path findUncertaintyMap(const std::filesystem::path& prediction) {
  const auto p = withSuffixBeforeExtension(prediction, "_std");
  return std::filesystem::is_regular_file(p) ? p : std::filesystem::path();
}

const std::array<double, 10>& UncertaintyCalibration::binEdges() {
  static const std::array<double, 10> edges{0, 2.5, 5, 10, 20, 40, 80, 160, 320,
                                            std::numeric_limits<double>::infinity()};
  return edges;
}

double UncertaintyCalibration::add(const Volume& stdHu, const Volume& pred, const Volume& ref, const Mask& mask,
                                   const std::string& stdName) {
  for (const Geometry* g : {&pred.geometry(), &ref.geometry(), &mask.geometry()})
    if (!stdHu.geometry().sameAs(*g, 1e-3))
      throw DataError(stdName, "grid differs from the evaluated prediction's: " + stdHu.geometry().differenceFrom(*g, 1e-3));
  const float* s = stdHu.voxels().data();
  const float *p = pred.voxels().data(), *r = ref.voxels().data();
  const std::uint8_t* m = mask.data();
  const auto& edges = binEdges();
  double sum = 0;
  std::size_t n = 0;
  for (std::size_t i = 0; i < stdHu.voxelCount(); ++i) {
    if (!m[i]) continue;
    const double sd = s[i], err = std::abs(double(p[i]) - double(r[i]));
    if (!(sd >= 0) || !std::isfinite(sd))
      throw DataError(stdName, "holds a standard deviation that is negative or not finite (" + std::to_string(sd) + ")");
    std::size_t b = 0;
    while (b + 2 < edges.size() && sd >= edges[b + 1]) ++b;  // the last bin is open above
    bins_[b].n += 1, bins_[b].std += sd, bins_[b].absError += err;
    sx_ += sd, sy_ += err, sxx_ += sd * sd, syy_ += err * err, sxy_ += sd * err;
    sum += sd;
    ++n;
  }
  n_ += n;
  return n > 0 ? sum / double(n) : kNaN;
}

std::vector<CalibrationBin> UncertaintyCalibration::bins() const {
  std::vector<CalibrationBin> out;
  const auto& edges = binEdges();
  for (std::size_t b = 0; b + 1 < edges.size(); ++b) {
    if (bins_[b].n == 0) continue;
    const double n = double(bins_[b].n);
    out.push_back({edges[b], b + 2 < edges.size() ? edges[b + 1] : std::numeric_limits<double>::infinity(), bins_[b].n,
                   bins_[b].std / n, bins_[b].absError / n});
  }
  return out;
}

double UncertaintyCalibration::voxelPearsonR() const { return correlation(double(n_), sx_, sy_, sxx_, syy_, sxy_); }

nlohmann::json UncertaintyCalibration::toJson() const {
  nlohmann::json bins = nlohmann::json::array();
  for (const auto& b : this->bins())
    bins.push_back({{"std_from_hu", b.stdFrom},
                    {"std_to_hu", std::isfinite(b.stdTo) ? nlohmann::json(b.stdTo) : nlohmann::json(nullptr)},
                    {"voxels", b.voxels},
                    {"mean_std_hu", b.meanStd},
                    {"mean_abs_error_hu", b.meanAbsError}});
  const double r = voxelPearsonR();
  return {{"voxels", n_}, {"voxel_pearson_r", std::isfinite(r) ? nlohmann::json(r) : nlohmann::json(nullptr)},
          {"bins", bins}};
}

}  // namespace mr2ct
