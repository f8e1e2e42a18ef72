// Case checks (grid, mask, HU warning), the batch report (a bad case does not stop the batch),
// the montage PNG and the bulk-density baseline, on tiny volumes written in the test.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <sstream>

#include "mr2ct/core/AtomicFile.h"
#include "mr2ct/core/Error.h"
#include "mr2ct/evaluation/BatchReport.h"
#include "mr2ct/evaluation/BulkDensity.h"
#include "mr2ct/evaluation/CaseEvaluation.h"
#include "mr2ct/evaluation/Montage.h"
#include "mr2ct/preprocessing/SpatialTransform.h"
#include "mr2ct/preprocessing/VolumeIO.h"
#include "support/TestSupport.h"

namespace mr2ct {
namespace {

Geometry grid(std::array<std::size_t, 3> s = {24, 22, 20}) {
  Geometry g;
  g.size = s;
  g.spacing = {1.5, 1.5, 2.0};
  g.origin = {-10, 5, 3};
  return g;
}

/// A head-like CT: air outside, soft tissue ball, skull shell.
Volume headCt(const Geometry& g, float offset = 0.0f) {
  Volume v(g, -1000.0f);
  const auto s = g.size;
  for (std::size_t z = 0; z < s[2]; ++z)
    for (std::size_t y = 0; y < s[1]; ++y)
      for (std::size_t x = 0; x < s[0]; ++x) {
        const double dx = (double(x) - double(s[0]) / 2.0) / (double(s[0]) * 0.4),
                     dy = (double(y) - double(s[1]) / 2.0) / (double(s[1]) * 0.4),
                     dz = (double(z) - double(s[2]) / 2.0) / (double(s[2]) * 0.4);
        const double r = std::sqrt(dx * dx + dy * dy + dz * dz);
        v.at(x, y, z) = (r < 0.75 ? 35.0f : (r < 1.0 ? 900.0f : -1000.0f)) + offset;
      }
  return v;
}

Mask maskOf(const Volume& ct) {
  Mask m(ct.geometry(), 0);
  for (std::size_t i = 0; i < ct.voxelCount(); ++i) m.data()[i] = ct.data()[i] > -400;
  return m;
}

TEST(CaseEvaluation, GridMismatchIsAnErrorUnlessResampled) {
  const Geometry g = grid();
  const Volume ref = headCt(g);
  Geometry shifted = g;
  shifted.origin[0] += 0.75;  // half a voxel
  Volume pred = headCt(g, 10.0f);
  pred.setGeometry(shifted);
  EvaluateOptions o;
  try {
    evaluateVolumes(pred, ref, maskOf(ref), o, "sct.nii.gz", "ct.nii.gz", "m.nii.gz");
    FAIL() << "grid mismatch accepted";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("sct.nii.gz"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--resample-pred"), std::string::npos) << e.what();
  }
  o.resamplePred = true;
  const auto r = evaluateVolumes(pred, ref, maskOf(ref), o, "sct.nii.gz", "ct.nii.gz", "m.nii.gz");
  EXPECT_FALSE(r.resampling.empty());
  EXPECT_TRUE(r.pred.geometry().sameAs(ref.geometry()));
  EXPECT_TRUE(r.toJson()["resampling"].is_string());
}

TEST(CaseEvaluation, RefTransformMovesTheReferenceAndAReferenceGridMask) {
  test::TempDir dir;
  const Geometry g = grid();
  const Volume ref = headCt(g);
  // The prediction's grid is the reference's shifted by 3 mm along x; the transform maps a
  // prediction point p to the reference point p + (3, 0, 0)... so both see the same anatomy.
  Geometry pg = g;
  pg.origin[0] -= 3.0;
  Volume pred = headCt(g, 25.0f);
  pred.setGeometry(pg);
  const Vec3 shift{3.0, 0.0, 0.0};
  SpatialTransform::affine({1, 0, 0, 0, 1, 0, 0, 0, 1}, shift).save(dir / "t.tfm");
  EvaluateOptions o;
  o.refTransform = dir / "t.tfm";
  Mask onPred = maskOf(ref);
  onPred.setGeometry(pg);
  const auto a = evaluateVolumes(pred, ref, onPred, o, "p", "r", "m_pred_grid");
  const auto b = evaluateVolumes(pred, ref, maskOf(ref), o, "p", "r", "m_ref_grid");
  EXPECT_NEAR(a.metrics.mae, 25.0, 1e-3);
  EXPECT_NEAR(b.metrics.mae, 25.0, 1e-3);
  EXPECT_EQ(a.metrics.maskVoxels, b.metrics.maskVoxels);
  EXPECT_EQ(a.resampling.find("mask with it"), std::string::npos);
  EXPECT_NE(b.resampling.find("mask with it"), std::string::npos);
}

// Issue 13, defect 14: a reference CT covering less than the prediction's grid was padded with
// -1024 HU and those voxels were scored. Only its field of view counts now, and the count is told.
TEST(CaseEvaluation, VoxelsOutsideTheReferencesFieldOfViewAreNotScored) {
  test::TempDir dir;
  const Geometry g = grid();
  Geometry short_ = g;
  short_.size[2] = 12;  // the CT stops 8 slices (16 mm) short of the MR's grid
  const Volume full = headCt(g);
  Volume ref(short_);
  for (std::size_t i = 0; i < ref.voxelCount(); ++i) ref.data()[i] = full.data()[i];
  const Volume pred = headCt(g, 25.0f);
  SpatialTransform::identity().save(dir / "identity.tfm");
  EvaluateOptions o;
  o.refTransform = dir / "identity.tfm";
  const auto c = evaluateVolumes(pred, ref, maskOf(headCt(g)), o, "p", "r", "m");
  EXPECT_NEAR(c.metrics.mae, 25.0, 1e-3);
  EXPECT_GT(c.excludedOutsideFov, 0u);
  EXPECT_EQ(c.excludedOutsideFov + c.metrics.maskVoxels, maskOf(headCt(g)).count());
  EXPECT_EQ(c.toJson()["mask_voxels_outside_fov"], c.excludedOutsideFov);
  // --resample-pred: a prediction covering less than the reference leaves out what it misses
  EvaluateOptions r;
  r.resamplePred = true;
  Volume shortPred(short_);
  for (std::size_t i = 0; i < shortPred.voxelCount(); ++i) shortPred.data()[i] = pred.data()[i];
  const auto d = evaluateVolumes(shortPred, full, Mask(), r, "p", "r");
  EXPECT_NEAR(d.metrics.mae, 25.0, 1e-3);
  EXPECT_GT(d.excludedOutsideFov, 0u);
}

TEST(CaseEvaluation, BodyMaskOfReferenceWhenNoMaskAndHuWarning) {
  const Geometry g = grid();
  const Volume ref = headCt(g);
  const auto r = evaluateVolumes(headCt(g, 20.0f), ref, Mask(), EvaluateOptions{}, "p", "r");
  EXPECT_NE(r.maskSource.find("body mask"), std::string::npos);
  EXPECT_NEAR(r.metrics.mae, 20.0, 1e-9);
  EXPECT_GT(r.metrics.maskVoxels, 1000u);
  // A CT stored as HU + 1024 (min >= 0): still evaluated, with a warning naming the file.
  const Volume shiftedRef = headCt(g, 1024.0f);
  const auto w = evaluateVolumes(headCt(g, 1024.0f), shiftedRef, maskOf(ref), EvaluateOptions{}, "p", "ct_offset.nii");
  ASSERT_FALSE(w.warnings.empty());
  EXPECT_NE(w.warnings[0].find("ct_offset.nii"), std::string::npos);
}

TEST(Montage, WritesAPngWithCaptionsToScale) {
  test::TempDir dir;
  const Geometry g = grid();
  const Volume ct = headCt(g), sct = headCt(g, 50.0f);
  const Mask m = maskOf(ct);
  MontageInput in;
  in.pred = &sct;
  in.ref = &ct;
  in.mask = &m;
  in.title = "case 1";
  in.lines = {"MAE 50.0 HU"};
  const RgbImage img = renderMontage(in);
  EXPECT_GT(img.width, 4 * 130);
  EXPECT_GT(img.height, 3 * 100);
  writeMontagePng(in, dir / "m.png");
  std::ifstream f(dir / "m.png", std::ios::binary);
  char sig[8] = {};
  f.read(sig, 8);
  EXPECT_EQ(std::string(sig + 1, 3), "PNG");
  // The error colour map is ordered: dark at 0, bright at the top.
  std::uint8_t r0, g0, b0, r1, g1, b1;
  errorColour(0.0, r0, g0, b0);
  errorColour(1.0, r1, g1, b1);
  EXPECT_LT(r0 + g0 + b0, r1 + g1 + b1);
}

TEST(BatchReport, GoesOnPastBadCasesAndSummarizes) {
  test::TempDir dir;
  const Geometry g = grid();
  std::filesystem::create_directories(dir / "pred" / "c2");
  std::vector<BatchCase> cases;
  for (int i = 0; i < 3; ++i) {
    const std::string id = "c" + std::to_string(i);
    const Volume ct = headCt(g);
    writeVolume(ct, dir / (id + "_ct.nii.gz"));
    writeVolume(ct, dir / (id + "_mr.nii.gz"));
    cases.push_back({id, dir / (id + "_mr.nii.gz"), dir / (id + "_ct.nii.gz"), {}, {}, {}});
  }
  writeVolume(headCt(g, 10.0f), dir / "pred" / "c0.nii.gz");          // <id>.nii.gz
  writeVolume(headCt(g, 30.0f), dir / "pred" / "c2" / "sct.nii.gz");  // <id>/sct.nii.gz
  cases.push_back({"c3", {}, dir / "c0_ct.nii.gz", {}, {}, {}});              // no prediction at all
  writeVolume(headCt(grid({24, 22, 19})), dir / "pred" / "c1.nii.gz");  // wrong size
  BatchOptions o;
  o.predDir = dir / "pred";
  o.outDir = dir / "report";
  const BatchResult r = evaluateBatch(cases, o);
  EXPECT_EQ(r.cases, 4u);
  EXPECT_EQ(r.succeeded, 2u);
  ASSERT_EQ(r.failures.size(), 2u);
  EXPECT_EQ(r.failures[0].id, "c1");
  EXPECT_NE(r.failures[0].error.find("c1.nii.gz"), std::string::npos) << r.failures[0].error;
  std::istringstream csv(readTextFile(dir / "report" / "metrics.csv"));
  std::string line;
  int rows = 0;
  while (std::getline(csv, line)) ++rows;
  EXPECT_EQ(rows, 5);  // header + 4 cases
  const auto summary = nlohmann::json::parse(readTextFile(dir / "report" / "summary.json"));
  EXPECT_EQ(summary["succeeded"], 2);
  EXPECT_EQ(summary["metrics"]["mae"]["n"], 2);
  EXPECT_NEAR(summary["metrics"]["mae"]["mean"].get<double>(), 20.0, 1e-9);
  EXPECT_NEAR(summary["metrics"]["mae"]["median"].get<double>(), 20.0, 1e-9);
  EXPECT_NEAR(summary["metrics"]["mae"]["min"].get<double>(), 10.0, 1e-9);
  EXPECT_NEAR(summary["metrics"]["mae"]["std"].get<double>(), std::sqrt(200.0), 1e-9);
  EXPECT_TRUE(std::filesystem::exists(dir / "report" / "c0_montage.png"));
  EXPECT_TRUE(std::filesystem::exists(dir / "report" / "c2_montage.png"));
  EXPECT_NE(readTextFile(dir / "report" / "index.html").find("c2_montage.png"), std::string::npos);
}

TEST(BatchReport, SummaryQuartilesLikeNumpy) {
  const MetricSummary s = summarize({4, 1, 3, 2, std::nan("")});
  EXPECT_EQ(s.n, 4u);
  EXPECT_DOUBLE_EQ(s.median, 2.5);
  EXPECT_DOUBLE_EQ(s.q1, 1.75);  // numpy.percentile([1,2,3,4], 25)
  EXPECT_DOUBLE_EQ(s.q3, 3.25);
}

TEST(BulkDensity, ShellDarkIsBoneDeepVeryDarkIsAirRestSoft) {
  Geometry g = grid({40, 40, 30});
  g.spacing = {2, 2, 2};
  Volume mr(g, 0.0f);
  Mask body(g, 0);
  const auto s = g.size;
  for (std::size_t z = 0; z < s[2]; ++z)
    for (std::size_t y = 0; y < s[1]; ++y)
      for (std::size_t x = 0; x < s[0]; ++x) {
        const double r = std::sqrt(std::pow(double(x) - 20.0, 2) + std::pow(double(y) - 20.0, 2) +
                                   std::pow((double(z) - 15.0) * 1.3, 2)) *
                         2;
        if (r >= 36) continue;
        body.at(x, y, z) = 1;
        float v = 100.0f;               // brain / soft tissue
        if (r > 24 && r < 30) v = 10.0f;  // skull: dark, ~6-12 mm deep
        if (r < 4) v = 2.0f;            // deep air pocket
        mr.at(x, y, z) = v;
      }
  const auto res = bulkDensitySct(mr, body, BulkDensityOptions{}, "mr.nii.gz");
  EXPECT_FLOAT_EQ(res.sct.at(20 + 13, 20, 15), 700.0f);   // r = 26 mm: bone
  EXPECT_FLOAT_EQ(res.sct.at(20, 20, 15), -1000.0f);      // centre: air pocket
  EXPECT_FLOAT_EQ(res.sct.at(20 + 8, 20, 15), 30.0f);     // r = 16 mm: soft tissue
  EXPECT_FLOAT_EQ(res.sct.at(0, 0, 0), -1000.0f);         // outside
  EXPECT_GT(res.boneVoxels, 0u);
  EXPECT_GT(res.airVoxels, 0u);
  BulkDensityOptions bad;
  bad.darkFraction = 1.5;
  EXPECT_THROW(bulkDensitySct(mr, body, bad), UsageError);
}

}  // namespace
}  // namespace mr2ct
