#include "mr2ct/preprocessing/InputTypicality.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "mr2ct/core/Error.h"
#include "mr2ct/preprocessing/Statistics.h"

namespace mr2ct {

namespace {

/// Running sums for Pearson's r of (a, b) pairs; 0 when either side does not vary.
struct Correlation {
  double n = 0, sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
  void add(double a, double b) {
    n += 1;
    sa += a, sb += b, saa += a * a, sbb += b * b, sab += a * b;
  }
  double r() const {
    const double va = n * saa - sa * sa, vb = n * sbb - sb * sb;
    return va > 0 && vb > 0 ? (n * sab - sa * sb) / std::sqrt(va * vb) : 0.0;
  }
};

}  // namespace

const std::vector<InputProfileFeature>& inputProfileFeatures() {
  static const std::vector<InputProfileFeature> features = {
      {"p05", "the 5th percentile of the body's intensities"},
      {"p50", "the median of the body's intensities"},
      {"p95", "the 95th percentile of the body's intensities"},
      {"iqr", "the interquartile range of the body's intensities (the contrast)"},
      {"centre_x", "the body's centre along x (orientation or field of view)"},
      {"centre_y", "the body's centre along y (orientation or field of view)"},
      {"centre_z", "the body's centre along z (orientation or field of view)"},
      {"trend_x", "the intensity trend along x (a bias field?)"},
      {"trend_y", "the intensity trend along y (a bias field?)"},
      {"trend_z", "the intensity trend along z (a bias field?)"},
      {"neighbour_r", "the correlation of neighbouring voxels (noise, corruption or another voxel size?)"},
      {"voxel_inplane", "the in-plane voxel size", 0.15},
      {"voxel_slice", "the slice spacing", 0.15}};
  return features;
}

const InputProfileFeature& inputProfileFeature(const std::string& key) {
  for (const auto& f : inputProfileFeatures())
    if (f.key == key) return f;
  throw DataError("input check", "no feature named '" + key + "'");
}

InputProfile inputProfile(const Volume& mr, const Mask& body, const std::string& context) {
  if (mr.size() != body.size())
    throw DataError(context, "the body mask's grid differs from the MR's (internal error in the input check)");
  const auto& size = mr.size();
  const float* v = mr.data();
  const std::uint8_t* m = body.data();
  const std::vector<double> q = percentiles(v, mr.voxelCount(), {5.0, 25.0, 50.0, 75.0, 95.0}, m);

  std::array<Correlation, 3> trend;
  Correlation neighbours;
  std::array<double, 3> sum{}, lo, hi;
  lo.fill(std::numeric_limits<double>::max());
  hi.fill(std::numeric_limits<double>::lowest());
  double count = 0;
  std::size_t i = 0;
  for (std::size_t z = 0; z < size[2]; ++z)
    for (std::size_t y = 0; y < size[1]; ++y)
      for (std::size_t x = 0; x < size[0]; ++x, ++i) {
        if (!m[i]) continue;
        const std::array<double, 3> p{double(x), double(y), double(z)};
        for (int a = 0; a < 3; ++a) {
          sum[a] += p[a];
          lo[a] = std::min(lo[a], p[a]);
          hi[a] = std::max(hi[a], p[a]);
          trend[a].add(p[a], v[i]);
        }
        count += 1;
        if (x + 1 < size[0] && m[i + 1]) neighbours.add(v[i], v[i + 1]);
      }
  for (int a = 0; a < 3; ++a)
    if (!(count > 0) || !(hi[a] > lo[a]))
      throw DataError(context, "the body mask spans fewer than two voxels along " + std::string(1, "xyz"[a]) +
                                   ": too little of the MR to compare with the training data");
  InputProfile profile;
  profile.values = {q[0], q[2], q[4], q[3] - q[1]};
  for (int a = 0; a < 3; ++a) profile.values.push_back((sum[a] / count - lo[a]) / (hi[a] - lo[a]));
  for (int a = 0; a < 3; ++a) profile.values.push_back(trend[a].r());
  profile.values.push_back(neighbours.r());
  const Vec3& spacing = mr.geometry().spacing;
  profile.values.push_back(0.5 * std::log2(spacing[0] * spacing[1]));
  profile.values.push_back(std::log2(spacing[2]));
  return profile;
}

nlohmann::json TypicalityScore::toJson() const {
  return {{"score", score}, {"feature", feature}, {"z", z}, {"threshold", threshold}, {"typical", typical()}};
}

namespace {

struct Moments {
  std::vector<double> mean, scale;
};

Moments momentsOf(const std::vector<InputProfile>& profiles, std::size_t skip) {
  const std::size_t f = inputProfileFeatures().size();
  Moments mo{std::vector<double>(f, 0.0), std::vector<double>(f, 0.0)};
  double n = 0;
  for (std::size_t c = 0; c < profiles.size(); ++c)
    if (c != skip) {
      for (std::size_t k = 0; k < f; ++k) mo.mean[k] += profiles[c].values[k];
      n += 1;
    }
  for (auto& x : mo.mean) x /= n;
  for (std::size_t c = 0; c < profiles.size(); ++c)
    if (c != skip)
      for (std::size_t k = 0; k < f; ++k) mo.scale[k] += std::pow(profiles[c].values[k] - mo.mean[k], 2);
  const auto& features = inputProfileFeatures();
  for (std::size_t k = 0; k < f; ++k) mo.scale[k] = std::max(std::sqrt(mo.scale[k] / (n - 1)), features[k].minimumScale);
  return mo;
}

TypicalityScore scoreAgainst(const Moments& mo, const InputProfile& p) {
  TypicalityScore s;
  const auto& features = inputProfileFeatures();
  for (std::size_t k = 0; k < features.size(); ++k) {
    const double z = (p.values[k] - mo.mean[k]) / mo.scale[k];
    if (std::abs(z) > s.score || s.feature.empty()) s.score = std::abs(z), s.z = z, s.feature = features[k].key;
  }
  return s;
}

}  // namespace

TypicalityReference TypicalityReference::fit(const std::vector<InputProfile>& training) {
  if (training.size() < kMinimumCases)
    throw UsageError("the input check needs at least " + std::to_string(kMinimumCases) + " training cases, got " +
                     std::to_string(training.size()));
  for (const auto& p : training)
    if (p.values.size() != inputProfileFeatures().size())
      throw UsageError("an input profile has " + std::to_string(p.values.size()) + " values, expected " +
                       std::to_string(inputProfileFeatures().size()));
  const Moments all = momentsOf(training, training.size());
  TypicalityReference r;
  r.mean = all.mean;
  r.scale = all.scale;
  r.cases = training.size();
  for (std::size_t c = 0; c < training.size(); ++c)
    r.threshold = std::max(r.threshold, scoreAgainst(momentsOf(training, c), training[c]).score);
  return r;
}

TypicalityScore TypicalityReference::score(const InputProfile& profile) const {
  TypicalityScore s = scoreAgainst(Moments{mean, scale}, profile);
  s.threshold = threshold;
  return s;
}

nlohmann::json TypicalityReference::toJson() const {
  nlohmann::json features = nlohmann::json::object();
  const auto& f = inputProfileFeatures();
  for (std::size_t k = 0; k < f.size(); ++k) features[f[k].key] = {{"mean", mean[k]}, {"scale", scale[k]}};
  return {{"version", kFormatVersion}, {"cases", cases}, {"threshold", threshold}, {"features", features}};
}

TypicalityReference TypicalityReference::fromJson(const nlohmann::json& j, const std::string& context) {
  auto fail = [&](const std::string& key, const std::string& problem) {
    return DataError(context, "input_reference" + key + ": " + problem);
  };
  auto number = [&](const nlohmann::json& parent, const std::string& key, const std::string& path) {
    if (!parent.contains(key)) throw fail(path + "." + key, "missing");
    if (!parent.at(key).is_number()) throw fail(path + "." + key, "expected a number, got " + parent.at(key).dump());
    return parent.at(key).get<double>();
  };
  if (!j.is_object()) throw fail("", "expected a JSON object, got " + j.dump());
  const double version = number(j, "version", "");
  if (version != kFormatVersion)
    throw fail(".version", j.at("version").dump() + " is not the " + std::to_string(kFormatVersion) + " this build reads");
  TypicalityReference r;
  const double cases = number(j, "cases", "");
  if (!(cases >= double(kMinimumCases)) || cases != std::floor(cases))
    throw fail(".cases", "expected a whole number >= " + std::to_string(kMinimumCases) + ", got " + j.at("cases").dump());
  r.cases = std::size_t(cases);
  r.threshold = number(j, "threshold", "");
  if (!(r.threshold >= 0)) throw fail(".threshold", "must be >= 0");
  if (!j.contains("features") || !j.at("features").is_object()) throw fail(".features", "missing or not an object");
  const auto& features = j.at("features");
  for (const auto& f : inputProfileFeatures()) {
    if (!features.contains(f.key)) throw fail(".features", "'" + f.key + "' is missing");
    const auto& entry = features.at(f.key);
    if (!entry.is_object()) throw fail(".features." + f.key, "expected an object {mean, scale}");
    r.mean.push_back(number(entry, "mean", ".features." + f.key));
    r.scale.push_back(number(entry, "scale", ".features." + f.key));
    if (!(r.scale.back() > 0)) throw fail(".features." + f.key + ".scale", "must be > 0");
  }
  for (const auto& item : features.items()) {
    const auto& known = inputProfileFeatures();
    if (std::none_of(known.begin(), known.end(), [&](const auto& f) { return f.key == item.key(); }))
      throw fail(".features", "'" + item.key() + "' is not a feature this build knows");
  }
  return r;
}

std::optional<TypicalityReference> fitTypicalityReference(const TrainingStore& store, const BodyMaskOptions& bodyMask,
                                                          std::size_t maxCases) {
  const std::vector<std::string> ids = store.caseIds("train");
  if (ids.size() < TypicalityReference::kMinimumCases) return std::nullopt;
  const std::size_t n = std::min(ids.size(), std::max(maxCases, TypicalityReference::kMinimumCases));
  std::vector<InputProfile> profiles;
  for (std::size_t k = 0; k < n; ++k) {
    const std::string& id = ids[k * ids.size() / n];
    const std::string context = store.path().string() + ": case " + id;
    const Volume mr = store.readVolume(id, "mr");
    profiles.push_back(inputProfile(mr, bodyMaskFromMr(mr, bodyMask, context), context));
  }
  return TypicalityReference::fit(profiles);
}

}  // namespace mr2ct
