#include "mr2ct/models/BoneLevelHarmonization.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "mr2ct/core/Error.h"

namespace mr2ct {

double boneLevel(const std::vector<float>& ct, const std::vector<float>& body, const std::vector<float>& valid,
                 double threshold, const std::string& what) {
  if (body.size() != ct.size() || valid.size() != ct.size())
    throw DataError(what, "CT, body mask and field-of-view mask differ in size");
  std::vector<float> bone;
  for (std::size_t i = 0; i < ct.size(); ++i)
    if (body[i] > 0.5f && valid[i] > 0.5f && double(ct[i]) > threshold) bone.push_back(ct[i]);
  if (bone.empty()) return std::numeric_limits<double>::quiet_NaN();
  const auto rank = std::size_t(std::ceil(kBoneLevelPercentile / 100.0 * double(bone.size()))) - 1;
  const auto nth = bone.begin() + std::ptrdiff_t(std::min(rank, bone.size() - 1));
  std::nth_element(bone.begin(), nth, bone.end());
  return double(*nth);
}

void harmonizeBoneLevel(float* ct, int64_t n, double threshold, double level, double commonLevel) {
  if (!(level > threshold) || !(commonLevel > threshold)) return;
  const auto t = float(threshold);
  const auto factor = float((commonLevel - threshold) / (level - threshold));
  for (int64_t i = 0; i < n; ++i)
    if (ct[i] > t) ct[i] = t + (ct[i] - t) * factor;
}

BoneLevelHarmonizedSource::BoneLevelHarmonizedSource(const TrainingDataSource& data, double threshold,
                                                     const std::string& split)
    : data_(data), threshold_(threshold) {
  std::vector<double> measured;
  for (const std::string& id : data.caseIds(split)) {
    const auto s = data.shape(id);
    const auto n = std::size_t(s[0] * s[1] * s[2]);
    std::vector<float> ct(n), body(n), valid(n);
    data.readSlices(id, "ct", 0, s[0], ct.data());
    data.readSlices(id, "mask", 0, s[0], body.data());
    data.readSlices(id, "valid", 0, s[0], valid.data());
    const double level = boneLevel(ct, body, valid, threshold, data.name() + ":" + id);
    levels_[id] = level;
    if (!std::isnan(level)) measured.push_back(level);
  }
  if (measured.empty()) {  // a phantom, a store of soft tissue: every read passes through
    commonLevel_ = std::numeric_limits<double>::quiet_NaN();
    return;
  }
  // The median, so one head of unusual density does not set everyone's level.
  std::sort(measured.begin(), measured.end());
  const std::size_t m = measured.size();
  commonLevel_ = m % 2 ? measured[m / 2] : 0.5 * (measured[m / 2 - 1] + measured[m / 2]);
}

void BoneLevelHarmonizedSource::readSlices(const std::string& id, const std::string& dataset, int64_t z0, int64_t count,
                                           float* out) const {
  data_.readSlices(id, dataset, z0, count, out);
  if (dataset != "ct") return;
  const auto it = levels_.find(id);
  if (!hasBone() || it == levels_.end() || std::isnan(it->second)) return;
  const auto s = data_.shape(id);
  harmonizeBoneLevel(out, count * s[1] * s[2], threshold_, it->second, commonLevel_);
}

}  // namespace mr2ct
