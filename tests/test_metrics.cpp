// Hand-computable metric cases: known HU differences give known MAE/ME/RMSE/PSNR, identical
// images give SSIM = MS-SSIM = 1, tissue classes and bone Dice from counted voxels.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "mr2ct/core/Error.h"
#include "mr2ct/evaluation/Metrics.h"
#include "mr2ct/evaluation/Ssim.h"
#include "support/TestSupport.h"

namespace mr2ct {
namespace {

Volume filled(std::array<std::size_t, 3> size, float v) {
  Geometry g;
  g.size = size;
  return Volume(g, v);
}

Mask fullMask(std::array<std::size_t, 3> size) {
  Geometry g;
  g.size = size;
  return Mask(g, 1);
}

/// A smooth random-looking CT-like volume (HU between -1000 and ~1500).
Volume texturedCt(std::array<std::size_t, 3> size, unsigned seed) {
  Volume v = filled(size, 0.0f);
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0.0f, 40.0f);
  for (std::size_t z = 0; z < size[2]; ++z)
    for (std::size_t y = 0; y < size[1]; ++y)
      for (std::size_t x = 0; x < size[0]; ++x) {
        const double r = std::hypot(double(x) - double(size[0]) / 2.0, double(y) - double(size[1]) / 2.0);
        float hu = r < double(size[0]) * 0.3 ? 40.0f : (r < double(size[0]) * 0.4 ? 900.0f : -1000.0f);
        v.at(x, y, z) = hu + noise(rng) + float(5 * std::sin(0.7 * double(z)));
      }
  return v;
}

TEST(Metrics, ConstantOffsetGivesKnownMaeMeRmsePsnr) {
  const std::array<std::size_t, 3> s{9, 8, 7};
  const Volume ref = filled(s, 40.0f);
  const Volume pred = filled(s, 140.0f);
  MetricsOptions o;
  o.profile = "synthrad2023";
  const auto r = computeMetrics(pred, ref, fullMask(s), o);
  EXPECT_DOUBLE_EQ(r.mae, 100.0);
  EXPECT_DOUBLE_EQ(r.me, 100.0);
  EXPECT_DOUBLE_EQ(r.rmse, 100.0);
  EXPECT_NEAR(r.psnr, 10.0 * std::log10(4024.0 * 4024.0 / 10000.0), 1e-12);
  EXPECT_EQ(r.maskVoxels, 9u * 8u * 7u);
  EXPECT_EQ(r.soft.voxels, r.maskVoxels);
  EXPECT_DOUBLE_EQ(r.soft.mae, 100.0);
  EXPECT_TRUE(std::isnan(r.air.mae));
}

TEST(Metrics, MixedErrorsAndClippedPsnr) {
  // Half the voxels +30 HU, half -10 HU: MAE 20, ME 10, RMSE sqrt(500).
  const std::array<std::size_t, 3> s{4, 4, 2};
  const Volume ref = filled(s, 0.0f);
  Volume pred = filled(s, 0.0f);
  for (std::size_t i = 0; i < pred.voxelCount(); ++i) pred.data()[i] = (i % 2) ? 30.0f : -10.0f;
  const auto r = computeMetrics(pred, ref, fullMask(s), MetricsOptions{});
  EXPECT_DOUBLE_EQ(r.mae, 20.0);
  EXPECT_DOUBLE_EQ(r.me, 10.0);
  EXPECT_NEAR(r.rmse, std::sqrt(500.0), 1e-12);
  // PSNR clips to [-1024, 3071] first: a prediction of 5000 vs 3071 contributes no error.
  Volume high = filled(s, 5000.0f), top = filled(s, 3071.0f);
  pred.data()[0] = 5000.0f;
  const auto c = computeMetrics(high, top, fullMask(s), MetricsOptions{});
  EXPECT_DOUBLE_EQ(c.mae, 1929.0);
  EXPECT_TRUE(std::isnan(c.psnr));  // identical after clipping: infinite PSNR -> NaN / null
}

TEST(Metrics, MaskRestrictsVoxels) {
  const std::array<std::size_t, 3> s{5, 5, 5};
  const Volume ref = filled(s, 0.0f);
  Volume pred = filled(s, 1000.0f);
  Mask m = fullMask(s);
  std::fill(m.voxels().begin(), m.voxels().end(), 0);
  m.at(2, 2, 2) = 1;
  pred.at(2, 2, 2) = -50.0f;
  const auto r = computeMetrics(pred, ref, m, MetricsOptions{});
  EXPECT_EQ(r.maskVoxels, 1u);
  EXPECT_DOUBLE_EQ(r.mae, 50.0);
  EXPECT_DOUBLE_EQ(r.me, -50.0);
  EXPECT_TRUE(std::isnan(r.ssim));  // the 3-voxel crop of a 5-voxel axis is empty
}

TEST(Metrics, TissueClassesFollowReferenceAndDiceCountsBone) {
  const std::array<std::size_t, 3> s{4, 1, 1};
  Volume ref = filled(s, 0.0f), pred = filled(s, 0.0f);
  // ref: air, soft, bone, bone ; pred errors 10, 20, 30, and a miss of the last bone voxel.
  const float r0[4] = {-900, 50, 800, 600}, p0[4] = {-890, 70, 830, 100};
  for (int i = 0; i < 4; ++i) ref.data()[i] = r0[i], pred.data()[i] = p0[i];
  const auto r = computeMetrics(pred, ref, fullMask(s), MetricsOptions{});
  EXPECT_DOUBLE_EQ(r.air.mae, 10.0);
  EXPECT_DOUBLE_EQ(r.soft.mae, 20.0);
  EXPECT_DOUBLE_EQ(r.bone.mae, (30.0 + 500.0) / 2.0);
  EXPECT_EQ(r.bone.voxels, 2u);
  EXPECT_DOUBLE_EQ(r.boneDice, 2.0 * 1 / (1 + 2));
  MetricsOptions o;
  o.boneAboveHu = 700;  // configurable: the 600 HU voxel becomes soft tissue
  const auto r2 = computeMetrics(pred, ref, fullMask(s), o);
  EXPECT_EQ(r2.bone.voxels, 1u);
  EXPECT_EQ(r2.soft.voxels, 2u);
}

TEST(Metrics, IdenticalImagesHaveUnitSsimAndMsSsim) {
  const std::array<std::size_t, 3> s{20, 18, 16};
  const Volume ct = texturedCt(s, 1);
  const auto r = computeMetrics(ct, ct, fullMask(s), MetricsOptions{});
  EXPECT_NEAR(r.ssim, 1.0, 1e-12);
  EXPECT_NEAR(r.msSsim, 1.0, 1e-12);
  EXPECT_DOUBLE_EQ(r.mae, 0.0);
  EXPECT_DOUBLE_EQ(r.boneDice, 1.0);
}

TEST(Metrics, SsimDropsWithNoiseAndIsThreadIndependent) {
  const std::array<std::size_t, 3> s{24, 20, 19};
  const Volume ct = texturedCt(s, 2);
  const Volume noisy = texturedCt(s, 3);  // same structure, different noise
  MetricsOptions o1, o2;
  o1.threads = 1;
  o2.threads = 3;
  const auto a = computeMetrics(noisy, ct, fullMask(s), o1);
  const auto b = computeMetrics(noisy, ct, fullMask(s), o2);
  EXPECT_LT(a.ssim, 0.999);
  EXPECT_GT(a.ssim, 0.5);
  EXPECT_LT(a.msSsim, 1.0);
  EXPECT_NEAR(a.ssim, b.ssim, 1e-12);
  EXPECT_NEAR(a.msSsim, b.msSsim, 1e-12);
}

TEST(Metrics, SsimOfConstantShiftMatchesClosedForm) {
  // Constant images a and b (no variance): SSIM map = (2ab + C1)/(a² + b² + C1) everywhere.
  const std::array<std::size_t, 3> s{9, 9, 9};
  const Volume ref = filled(s, 0.0f), pred = filled(s, 100.0f);
  MetricsOptions o;
  o.profile = "synthrad2023";
  const auto r = computeMetrics(pred, ref, fullMask(s), o);
  const double a = 1024.0, b = 1124.0, c1 = (0.01 * 4024) * (0.01 * 4024);
  EXPECT_NEAR(r.ssim, (2 * a * b + c1) / (a * a + b * b + c1), 1e-12);
}

TEST(Metrics, BadInputNamesTheFile) {
  const std::array<std::size_t, 3> s{8, 8, 8};
  const Volume ref = filled(s, 0.0f);
  const Volume small = filled({8, 8, 7}, 0.0f);
  try {
    computeMetrics(small, ref, fullMask(s), MetricsOptions{}, "sct.nii.gz", "ct.nii.gz", "m.nii.gz");
    FAIL() << "size mismatch accepted";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("sct.nii.gz"), std::string::npos) << e.what();
  }
  Mask empty = fullMask(s);
  std::fill(empty.voxels().begin(), empty.voxels().end(), 0);
  EXPECT_THROW(computeMetrics(ref, ref, empty, MetricsOptions{}, "p", "r", "m.nii.gz"), DataError);
  Volume nan = ref.clone();
  nan.data()[5] = std::nanf("");
  try {
    computeMetrics(nan, ref, fullMask(s), MetricsOptions{}, "sct.nii.gz", "ct.nii.gz", "m.nii.gz");
    FAIL() << "NaN accepted";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("sct.nii.gz"), std::string::npos);
  }
  MetricsOptions bad;
  bad.profile = "synthrad2099";
  EXPECT_THROW(computeMetrics(ref, ref, fullMask(s), bad), UsageError);
}

}  // namespace
}  // namespace mr2ct
