// Uncertainty against error (UncertaintyCalibration.h) on volumes whose std and error are set voxel
// by voxel, so every bin, mean and r has a closed-form value; and the batch report's use of
// <id>_std maps beside the predictions.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <sstream>

#include "mr2ct/core/Error.h"
#include "mr2ct/evaluation/BatchReport.h"
#include "mr2ct/evaluation/UncertaintyCalibration.h"
#include "mr2ct/preprocessing/VolumeIO.h"
#include "support/TestSupport.h"

namespace mr2ct {
namespace {

Geometry grid() {
  Geometry g;
  g.size = {8, 6, 5};
  g.spacing = {1.0, 1.0, 2.0};
  g.origin = {3, -4, 7};
  return g;
}

TEST(UncertaintyCalibration, PearsonRMatchesHandComputedValues) {
  EXPECT_NEAR(pearsonR({1, 2, 3, 4}, {2, 4, 6, 8}), 1.0, 1e-12);
  EXPECT_NEAR(pearsonR({1, 2, 3, 4}, {8, 6, 4, 2}), -1.0, 1e-12);
  // Centred x −1.5 −0.5 0.5 1.5, y −0.5 −1.5 1.5 0.5: Σxy = 3, Σx² = Σy² = 5 → 0.6.
  EXPECT_NEAR(pearsonR({1, 2, 3, 4}, {2, 1, 4, 3}), 0.6, 1e-12);
  // Large offsets (HU-sized values) lose nothing.
  EXPECT_NEAR(pearsonR({1e6 + 1, 1e6 + 2, 1e6 + 3, 1e6 + 4}, {2, 1, 4, 3}), 0.6, 1e-9);
  EXPECT_TRUE(std::isnan(pearsonR({1, 2}, {3, 4})));
  EXPECT_TRUE(std::isnan(pearsonR({1, 1, 1}, {3, 4, 5})));
  EXPECT_THROW(pearsonR({1, 2, 3}, {1, 2}), UsageError);
}

// Voxel i of the mask gets std s_i and error e_i = 0.8·s_i + (i mod 3) HU; voxels off the mask get
// a huge error that must not count. Bins, their means and r are recomputed here from the pairs.
TEST(UncertaintyCalibration, BinsAndRAreThoseOfTheMaskVoxels) {
  const Geometry g = grid();
  Volume sd(g, 0.0f), pred(g, 0.0f), ref(g, 0.0f);
  Mask mask(g, 0);
  std::vector<double> xs, ys;
  const auto& edges = UncertaintyCalibration::binEdges();
  std::vector<double> binN(edges.size(), 0), binS(edges.size(), 0), binE(edges.size(), 0);
  for (std::size_t i = 0; i < g.voxelCount(); ++i) {
    const double s = 0.5 * double(i) * double(i) / 10.0;  // 0 … ~450 HU: every bin, the open one too
    sd.data()[i] = float(s);
    ref.data()[i] = 40.0f;
    if (i % 4 == 0) {
      pred.data()[i] = 40.0f + 5000.0f;  // off the mask
      continue;
    }
    mask.data()[i] = 1;
    const double e = 0.8 * double(float(s)) + double(i % 3);
    pred.data()[i] = float(40.0 + ((i % 2) ? e : -e));  // |error| whatever the sign
    xs.push_back(double(float(s)));
    ys.push_back(std::abs(double(pred.data()[i]) - 40.0));
    std::size_t b = 0;
    while (b + 2 < edges.size() && xs.back() >= edges[b + 1]) ++b;
    binN[b] += 1, binS[b] += xs.back(), binE[b] += ys.back();
  }
  UncertaintyCalibration c;
  const double mean = c.add(sd, pred, ref, mask, "sct_std.nii.gz");
  double sum = 0;
  for (double x : xs) sum += x;
  EXPECT_NEAR(mean, sum / double(xs.size()), 1e-9);
  EXPECT_EQ(c.voxels(), xs.size());
  EXPECT_NEAR(c.voxelPearsonR(), pearsonR(xs, ys), 1e-9);
  const auto bins = c.bins();
  std::size_t seen = 0;
  for (const auto& b : bins) {
    const std::size_t k = std::size_t(std::find(edges.begin(), edges.end(), b.stdFrom) - edges.begin());
    ASSERT_LT(k, edges.size());
    EXPECT_EQ(double(b.voxels), binN[k]);
    EXPECT_NEAR(b.meanStd, binS[k] / binN[k], 1e-9);
    EXPECT_NEAR(b.meanAbsError, binE[k] / binN[k], 1e-6);
    seen += b.voxels;
  }
  EXPECT_EQ(seen, xs.size());
  EXPECT_TRUE(std::isinf(bins.back().stdTo)) << "the largest std fall in the open bin";
  const auto j = c.toJson();
  EXPECT_EQ(j["bins"].size(), bins.size());
  EXPECT_TRUE(j["bins"].back()["std_to_hu"].is_null());
}

TEST(UncertaintyCalibration, RefusesAStdMapOffTheGridOrNegative) {
  const Geometry g = grid();
  Volume pred(g, 0.0f), ref(g, 0.0f);
  Mask mask(g, 1);
  Geometry other = g;
  other.origin[2] += 2.0;
  UncertaintyCalibration c;
  try {
    c.add(Volume(other, 1.0f), pred, ref, mask, "a_std.mha");
    FAIL() << "a std map on another grid was accepted";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("a_std.mha"), std::string::npos) << e.what();
  }
  EXPECT_THROW(c.add(Volume(g, -1.0f), pred, ref, mask, "b_std.mha"), DataError);
  EXPECT_EQ(c.voxels(), 0u);
}

// Three cases whose std maps scale with their errors (r over cases 1), one case without a map:
// metrics.csv carries mean_std_hu (empty for the fourth), summary.json the r and the bins, and
// index.html the calibration plot.
TEST(UncertaintyCalibration, BatchReportReadsStdMapsBesideThePredictions) {
  test::TempDir dir;
  const Geometry g = grid();
  std::vector<BatchCase> cases;
  std::filesystem::create_directories(dir / "pred");
  for (int k = 0; k < 4; ++k) {
    const std::string id = "case" + std::to_string(k);
    Volume ref(g, 30.0f), pred(g, 30.0f + 10.0f * float(k + 1)), sd(g, 12.5f * float(k + 1));
    writeVolume(ref, dir / (id + "_ct.nii.gz"));
    writeVolume(pred, dir / "pred" / (id + ".nii.gz"));
    if (k < 3) writeVolume(sd, dir / "pred" / (id + "_std.nii.gz"));
    cases.push_back({id, "", dir / (id + "_ct.nii.gz"), "", "", ""});
    Mask m(g, 1);
    writeMask(m, dir / (id + "_mask.nii.gz"));
    cases.back().mask = dir / (id + "_mask.nii.gz");
  }
  EXPECT_EQ(findUncertaintyMap(dir / "pred" / "case0.nii.gz"), dir / "pred" / "case0_std.nii.gz");
  EXPECT_TRUE(findUncertaintyMap(dir / "pred" / "case3.nii.gz").empty());
  BatchOptions o;
  o.predDir = dir / "pred";
  o.outDir = dir / "report";
  o.montages = false;
  o.evaluate.metrics.ssim = o.evaluate.metrics.msSsim = false;
  const BatchResult r = evaluateBatch(cases, o);
  ASSERT_EQ(r.succeeded, 4u);
  std::ifstream in(dir / "report" / "summary.json");
  const auto summary = nlohmann::json::parse(in);
  ASSERT_TRUE(summary.contains("uncertainty")) << summary.dump(1);
  const auto& u = summary["uncertainty"];
  EXPECT_EQ(u["cases"], 3);
  EXPECT_NEAR(u["case_pearson_r_mean_std_vs_mae"].get<double>(), 1.0, 1e-9);
  EXPECT_EQ(u["voxels"], 3 * g.voxelCount());
  ASSERT_EQ(u["bins"].size(), 2u);  // std 12.5 in [10, 20); 25 and 37.5 in [20, 40)
  std::ifstream csv(dir / "report" / "metrics.csv");
  std::stringstream text;
  text << csv.rdbuf();
  EXPECT_NE(text.str().find(",mean_std_hu,"), std::string::npos);
  EXPECT_NE(text.str().find(",12.5,"), std::string::npos) << text.str();
  std::ifstream html(dir / "report" / "index.html");
  std::stringstream page;
  page << html.rdbuf();
  EXPECT_NE(page.str().find("<h2>Uncertainty</h2>"), std::string::npos);
  EXPECT_NE(page.str().find("<svg"), std::string::npos);
}

// The std map is optional: an unreadable one is named in the case's warnings, the metrics stand.
TEST(UncertaintyCalibration, AnUnreadableStdMapIsAWarningNotAFailure) {
  test::TempDir dir;
  const Geometry g = grid();
  std::filesystem::create_directories(dir / "pred");
  writeVolume(Volume(g, 30.0f), dir / "ct.nii.gz");
  writeVolume(Volume(g, 50.0f), dir / "pred" / "a.nii.gz");
  std::ofstream(dir / "pred" / "a_std.nii.gz") << "not a volume";
  writeMask(Mask(g, 1), dir / "mask.nii.gz");
  BatchOptions o;
  o.predDir = dir / "pred";
  o.outDir = dir / "report";
  o.montages = false;
  o.evaluate.metrics.ssim = o.evaluate.metrics.msSsim = false;
  const BatchResult r = evaluateBatch({{"a", "", dir / "ct.nii.gz", dir / "mask.nii.gz", "", ""}}, o);
  EXPECT_EQ(r.succeeded, 1u);
  std::ifstream csv(dir / "report" / "metrics.csv");
  std::stringstream text;
  text << csv.rdbuf();
  EXPECT_NE(text.str().find("std map not used: "), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("a_std.nii.gz"), std::string::npos) << text.str();
  std::ifstream in(dir / "report" / "summary.json");
  EXPECT_FALSE(nlohmann::json::parse(in).contains("uncertainty"));
}

}  // namespace
}  // namespace mr2ct
