// Intensity normalization. Records hold doubles and every map is monotone with a closed-form
// inverse, so inverse(forward(x)) returns x up to float rounding; the records go into the store
// and the model folder.
#include "mr2ct/preprocessing/Normalization.h"

#include <algorithm>
#include <cmath>

#include "mr2ct/core/Error.h"
#include "mr2ct/preprocessing/Statistics.h"

namespace mr2ct {

std::vector<double> MrNormalizationRule::nyulPercentiles() const {
  std::vector<double> ps{lowPercentile};
  for (int d = 1; d <= 9; ++d) ps.push_back(10.0 * d);
  ps.push_back(highPercentile);
  return ps;
}

void MrNormalizationRule::validate() const {
  if (method != "percentile" && method != "zscore" && method != "nyul" && method != "gamma")
    throw UsageError("MR normalization: unknown method '" + method + "' (percentile|zscore|nyul|gamma)");
  if (method != "zscore" && !(lowPercentile >= 0 && lowPercentile < highPercentile && highPercentile <= 100))
    throw UsageError("MR normalization: percentiles must satisfy 0 <= low < high <= 100 (got " +
                     std::to_string(lowPercentile) + ", " + std::to_string(highPercentile) + ")");
  if (method == "nyul" && !(lowPercentile < 10 && highPercentile > 90))
    throw UsageError("MR normalization nyul: the end percentiles must lie outside the deciles (low < 10 < 90 < high; got " +
                     std::to_string(lowPercentile) + ", " + std::to_string(highPercentile) + ")");
  if (method != "nyul" && !standardScale.empty())
    throw UsageError("MR normalization: a standard scale belongs to the nyul method only (method is " + method + ")");
  if (method != "gamma" && !std::isnan(medianPosition))
    throw UsageError("MR normalization: a median position belongs to the gamma method only (method is " + method + ")");
  if (method == "gamma" && !std::isnan(medianPosition) && !(medianPosition > 0 && medianPosition < 1))
    throw UsageError("MR normalization gamma: the median position must lie strictly between 0 and 1 (got " +
                     std::to_string(medianPosition) + ")");
  if (standardScale.empty()) return;
  bool ok = standardScale.size() == kNyulLandmarks && std::abs(standardScale.front() + 1.0) < 1e-9 &&
            std::abs(standardScale.back() - 1.0) < 1e-9;
  for (std::size_t k = 0; ok && k < standardScale.size(); ++k)
    ok = std::isfinite(standardScale[k]) && (k == 0 || standardScale[k] >= standardScale[k - 1]);
  if (!ok)
    throw UsageError("MR normalization nyul: the standard scale must be " + std::to_string(kNyulLandmarks) +
                     " non-decreasing values from -1 to +1 (got " + nlohmann::json(standardScale).dump() + ")");
}

nlohmann::json MrNormalizationRule::toJson() const {
  nlohmann::json j{{"method", method}, {"low_percentile", lowPercentile}, {"high_percentile", highPercentile}};
  if (method == "nyul") j["standard_scale"] = standardScale;
  if (method == "gamma")  // unfitted: null, which JSON has for NaN
    j["median_position"] = std::isnan(medianPosition) ? nlohmann::json(nullptr) : nlohmann::json(medianPosition);
  return j;
}

MrNormalizationRule MrNormalizationRule::fromJson(const nlohmann::json& j) {
  MrNormalizationRule r;
  try {
    r.method = j.at("method").get<std::string>();
    r.lowPercentile = j.value("low_percentile", r.lowPercentile);
    r.highPercentile = j.value("high_percentile", r.highPercentile);
    if (j.contains("standard_scale")) r.standardScale = j.at("standard_scale").get<std::vector<double>>();
    if (j.contains("median_position") && !j.at("median_position").is_null())
      r.medianPosition = j.at("median_position").get<double>();
  } catch (const nlohmann::json::exception& e) {
    throw DataError(std::string("MR normalization rule: ") + e.what());
  }
  try {
    r.validate();
  } catch (const UsageError& e) {
    throw DataError(e.what());
  }
  return r;
}

namespace {

/// y(x) on the polyline through (xs[k], ys[k]), both non-decreasing with xs.front() < xs.back(),
/// extended beyond its ends by its first and last segments of positive width. Where xs repeat
/// (many voxels of one value: an integer MR, a phantom), the map jumps; where ys repeat, it is flat.
double piecewiseLinear(const std::vector<double>& xs, const std::vector<double>& ys, double x) {
  if (std::isnan(x)) return x;  // no segment holds it, and upper_bound would run off the end
  const std::size_t n = xs.size();
  std::size_t first = 0;
  while (first + 2 < n && !(xs[first + 1] > xs[first])) ++first;
  std::size_t last = n - 1;
  while (last > 1 && !(xs[last] > xs[last - 1])) --last;
  std::size_t k;
  if (x <= xs[first]) k = first;
  else if (x >= xs[last]) k = last - 1;
  else k = std::size_t(std::upper_bound(xs.begin(), xs.end(), x) - xs.begin()) - 1;
  return ys[k] + (x - xs[k]) * (ys[k + 1] - ys[k]) / (xs[k + 1] - xs[k]);
}

/// The end percentiles of `rule` inside the mask must be finite and differ; one message for every method.
void requireRange(double low, double high, const MrNormalizationRule& rule, const std::string& context) {
  if (!std::isfinite(low) || !std::isfinite(high))
    throw DataError(context, "MR normalization: no finite voxel inside the body mask");
  if (!(high > low))
    throw DataError(context, "MR normalization: percentiles p" + std::to_string(rule.lowPercentile) + " and p" +
                                 std::to_string(rule.highPercentile) + " are equal (" + std::to_string(low) +
                                 "): flat intensities inside the body mask");
}

}  // namespace

float MrNormalizationRecord::forward(float x) const {
  if (rule.method == "zscore") return static_cast<float>((double(x) - mean) / std);
  if (rule.method == "nyul") return static_cast<float>(piecewiseLinear(landmarks, rule.standardScale, double(x)));
  if (rule.method == "gamma") {
    double u = (double(x) - low) / (high - low);
    if (u > 0) u = std::pow(u, gamma);  // below the low percentile (air) stays linear: no power of a negative
    return static_cast<float>(u * 2.0 - 1.0);
  }
  return static_cast<float>((double(x) - low) / (high - low) * 2.0 - 1.0);
}

float MrNormalizationRecord::inverse(float y) const {
  if (rule.method == "zscore") return static_cast<float>(double(y) * std + mean);
  if (rule.method == "nyul") return static_cast<float>(piecewiseLinear(rule.standardScale, landmarks, double(y)));
  if (rule.method == "gamma") {
    double u = (double(y) + 1.0) * 0.5;
    if (u > 0) u = std::pow(u, 1.0 / gamma);
    return static_cast<float>(u * (high - low) + low);
  }
  return static_cast<float>((double(y) + 1.0) * 0.5 * (high - low) + low);
}

nlohmann::json MrNormalizationRecord::toJson() const {
  nlohmann::json j = rule.toJson();
  if (rule.method == "zscore") {
    j["mean"] = mean;
    j["std"] = std;
  } else {
    j["low"] = low;
    j["high"] = high;
  }
  if (rule.method == "nyul") j["landmarks"] = landmarks;
  if (rule.method == "gamma") j["gamma"] = gamma;
  return j;
}

MrNormalizationRecord MrNormalizationRecord::fromJson(const nlohmann::json& j) {
  MrNormalizationRecord r;
  r.rule = MrNormalizationRule::fromJson(j);
  try {
    if (r.rule.method == "zscore") {
      r.mean = j.at("mean").get<double>();
      r.std = j.at("std").get<double>();
    } else {
      r.low = j.at("low").get<double>();
      r.high = j.at("high").get<double>();
    }
    if (r.rule.method == "nyul") r.landmarks = j.at("landmarks").get<std::vector<double>>();
    if (r.rule.method == "gamma") r.gamma = j.at("gamma").get<double>();
  } catch (const nlohmann::json::exception& e) {
    throw DataError(std::string("MR normalization record: ") + e.what());
  }
  bool ok = r.rule.method == "zscore" ? (std::isfinite(r.mean) && std::isfinite(r.std) && r.std > 0)
                                      : (std::isfinite(r.low) && std::isfinite(r.high) && r.high > r.low);
  if (r.rule.method == "nyul") {
    ok = ok && r.rule.standardScale.size() == MrNormalizationRule::kNyulLandmarks &&
         r.landmarks.size() == MrNormalizationRule::kNyulLandmarks && r.landmarks.front() == r.low &&
         r.landmarks.back() == r.high;
    for (std::size_t k = 1; ok && k < r.landmarks.size(); ++k)
      ok = std::isfinite(r.landmarks[k]) && r.landmarks[k] >= r.landmarks[k - 1];
  }
  if (r.rule.method == "gamma")
    ok = ok && std::isfinite(r.gamma) && r.gamma >= 1.0 / MrNormalizationRule::kMaxGamma &&
         r.gamma <= MrNormalizationRule::kMaxGamma;
  if (!ok) throw DataError("MR normalization record: degenerate values " + j.dump());
  return r;
}

Volume normalizeMr(const Volume& mr, const Mask& mask, const MrNormalizationRule& rule, MrNormalizationRecord* record,
                   const std::string& context) {
  rule.validate();
  if (mask.voxelCount() != mr.voxelCount() || mask.size() != mr.size())
    throw DataError(context, "MR normalization: mask and image sizes differ");
  if (mask.count() == 0) throw DataError(context, "MR normalization: the body mask is empty");
  MrNormalizationRecord rec;
  rec.rule = rule;
  if (rule.method == "zscore") {
    double sum = 0, sum2 = 0;
    std::size_t n = 0;
    for (std::size_t i = 0; i < mr.voxelCount(); ++i) {
      const float v = mr.data()[i];
      if (!mask.data()[i] || !std::isfinite(v)) continue;
      sum += v;
      sum2 += double(v) * v;
      ++n;
    }
    if (n == 0) throw DataError(context, "MR normalization: no finite voxel inside the body mask");
    rec.mean = sum / double(n);
    rec.std = std::sqrt(std::max(0.0, sum2 / double(n) - rec.mean * rec.mean));
    if (!(rec.std > 1e-12 * std::max(1.0, std::abs(rec.mean))))
      throw DataError(context, "MR normalization: intensities inside the body mask are constant");
  } else if (rule.method == "nyul") {
    if (rule.standardScale.empty())
      throw UsageError("MR normalization nyul: no standard scale; preprocess fits it on the training MRs");
    rec.landmarks = nyulLandmarks(mr, mask, rule, context);
    rec.low = rec.landmarks.front();
    rec.high = rec.landmarks.back();
  } else if (rule.method == "gamma") {
    if (std::isnan(rule.medianPosition))
      throw UsageError("MR normalization gamma: no median position; preprocess fits it on the training MRs");
    const auto p = percentiles(mr.data(), mr.voxelCount(), {rule.lowPercentile, 50.0, rule.highPercentile}, mask.data());
    requireRange(p[0], p[2], rule, context);
    rec.low = p[0];
    rec.high = p[2];
    const double position = (p[1] - p[0]) / (p[2] - p[0]);
    const double g = position <= 0   ? 1.0 / MrNormalizationRule::kMaxGamma
                     : position >= 1 ? MrNormalizationRule::kMaxGamma
                                     : std::log(rule.medianPosition) / std::log(position);
    rec.gamma = std::clamp(g, 1.0 / MrNormalizationRule::kMaxGamma, MrNormalizationRule::kMaxGamma);
  } else {
    const auto p = percentiles(mr.data(), mr.voxelCount(), {rule.lowPercentile, rule.highPercentile}, mask.data());
    requireRange(p[0], p[1], rule, context);
    rec.low = p[0];
    rec.high = p[1];
  }
  Volume out(mr.geometry());
  for (std::size_t i = 0; i < mr.voxelCount(); ++i) out.data()[i] = rec.forward(mr.data()[i]);
  if (record) *record = rec;
  return out;
}

std::vector<double> nyulLandmarks(const Volume& mr, const Mask& mask, const MrNormalizationRule& rule,
                                  const std::string& context) {
  if (mask.voxelCount() != mr.voxelCount()) throw DataError(context, "MR normalization: mask and image sizes differ");
  const std::vector<double> ps = rule.nyulPercentiles();
  const std::vector<double> v = percentiles(mr.data(), mr.voxelCount(), ps, mask.data());
  requireRange(v.front(), v.back(), rule, context);
  return v;
}

double mrMedianPosition(const Volume& mr, const Mask& mask, const MrNormalizationRule& rule,
                        const std::string& context) {
  if (mask.voxelCount() != mr.voxelCount()) throw DataError(context, "MR normalization: mask and image sizes differ");
  const auto p = percentiles(mr.data(), mr.voxelCount(), {rule.lowPercentile, 50.0, rule.highPercentile}, mask.data());
  requireRange(p[0], p[2], rule, context);
  return (p[1] - p[0]) / (p[2] - p[0]);
}

double fitMedianPosition(const std::vector<double>& positionsPerMr) {
  if (positionsPerMr.empty()) throw DataError("MR normalization gamma: no training MR to fit the median position on");
  double sum = 0;
  for (double m : positionsPerMr) {
    if (!(m > 0 && m < 1))
      throw DataError("MR normalization gamma: a training MR's median lies at " + std::to_string(m) +
                      " of its range, not strictly inside it");
    sum += m;
  }
  return sum / double(positionsPerMr.size());
}

std::vector<double> fitNyulStandardScale(const std::vector<std::vector<double>>& landmarksPerMr) {
  if (landmarksPerMr.empty()) throw DataError("MR normalization nyul: no training MR to fit the standard scale on");
  const std::size_t n = MrNormalizationRule::kNyulLandmarks;
  std::vector<double> mean(n, 0.0);
  for (const auto& m : landmarksPerMr) {
    if (m.size() != n || !(m.back() > m.front()))
      throw DataError("MR normalization nyul: landmarks " + nlohmann::json(m).dump() + " are not " +
                      std::to_string(n) + " values with a range");
    for (std::size_t k = 0; k < n; ++k) mean[k] += ((m[k] - m.front()) / (m.back() - m.front()) * 2.0 - 1.0);
  }
  for (double& v : mean) v /= double(landmarksPerMr.size());
  mean.front() = -1.0;
  mean.back() = 1.0;
  return mean;
}

float CtNormalization::toUnit(float hu) const {
  const double c = std::clamp(double(hu), minHu, maxHu);
  return static_cast<float>((c - minHu) / (maxHu - minHu) * 2.0 - 1.0);
}

float CtNormalization::toHu(float unit) const {
  return static_cast<float>((double(unit) + 1.0) * 0.5 * (maxHu - minHu) + minHu);
}

Volume CtNormalization::apply(const Volume& ctHu) const {
  Volume out(ctHu.geometry());
  for (std::size_t i = 0; i < ctHu.voxelCount(); ++i) out.data()[i] = toUnit(ctHu.data()[i]);
  return out;
}

Volume CtNormalization::invert(const Volume& unit) const {
  Volume out(unit.geometry());
  for (std::size_t i = 0; i < unit.voxelCount(); ++i) out.data()[i] = toHu(unit.data()[i]);
  return out;
}

void CtNormalization::validate() const {
  if (!std::isfinite(minHu) || !std::isfinite(maxHu) || !(maxHu > minHu))
    throw UsageError("CT normalization: need min_hu < max_hu (got " + std::to_string(minHu) + ", " +
                     std::to_string(maxHu) + ")");
}

nlohmann::json CtNormalization::toJson() const { return {{"min_hu", minHu}, {"max_hu", maxHu}}; }

CtNormalization CtNormalization::fromJson(const nlohmann::json& j) {
  CtNormalization c;
  try {
    c.minHu = j.at("min_hu").get<double>();
    c.maxHu = j.at("max_hu").get<double>();
  } catch (const nlohmann::json::exception& e) {
    throw DataError(std::string("CT normalization record: ") + e.what());
  }
  c.validate();
  return c;
}

}  // namespace mr2ct
