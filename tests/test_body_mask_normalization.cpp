// Body masks (Otsu, components, hole filling, closing), N4 and the normalization records.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "mr2ct/core/Error.h"
#include "mr2ct/preprocessing/BiasFieldCorrection.h"
#include "mr2ct/preprocessing/BodyMask.h"
#include "mr2ct/preprocessing/Normalization.h"
#include "mr2ct/preprocessing/Statistics.h"
#include "support/TestSupport.h"

namespace mr2ct {
namespace {

Geometry grid(std::size_t n, double spacing = 2.0) {
  Geometry g;
  g.size = {n, n, n};
  g.spacing = {spacing, spacing, spacing};
  return g;
}

double dist(std::size_t x, std::size_t y, std::size_t z, double c) {
  const double dx = double(x) - c, dy = double(y) - c, dz = double(z) - c;
  return std::sqrt(dx * dx + dy * dy + dz * dz);
}

/// A "head": bright ball of radius 14 voxels, a dark shell (skull: no MR signal) at radius 11..12,
/// a dark internal cavity (sinus) of radius 3 near the centre, Gaussian noise, and a bright speck
/// far from the head that must not survive.
Volume phantomMr(std::size_t n = 40, unsigned seed = 1) {
  Volume v(grid(n));
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.0f, 3.0f);
  const double c = double(n - 1) / 2;
  for (std::size_t z = 0; z < n; ++z)
    for (std::size_t y = 0; y < n; ++y)
      for (std::size_t x = 0; x < n; ++x) {
        const double d = dist(x, y, z, c);
        float value = 5.0f;
        if (d <= 14) value = 200.0f;
        if (d > 11 && d <= 12) value = 5.0f;      // skull
        if (dist(x, y, z, c + 4) <= 3) value = 5.0f;  // cavity
        v.at(x, y, z) = std::abs(value + noise(rng));
      }
  v.at(1, 1, 1) = 250.0f;  // speck
  return v;
}

TEST(BodyMask, MrMaskKeepsTheHeadFillsSkullAndCavityDropsSpecks) {
  const Volume mr = phantomMr();
  const Mask m = bodyMaskFromMr(mr);
  const double c = 19.5;
  EXPECT_EQ(m.at(1, 1, 1), 0) << "speck outside the head must be dropped";
  EXPECT_EQ(m.at(std::size_t(c + 4), std::size_t(c + 4), std::size_t(c + 4)), 1) << "cavity must be filled";
  EXPECT_EQ(m.at(std::size_t(c + 11.5), std::size_t(c), std::size_t(c)), 1) << "skull must be inside";
  // Volume close to the ball of radius 14 voxels (the closing may round the surface slightly).
  const double expected = 4.0 / 3.0 * M_PI * 14 * 14 * 14;
  EXPECT_NEAR(double(m.count()), expected, 0.08 * expected);
  EXPECT_EQ(m.at(0, 20, 20), 0);
}

TEST(BodyMask, CtMaskFromHuThreshold) {
  const std::size_t n = 32;
  Volume ct(grid(n), -1000.0f);
  const double c = 15.5;
  for (std::size_t z = 0; z < n; ++z)
    for (std::size_t y = 0; y < n; ++y)
      for (std::size_t x = 0; x < n; ++x) {
        const double d = dist(x, y, z, c);
        if (d <= 12) ct.at(x, y, z) = d > 10 ? 1200.0f : 30.0f;
        if (d <= 3) ct.at(x, y, z) = -900.0f;  // internal air
      }
  const Mask m = bodyMaskFromCt(ct);
  EXPECT_EQ(m.at(16, 16, 16), 1);
  EXPECT_EQ(m.at(0, 0, 0), 0);
  std::size_t ball = 0;
  for (std::size_t i = 0; i < ct.voxelCount(); ++i) ball += ct.data()[i] > -400 || ct.data()[i] == -900.0f;
  EXPECT_NEAR(double(m.count()), double(ball), 0.05 * double(ball));
}

TEST(BodyMask, PerSliceFillingClosesTubesOpenAlongZ) {
  // A hollow cylinder along z that touches both z borders: its inside is connected to the border
  // in 3D, so only the per-slice filling closes it.
  const std::size_t n = 24;
  Volume ct(grid(n, 1.0), -1000.0f);
  for (std::size_t z = 0; z < n; ++z)
    for (std::size_t y = 0; y < n; ++y)
      for (std::size_t x = 0; x < n; ++x) {
        const double r = std::hypot(double(x) - 11.5, double(y) - 11.5);
        if (r <= 9 && r > 6) ct.at(x, y, z) = 40.0f;
      }
  BodyMaskOptions o;
  o.closingRadiusMm = 0;
  o.fillHolesPerSlice = false;
  EXPECT_EQ(bodyMaskFromCt(ct, o).at(12, 12, 12), 0);
  o.fillHolesPerSlice = true;
  EXPECT_EQ(bodyMaskFromCt(ct, o).at(12, 12, 12), 1);
}

TEST(BodyMask, EmptyOrFlatInputIsADataErrorNamingTheContext) {
  Volume flat(grid(8), 7.0f);
  const std::string message = test::thrownMessage<DataError>([&] { bodyMaskFromMr(flat, {}, "case7/mr.nii.gz"); });
  EXPECT_NE(message.find("case7/mr.nii.gz"), std::string::npos) << message;
  Volume air(grid(8), -1000.0f);
  EXPECT_THROW(bodyMaskFromCt(air), DataError);
  BodyMaskOptions bad;
  bad.closingRadiusMm = -1;
  EXPECT_THROW(bad.validate(), UsageError);
}

TEST(MrNormalization, PercentilesMapToMinusOneAndOneAndInvertExactly) {
  const Volume mr = phantomMr();
  const Mask m = bodyMaskFromMr(mr);
  MrNormalizationRecord rec;
  const Volume y = normalizeMr(mr, m, {}, &rec);
  // Independent percentile: sort the masked values (numpy's linear interpolation).
  std::vector<double> vals;
  for (std::size_t i = 0; i < mr.voxelCount(); ++i)
    if (m.data()[i]) vals.push_back(mr.data()[i]);
  std::sort(vals.begin(), vals.end());
  auto pct = [&](double p) {
    const double pos = p / 100 * double(vals.size() - 1);
    const auto lo = std::size_t(pos);
    const auto hi = std::min(lo + 1, vals.size() - 1);
    return vals[lo] + (pos - double(lo)) * (vals[hi] - vals[lo]);
  };
  EXPECT_NEAR(rec.low, pct(0.5), 1e-4);
  EXPECT_NEAR(rec.high, pct(99.5), 1e-4);
  EXPECT_NEAR(rec.forward(float(rec.low)), -1.0f, 1e-6);
  EXPECT_NEAR(rec.forward(float(rec.high)), 1.0f, 1e-6);
  for (std::size_t i = 0; i < mr.voxelCount(); i += 7) {
    EXPECT_NEAR(rec.inverse(y.data()[i]), mr.data()[i], 1e-4 * std::max(1.0f, std::abs(mr.data()[i])));
  }
  const auto back = MrNormalizationRecord::fromJson(nlohmann::json::parse(rec.toJson().dump()));
  EXPECT_EQ(back.low, rec.low);
  EXPECT_EQ(back.high, rec.high);
  EXPECT_EQ(back.rule.method, "percentile");
}

TEST(MrNormalization, ZScoreHasZeroMeanUnitStdInsideTheMask) {
  const Volume mr = phantomMr();
  const Mask m = bodyMaskFromMr(mr);
  MrNormalizationRule rule;
  rule.method = "zscore";
  MrNormalizationRecord rec;
  const Volume y = normalizeMr(mr, m, rule, &rec);
  double s = 0, s2 = 0;
  std::size_t n = 0;
  for (std::size_t i = 0; i < y.voxelCount(); ++i)
    if (m.data()[i]) {
      s += y.data()[i];
      s2 += double(y.data()[i]) * y.data()[i];
      ++n;
    }
  EXPECT_NEAR(s / double(n), 0.0, 1e-4);
  EXPECT_NEAR(std::sqrt(s2 / double(n) - (s / double(n)) * (s / double(n))), 1.0, 1e-4);
  const auto back = MrNormalizationRecord::fromJson(rec.toJson());
  EXPECT_NEAR(back.inverse(y.data()[100]), mr.data()[100], 1e-3);
}

TEST(MrNormalization, BadInputIsRefused) {
  Volume flat(grid(6), 3.0f);
  Mask all(grid(6), 1), none(grid(6), 0);
  EXPECT_THROW(normalizeMr(flat, all, {}, nullptr), DataError);
  EXPECT_THROW(normalizeMr(phantomMr(6), none, {}, nullptr), DataError);
  MrNormalizationRule bad;
  bad.method = "minmax";
  EXPECT_THROW(bad.validate(), UsageError);
  bad.method = "percentile";
  bad.lowPercentile = 60;
  bad.highPercentile = 40;
  EXPECT_THROW(bad.validate(), UsageError);
  EXPECT_THROW(MrNormalizationRecord::fromJson({{"method", "percentile"}, {"low", 5.0}, {"high", 5.0}}), DataError);
}

/// The MR with a monotone contrast change, I' = 100 (I / 100)^gamma (as another sequence would give).
Volume withGamma(const Volume& mr, double gamma) {
  Volume out = mr.clone();
  for (auto& v : out.voxels()) v = float(100.0 * std::pow(std::max(0.0, double(v)) / 100.0, gamma));
  return out;
}

// Issue 15: Nyúl–Udupa standardization. The standard is the train MRs' mean landmarks after each
// one's own end-landmark map; a new MR's landmarks go exactly onto it.
TEST(MrNormalization, NyulFitsTheMeanLandmarksAndMapsAnMrOntoThem) {
  std::vector<double> even(11), skewed{0, 5, 6, 7, 8, 9, 10, 11, 12, 13, 20};
  for (int k = 0; k <= 10; ++k) even[k] = 100.0 + 3.0 * k;  // an offset and a gain: the fit ignores both
  const auto standard = fitNyulStandardScale({even, skewed});
  ASSERT_EQ(standard.size(), 11u);
  EXPECT_EQ(standard.front(), -1.0);
  EXPECT_EQ(standard.back(), 1.0);
  EXPECT_NEAR(standard[1], (-0.8 + -0.5) / 2, 1e-12);
  EXPECT_NEAR(standard[5], (0.0 + -0.1) / 2, 1e-12);

  const Volume mr = phantomMr();
  const Mask m = bodyMaskFromMr(mr);
  MrNormalizationRule rule;
  rule.method = "nyul";
  rule.standardScale = standard;
  rule.validate();
  MrNormalizationRecord rec;
  const Volume y = normalizeMr(mr, m, rule, &rec);
  ASSERT_EQ(rec.landmarks.size(), 11u);
  EXPECT_EQ(rec.low, rec.landmarks.front());
  EXPECT_EQ(rec.high, rec.landmarks.back());
  // A monotone piecewise linear map moves each percentile with it: the output's are the standard
  // (to 1e-3: a percentile interpolates between two voxels, and a knot between them bends the line).
  const auto landed = percentiles(y.data(), y.voxelCount(), rule.nyulPercentiles(), m.data());
  for (std::size_t k = 0; k < 11; ++k) {
    EXPECT_NEAR(rec.forward(float(rec.landmarks[k])), standard[k], 1e-6) << k;
    EXPECT_NEAR(landed[k], standard[k], 1e-3) << k;
  }
  // Beyond the end landmarks the end segments go on (air, vessels brighter than p99.5).
  const double slope = (standard[10] - standard[9]) / (rec.landmarks[10] - rec.landmarks[9]);
  EXPECT_NEAR(rec.forward(float(rec.high + 10)), 1.0 + 10 * slope, 1e-5);
  for (std::size_t i = 0; i < mr.voxelCount(); i += 7)
    ASSERT_NEAR(rec.inverse(y.data()[i]), mr.data()[i], 1e-3 * std::max(1.0f, std::abs(mr.data()[i]))) << i;
  const auto back = MrNormalizationRecord::fromJson(nlohmann::json::parse(rec.toJson().dump()));
  EXPECT_EQ(back.landmarks, rec.landmarks);
  EXPECT_EQ(back.rule.standardScale, standard);
  EXPECT_EQ(back.forward(123.0f), rec.forward(123.0f));
}

// What the method is for: a contrast change that the two-point percentile map passes on to the
// network's input, the decile map mostly removes.
TEST(MrNormalization, NyulRemovesMostOfAGammaChangeThatThePercentileMapKeeps) {
  const Volume mr = phantomMr();
  const Mask m = bodyMaskFromMr(mr);
  MrNormalizationRule nyul;
  nyul.method = "nyul";
  nyul.standardScale = fitNyulStandardScale({nyulLandmarks(mr, m, nyul)});
  const Volume darker = withGamma(mr, 1.4);
  auto meanChange = [&](const MrNormalizationRule& rule) {
    const Volume a = normalizeMr(mr, m, rule, nullptr), b = normalizeMr(darker, m, rule, nullptr);
    double sum = 0;
    std::size_t n = 0;
    for (std::size_t i = 0; i < a.voxelCount(); ++i)
      if (m.data()[i]) {
        sum += std::abs(double(a.data()[i]) - b.data()[i]);
        ++n;
      }
    return sum / double(n);
  };
  const double percentileChange = meanChange(MrNormalizationRule{}), nyulChange = meanChange(nyul);
  EXPECT_GT(percentileChange, 0.02);
  EXPECT_LT(nyulChange, percentileChange / 4) << nyulChange << " against " << percentileChange;
}

TEST(MrNormalization, NyulWithTiedLandmarksStaysMonotoneAndBadScalesAreRefused) {
  // Four intensities only (a phantom, an integer MR): deciles tie, the map jumps but never folds.
  Volume steps(grid(12));
  for (std::size_t i = 0; i < steps.voxelCount(); ++i) steps.data()[i] = float(i % 4);
  const Mask all(grid(12), 1);
  MrNormalizationRule rule;
  rule.method = "nyul";
  rule.standardScale = fitNyulStandardScale({nyulLandmarks(steps, all, rule)});
  EXPECT_NO_THROW(rule.validate());
  MrNormalizationRecord rec;
  normalizeMr(steps, all, rule, &rec);
  float previous = -std::numeric_limits<float>::infinity();
  for (float x = -1.0f; x <= 4.0f; x += 0.01f) {
    const float y = rec.forward(x);
    ASSERT_TRUE(std::isfinite(y)) << x;
    ASSERT_GE(y, previous) << x;
    previous = y;
  }

  MrNormalizationRule unfitted;
  unfitted.method = "nyul";
  EXPECT_NO_THROW(unfitted.validate());  // preprocess fits it
  const std::string message = test::thrownMessage<UsageError>([&] { normalizeMr(phantomMr(8), Mask(grid(8), 1), unfitted, nullptr); });
  EXPECT_NE(message.find("standard scale"), std::string::npos) << message;
  auto refused = [](std::vector<double> scale, const std::string& method = "nyul", double low = 0.5) {
    MrNormalizationRule r;
    r.method = method;
    r.lowPercentile = low;
    r.standardScale = std::move(scale);
    EXPECT_THROW(r.validate(), UsageError);
    EXPECT_THROW(MrNormalizationRule::fromJson(r.toJson()), DataError);
  };
  std::vector<double> good(11);
  for (int k = 0; k <= 10; ++k) good[k] = -1.0 + 0.2 * k;
  refused({-1.0, 0.0, 1.0});                    // not 11 landmarks
  auto decreasing = good;
  std::swap(decreasing[3], decreasing[4]);
  refused(decreasing);
  auto shifted = good;
  shifted.front() = -0.9;                       // the ends are −1 and +1
  refused(shifted);
  refused(good, "nyul", 15.0);                  // the low end above the first decile
  EXPECT_THROW(fitNyulStandardScale({}), DataError);
  EXPECT_THROW(fitNyulStandardScale({{1.0, 2.0}}), DataError);
  EXPECT_THROW(fitNyulStandardScale({std::vector<double>(11, 5.0)}), DataError);
  nlohmann::json noLandmarks = rec.toJson();
  noLandmarks.erase("landmarks");
  EXPECT_THROW(MrNormalizationRecord::fromJson(noLandmarks), DataError);
  // A scale on another method is a mistake, not something to ignore.
  MrNormalizationRule percentile;
  percentile.standardScale = good;
  EXPECT_THROW(percentile.validate(), UsageError);
}

/// An MR whose intensities spread evenly over [20, 200] (a grey-scale ramp in random order), so
/// that its median sits mid-range and a gamma change moves it.
Volume rampMr(std::size_t n = 24, unsigned seed = 3) {
  Volume v(grid(n));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(20.0f, 200.0f);
  for (auto& x : v.voxels()) x = u(rng);
  return v;
}

// Issue 15: the one-parameter standard. The gamma puts the median on the fitted position, the ends
// stay where the percentile map puts them, and the record inverts it.
TEST(MrNormalization, GammaPutsTheMedianOnTheFittedPositionAndInverts) {
  const Volume mr = rampMr();
  const Mask all(mr.geometry(), 1);
  MrNormalizationRule rule;
  rule.method = "gamma";
  const double own = mrMedianPosition(mr, all, rule);
  EXPECT_NEAR(own, 0.5, 0.02);  // even intensities: the median is mid-range
  EXPECT_NEAR(fitMedianPosition({0.3, 0.4, 0.5}), 0.4, 1e-12);
  rule.medianPosition = 0.3;
  rule.validate();
  MrNormalizationRecord rec;
  const Volume y = normalizeMr(mr, all, rule, &rec);
  EXPECT_NEAR(rec.gamma, std::log(0.3) / std::log(own), 1e-9);
  // A percentile interpolates between two voxels; where the map bends between them (at u = 0, at
  // the power's curve) the output's percentile is off by a fraction of one voxel step: 1e-4 here.
  const auto landed = percentiles(y.data(), y.voxelCount(), {0.5, 50.0, 99.5}, all.data());
  EXPECT_NEAR(landed[0], -1.0, 1e-4);
  EXPECT_NEAR(landed[1], 2 * 0.3 - 1, 1e-4);
  EXPECT_NEAR(landed[2], 1.0, 1e-4);
  // Below the low percentile the map stays linear (no power of a negative number); NaN passes.
  EXPECT_NEAR(rec.forward(float(rec.low - 18.0)), -1.0 - 2 * 18.0 / (rec.high - rec.low), 1e-5);
  EXPECT_TRUE(std::isnan(rec.forward(std::numeric_limits<float>::quiet_NaN())));
  for (std::size_t i = 0; i < mr.voxelCount(); i += 5)
    ASSERT_NEAR(rec.inverse(y.data()[i]), mr.data()[i], 1e-3) << i;
  EXPECT_NEAR(rec.inverse(rec.forward(5.0f)), 5.0f, 1e-4);
  const auto back = MrNormalizationRecord::fromJson(nlohmann::json::parse(rec.toJson().dump()));
  EXPECT_EQ(back.gamma, rec.gamma);
  EXPECT_EQ(back.rule.medianPosition, 0.3);
  EXPECT_EQ(back.forward(123.0f), rec.forward(123.0f));

  // A gamma change of the scanner's: the percentile map passes it on, the gamma standard takes the
  // median back to the same place and most of the change with it.
  const Volume darker = withGamma(mr, 1.4);
  auto meanChange = [&](const MrNormalizationRule& r) {
    const Volume a = normalizeMr(mr, all, r, nullptr), b = normalizeMr(darker, all, r, nullptr);
    double sum = 0;
    for (std::size_t i = 0; i < a.voxelCount(); ++i) sum += std::abs(double(a.data()[i]) - b.data()[i]);
    return sum / double(a.voxelCount());
  };
  const double percentileChange = meanChange(MrNormalizationRule{}), gammaChange = meanChange(rule);
  EXPECT_GT(percentileChange, 0.05);
  EXPECT_LT(gammaChange, percentileChange / 4) << gammaChange << " against " << percentileChange;
}

TEST(MrNormalization, GammaIsHeldInItsRangeAndBadPositionsAreRefused) {
  const Volume mr = rampMr();
  const Mask all(mr.geometry(), 1);
  MrNormalizationRule rule;
  rule.method = "gamma";
  rule.medianPosition = 0.99;  // log(0.99) / log(0.5) would be a power of 0.015
  MrNormalizationRecord rec;
  normalizeMr(mr, all, rule, &rec);
  EXPECT_DOUBLE_EQ(rec.gamma, 1.0 / MrNormalizationRule::kMaxGamma);
  rule.medianPosition = 0.01;
  normalizeMr(mr, all, rule, &rec);
  EXPECT_DOUBLE_EQ(rec.gamma, MrNormalizationRule::kMaxGamma);

  MrNormalizationRule unfitted;
  unfitted.method = "gamma";
  EXPECT_NO_THROW(unfitted.validate());  // preprocess fits it
  EXPECT_TRUE(unfitted.toJson().at("median_position").is_null());
  const std::string message = test::thrownMessage<UsageError>([&] { normalizeMr(mr, all, unfitted, nullptr); });
  EXPECT_NE(message.find("median position"), std::string::npos) << message;
  for (double position : {0.0, 1.0, 1.5, -0.2}) {
    MrNormalizationRule r;
    r.method = "gamma";
    r.medianPosition = position;
    EXPECT_THROW(r.validate(), UsageError) << position;
    EXPECT_THROW(MrNormalizationRule::fromJson(r.toJson()), DataError) << position;
  }
  MrNormalizationRule percentile;
  percentile.medianPosition = 0.4;  // a position on another method is a mistake, not something to ignore
  EXPECT_THROW(percentile.validate(), UsageError);
  EXPECT_THROW(fitMedianPosition({}), DataError);
  EXPECT_THROW(fitMedianPosition({0.4, 1.0}), DataError);
  Volume flat(grid(8));
  for (auto& x : flat.voxels()) x = 7.0f;
  EXPECT_THROW(mrMedianPosition(flat, Mask(grid(8), 1), rule, "flat.nii"), DataError);

  nlohmann::json j = rec.toJson();
  j["gamma"] = 10.0;
  EXPECT_THROW(MrNormalizationRecord::fromJson(j), DataError);
  j.erase("gamma");
  EXPECT_THROW(MrNormalizationRecord::fromJson(j), DataError);
}

TEST(CtNormalization, ClipsScalesAndInverts) {
  CtNormalization c;
  EXPECT_FLOAT_EQ(c.toUnit(-1024), -1.0f);
  EXPECT_FLOAT_EQ(c.toUnit(3000), 1.0f);
  EXPECT_FLOAT_EQ(c.toUnit(-3000), -1.0f);
  EXPECT_FLOAT_EQ(c.toUnit(5000), 1.0f);
  EXPECT_NEAR(c.toUnit(988), 0.0f, 1e-6);
  for (float hu : {-1024.0f, -1000.0f, -50.5f, 0.0f, 40.0f, 1450.25f, 3000.0f})
    EXPECT_NEAR(c.toHu(c.toUnit(hu)), hu, 1e-3) << hu;
  Volume v(grid(4), 123.0f);
  EXPECT_NEAR(c.invert(c.apply(v)).data()[5], 123.0f, 1e-3);
  const auto back = CtNormalization::fromJson(c.toJson());
  EXPECT_EQ(back.minHu, c.minHu);
  EXPECT_EQ(back.maxHu, c.maxHu);
  CtNormalization bad;
  bad.maxHu = -2000;
  EXPECT_THROW(bad.validate(), UsageError);
}

TEST(BiasField, N4RemovesASmoothMultiplicativeField) {
  // Uniform ball times a smooth field (±25 % linear gradient): after N4 the spread inside the
  // ball must drop well below the field's.
  const std::size_t n = 40;
  Volume v(grid(n, 3.0));
  Mask m(v.geometry(), 0);
  std::mt19937 rng(3);
  std::normal_distribution<float> noise(0.0f, 1.0f);
  const double c = 19.5;
  for (std::size_t z = 0; z < n; ++z)
    for (std::size_t y = 0; y < n; ++y)
      for (std::size_t x = 0; x < n; ++x) {
        const double d = dist(x, y, z, c);
        const double field = 1.0 + 0.25 * (double(x) - c) / c;
        const bool in = d <= 16;
        v.at(x, y, z) = in ? float(100.0 * field) + noise(rng) : 1.0f;
        m.at(x, y, z) = in;
      }
  auto cv = [&](const Volume& img) {
    double s = 0, s2 = 0;
    std::size_t k = 0;
    for (std::size_t i = 0; i < img.voxelCount(); ++i)
      if (m.data()[i]) {
        s += img.data()[i];
        s2 += double(img.data()[i]) * img.data()[i];
        ++k;
      }
    const double mean = s / double(k);
    return std::sqrt(s2 / double(k) - mean * mean) / mean;
  };
  BiasFieldOptions o;
  o.shrinkFactor = 2;
  BiasFieldRecord rec;
  const Volume corrected = correctBiasField(v, m, o, &rec);
  EXPECT_LT(cv(corrected), 0.5 * cv(v)) << "before " << cv(v) << " after " << cv(corrected);
  EXPECT_LT(rec.fieldMin, rec.fieldMax);
  EXPECT_EQ(corrected.geometry().size, v.geometry().size);
}

}  // namespace
}  // namespace mr2ct
