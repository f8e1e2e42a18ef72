// Intensity normalization. Records hold doubles and the formulas are affine, so inverse(forward(x))
// returns x up to float rounding; the records go into the store and the model folder.
#include "mr2ct/preprocessing/Normalization.h"

#include <algorithm>
#include <cmath>

#include "mr2ct/core/Error.h"
#include "mr2ct/preprocessing/Statistics.h"

namespace mr2ct {

void MrNormalizationRule::validate() const {
  if (method != "percentile" && method != "zscore")
    throw UsageError("MR normalization: unknown method '" + method + "' (percentile|zscore)");
  if (method == "percentile" &&
      !(lowPercentile >= 0 && lowPercentile < highPercentile && highPercentile <= 100))
    throw UsageError("MR normalization: percentiles must satisfy 0 <= low < high <= 100 (got " +
                     std::to_string(lowPercentile) + ", " + std::to_string(highPercentile) + ")");
}

nlohmann::json MrNormalizationRule::toJson() const {
  return {{"method", method}, {"low_percentile", lowPercentile}, {"high_percentile", highPercentile}};
}

MrNormalizationRule MrNormalizationRule::fromJson(const nlohmann::json& j) {
  MrNormalizationRule r;
  try {
    r.method = j.at("method").get<std::string>();
    r.lowPercentile = j.value("low_percentile", r.lowPercentile);
    r.highPercentile = j.value("high_percentile", r.highPercentile);
  } catch (const nlohmann::json::exception& e) {
    throw DataError(std::string("MR normalization rule: ") + e.what());
  }
  r.validate();
  return r;
}

float MrNormalizationRecord::forward(float x) const {
  if (rule.method == "zscore") return static_cast<float>((double(x) - mean) / std);
  return static_cast<float>((double(x) - low) / (high - low) * 2.0 - 1.0);
}

float MrNormalizationRecord::inverse(float y) const {
  if (rule.method == "zscore") return static_cast<float>(double(y) * std + mean);
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
  } catch (const nlohmann::json::exception& e) {
    throw DataError(std::string("MR normalization record: ") + e.what());
  }
  const bool ok = r.rule.method == "zscore" ? (std::isfinite(r.mean) && std::isfinite(r.std) && r.std > 0)
                                            : (std::isfinite(r.low) && std::isfinite(r.high) && r.high > r.low);
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
  } else {
    const auto p = percentiles(mr.data(), mr.voxelCount(), {rule.lowPercentile, rule.highPercentile}, mask.data());
    if (!std::isfinite(p[0]) || !std::isfinite(p[1]))
      throw DataError(context, "MR normalization: no finite voxel inside the body mask");
    rec.low = p[0];
    rec.high = p[1];
    if (!(rec.high > rec.low))
      throw DataError(context, "MR normalization: percentiles p" + std::to_string(rule.lowPercentile) + " and p" +
                                   std::to_string(rule.highPercentile) + " are equal (" + std::to_string(rec.low) +
                                   "): flat intensities inside the body mask");
  }
  Volume out(mr.geometry());
  for (std::size_t i = 0; i < mr.voxelCount(); ++i) out.data()[i] = rec.forward(mr.data()[i]);
  if (record) *record = rec;
  return out;
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
