// The input check (InputTypicality.h): each feature against a volume whose value is known in
// closed form, the leave-one-out threshold against a brute-force recomputation, and the JSON that
// a model folder carries.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "mr2ct/core/Error.h"
#include "mr2ct/preprocessing/InputTypicality.h"

namespace mr2ct {
namespace {

Geometry grid(std::size_t nx, std::size_t ny, std::size_t nz) {
  Geometry g;
  g.size = {nx, ny, nz};
  return g;
}

std::size_t featureIndex(const std::string& key) {
  const auto& f = inputProfileFeatures();
  for (std::size_t k = 0; k < f.size(); ++k)
    if (f[k].key == key) return k;
  ADD_FAILURE() << "no feature " << key;
  return 0;
}

double feature(const InputProfile& p, const std::string& key) { return p.values.at(featureIndex(key)); }

// Summation of ~10^4 doubles: exact formulas hold to far better than this.
constexpr double kTight = 1e-9;

TEST(InputProfile, ARampAlongXHasAPerfectTrendAndNeighbourCorrelationAndCentredBody) {
  Volume v(grid(11, 6, 5));
  Mask m(v.geometry(), 1);
  for (std::size_t z = 0; z < 5; ++z)
    for (std::size_t y = 0; y < 6; ++y)
      for (std::size_t x = 0; x < 11; ++x) v.at(x, y, z) = float(x) / 10.0f;  // 0, 0.1, ..., 1
  const InputProfile p = inputProfile(v, m, "ramp");
  ASSERT_EQ(p.values.size(), inputProfileFeatures().size());
  EXPECT_NEAR(feature(p, "trend_x"), 1.0, kTight);
  EXPECT_NEAR(feature(p, "trend_y"), 0.0, kTight);
  EXPECT_NEAR(feature(p, "trend_z"), 0.0, kTight);
  EXPECT_NEAR(feature(p, "neighbour_r"), 1.0, kTight);  // pairs (x/10, x/10 + 0.1)
  for (const char* c : {"centre_x", "centre_y", "centre_z"}) EXPECT_NEAR(feature(p, c), 0.5, kTight) << c;
}

TEST(InputProfile, QuantilesOfDistinctEvenlySpacedValuesArePercentOverHundred) {
  Volume v(grid(9, 7, 4));
  Mask m(v.geometry(), 1);
  const std::size_t n = v.voxelCount();
  for (std::size_t i = 0; i < n; ++i) v.data()[i] = float(double(i) / double(n - 1));  // 0 … 1, all distinct
  const InputProfile p = inputProfile(v, m, "distinct");
  // numpy's linear percentiles of 0, 1/(n-1), …, 1 are p/100 exactly; float storage costs ~1e-7.
  EXPECT_NEAR(feature(p, "p05"), 0.05, 1e-6);
  EXPECT_NEAR(feature(p, "p50"), 0.50, 1e-6);
  EXPECT_NEAR(feature(p, "p95"), 0.95, 1e-6);
  EXPECT_NEAR(feature(p, "iqr"), 0.50, 1e-6);
}

TEST(InputProfile, VoxelSizesAreLog2Millimetres) {
  Geometry g = grid(6, 6, 4);
  g.spacing = {0.5, 2.0, 4.0};
  Volume v(g);
  for (std::size_t i = 0; i < v.voxelCount(); ++i) v.data()[i] = float(i % 7);
  const InputProfile p = inputProfile(v, Mask(g, 1), "spaced");
  EXPECT_NEAR(feature(p, "voxel_inplane"), 0.0, kTight);  // √(0.5 · 2) = 1 mm
  EXPECT_NEAR(feature(p, "voxel_slice"), 2.0, kTight);
}

TEST(InputProfile, TurningTheBodyUpsideDownMirrorsItsCentreAndTrend) {
  // A cone: wide at z = 0, a point at the top; intensity rises with z.
  const std::size_t n = 15, nz = 8;
  Volume v(grid(n, n, nz));
  Mask m(v.geometry(), 0);
  for (std::size_t z = 0; z < nz; ++z)
    for (std::size_t y = 0; y < n; ++y)
      for (std::size_t x = 0; x < n; ++x) {
        const double r = std::hypot(double(x) - 7.0, double(y) - 7.0);
        m.at(x, y, z) = r <= 7.0 * (1.0 - double(z) / nz);
        v.at(x, y, z) = float(z) + 0.1f * float(x % 3);
      }
  Volume flipped(v.geometry());
  Mask flippedMask(v.geometry(), 0);
  for (std::size_t z = 0; z < nz; ++z)
    for (std::size_t y = 0; y < n; ++y)
      for (std::size_t x = 0; x < n; ++x) {
        flipped.at(x, y, nz - 1 - z) = v.at(x, y, z);
        flippedMask.at(x, y, nz - 1 - z) = m.at(x, y, z);
      }
  const InputProfile a = inputProfile(v, m, "cone"), b = inputProfile(flipped, flippedMask, "flipped cone");
  EXPECT_LT(feature(a, "centre_z"), 0.4);  // the bulk is at the base
  EXPECT_NEAR(feature(b, "centre_z"), 1.0 - feature(a, "centre_z"), kTight);
  EXPECT_NEAR(feature(b, "trend_z"), -feature(a, "trend_z"), kTight);
  EXPECT_GT(feature(a, "trend_z"), 0.5);
  EXPECT_NEAR(feature(b, "centre_x"), feature(a, "centre_x"), kTight);
  EXPECT_NEAR(feature(b, "iqr"), feature(a, "iqr"), kTight);  // the same voxels
}

TEST(InputProfile, AMaskOfOneSliceIsRefusedNamingTheFile) {
  Volume v(grid(5, 5, 3), 1.0f);
  Mask m(v.geometry(), 0);
  for (std::size_t y = 0; y < 5; ++y)
    for (std::size_t x = 0; x < 5; ++x) m.at(x, y, 1) = 1;
  try {
    inputProfile(v, m, "thin.nii.gz");
    FAIL() << "expected a DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("thin.nii.gz"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("along z"), std::string::npos) << e.what();
  }
}

std::vector<InputProfile> gaussianProfiles(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<InputProfile> profiles(n);
  for (auto& p : profiles)
    for (std::size_t k = 0; k < inputProfileFeatures().size(); ++k) p.values.push_back(0.3 * double(k) + 0.1 * normal(rng));
  return profiles;
}

/// The reference's definition, written out without its helpers.
double bruteForceMaxAbsZ(const std::vector<InputProfile>& others, const InputProfile& p) {
  double best = 0;
  for (std::size_t k = 0; k < p.values.size(); ++k) {
    double mean = 0, ss = 0;
    for (const auto& o : others) mean += o.values[k];
    mean /= double(others.size());
    for (const auto& o : others) ss += (o.values[k] - mean) * (o.values[k] - mean);
    const double scale = std::max(std::sqrt(ss / double(others.size() - 1)), inputProfileFeatures()[k].minimumScale);
    best = std::max(best, std::abs(p.values[k] - mean) / scale);
  }
  return best;
}

TEST(TypicalityReference, TheThresholdIsTheLargestLeaveOneOutScore) {
  const auto profiles = gaussianProfiles(9, 3);
  const TypicalityReference r = TypicalityReference::fit(profiles);
  EXPECT_EQ(r.cases, 9u);
  double expected = 0;
  for (std::size_t c = 0; c < profiles.size(); ++c) {
    std::vector<InputProfile> others = profiles;
    others.erase(others.begin() + std::ptrdiff_t(c));
    expected = std::max(expected, bruteForceMaxAbsZ(others, profiles[c]));
  }
  EXPECT_NEAR(r.threshold, expected, 1e-12);
  EXPECT_GT(r.threshold, 1.0);  // nine draws of eleven features: some |z| exceeds 1
  // Every training case passes as a new input (its z against all cases is smaller than held out).
  for (const auto& p : profiles) EXPECT_TRUE(r.score(p).typical());
}

TEST(TypicalityReference, AnOutlierIsFlaggedNamingItsFeatureAndSign) {
  const auto profiles = gaussianProfiles(12, 5);
  const TypicalityReference r = TypicalityReference::fit(profiles);
  InputProfile odd = profiles[0];
  odd.values[featureIndex("iqr")] -= 2.0;  // 20 of the draws' standard deviations
  const TypicalityScore s = r.score(odd);
  EXPECT_FALSE(s.typical());
  EXPECT_EQ(s.feature, "iqr");
  EXPECT_LT(s.z, -10.0);
  EXPECT_DOUBLE_EQ(s.score, std::abs(s.z));
  EXPECT_DOUBLE_EQ(s.threshold, r.threshold);
  const auto j = s.toJson();
  EXPECT_EQ(j.at("feature"), "iqr");
  EXPECT_EQ(j.at("typical"), false);
  // The warning's words for the flagged feature.
  EXPECT_EQ(&inputProfileFeature(s.feature), &inputProfileFeatures()[featureIndex("iqr")]);
  EXPECT_THROW(inputProfileFeature("no_such_feature"), DataError);
}

TEST(TypicalityReference, ASpreadOfZeroIsRaisedToTheMinimumScale) {
  std::vector<InputProfile> same(4, InputProfile{std::vector<double>(inputProfileFeatures().size(), 0.5)});
  const TypicalityReference r = TypicalityReference::fit(same);
  for (std::size_t k = 0; k < r.scale.size(); ++k) EXPECT_EQ(r.scale[k], inputProfileFeatures()[k].minimumScale);
  EXPECT_EQ(r.scale[featureIndex("voxel_slice")], 0.15);  // voxel sizes: 11 % passes unflagged
  EXPECT_EQ(r.threshold, 0.0);
  InputProfile shifted = same[0];
  shifted.values[0] += 0.01;  // half the minimum scale
  EXPECT_NEAR(r.score(shifted).score, 0.5, kTight);
}

TEST(TypicalityReference, FewerThanThreeCasesAreRefused) {
  EXPECT_THROW(TypicalityReference::fit(gaussianProfiles(2, 1)), UsageError);
}

TEST(TypicalityReference, JsonRoundTripsAndBadJsonNamesTheFile) {
  const TypicalityReference r = TypicalityReference::fit(gaussianProfiles(5, 9));
  const TypicalityReference back = TypicalityReference::fromJson(r.toJson(), "config.json");
  EXPECT_EQ(back.mean, r.mean);
  EXPECT_EQ(back.scale, r.scale);
  EXPECT_EQ(back.threshold, r.threshold);
  EXPECT_EQ(back.cases, r.cases);
  auto expectRefused = [](nlohmann::json j, const std::string& words) {
    try {
      TypicalityReference::fromJson(j, "m/config.json");
      ADD_FAILURE() << "accepted " << j.dump();
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find("m/config.json: input_reference"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  };
  auto j = r.toJson();
  j["version"] = 2;
  expectRefused(j, ".version: 2 is not the 1");
  j = r.toJson();
  j.erase("version");
  expectRefused(j, ".version: missing");
  j = r.toJson();
  j["features"].erase("trend_y");
  expectRefused(j, "'trend_y' is missing");
  j = r.toJson();
  j["features"]["colour"] = {{"mean", 0}, {"scale", 1}};
  expectRefused(j, "'colour' is not a feature this build knows");
  j = r.toJson();
  j["threshold"] = "4.4";
  expectRefused(j, ".threshold: expected a number, got \"4.4\"");
  j = r.toJson();
  j["features"]["p50"]["scale"] = 0;
  expectRefused(j, ".features.p50.scale: must be > 0");
  j = r.toJson();
  j["features"]["p50"]["mean"] = "x";
  expectRefused(j, ".features.p50.mean: expected a number");
  j = r.toJson();
  j["cases"] = 0;
  expectRefused(j, ".cases: expected a whole number >= 3");
  expectRefused("high", "expected a JSON object");
}

}  // namespace
}  // namespace mr2ct
